"""Invariants of planning and loading, over generated networks and rule files.

Networks are generated as parameter records (names, shapes, owning cell types,
frozen and shared parameters), since the engine needs no framework. Rule files
are generated as YAML text and loaded like any file. Example counts are bounded
so that the module stays within a few seconds; ``bench/fuzz_loader.py`` runs a
longer loader fuzz by hand.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from grouprules import GroupRulesError, ParamRecord, Plan, RuleFileError, loads_rules, make_plan
from grouprules.matching import RuleSet

_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    derandomize=True,
)

_SEGMENTS = ["embed", "blocks", "head", "norm", "attn", "fc", "bias", "gamma", "0", "1", "2", "11"]
_OWNERS = [(), ("Dense", "Cell"), ("LayerNorm", "Cell"), ("MyNorm", "LayerNorm", "Cell")]
_PATTERNS = [
    (r"embed\.", ()),
    (r"blocks\.(?P<i>\d+)\.", ("i",)),
    (r"head\.", ()),
    (r"(?:norm|attn)\.", ()),
    (r"[a-z]+\.(?P<j>\d+)", ("j",)),
    (r"\d+\.(?P<i>\d+)", ("i",)),
    (r".*bias$", ()),
]
_EXPRESSIONS: dict[tuple[str, ...], list[str]] = {
    ("i",): ["i", "i + 1", "min(i, head)", "min(i + 1, head)", "max(0, min(i // 2, num_layers))"],
    ("j",): ["j", "min(j * 2, head)", "num_layers - min(j, num_layers)"],
}


@dataclass(frozen=True)
class _Case:
    rules_text: str
    records: tuple[ParamRecord, ...]


@st.composite
def _records(draw: st.DrawFn) -> tuple[ParamRecord, ...]:
    names = draw(
        st.lists(
            st.lists(st.sampled_from(_SEGMENTS), min_size=1, max_size=4).map(".".join),
            min_size=2,
            max_size=24,
            unique=True,
        )
    )
    records: list[ParamRecord] = []
    for index, name in enumerate(names):
        alias_of = draw(st.integers(-4, index - 1)) if index else -1
        if alias_of >= 0 and records[alias_of].identity is not None:
            # A tied parameter: one object under a second name.
            target = records[alias_of]
            records.append(
                ParamRecord(name, target.shape, _OWNERS[1], target.trainable, target.identity)
            )
            continue
        shape = tuple(draw(st.lists(st.integers(0, 4), max_size=4)))
        owner = draw(st.sampled_from(_OWNERS))
        trainable = draw(st.integers(0, 4)) > 0
        identity = f"param{index}" if draw(st.booleans()) else None
        records.append(ParamRecord(name, shape, owner, trainable, identity))
    return tuple(records)


@st.composite
def _rule_text(draw: st.DrawFn, num_layers: int) -> str:
    pattern, captures = draw(st.sampled_from(_PATTERNS))
    layer_choices: list[Any] = [st.integers(0, num_layers + 1), st.just("head")]
    if captures:
        layer_choices.append(st.sampled_from(_EXPRESSIONS[captures]))
    layer = draw(st.one_of(*layer_choices))
    fields = [f"pattern: '{pattern}'", f"layer: {json.dumps(layer)}"]
    decay = draw(st.sampled_from([None, True, False]))
    if decay is not None:
        fields.append(f"weight_decay: {str(decay).lower()}")
    if draw(st.integers(0, 3)) == 0:
        fields.append(f"lr_mult: {draw(st.sampled_from([0.5, 2, 1.0000001, 1.0000002]))}")
    if draw(st.integers(0, 3)) == 0:
        fields.append(f"wd_mult: {draw(st.sampled_from([0, 0.5, 3]))}")
    return "  - {" + ", ".join(fields) + "}\n"


@st.composite
def _cases(draw: st.DrawFn) -> _Case:
    num_layers = draw(st.integers(0, 6))
    layer_decay = draw(st.floats(0.05, 1.0))
    weight_decay = draw(st.sampled_from([0, 0.05, 1e-5]))
    rules = draw(st.lists(_rule_text(num_layers), min_size=1, max_size=5))
    # Most files end with a catch-all, so that most cases reach a plan.
    if draw(st.integers(0, 3)) > 0:
        rules.append("  - {pattern: '.*', layer: head}\n")
    names = draw(st.lists(st.sampled_from([r"\.bias$", "norm", "^head"]), unique=True))
    max_rank = draw(st.sampled_from([None, 0, 1, 2]))
    cell_types = draw(st.lists(st.sampled_from(["LayerNorm", "MyNorm"]), unique=True))
    text = (
        f"schema_version: 1\nname: generated\nnum_layers: {num_layers}\n"
        f"layer_decay: {layer_decay!r}\nweight_decay: {weight_decay}\n"
        "rules:\n" + "".join(rules) + "no_weight_decay:\n"
        f"  names: {json.dumps(names)}\n"
        f"  max_rank: {'null' if max_rank is None else max_rank}\n"
        f"  cell_types: {json.dumps(cell_types)}\n"
    )
    return _Case(text, draw(_records()))


def _plan_or_error(rules: RuleSet, records: tuple[ParamRecord, ...]) -> Plan | GroupRulesError:
    try:
        return make_plan(rules, records)
    except GroupRulesError as exc:
        return exc


def _aliases(records: tuple[ParamRecord, ...]) -> set[str]:
    first: dict[object, str] = {}
    aliases = set()
    for record in records:
        if record.identity is None:
            continue
        if first.setdefault(record.identity, record.name) != record.name:
            aliases.add(record.name)
    return aliases


@_SETTINGS
@given(_cases())
def test_trainable_parameters_partitioned(case: _Case) -> None:
    rules = loads_rules(case.rules_text)
    result = _plan_or_error(rules, case.records)
    if isinstance(result, GroupRulesError):
        return

    aliases = _aliases(case.records)
    expected = [r.name for r in case.records if r.trainable and r.name not in aliases]
    grouped = [name for group in result.groups for name in group.params]
    assert sorted(grouped) == sorted(expected)
    assert len(grouped) == len(set(grouped))
    assert all(group.params for group in result.groups)
    assert sum(group.numel for group in result.groups) == sum(
        r.numel for r in case.records if r.name in set(expected)
    )


@_SETTINGS
@given(_cases())
def test_frozen_and_aliases_never_emitted(case: _Case) -> None:
    rules = loads_rules(case.rules_text)
    result = _plan_or_error(rules, case.records)
    if isinstance(result, GroupRulesError):
        return

    grouped = {name for group in result.groups for name in group.params}
    frozen = {r.name for r in case.records if not r.trainable} - _aliases(case.records)
    assert not grouped & frozen
    assert not grouped & _aliases(case.records)
    assert set(result.frozen) == frozen
    assert {item.name for item in result.skipped} == frozen | _aliases(case.records)


@_SETTINGS
@given(_cases())
def test_frozen_parameters_shift_nothing(case: _Case) -> None:
    rules = loads_rules(case.rules_text)
    trainable = tuple(record for record in case.records if record.trainable)
    with_frozen = _plan_or_error(rules, case.records)
    without_frozen = _plan_or_error(rules, trainable)
    if isinstance(with_frozen, GroupRulesError):
        return

    assert not isinstance(without_frozen, GroupRulesError)
    assert with_frozen.assignments == without_frozen.assignments
    assert with_frozen.groups == without_frozen.groups


@_SETTINGS
@given(_cases())
def test_lr_scale_monotone_in_layer_id(case: _Case) -> None:
    rules = loads_rules(case.rules_text)
    result = _plan_or_error(rules, case.records)
    if isinstance(result, GroupRulesError):
        return

    by_id = sorted({(a.layer_id, a.lr_scale) for a in result.assignments})
    scales = [scale for _, scale in by_id]
    assert scales == sorted(scales)
    assert len({layer_id for layer_id, _ in by_id}) == len(by_id)
    for assignment in result.assignments:
        assert 0 <= assignment.layer_id <= rules.head_id
        expected = rules.spec.layer_decay ** (rules.head_id - assignment.layer_id)
        assert assignment.lr_scale == expected


@_SETTINGS
@given(_cases())
def test_group_settings_match_members(case: _Case) -> None:
    rules = loads_rules(case.rules_text)
    result = _plan_or_error(rules, case.records)
    if isinstance(result, GroupRulesError):
        return

    assignments = {a.name: a for a in result.assignments}
    names = [group.name for group in result.groups]
    assert len(names) == len(set(names))
    for group in result.groups:
        for name in group.params:
            member = assignments[name]
            assert member.group == group.name
            assert (member.layer_id, member.lr_factor, member.weight_decay) == (
                group.layer_id,
                group.lr_factor,
                group.weight_decay,
            )
            if not member.decay:
                assert member.weight_decay == 0.0
    layer_order = [group.layer_id for group in result.groups]
    assert layer_order == sorted(layer_order, reverse=True)


@_SETTINGS
@given(_cases())
def test_planning_deterministic(case: _Case) -> None:
    first = _plan_or_error(loads_rules(case.rules_text), case.records)
    second = _plan_or_error(loads_rules(case.rules_text), case.records)

    if isinstance(first, GroupRulesError):
        assert type(first) is type(second)
        assert str(first) == str(second)
    else:
        assert first == second
        assert not isinstance(second, GroupRulesError)
        assert first.to_dict() == second.to_dict()


@_SETTINGS
@given(_cases())
def test_only_documented_errors(case: _Case) -> None:
    # Any exception other than a GroupRulesError fails this test with its traceback.
    rules = loads_rules(case.rules_text)
    _plan_or_error(rules, case.records)


_SEED_YAML = """schema_version: 1
name: seed
num_layers: 3
layer_decay: 0.75
weight_decay: 0.05
rules:
  - {name: embed, pattern: 'embed\\.', layer: 0}
  - name: blocks
    pattern: 'blocks\\.(?P<i>\\d+)\\.'
    layer: min(i + 1, head)
    lr_mult: 1.5
  - {pattern: 'head\\.', layer: head, weight_decay: false}
no_weight_decay:
  names: ['\\.bias$', 'norm']
  max_rank: 1
  cell_types: [LayerNorm]
expect: {parameters: 4}
"""

_SEED_TOML = """schema_version = 1
name = "seed"
num_layers = 3
layer_decay = 0.75

[[rules]]
name = "blocks"
pattern = 'blocks\\.(?P<i>\\d+)\\.'
layer = "min(i + 1, head)"

[[rules]]
pattern = 'head\\.'
layer = "head"

[no_weight_decay]
names = ['\\.bias$']
max_rank = 1
"""

_INSERTS = [
    "",
    "\x00",
    "\xff",
    ":",
    "-",
    "[",
    "]",
    "{",
    "}",
    "&a",
    "*a",
    "!!",
    "<<",
    "\n",
    "'",
    '"',
    "#",
    "=",
    "1e999",
    "\t",
    "9" * 40,
    "(",
    "\\",
]


@st.composite
def _mutated(draw: st.DrawFn) -> tuple[str, bytes]:
    fmt = draw(st.sampled_from(["yaml", "toml"]))
    data = bytearray((_SEED_YAML if fmt == "yaml" else _SEED_TOML).encode())
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "truncate", "insert", "swap", "duplicate"]))
        position = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[position] ^= 1 << draw(st.integers(0, 7))
        elif kind == "truncate":
            del data[position:]
        elif kind == "insert":
            data[position:position] = draw(st.sampled_from(_INSERTS)).encode()
        else:
            lines = bytes(data).split(b"\n")
            first = draw(st.integers(0, len(lines) - 1))
            second = draw(st.integers(0, len(lines) - 1))
            if kind == "swap":
                # Swap two keys, keeping each line's value.
                left, _, left_rest = lines[first].partition(b":" if fmt == "yaml" else b"=")
                right, _, right_rest = lines[second].partition(b":" if fmt == "yaml" else b"=")
                separator = b":" if fmt == "yaml" else b"="
                lines[first] = right + separator + left_rest
                lines[second] = left + separator + right_rest
            else:
                lines.insert(second, lines[first])
            data = bytearray(b"\n".join(lines))
    return fmt, bytes(data)


@settings(max_examples=400, deadline=None, derandomize=True)
@given(_mutated())
def test_mutated_files_fail_cleanly(mutated: tuple[str, bytes]) -> None:
    fmt, data = mutated

    try:
        rules = loads_rules(data, source=f"fuzz.{fmt}")
    except RuleFileError as exc:
        assert exc.problems
        assert all(problem.file == f"fuzz.{fmt}" for problem in exc.problems)
        return
    assert rules.rules


def test_seed_files_load() -> None:
    assert loads_rules(_SEED_YAML, source="seed.yaml").spec.name == "seed"
    assert loads_rules(_SEED_TOML, source="seed.toml").spec.name == "seed"
