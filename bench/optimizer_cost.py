"""Cost of scheduled layer-wise lr decay in a MindSpore optimizer.

Each variant runs in a fresh process on the example ConvNeXt-T or ConvNeXt-B
(examples/convnext.py). The process builds the network and the variant's
optimizer (``nn.AdamWeightDecay`` unless the variant names another) and calls the
optimizer with fixed synthetic gradients. That isolates the optimizer's cost
from the forward and backward pass. Every process reports:

* ``construct_s``: building the optimizer, planning included;
* ``first_step_s``: the first optimizer call, graph compilation included;
* ``first_call_s``: the sum of the two, the wait before training starts, and
  ``first_call_cpu_s``, the CPU time the process spent on it (all threads),
  which other processes on a shared machine disturb less than the wall time;
* ``peak_rss_mb``: the process's peak resident memory (``ru_maxrss``), and
  ``rss_before_mb``, its resident memory just before the optimizer was built;
* ``isolated_step_s``: the median time of the next ``--steps`` calls in that
  process, including any host-side lr update the variant needs.

Step times of separate processes drift by tens of percent on a shared machine,
so ``step_s``, the number the summary compares, comes from one more process per
model and repeat that builds every variant and alternates their steps.

The variants, all with a warmup-cosine base schedule and GRAPH_MODE:

* ``anchor``: one ungrouped optimizer with one ``LearningRateSchedule``;
* ``per_group_schedule``: ``grouprules.mindspore.build_groups`` with the
  schedule, so every group holds a ``ScaledSchedule``;
* ``scheduled_optimizer``: ``grouprules.schedules.scheduled_optimizer``;
* ``host_update`` (with ``--candidates``): float-lr groups whose lr Parameters
  the host sets before each step, as a ``Callback`` would;
* ``experimental_adamw`` (with ``--candidates``): ``mindspore.experimental.optim.AdamW``
  with one group per plan group and a ``LambdaLR`` scheduler stepped each step;
* ``computed_lrs`` (with ``--candidates``): ``scheduled_optimizer`` with a
  ``get_lr`` that returns ``base * factor`` for every parameter as computed
  Tensors instead of writing the group lr Parameters; it shows that the cost of
  ``per_group_schedule`` comes from per-parameter lrs computed in the graph, not
  from evaluating the schedule once per parameter.

Run from the repository root:

    .venv/bin/python bench/optimizer_cost.py --repeats 3

It prints one JSON line with every measurement, then a summary with medians over
the repeats and ratios to the anchor.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from typing import Any

from _common import REPO_ROOT, add_repo_root_to_path, machine, median

BASIC_VARIANTS = ("anchor", "per_group_schedule", "scheduled_optimizer")
CANDIDATE_VARIANTS = ("host_update", "experimental_adamw", "computed_lrs")
MODELS = ("tiny", "base")
RULES = REPO_ROOT / "rules" / "convnext.yaml"

PEAK_LR = 1e-3
WARMUP_STEPS = 5
TOTAL_STEPS = 1000
WEIGHT_DECAY = 0.05
CHILD_TIMEOUT_S = 1200


def _current_rss_mb() -> float:
    with open("/proc/self/status", encoding="utf-8") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


class _Setup:
    """A network, synthetic gradients and a way to build each variant's optimizer."""

    def __init__(self, model: str) -> None:
        add_repo_root_to_path()
        import mindspore
        import numpy as np
        from mindspore import Tensor

        from examples.convnext import convnext_base, convnext_tiny

        mindspore.set_context(mode=mindspore.GRAPH_MODE)
        self.net = convnext_tiny() if model == "tiny" else convnext_base()
        self.params = self.net.trainable_params()
        rng = np.random.default_rng(0)
        self.grads = tuple(
            Tensor((rng.standard_normal(param.shape) * 1e-3).astype(np.float32))
            for param in self.params
        )
        # Reading the smallest parameter waits for the step without copying much.
        self.probe = min(self.params, key=lambda param: int(np.prod(param.shape)))

    def build(self, variant: str) -> tuple[Any, int]:
        """Build ``variant``'s optimizer; return a one-step function and the group count."""
        return _build(variant, self.net, self.params, self.grads, self.probe)


def out_groups(plan: Any, net: Any) -> list[dict[str, Any]]:
    """Return the plan's group dicts for ``net``, without the ``order_params`` entry."""
    from grouprules.mindspore import build_groups

    return build_groups(plan, net, 0.0).groups[:-1]


def _build(variant: str, net: Any, params: Any, grads: Any, probe: Any) -> tuple[Any, int]:
    import numpy as np
    from mindspore import Tensor, nn

    from grouprules.mindspore import build_groups, plan_for_cell
    from grouprules.schedules import scheduled_optimizer

    class WarmupCosine(nn.learning_rate_schedule.LearningRateSchedule):  # type: ignore[misc]
        """Linear warmup to the peak lr, then cosine decay to zero."""

        def __init__(self) -> None:
            super().__init__()
            self.warmup = nn.WarmUpLR(PEAK_LR, WARMUP_STEPS)
            self.cosine = nn.CosineDecayLR(0.0, PEAK_LR, TOTAL_STEPS - WARMUP_STEPS)

        def construct(self, global_step: Tensor) -> Tensor:
            if global_step < WARMUP_STEPS:
                return self.warmup(global_step)
            return self.cosine(global_step - WARMUP_STEPS)

    def host_schedule(step: int) -> float:
        if step < WARMUP_STEPS:
            return PEAK_LR * step / WARMUP_STEPS
        progress = min(step - WARMUP_STEPS, TOTAL_STEPS - WARMUP_STEPS) / (
            TOTAL_STEPS - WARMUP_STEPS
        )
        return 0.5 * PEAK_LR * (1.0 + float(np.cos(np.pi * progress)))

    before_update = None
    if variant == "anchor":
        optimizer = nn.AdamWeightDecay(
            params, learning_rate=WarmupCosine(), weight_decay=WEIGHT_DECAY
        )
        groups = 1
    else:
        plan = plan_for_cell(RULES, net, weight_decay=WEIGHT_DECAY, check_expect=False)
        groups = len(plan.groups)
    if variant == "per_group_schedule":
        out = build_groups(plan, net, WarmupCosine())
        optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)
    elif variant == "scheduled_optimizer":
        optimizer = scheduled_optimizer(nn.AdamWeightDecay, plan, net, WarmupCosine())
    elif variant == "host_update":
        out = build_groups(plan, net, PEAK_LR)
        optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)
        lr_params = [optimizer.get_lr_parameter(entry["params"][0]) for entry in out.groups[:-1]]
        factors = [group.lr_factor for group in out.metadata]

        def before_update(step: int) -> None:
            base = host_schedule(step)
            for lr_param, factor in zip(lr_params, factors, strict=True):
                lr_param.set_data(Tensor(np.float32(base * factor)))

    elif variant == "experimental_adamw":
        from mindspore.experimental import optim

        out = build_groups(plan, net, PEAK_LR)
        optimizer = optim.AdamW([dict(entry) for entry in out.groups[:-1]], lr=PEAK_LR)
        # These optimizers take the gradients in their own group order.
        by_id = {id(param): grad for param, grad in zip(params, grads, strict=True)}
        grads = tuple(by_id[id(param)] for param in optimizer.parameters)
        scheduler = optim.lr_scheduler.LambdaLR(
            optimizer, lambda step: host_schedule(step) / PEAK_LR
        )

        def before_update(step: int) -> None:
            if step > 0:
                scheduler.step()

    elif variant == "computed_lrs":
        from mindspore import ops

        optimizer = scheduled_optimizer(nn.AdamWeightDecay, plan, net, WarmupCosine())
        factor_of = {
            id(parameter): factor
            for entry, factor in zip(out_groups(plan, net), optimizer.group_lr_factors, strict=True)
            for parameter in entry["params"]
        }

        def computed_get_lr(self: Any) -> Any:
            base = self.lr_schedule(self.lr_schedule_step).reshape(())
            ops.assign_add(self.lr_schedule_step, self.lr_schedule_increment)
            lrs = ()
            for factor in self.parameter_lr_factors:
                lrs += (base * factor,)
            return lrs

        computed = type("ComputedLrs", (type(optimizer),), {"get_lr": computed_get_lr})
        optimizer.__class__ = computed
        optimizer.parameter_lr_factors = tuple(
            factor_of[id(parameter)] for parameter in optimizer._parameters
        )
    elif variant != "anchor":
        raise SystemExit(f"unknown variant {variant!r}")

    def one_step(step: int) -> None:
        if before_update is not None:
            before_update(step)
        optimizer(grads)
        probe.asnumpy()

    return one_step, groups


def _measure_first_call(variant: str, model: str, steps: int) -> dict[str, Any]:
    """Build one variant in this fresh process; time its construction and first steps."""
    setup = _Setup(model)
    rss_before = _current_rss_mb()
    cpu_start = time.process_time()
    start = time.perf_counter()
    one_step, groups = setup.build(variant)
    construct_s = time.perf_counter() - start

    start = time.perf_counter()
    one_step(0)
    first_step_s = time.perf_counter() - start
    first_call_cpu_s = time.process_time() - cpu_start

    times = []
    for step in range(1, steps + 1):
        start = time.perf_counter()
        one_step(step)
        times.append(time.perf_counter() - start)

    return {
        "variant": variant,
        "model": model,
        "parameters": len(setup.params),
        "groups": groups,
        "construct_s": construct_s,
        "first_step_s": first_step_s,
        "first_call_s": construct_s + first_step_s,
        "first_call_cpu_s": first_call_cpu_s,
        "isolated_step_s": median(times),
        "steps": steps,
        "rss_before_mb": rss_before,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def _measure_steps(variants: list[str], model: str, rounds: int) -> dict[str, Any]:
    """Build every variant in one process and time their steps in alternation.

    Alternating steps exposes every variant to the same machine load, so the
    ratios hold up on a shared machine where step times of separate processes
    drift by tens of percent.
    """
    setup = _Setup(model)
    steppers = {}
    for variant in variants:
        one_step, _ = setup.build(variant)
        one_step(0)
        steppers[variant] = one_step

    times: dict[str, list[float]] = {variant: [] for variant in variants}
    for step in range(1, rounds + 1):
        shift = step % len(variants)
        for variant in variants[shift:] + variants[:shift]:
            start = time.perf_counter()
            steppers[variant](step)
            times[variant].append(time.perf_counter() - start)
    return {
        "model": model,
        "rounds": rounds,
        "step_s": {variant: median(values) for variant, values in times.items()},
        "min_step_s": {variant: min(values) for variant, values in times.items()},
    }


def _run_child(arguments: list[str]) -> dict[str, Any]:
    command = [sys.executable, __file__, "--child", *arguments]
    env = dict(os.environ, GLOG_v="3")
    done = subprocess.run(
        command, capture_output=True, text=True, timeout=CHILD_TIMEOUT_S, env=env, check=False
    )
    for line in reversed(done.stdout.splitlines()):
        if line.startswith("{"):
            return dict(json.loads(line))
    tail = "\n".join(done.stderr.splitlines()[-15:])
    raise RuntimeError(f"{' '.join(arguments)} failed with exit code {done.returncode}:\n{tail}")


def _summarize(
    runs: list[dict[str, Any]], step_runs: list[dict[str, Any]], models: list[str]
) -> dict[str, Any]:
    """Take medians over the repeats, and ratios to the anchor paired by repeat.

    A ratio compares a variant with the anchor of the same repeat, which ran
    minutes apart at most, so a load spike between repeats does not skew it.
    """
    summary: dict[str, Any] = {}
    keys = (
        "first_call_s",
        "first_call_cpu_s",
        "construct_s",
        "first_step_s",
        "peak_rss_mb",
        "isolated_step_s",
    )
    for model in models:
        anchors = {
            run["repeat"]: run
            for run in runs
            if run["model"] == model and run["variant"] == "anchor"
        }
        mine_steps = [run for run in step_runs if run["model"] == model]
        rows: dict[str, Any] = {}
        for variant in BASIC_VARIANTS + CANDIDATE_VARIANTS:
            mine = [run for run in runs if run["model"] == model and run["variant"] == variant]
            if not mine:
                continue
            row: dict[str, Any] = {key: median([run[key] for run in mine]) for key in keys}
            row["groups"] = mine[0]["groups"]
            row["processes"] = len(mine)
            row["step_s"] = median([run["step_s"][variant] for run in mine_steps])
            row["min_step_s"] = median([run["min_step_s"][variant] for run in mine_steps])

            for key in ("first_call_s", "first_call_cpu_s", "peak_rss_mb"):
                ratios = [
                    run[key] / anchors[run["repeat"]][key]
                    for run in mine
                    if run["repeat"] in anchors
                ]
                if ratios:
                    row[f"{key}_ratio"] = median(ratios)
            paired_steps = [run for run in mine_steps if "anchor" in run["step_s"]]
            if paired_steps:
                for key in ("step_s", "min_step_s"):
                    row[f"{key}_ratio"] = median(
                        [run[key][variant] / run[key]["anchor"] for run in paired_steps]
                    )
            rows[variant] = row
        summary[model] = rows
    return summary


def _print_table(summary: dict[str, Any]) -> None:
    columns = (
        ("first call s", "first_call_s", 1.0, ".2f"),
        ("CPU s", "first_call_cpu_s", 1.0, ".2f"),
        ("peak RSS MB", "peak_rss_mb", 1.0, ".0f"),
        ("step ms", "step_s", 1e3, ".1f"),
        ("min step ms", "min_step_s", 1e3, ".1f"),
    )
    header = f"{'model':5} {'variant':20} {'groups':>6}"
    for title, _, _, _ in columns:
        header += f" {title:>12} {'x anchor':>8}"
    print(header)
    for model, rows in summary.items():
        for variant, row in rows.items():
            line = f"{model:5} {variant:20} {row['groups']:>6}"
            for _, key, unit, spec in columns:
                ratio = row.get(f"{key}_ratio", float("nan"))
                line += f" {row[key] * unit:>12{spec}} {ratio:>8.3f}"
            print(line)


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print the JSON line and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=MODELS, default=list(MODELS))
    parser.add_argument(
        "--candidates",
        action="store_true",
        help="also run host_update, experimental_adamw and computed_lrs, on ConvNeXt-T only",
    )
    parser.add_argument(
        "--variants",
        nargs="+",
        choices=BASIC_VARIANTS + CANDIDATE_VARIANTS,
        help="run only these variants (anchor is added for the ratios), on every model",
    )
    parser.add_argument("--repeats", type=int, default=3, help="fresh processes per variant")
    parser.add_argument(
        "--steps", type=int, default=10, help="timed steps after the first, per fresh process"
    )
    parser.add_argument(
        "--rounds", type=int, default=30, help="alternating steps per variant in the step-time run"
    )
    parser.add_argument(
        "--from-json", help="summarize the JSON line of an earlier run instead of running"
    )
    parser.add_argument("--child", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.from_json:
        with open(args.from_json, encoding="utf-8") as saved:
            earlier = json.loads(next(line for line in saved if line.startswith("{")))
        models = [
            model for model in MODELS if any(run["model"] == model for run in earlier["runs"])
        ]
        _print_table(_summarize(earlier["runs"], earlier["step_runs"], models))
        return 0

    if args.child:
        kind, model, *rest = args.child
        if kind == "first-call":
            result = _measure_first_call(rest[0], model, int(rest[1]))
        else:
            result = _measure_steps(rest[1:], model, int(rest[0]))
        print(json.dumps(result))
        return 0

    at_start = machine()
    runs = []
    step_runs = []
    for repeat in range(args.repeats):
        for model in args.models:
            variants = list(BASIC_VARIANTS)
            if args.candidates and model == "tiny":
                variants += CANDIDATE_VARIANTS
            if args.variants:
                variants = ["anchor"] + [name for name in args.variants if name != "anchor"]
            # Rotate the order between repeats so that drift in the machine's load
            # does not always land on the same variant.
            shift = repeat % len(variants)
            for variant in variants[shift:] + variants[:shift]:
                run = _run_child(["first-call", model, variant, str(args.steps)])
                run["repeat"] = repeat
                runs.append(run)
                print(
                    f"# repeat {repeat} {model} {variant}: first call {run['first_call_s']:.2f} s, "
                    f"({run['first_call_cpu_s']:.2f} s CPU), peak RSS {run['peak_rss_mb']:.0f} MB",
                    file=sys.stderr,
                )
            step_run = _run_child(["steps", model, str(args.rounds), *variants])
            step_run["repeat"] = repeat
            step_runs.append(step_run)
            times = ", ".join(
                f"{key} {value * 1e3:.1f}" for key, value in step_run["step_s"].items()
            )
            print(f"# repeat {repeat} {model} step ms: {times}", file=sys.stderr)

    summary = _summarize(runs, step_runs, args.models)
    result = {
        "benchmark": "optimizer_cost",
        "machine": at_start,
        "load_average_end": machine()["load_average"],
        "settings": {
            "repeats": args.repeats,
            "steps": args.steps,
            "rounds": args.rounds,
            "optimizer": "nn.AdamWeightDecay",
            "mode": "GRAPH_MODE",
            "rules": str(RULES.relative_to(REPO_ROOT)),
        },
        "summary": summary,
        "runs": runs,
        "step_runs": step_runs,
    }
    print(json.dumps(result))
    print()
    where = f"{at_start['cpu_count']} cores, {at_start['cpu_model']}"
    print(
        f"optimizer cost, medians over {args.repeats} repeats "
        f"({where}, MindSpore {at_start['mindspore']}); first call and peak RSS from a fresh "
        "process per variant, step time from variants alternating in one process"
    )
    _print_table(summary)
    return 0


if __name__ == "__main__":
    sys.exit(main())
