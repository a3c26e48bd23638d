"""The llama pack on a small LLaMA-style decoder written here in MindSpore.

The decoder keeps the parameter names of Hugging Face's LLaMA (model.embed_tokens,
model.layers.<i>.self_attn.{q,k,v,o}_proj, mlp.{gate,up,down}_proj, two RMSNorms
per layer, model.norm, lm_head) at hidden size 16. It has the pack's 32 layers,
because the pack's num_layers is the decoder depth.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import mindspore
import numpy as np
import pytest
from mindspore import Parameter, Tensor, nn, ops

from grouprules import UnmatchedParametersError, load_rules, make_plan
from grouprules.cli import main
from grouprules.cli.explain import render_text
from grouprules.mindspore import param_groups, records_from_cell
from grouprules.plan import Plan
from grouprules.records import ParamRecord

HIDDEN = 16
HEADS = 2
INTERMEDIATE = 44
VOCAB = 64
PACK_LAYERS = 32


class LlamaRMSNorm(nn.Cell):
    """Root-mean-square norm with a learned per-channel scale named ``weight``."""

    def __init__(self, hidden: int, epsilon: float = 1e-6) -> None:
        super().__init__()
        self.weight = Parameter(Tensor(np.ones(hidden, np.float32)), name="weight")
        self.epsilon = epsilon

    def construct(self, x: Tensor) -> Tensor:
        variance = ops.mean(x * x, -1, keep_dims=True)
        return self.weight * x * ops.rsqrt(variance + self.epsilon)


class LlamaAttention(nn.Cell):
    """Causal multi-head self-attention with q, k, v and o projections, no biases."""

    def __init__(self, hidden: int, heads: int) -> None:
        super().__init__()
        self.heads = heads
        self.head_dim = hidden // heads
        self.q_proj = nn.Dense(hidden, hidden, has_bias=False)
        self.k_proj = nn.Dense(hidden, hidden, has_bias=False)
        self.v_proj = nn.Dense(hidden, hidden, has_bias=False)
        self.o_proj = nn.Dense(hidden, hidden, has_bias=False)

    def _split(self, x: Tensor) -> Tensor:
        batch, length, _ = x.shape
        return x.reshape(batch, length, self.heads, self.head_dim).transpose(0, 2, 1, 3)

    def construct(self, x: Tensor) -> Tensor:
        batch, length, hidden = x.shape
        query, key, value = (
            self._split(self.q_proj(x)),
            self._split(self.k_proj(x)),
            self._split(self.v_proj(x)),
        )
        scores = ops.matmul(query, key.transpose(0, 1, 3, 2)) / float(np.sqrt(self.head_dim))
        future = Tensor(np.triu(np.full((length, length), -1e9, np.float32), k=1))
        weights = ops.softmax(scores + future, axis=-1)
        mixed = ops.matmul(weights, value).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
        return self.o_proj(mixed)


class LlamaMLP(nn.Cell):
    """SwiGLU feed-forward: down(silu(gate(x)) * up(x))."""

    def __init__(self, hidden: int, intermediate: int) -> None:
        super().__init__()
        self.gate_proj = nn.Dense(hidden, intermediate, has_bias=False)
        self.up_proj = nn.Dense(hidden, intermediate, has_bias=False)
        self.down_proj = nn.Dense(intermediate, hidden, has_bias=False)

    def construct(self, x: Tensor) -> Tensor:
        return self.down_proj(ops.silu(self.gate_proj(x)) * self.up_proj(x))


class LlamaDecoderLayer(nn.Cell):
    """Pre-norm attention and MLP, each with a residual connection."""

    def __init__(self, hidden: int, heads: int, intermediate: int) -> None:
        super().__init__()
        self.self_attn = LlamaAttention(hidden, heads)
        self.mlp = LlamaMLP(hidden, intermediate)
        self.input_layernorm = LlamaRMSNorm(hidden)
        self.post_attention_layernorm = LlamaRMSNorm(hidden)

    def construct(self, x: Tensor) -> Tensor:
        x = x + self.self_attn(self.input_layernorm(x))
        return x + self.mlp(self.post_attention_layernorm(x))


class LlamaModel(nn.Cell):
    """Token embedding, the decoder layers and the final norm."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(VOCAB, HIDDEN)
        self.layers = nn.CellList(
            [LlamaDecoderLayer(HIDDEN, HEADS, INTERMEDIATE) for _ in range(num_layers)]
        )
        self.norm = LlamaRMSNorm(HIDDEN)

    def construct(self, tokens: Tensor) -> Tensor:
        x = self.embed_tokens(tokens)
        for layer in self.layers:
            x = layer(x)
        return self.norm(x)


class LlamaForCausalLM(nn.Cell):
    """The decoder with an untied lm_head producing next-token logits."""

    def __init__(self, num_layers: int) -> None:
        super().__init__()
        self.model = LlamaModel(num_layers)
        self.lm_head = nn.Dense(HIDDEN, VOCAB, has_bias=False)

    def construct(self, tokens: Tensor) -> Tensor:
        return self.lm_head(self.model(tokens))


def tiny_llama(num_layers: int = PACK_LAYERS) -> LlamaForCausalLM:
    """Build the test decoder; the factory the validate test passes to --model."""
    return LlamaForCausalLM(num_layers)


# Hugging Face Trainer's get_decay_parameter_names exempts these, searched in the
# lowercased name, and every parameter of an nn.LayerNorm.
_HF_NO_DECAY_PATTERNS = [
    re.compile(pattern)
    for pattern in (r"bias", r"layernorm", r"rmsnorm", r"(?:^|\.)norm(?:$|\.)", r"_norm(?:$|\.)")
]


def llama_recipe(
    records: list[ParamRecord], num_layers: int
) -> dict[str, tuple[int, float, float]]:
    """Return (layer_id, lr_scale, weight_decay) for each parameter, from the definitions.

    The layer ids follow BEiT's get_num_layer_for_vit with the embedding in place
    of the patch embedding: embedding 0, layer i at i + 1, everything else at the
    head, num_layers + 1. layer_decay 0.9 and weight_decay 0.1 are the pack's
    stated choices.
    """
    layer_decay, weight_decay = 0.9, 0.1
    expected = {}
    for record in records:
        if record.name.startswith("model.embed_tokens."):
            layer_id = 0
        elif record.name.startswith("model.layers."):
            layer_id = int(record.name.split(".")[2]) + 1
        else:
            layer_id = num_layers + 1
        exempt = "LayerNorm" in record.owner_types or any(
            pattern.search(record.name.lower()) for pattern in _HF_NO_DECAY_PATTERNS
        )
        scale = float(layer_decay ** (num_layers + 1 - layer_id))
        expected[record.name] = (layer_id, scale, 0.0 if exempt else weight_decay)
    return expected


@pytest.fixture(scope="module")
def net() -> LlamaForCausalLM:
    return tiny_llama()


@pytest.fixture(scope="module")
def plan(net: LlamaForCausalLM) -> Plan:
    return make_plan(load_rules("llama"), records_from_cell(net))


@pytest.fixture
def pynative_mode() -> Iterator[None]:
    previous = mindspore.get_context("mode")
    mindspore.set_context(mode=mindspore.PYNATIVE_MODE)
    yield
    mindspore.set_context(mode=previous)


@pytest.mark.usefixtures("pynative_mode")
def test_tiny_llama_runs_forward() -> None:
    # Two layers run the same code as 32, at a fraction of the PyNative time.
    tokens = Tensor(np.array([[1, 5, 9, 2]], np.int32))
    assert tiny_llama(num_layers=2)(tokens).shape == (1, 4, VOCAB)


def test_tiny_llama_parameter_names(net: LlamaForCausalLM) -> None:
    names = [name for name, _ in net.parameters_and_names()]
    assert names[:3] == [
        "model.embed_tokens.embedding_table",
        "model.layers.0.self_attn.q_proj.weight",
        "model.layers.0.self_attn.k_proj.weight",
    ]
    assert names[-2:] == ["model.norm.weight", "lm_head.weight"]
    assert len(names) == 1 + PACK_LAYERS * 9 + 2


def test_llama_layer_ids_match_recipe(net: LlamaForCausalLM, plan: Plan) -> None:
    expected = llama_recipe(records_from_cell(net), PACK_LAYERS)
    got = {item.name: item.layer_id for item in plan.assignments}
    assert got == {name: values[0] for name, values in expected.items()}


def test_llama_lr_scales_match_recipe(net: LlamaForCausalLM, plan: Plan) -> None:
    expected = llama_recipe(records_from_cell(net), PACK_LAYERS)
    got = {item.name: item.lr_scale for item in plan.assignments}
    assert got == pytest.approx({name: values[1] for name, values in expected.items()})


def test_llama_weight_decay_matches_recipe(net: LlamaForCausalLM, plan: Plan) -> None:
    expected = llama_recipe(records_from_cell(net), PACK_LAYERS)
    got = {item.name: item.weight_decay for item in plan.assignments}
    assert got == {name: values[2] for name, values in expected.items()}


def test_llama_norms_exempt_and_embedding_decayed(plan: Plan) -> None:
    assert plan.assignment("model.layers.0.input_layernorm.weight").weight_decay == 0.0
    assert plan.assignment("model.layers.31.post_attention_layernorm.weight").weight_decay == 0.0
    assert plan.assignment("model.norm.weight").layer_id == 33
    assert plan.assignment("model.embed_tokens.embedding_table").weight_decay == 0.1
    assert plan.assignment("lm_head.weight").layer_id == 33


def test_llama_plan_has_no_findings(plan: Plan) -> None:
    assert [finding.format() for finding in plan.findings] == []


def test_llama_validates_strictly(
    net: LlamaForCausalLM, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["validate", "--strict", "llama", "--model", f"{__name__}:tiny_llama"])
    output = capsys.readouterr().out
    assert code == 0, output
    assert output.endswith("1 file(s) checked: no problems\n")


def test_llama_groups_build_an_optimizer(net: LlamaForCausalLM) -> None:
    out = param_groups("llama", net, 1e-3)
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)
    by_name = {param.name: param for param in net.trainable_params()}

    embedding_lr = optimizer.get_lr_parameter(by_name["model.embed_tokens.embedding_table"])
    head_lr = optimizer.get_lr_parameter(by_name["lm_head.weight"])

    assert len(out.metadata) == 67
    assert float(embedding_lr.asnumpy()) == pytest.approx(1e-3 * 0.9**33, rel=1e-6)
    assert float(head_lr.asnumpy()) == pytest.approx(1e-3, rel=1e-6)


def test_llama_shallow_decoder_leaves_layer_gap() -> None:
    # A 4-layer decoder under the 32-layer pack: ids 5..32 stay empty.
    records = records_from_cell(tiny_llama(num_layers=4))

    plan = make_plan(load_rules("llama"), records, check_expect=False)

    assert [finding.code for finding in plan.findings] == ["layer-gap"]
    assert plan.findings[0].message == (
        "layer id(s) 5..32 hold no trainable parameter between used ids 0 and 33, "
        "so the layers above skip a decay step"
    )


def test_llama_deeper_decoder_is_unmatched() -> None:
    # The layers capture stops at 31, so a 33rd layer is reported rather than given id 33.
    rules = load_rules("llama")
    records = records_from_cell(tiny_llama(num_layers=33))

    with pytest.raises(UnmatchedParametersError) as excinfo:
        make_plan(rules, records)

    assert excinfo.value.names == tuple(
        f"model.layers.32.{part}"
        for part in (
            "self_attn.q_proj.weight",
            "self_attn.k_proj.weight",
            "self_attn.v_proj.weight",
            "self_attn.o_proj.weight",
            "mlp.gate_proj.weight",
            "mlp.up_proj.weight",
            "mlp.down_proj.weight",
            "input_layernorm.weight",
            "post_attention_layernorm.weight",
        )
    )
    assert str(excinfo.value).startswith(
        f"{rules.source}: 9 trainable parameter(s) matched no rule:\n"
        "  model.layers.32.self_attn.q_proj.weight\n"
    )


def test_doc_page_shows_current_groups(plan: Plan) -> None:
    lines = render_text(plan).splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith("group "))
    table = "\n".join(lines[start : lines.index("", start)])
    page = Path(__file__).resolve().parents[1] / "docs" / "rules" / "llama.md"
    stale = "docs/rules/llama.md is stale: run python docs/rules/refresh.py"
    assert table in page.read_text(encoding="utf-8"), stale
