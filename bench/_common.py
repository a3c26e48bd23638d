"""Helpers shared by the benchmark scripts: machine description and summaries."""

from __future__ import annotations

import os
import platform
import statistics
import sys
from importlib import metadata
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[1]


def add_repo_root_to_path() -> None:
    """Make ``grouprules`` and ``examples`` importable when a script runs from ``bench/``."""
    root = str(REPO_ROOT)
    if root not in sys.path:
        sys.path.insert(0, root)


def cpu_model() -> str:
    """Return the CPU model name from ``/proc/cpuinfo``, or the platform's processor."""
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def package_version(name: str) -> str | None:
    """Return the installed version of distribution ``name``, or None when absent."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def machine() -> dict[str, Any]:
    """Describe the machine and software a benchmark ran on."""
    return {
        "cpu_model": cpu_model(),
        "cpu_count": os.cpu_count(),
        "load_average": [round(value, 2) for value in os.getloadavg()],
        "python": platform.python_version(),
        "mindspore": package_version("mindspore"),
        "numpy": package_version("numpy"),
    }


def median(values: list[float]) -> float:
    """Return the median of ``values``, or NaN for an empty list."""
    return statistics.median(values) if values else float("nan")
