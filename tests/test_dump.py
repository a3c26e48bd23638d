"""Tests for reading parameter dumps."""

from __future__ import annotations

from pathlib import Path

import pytest

from grouprules import DumpError, ParamRecord, parse_dump, read_dump

REPO = Path(__file__).resolve().parents[1]


def test_mindspore_lines() -> None:
    records = parse_dump(
        "Parameter (name=head.dense.weight, shape=(1000, 1024), dtype=Float32, "
        "requires_grad=True)\n"
        "Parameter (name=backbone.ema.gamma, shape=(8,), dtype=Float16, requires_grad=False)\n"
        "Parameter (name=step, shape=(), dtype=Int32, requires_grad=True)\n"
    )

    assert records == [
        ParamRecord("head.dense.weight", (1000, 1024)),
        ParamRecord("backbone.ema.gamma", (8,), trainable=False),
        ParamRecord("step", ()),
    ]


@pytest.mark.parametrize(
    ("line", "record"),
    [
        ("head.weight (10, 4)", ParamRecord("head.weight", (10, 4))),
        ("head.bias (10,)", ParamRecord("head.bias", (10,))),
        ("head.bias [10]", ParamRecord("head.bias", (10,))),
        ("scale ()", ParamRecord("scale", ())),
        ("conv.weight 64x3x7x7", ParamRecord("conv.weight", (64, 3, 7, 7))),
        ("conv.weight 64x3 frozen", ParamRecord("conv.weight", (64, 3), trainable=False)),
        ("  conv.weight   (2, 3)  trainable  ", ParamRecord("conv.weight", (2, 3))),
    ],
)
def test_plain_lines(line: str, record: ParamRecord) -> None:
    assert parse_dump(line) == [record]


def test_blank_and_comment_lines_skipped() -> None:
    assert parse_dump("\n# a comment\n  \nw (1,)\n") == [ParamRecord("w", (1,))]


def test_unreadable_line() -> None:
    with pytest.raises(DumpError) as caught:
        parse_dump("w (1,)\nthis is not a parameter\n", "d.txt")

    assert str(caught.value) == (
        "d.txt:2: cannot read parameter line 'this is not a parameter'\n"
        "  expected: 'Parameter (name=NAME, shape=(D, ...), ...)' or 'NAME (D, ...)'\n"
        "  Hint: print each parameter on its own line, for example with "
        "`for p in net.get_parameters(): print(p)`."
    )


@pytest.mark.parametrize("shape", ["(x, 2)", "(1,,2)", "(-1, 2)", "(" + "9" * 30 + ")"])
def test_invalid_shape(shape: str) -> None:
    with pytest.raises(DumpError) as caught:
        parse_dump(f"w {shape}", "d.txt")

    message = str(caught.value)
    assert message.startswith("d.txt:1: parameter 'w' has shape ")
    assert "which is not a list of whole numbers" in message


def test_duplicate_name() -> None:
    with pytest.raises(DumpError) as caught:
        parse_dump("w (1,)\nv (2,)\nw (1,)\n", "d.txt")

    assert str(caught.value) == (
        "d.txt:3: parameter 'w' is listed twice (first on line 1)\n"
        "  Hint: remove the duplicate line."
    )


def test_read_dump_file() -> None:
    records = read_dump(REPO / "examples" / "convnext_base_params.txt")

    assert len(records) == 304
    assert records[0] == ParamRecord("backbone.start_cell.0.weight", (128, 3, 4, 4))
    assert records[-1] == ParamRecord("head.dense.bias", (1000,))


def test_read_dump_missing(tmp_path: Path) -> None:
    with pytest.raises(DumpError) as caught:
        read_dump(tmp_path / "absent.txt")

    assert str(caught.value).startswith(
        f"{tmp_path / 'absent.txt'}: cannot read the parameter dump"
    )


def test_read_dump_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "dump.txt"
    path.write_bytes(b"w (1,)\n\xff\n")

    with pytest.raises(DumpError):
        read_dump(path)
