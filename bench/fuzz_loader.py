"""Fuzz the rule file loader with mutated copies of real rule files.

Each input is one of the bundled packs (``rules/*.yaml``) or a TOML seed, with
one to four mutations. A mutation flips a bit, truncates the file, inserts YAML
or TOML syntax (anchors, aliases, tags, brackets, control bytes), swaps two keys,
duplicates or deletes a line, or replaces a value by one of another type. Every input must
either load or raise :class:`grouprules.RuleFileError`; an input that loads is
also planned against the ConvNeXt-Base parameter dump, where only
:class:`grouprules.GroupRulesError` subclasses may be raised. Any other
exception is a crash: the script prints the input and exits with status 1.

The seed is fixed, so a run is reproducible. Run from the repository root:

    .venv/bin/python bench/fuzz_loader.py --inputs 20000 --seed 7
"""

from __future__ import annotations

import argparse
import collections
import random
import sys
import time
import traceback

from _common import REPO_ROOT, add_repo_root_to_path, cpu_model

add_repo_root_to_path()

from grouprules import GroupRulesError, RuleFileError, loads_rules, make_plan, read_dump  # noqa: E402

TOML_SEED = """schema_version = 1
name = "seed"
num_layers = 3
layer_decay = 0.75
weight_decay = 0.05

[[rules]]
name = "blocks"
pattern = 'blocks\\.(?P<i>\\d+)\\.'
layer = "min(i + 1, head)"
lr_mult = 1.5

[[rules]]
pattern = '.*'
layer = "head"

[no_weight_decay]
names = ['\\.bias$', 'gamma$']
max_rank = 1
cell_types = ["LayerNorm"]

[expect]
parameters = 304
"""

INSERTS = [
    "\x00",
    "\x07",
    "\xff",
    ":",
    ": ",
    "-",
    "- ",
    "[",
    "]",
    "{",
    "}",
    ",",
    "&a ",
    "*a",
    "!!",
    "!!python/object:os.system ",
    "!!binary ",
    "<<: *a",
    "? ",
    "|",
    ">",
    "\n",
    "\n  ",
    "'",
    '"',
    '"""',
    "#",
    "=",
    "1e999",
    ".inf",
    ".nan",
    "\t",
    "9" * 40,
    "(",
    ")",
    "(?P<i>",
    "\\",
    "{9999}",
    "yes",
    "null",
    "~",
    "%YAML 1.1\n",
    "---\n",
    "...\n",
    "\ufeff",
    "\u2028",
    "a" * 300,
]
VALUES = [
    "[]",
    "{}",
    "true",
    "null",
    "-1",
    "1.5",
    "'x'",
    "[1, [2, [3]]]",
    "{a: {b: {c: 1}}}",
    "'(a|a)+$'",
    "'min(i, '",
    "9999999999",
    "*a",
    "!!set {a: null}",
]


def _mutate(data: bytes, rng: random.Random, is_toml: bool) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["flip", "truncate", "insert", "swap", "duplicate", "delete", "value"])
        position = rng.randrange(len(buffer)) if buffer else 0
        if kind == "flip" and buffer:
            buffer[position] ^= 1 << rng.randrange(8)
            continue
        if kind == "truncate":
            del buffer[position:]
            continue
        if kind == "insert":
            buffer[position:position] = rng.choice(INSERTS).encode("utf-8", "surrogatepass")
            continue

        lines = bytes(buffer).split(b"\n")
        first = rng.randrange(len(lines))
        second = rng.randrange(len(lines))
        separator = b"=" if is_toml else b":"
        if kind == "swap":
            left, _, left_rest = lines[first].partition(separator)
            right, _, right_rest = lines[second].partition(separator)
            lines[first] = right + separator + left_rest
            lines[second] = left + separator + right_rest
        elif kind == "duplicate":
            lines.insert(second, lines[first])
        elif kind == "delete":
            del lines[first]
        else:
            key, found, _ = lines[first].partition(separator)
            if found:
                lines[first] = key + separator + b" " + rng.choice(VALUES).encode()
        buffer = bytearray(b"\n".join(lines))
    return bytes(buffer)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--inputs", type=int, default=20_000, help="number of inputs to try")
    parser.add_argument("--seed", type=int, default=7, help="random seed")
    args = parser.parse_args()

    seeds = [
        (path.name, path.read_bytes(), False) for path in sorted(REPO_ROOT.glob("rules/*.yaml"))
    ]
    seeds.append(("seed.toml", TOML_SEED.encode(), True))
    records = read_dump(REPO_ROOT / "examples" / "convnext_base_params.txt")
    rng = random.Random(args.seed)
    outcomes: collections.Counter[str] = collections.Counter()
    slowest = (0.0, "")
    crashes = 0
    started = time.perf_counter()

    for index in range(args.inputs):
        name, data, is_toml = rng.choice(seeds)
        mutated = _mutate(data, rng, is_toml)
        source = f"fuzz-{index}.{'toml' if is_toml else 'yaml'}"
        began = time.perf_counter()
        try:
            rules = loads_rules(mutated, source=source)
            outcomes["loaded"] += 1
            try:
                make_plan(rules, records)
                outcomes["planned"] += 1
            except GroupRulesError as exc:
                outcomes[f"plan error: {type(exc).__name__}"] += 1
        except RuleFileError:
            outcomes["RuleFileError"] += 1
        except Exception:  # noqa: BLE001 - any other exception is the crash being looked for
            crashes += 1
            print(f"CRASH on input {index} (mutated {name}):\n{mutated!r}", file=sys.stderr)
            traceback.print_exc()
        elapsed = time.perf_counter() - began
        if elapsed > slowest[0]:
            slowest = (elapsed, f"input {index} (mutated {name})")

    total = time.perf_counter() - started
    print(f"inputs: {args.inputs}, seed: {args.seed}, {total:.1f} s on {cpu_model()}")
    for outcome, count in outcomes.most_common():
        print(f"  {outcome}: {count}")
    print(f"  crashes: {crashes}")
    print(f"slowest input: {slowest[0] * 1000:.1f} ms, {slowest[1]}")
    return 1 if crashes else 0


if __name__ == "__main__":
    sys.exit(main())
