"""Refresh the generated parts of the rule pack pages in this folder.

Each page names the ``grouprules explain`` command behind its group table in a
line "Output of `grouprules explain rules/<pack>.yaml ...`:". This script runs
that command from the repository root and rewrites two parts of the page: the
``text`` block after that line, and the layer-id table (the one that starts
with ``| rule | pattern |``), rebuilt from the same command's JSON output. The
prose is left alone.

Usage, from the repository root::

    python docs/rules/refresh.py          # rewrite stale pages
    python docs/rules/refresh.py --check  # exit 1 if a page is stale
"""

from __future__ import annotations

import argparse
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

from grouprules import load_rules

PAGES = Path(__file__).resolve().parent
ROOT = PAGES.parents[1]
_COMMAND_LINE = re.compile(r"^Output of `(grouprules explain [^`]+)`")
_TABLE_HEADER = "| rule | pattern | layer | layer_id | lr_scale |"


def _run(arguments: list[str]) -> str:
    completed = subprocess.run(
        [sys.executable, "-m", "grouprules", *arguments],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=False,
    )
    if completed.returncode != 0:
        raise SystemExit(f"grouprules {shlex.join(arguments)} failed:\n{completed.stderr}")
    return completed.stdout.rstrip("\n")


def _id_span(values: list[int]) -> str:
    low, high = min(values), max(values)
    return str(low) if low == high else f"{low}..{high}"


def _scale_span(values: list[float]) -> str:
    low, high = min(values), max(values)
    return f"{low:.4g}" if low == high else f"{low:.4g}..{high:.4g}"


def _id_table(rules_file: str, document: dict[str, object]) -> list[str]:
    rules = load_rules(ROOT / rules_file)
    parameters: list[dict[str, object]] = document["parameters"]  # type: ignore[assignment]
    lines = [_TABLE_HEADER, "|---|---|---|---|---|"]
    for rule, written in zip(rules.rules, rules.spec.rules, strict=True):
        placed = [item for item in parameters if item["rule"] == rule.label]
        ids = _id_span([int(str(item["layer_id"])) for item in placed])
        scales = _scale_span([float(str(item["lr_scale"])) for item in placed])
        # A | inside a table cell ends the cell even within backticks, so escape it.
        pattern = rule.pattern.replace("|", "\\|")
        lines.append(f"| {rule.label} | `{pattern}` | `{written.layer}` | {ids} | {scales} |")
    return lines


def _replace_block(lines: list[str], start: int, new: list[str], end_marker: str) -> list[str]:
    end = lines.index(end_marker, start + 1)
    return lines[:start] + new + lines[end:]


def refresh(page: Path) -> str:
    """Return the page's text with its group table and layer-id table regenerated."""
    lines = page.read_text(encoding="utf-8").splitlines()
    commands = [_COMMAND_LINE.match(line) for line in lines]
    found = [(index, match) for index, match in enumerate(commands) if match]
    if len(found) != 1:
        raise SystemExit(f"{page}: expected one 'Output of `grouprules explain ...`' line")
    index, match = found[0]
    arguments = shlex.split(match.group(1))[1:]

    fence = lines.index("```text", index)
    output = _run(arguments).splitlines()
    lines = _replace_block(lines, fence + 1, output, "```")

    document = json.loads(_run([*arguments, "--format", "json"]))
    table = lines.index(_TABLE_HEADER)
    lines = _replace_block(lines, table, _id_table(arguments[1], document), "")
    return "\n".join(lines) + "\n"


def main() -> int:
    """Refresh every page, or with --check report the stale ones; return the exit code."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report stale pages, change none")
    args = parser.parse_args()

    stale = []
    for page in sorted(PAGES.glob("*.md")):
        if page.name == "README.md":
            continue
        text = refresh(page)
        if text == page.read_text(encoding="utf-8"):
            continue
        stale.append(page)
        if not args.check:
            page.write_text(text, encoding="utf-8")

    for page in stale:
        print(f"{page.relative_to(ROOT)}: {'stale' if args.check else 'refreshed'}")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())
