"""Tests for the example ConvNeXt against a real MindSpore ConvNeXt-Base parameter dump."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
from mindspore import Tensor, nn

from examples.convnext import ConvNeXt, convnext_base, convnext_small_cpu, convnext_tiny

_REPO_ROOT = Path(__file__).resolve().parents[1]
DUMP_PATH = _REPO_ROOT / "examples" / "convnext_base_params.txt"
# Where the original dump exists beside the repository, the copy above must match it byte for byte.
SOURCE_DUMP_PATH = _REPO_ROOT.parent / "shared" / "fixtures" / "convnext_base_params.txt"

# One line of the dump, as str(Parameter) prints it in MindSpore 2.10.
_DUMP_LINE = re.compile(
    r"Parameter \(name=(?P<name>[\w.]+), shape=\((?P<shape>[\d, ]*)\), "
    r"dtype=Float32, requires_grad=(?P<requires_grad>True|False)\)"
)

# (name, shape, requires_grad) for one parameter.
DumpRecord = tuple[str, tuple[int, ...], bool]


def _parse_dump(path: Path) -> list[DumpRecord]:
    records = []
    for line_number, line in enumerate(path.read_text().splitlines(), start=1):
        match = _DUMP_LINE.fullmatch(line)
        if match is None:
            raise ValueError(
                f"{path}:{line_number}: invalid dump line {line!r}; expected "
                f"'Parameter (name=..., shape=(...), dtype=Float32, requires_grad=True|False)'"
            )
        shape = tuple(int(size) for size in match["shape"].split(",") if size.strip())
        records.append((match["name"], shape, match["requires_grad"] == "True"))
    return records


def _name_shape_list(net: nn.Cell) -> list[tuple[str, tuple[int, ...]]]:
    return [(name, tuple(param.shape)) for name, param in net.parameters_and_names()]


@pytest.fixture(scope="module")
def dump() -> list[DumpRecord]:
    return _parse_dump(DUMP_PATH)


@pytest.fixture(scope="module")
def base_net() -> ConvNeXt:
    # Building ConvNeXt-Base allocates about 100M parameters, so build it once.
    return convnext_base()


def test_dump_copy_matches_source() -> None:
    if not SOURCE_DUMP_PATH.exists():
        pytest.skip(f"original dump not found at {SOURCE_DUMP_PATH}")
    assert DUMP_PATH.read_bytes() == SOURCE_DUMP_PATH.read_bytes()


def test_dump_parses_all_lines(dump: list[DumpRecord]) -> None:
    assert len(dump) == 304
    assert dump[0] == ("backbone.start_cell.0.weight", (128, 3, 4, 4), True)
    assert dump[-1] == ("head.dense.bias", (1000,), True)
    assert all(requires_grad for _, _, requires_grad in dump)


def test_base_names_match_dump(base_net: ConvNeXt, dump: list[DumpRecord]) -> None:
    built_names = [name for name, _ in base_net.parameters_and_names()]
    dump_names = [name for name, _, _ in dump]
    assert built_names == dump_names


def test_base_names_and_shapes_match_dump(base_net: ConvNeXt, dump: list[DumpRecord]) -> None:
    expected = [(name, shape) for name, shape, _ in dump]
    assert _name_shape_list(base_net) == expected


def test_base_params_trainable_and_named(base_net: ConvNeXt) -> None:
    for name, param in base_net.parameters_and_names():
        assert param.requires_grad, name
        # The dump prints Parameter.name, which must equal the path in the cell tree.
        assert param.name == name


def test_base_parameter_count(base_net: ConvNeXt) -> None:
    total = sum(int(np.prod(param.shape)) for param in base_net.get_parameters())
    assert total == 100_073_832


def test_tiny_layout() -> None:
    net = convnext_tiny(num_classes=10)
    names_and_shapes = dict(_name_shape_list(net))

    # 8 parameters per block over 3 + 3 + 9 + 3 blocks, 3 in the stem,
    # 3 in each of 3 downsamples, 2 in the neck and 2 in the head.
    assert len(names_and_shapes) == 8 * 18 + 3 + 9 + 2 + 2
    assert names_and_shapes["backbone.down_sample_blocks.3.8.dwconv.weight"] == (384, 1, 7, 7)
    assert "backbone.down_sample_blocks.3.9.gamma" not in names_and_shapes
    assert names_and_shapes["backbone.down_sample_blocks.5.2.layer_norm.gamma"] == (768, 7, 7)
    assert names_and_shapes["head.dense.weight"] == (10, 768)


def test_small_cpu_names_subset_of_base(
    dump: list[DumpRecord],
) -> None:
    small_names = [name for name, _ in convnext_small_cpu().parameters_and_names()]
    small_name_set = set(small_names)
    base_names_in_small = [name for name, _, _ in dump if name in small_name_set]

    # Same naming scheme: every small name exists in ConvNeXt-Base, in the same order.
    assert len(small_names) == len(small_name_set)
    assert base_names_in_small == small_names


def test_small_cpu_shapes() -> None:
    names_and_shapes = dict(_name_shape_list(convnext_small_cpu()))

    assert names_and_shapes["backbone.start_cell.1.gamma"] == (16, 8, 8)
    assert names_and_shapes["backbone.down_sample_blocks.3.2.layer_norm.beta"] == (64, 2, 2)
    assert names_and_shapes["backbone.down_sample_blocks.5.0.layer_norm.gamma"] == (128, 1, 1)
    assert names_and_shapes["head.dense.weight"] == (10, 128)


def test_small_cpu_forward() -> None:
    net = convnext_small_cpu()
    images = np.random.default_rng(0).standard_normal((2, 3, 32, 32)).astype(np.float32)

    logits = net(Tensor(images)).asnumpy()

    assert logits.shape == (2, 10)
    assert logits.dtype == np.float32
    assert np.isfinite(logits).all()


def test_small_cpu_forward_larger_image() -> None:
    net = convnext_small_cpu(num_classes=3, image_size=64)
    images = np.zeros((1, 3, 64, 64), dtype=np.float32)

    assert net(Tensor(images)).shape == (1, 3)


def test_small_cpu_backward() -> None:
    net = convnext_small_cpu()
    loss_net = nn.WithLossCell(net, nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean"))
    optimizer = nn.SGD(net.trainable_params(), learning_rate=0.1)
    train_step = nn.TrainOneStepCell(loss_net, optimizer)
    images = Tensor(np.random.default_rng(1).standard_normal((2, 3, 32, 32)).astype(np.float32))
    labels = Tensor(np.array([1, 7], dtype=np.int32))
    gamma_before = net.backbone.block1[0].gamma.asnumpy().copy()

    loss = train_step(images, labels).asnumpy()

    assert np.isfinite(loss)
    # The layer scale must receive a gradient, or it would stay at its init value.
    assert not np.array_equal(net.backbone.block1[0].gamma.asnumpy(), gamma_before)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"image_size": 48}, "image_size must be a positive multiple of 32 for 4 stages"),
        ({"image_size": 16}, "image_size must be a positive multiple of 32 for 4 stages"),
        ({"depths": (1, 1), "dims": (8, 16, 32)}, "depths and dims must be non-empty"),
        ({"depths": (), "dims": ()}, "depths and dims must be non-empty"),
        ({"depths": (1, 0), "dims": (8, 16)}, "every entry of depths must be >= 1"),
        ({"depths": (1, 1), "dims": (8, 0)}, "every entry of dims must be >= 1"),
        ({"in_channels": 0}, "in_channels must be >= 1"),
        ({"num_classes": 0}, "num_classes must be >= 1"),
    ],
)
def test_invalid_config_rejected(kwargs: dict[str, object], message: str) -> None:
    config: dict[str, object] = {"depths": (1, 1, 1, 1), "dims": (8, 8, 8, 8), "image_size": 32}
    config.update(kwargs)

    with pytest.raises(ValueError, match=re.escape(message)):
        ConvNeXt(**config)  # type: ignore[arg-type]
