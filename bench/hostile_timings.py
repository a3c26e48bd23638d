"""Time how long each hostile rule file takes to be rejected.

The cases are ``HOSTILE_FILES`` from ``tests/test_hostile_rule_files.py``, plus
the two catastrophic patterns, which fail while planning rather than loading.
Each case is run ``--repeat`` times, and the slowest run is reported as wall
time and as the process's CPU time. A case is marked SLOW when its CPU time is a
second or more. CPU time is the measure because the ``regex`` match timeout
counts it, and because wall time grows with the load of a shared machine. The
tests check the errors; this script checks the time, so that no test depends on
the speed of the machine.

Run from the repository root:

    .venv/bin/python bench/hostile_timings.py
"""

from __future__ import annotations

import argparse
import functools
import sys
import time
from collections.abc import Callable

from _common import REPO_ROOT, add_repo_root_to_path, cpu_model

add_repo_root_to_path()
sys.path.insert(0, str(REPO_ROOT / "tests"))

from test_hostile_rule_files import HEADER, HOSTILE_FILES  # noqa: E402

from grouprules import GroupRulesError, ParamRecord, loads_rules, make_plan  # noqa: E402

LIMIT_SECONDS = 1.0


def _planning_case(pattern_key: str, pattern: str, name: str) -> Callable[[], object]:
    if pattern_key == "rule":
        text = HEADER + f"rules: [{{pattern: '{pattern}', layer: 0}}]\n"
    else:
        text = (
            HEADER
            + f"rules: [{{pattern: '.*', layer: 0}}]\nno_weight_decay: {{names: ['{pattern}']}}\n"
        )
    rules = loads_rules(text)
    return lambda: make_plan(rules, [ParamRecord(name, (2,))])


def _cases() -> list[tuple[str, Callable[[], object]]]:
    cases: list[tuple[str, Callable[[], object]]] = [
        (case_id, functools.partial(loads_rules, content, source=source))
        for case_id, source, content, _, _ in HOSTILE_FILES
    ]
    cases.append(("catastrophic-rule-pattern", _planning_case("rule", "(a|a)+$", "a" * 40 + "!")))
    cases.append(("catastrophic-no-decay-pattern", _planning_case("names", "(x|x)+y", "x" * 40)))
    return cases


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs per case; the slowest counts")
    args = parser.parse_args()

    slow = 0
    print(f"{'case':34} {'wall s':>7} {'cpu s':>7}  outcome")
    for case_id, run in _cases():
        worst_wall = worst_cpu = 0.0
        outcome = "loaded"
        for _ in range(args.repeat):
            wall = time.perf_counter()
            cpu = time.process_time()
            try:
                run()
            except GroupRulesError as exc:
                outcome = type(exc).__name__
            worst_wall = max(worst_wall, time.perf_counter() - wall)
            worst_cpu = max(worst_cpu, time.process_time() - cpu)
        mark = "  SLOW" if worst_cpu >= LIMIT_SECONDS else ""
        slow += worst_cpu >= LIMIT_SECONDS
        print(f"{case_id:34} {worst_wall:7.3f} {worst_cpu:7.3f}  {outcome}{mark}")
    print(f"{len(_cases())} cases, {slow} at or above {LIMIT_SECONDS} s, on {cpu_model()}")
    return 1 if slow else 0


if __name__ == "__main__":
    sys.exit(main())
