"""Time to plan 1k, 10k and 100k parameter names, against timm's group_with_matcher.

The names come from a generated deep mixture-of-experts transformer::

    model.embed_tokens.weight
    model.layers.<i>.input_layernorm.weight
    model.layers.<i>.self_attn.{q,k,v,o}_proj.weight
    model.layers.<i>.post_attention_layernorm.weight
    model.layers.<i>.mlp.gate.weight
    model.layers.<i>.mlp.experts.<e>.{w1,w2,w3}.weight
    model.norm.weight
    lm_head.weight

with 64 experts a layer (199 names a layer) and the depth chosen for about 1k,
10k and 100k names. grouprules plans them with a three-rule file (embedding to
layer 0, layer ``i`` to ``i + 1``, final norm and head to the head) plus a
``no_weight_decay`` block. Its time ``plan_s`` is ``make_plan`` alone, which
matches, computes layer ids, decides weight decay, builds the groups and runs
the findings. ``match_s`` is the matching and layer ids alone, the part that
timm's function does. timm gets the equivalent matcher
(``{"embed": "^model\\.embed_tokens", "blocks": [("^model\\.layers\\.(\\d+)", None),
("^model\\.norm", (99999,))]}``) and its time is ``group_with_matcher`` alone,
which only matches and numbers the layers.

timm needs torch. Where timm is not importable in this interpreter, pass
``--timm-python`` with an interpreter that has it (a separate virtualenv, so that
timm never becomes a grouprules dependency); without one the script reports
grouprules alone and reports that timm is absent.

Run from the repository root:

    .venv/bin/python bench/plan_speed.py --repeats 5 --timm-python /tmp/benchvenv/bin/python
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from typing import Any

from _common import add_repo_root_to_path, machine, median, package_version

EXPERTS = 64
NAMES_PER_LAYER = 7 + 3 * EXPERTS
OUTSIDE_LAYERS = 3
#: Depths that give about 1k, 10k and 100k names.
DEPTHS = {"1k": 5, "10k": 50, "100k": 503}
HIDDEN = 64

TIMM_MATCHER = {
    "embed": r"^model\.embed_tokens",
    "blocks": [(r"^model\.layers\.(\d+)", None), (r"^model\.norm", (99999,))],
}


def parameter_shapes(depth: int) -> list[tuple[str, tuple[int, ...]]]:
    """Return (name, shape) for every parameter of the generated model, in order."""
    shapes: list[tuple[str, tuple[int, ...]]] = [("model.embed_tokens.weight", (1000, HIDDEN))]
    for layer in range(depth):
        prefix = f"model.layers.{layer}."
        shapes.append((prefix + "input_layernorm.weight", (HIDDEN,)))
        shapes += [(prefix + f"self_attn.{x}_proj.weight", (HIDDEN, HIDDEN)) for x in "qkvo"]
        shapes.append((prefix + "post_attention_layernorm.weight", (HIDDEN,)))
        shapes.append((prefix + "mlp.gate.weight", (EXPERTS, HIDDEN)))
        for expert in range(EXPERTS):
            for weight in ("w1", "w2", "w3"):
                shapes.append((prefix + f"mlp.experts.{expert}.{weight}.weight", (HIDDEN, HIDDEN)))
    shapes.append(("model.norm.weight", (HIDDEN,)))
    shapes.append(("lm_head.weight", (1000, HIDDEN)))
    return shapes


def rule_text(depth: int) -> str:
    """Return the grouprules rule file for a model of ``depth`` layers."""
    return f"""\
schema_version: 1
name: moe-transformer
num_layers: {depth}
layer_decay: 0.9
weight_decay: 0.1
rules:
  - name: embed
    pattern: 'model\\.embed_tokens\\.'
    layer: 0
  - name: layers
    pattern: 'model\\.layers\\.(?P<i>\\d+)\\.'
    layer: i + 1
  - name: head
    pattern: '(?:model\\.norm|lm_head)\\.'
    layer: head
no_weight_decay:
  names: ['norm\\.weight$']
  max_rank: 1
"""


def _best_of(function: Callable[[], Any], repeats: int) -> tuple[list[float], Any]:
    times = []
    result = None
    for _ in range(repeats):
        start = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - start)
    return times, result


def time_grouprules(depth: int, repeats: int) -> dict[str, Any]:
    """Time loading the rules and planning the names of a ``depth``-layer model."""
    add_repo_root_to_path()
    from grouprules import ParamRecord, loads_rules, make_plan

    records = [ParamRecord(name, shape) for name, shape in parameter_shapes(depth)]
    text = rule_text(depth)
    load_times, rules = _best_of(lambda: loads_rules(text), repeats)
    plan_times, plan = _best_of(lambda: make_plan(rules, records), repeats)

    def match_only() -> None:
        # What timm's group_with_matcher does: find each name's rule and layer id.
        for record in records:
            found = rules.first_match(record.name)
            assert found is not None
            found[0].layer_id(found[1], rules.num_layers)

    match_times, _ = _best_of(match_only, repeats)
    return {
        "names": len(records),
        "load_s": median(load_times),
        "plan_s": median(plan_times),
        "match_s": median(match_times),
        "plan_times_s": plan_times,
        "groups": len(plan.groups),
        "layer_ids": len(plan.layer_ids),
    }


def _timm_group_with_matcher() -> tuple[Callable[..., Any], str]:
    """Import timm's group_with_matcher; return it and where it was loaded from."""
    try:
        from timm.models import group_with_matcher
    except Exception as exc:  # noqa: BLE001 - any import failure means: load the file
        import_error = f"{type(exc).__name__}: {exc}"
    else:
        return group_with_matcher, "imported from timm.models"

    # Importing timm pulls in torchvision, whose CPU build may not be installable.
    # group_with_matcher itself needs only torch and the standard library, so load
    # its module from timm's source file.
    import importlib.machinery
    import importlib.util
    import types
    from pathlib import Path

    for name in [name for name in sys.modules if name == "timm" or name.startswith("timm.")]:
        del sys.modules[name]
    spec = importlib.machinery.PathFinder.find_spec("timm")
    if spec is None or not spec.submodule_search_locations:
        raise ImportError("timm is not installed") from None
    package_dir = Path(list(spec.submodule_search_locations)[0])
    layers = types.ModuleType("timm.layers")
    layers.use_reentrant_ckpt = False  # type: ignore[attr-defined]
    sys.modules["timm"] = types.ModuleType("timm")
    sys.modules["timm.layers"] = layers
    module_spec = importlib.util.spec_from_file_location(
        "timm_manipulate", package_dir / "models" / "_manipulate.py"
    )
    assert module_spec is not None and module_spec.loader is not None
    module = importlib.util.module_from_spec(module_spec)
    module_spec.loader.exec_module(module)
    origin = (
        f"loaded from {package_dir}/models/_manipulate.py (importing timm failed: {import_error})"
    )
    return module.group_with_matcher, origin


def time_timm(depth: int, repeats: int) -> dict[str, Any]:
    """Time timm's group_with_matcher on the names of a ``depth``-layer model."""
    group_with_matcher, origin = _timm_group_with_matcher()
    named = [(name, None) for name, _ in parameter_shapes(depth)]
    times, layers = _best_of(
        lambda: group_with_matcher(iter(named), TIMM_MATCHER, reverse=True), repeats
    )
    return {
        "names": len(named),
        "match_s": median(times),
        "match_times_s": times,
        "layer_ids": len(set(layers.values())),
        "timm": package_version("timm"),
        "origin": origin,
    }


def _timm_in(python: str | None, repeats: int) -> dict[str, Any]:
    """Run the timm timings in ``python``, or in this interpreter when None."""
    if python is None:
        try:
            return {size: time_timm(depth, repeats) for size, depth in DEPTHS.items()}
        except ImportError as exc:
            return {"absent": f"timm is not importable here ({exc})"}
    command = [python, __file__, "--timm-child", str(repeats)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600, check=False)
    if done.returncode != 0:
        tail = "\n".join(done.stderr.splitlines()[-5:])
        return {"absent": f"{python} could not run timm: {tail}"}
    return dict(json.loads(done.stdout.splitlines()[-1]))


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5, help="timings per size; median kept")
    parser.add_argument(
        "--timm-python", help="interpreter with timm installed, used for the timm timings"
    )
    parser.add_argument("--timm-child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.timm_child:
        print(
            json.dumps({size: time_timm(depth, args.timm_child) for size, depth in DEPTHS.items()})
        )
        return 0

    at_start = machine()
    timm = _timm_in(args.timm_python, args.repeats)
    grouprules = {size: time_grouprules(depth, args.repeats) for size, depth in DEPTHS.items()}
    first = grouprules["1k"]
    for size, row in grouprules.items():
        # Per-name time relative to the 1k size: 1.0 means linear growth.
        row["per_name_vs_1k"] = (row["plan_s"] / row["names"]) / (first["plan_s"] / first["names"])
        if size in timm:
            row["timm_match_s"] = timm[size]["match_s"]
            row["speedup_vs_timm"] = timm[size]["match_s"] / row["plan_s"]
            row["match_speedup_vs_timm"] = timm[size]["match_s"] / row["match_s"]

    result = {
        "benchmark": "plan_speed",
        "machine": at_start,
        "load_average_end": machine()["load_average"],
        "settings": {"repeats": args.repeats, "experts": EXPERTS, "depths": DEPTHS},
        "grouprules": grouprules,
        "timm": timm,
    }
    print(json.dumps(result))
    print()
    print(
        f"planning speed, median of {args.repeats} ({at_start['cpu_count']} cores, "
        f"{at_start['cpu_model']}, Python {at_start['python']})"
    )
    if "absent" in timm:
        print(f"timm absent: {timm['absent']}")
    else:
        print(f"timm {timm['1k']['timm']}: group_with_matcher {timm['1k']['origin']}")
    print(
        f"{'size':>5} {'names':>7} {'load ms':>8} {'plan s':>8} {'per name us':>11} "
        f"{'vs 1k':>6} {'match s':>8} {'timm s':>8} {'plan x timm':>11} {'match x timm':>12}"
    )
    for size, row in grouprules.items():
        nan = float("nan")
        print(
            f"{size:>5} {row['names']:>7} {row['load_s'] * 1e3:>8.1f} {row['plan_s']:>8.3f} "
            f"{row['plan_s'] / row['names'] * 1e6:>11.2f} {row['per_name_vs_1k']:>6.2f} "
            f"{row['match_s']:>8.3f} {row.get('timm_match_s', nan):>8.3f} "
            f"{row.get('speedup_vs_timm', nan):>11.2f} "
            f"{row.get('match_speedup_vs_timm', nan):>12.2f}"
        )
    print("(x timm: timm's time divided by grouprules' time; above 1 means grouprules is faster)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
