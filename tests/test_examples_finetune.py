"""Tests for examples/finetune.py: a short training run and its warmup-cosine schedule."""

from __future__ import annotations

import contextlib
import io
import math
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import mindspore as ms
import pytest
from mindspore import Tensor

from examples.finetune import WarmupCosineLR, main

SCRIPT = Path(__file__).resolve().parents[1] / "examples" / "finetune.py"

_LOG_LINE = re.compile(
    r"^step +(?P<step>\d+)  loss (?P<loss>[\d.]+)  lr low (?P<low>\S+)  "
    r"middle (?P<middle>\S+)  head (?P<head>\S+)$",
    re.MULTILINE,
)


@dataclass(frozen=True)
class Run:
    status: int
    output: str
    mode_after: int
    mode_before: int


@pytest.fixture(scope="module")
def short_run() -> Run:
    # One 30-step GRAPH_MODE run, shared by the tests that read its output.
    mode_before = ms.get_context("mode")
    buffer = io.StringIO()
    with contextlib.redirect_stdout(buffer):
        status = main(["--steps", "30", "--lr", "4e-3", "--seed", "0", "--mode", "graph"])
    return Run(status, buffer.getvalue(), ms.get_context("mode"), mode_before)


def _rows(output: str) -> list[dict[str, str]]:
    return [match.groupdict() for match in _LOG_LINE.finditer(output)]


def test_short_run_loss_falls(short_run: Run) -> None:
    rows = _rows(short_run.output)

    assert short_run.status == 0
    assert short_run.mode_after == short_run.mode_before
    assert [int(row["step"]) for row in rows] == [0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 29]
    assert float(rows[-1]["loss"]) < 0.5 * float(rows[0]["loss"])
    assert re.search(
        r"^held-out accuracy [\d.]+ on 360 images; wall time [\d.]+ s$", short_run.output, re.M
    )


def test_short_run_lrs_follow_layers(short_run: Run) -> None:
    rows = _rows(short_run.output)

    assert (
        "lr groups: low = layer_0_decay, middle = layer_3_decay, head = layer_13_decay"
        in short_run.output
    )
    assert len(rows) == 11
    for row in rows:
        low, middle, head = (float(row[key]) for key in ("low", "middle", "head"))
        assert head > middle > low, row
        # Printed with 4 significant digits: layer 0 is 13 ids below the head, layer 3 is 10.
        assert low == pytest.approx(head * 0.8**13, rel=1e-3)
        assert middle == pytest.approx(head * 0.8**10, rel=1e-3)
    # 3 warmup steps: the head starts at a third of the peak and reaches it at step 3.
    assert float(rows[0]["head"]) == pytest.approx(4e-3 / 3, rel=1e-3)
    assert float(rows[1]["head"]) == pytest.approx(4e-3, rel=1e-3)


def test_script_runs_in_pynative() -> None:
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--steps", "3", "--batch-size", "8", "--mode", "pynative"],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )

    assert result.returncode == 0, result.stderr[-2000:]
    assert len(_LOG_LINE.findall(result.stdout)) == 3
    assert "held-out accuracy" in result.stdout


def test_script_rejects_one_step(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--steps", "1"])

    assert exit_info.value.code == 2
    assert "error: --steps must be at least 2, got 1" in capsys.readouterr().err


def _warmup_cosine(step: int) -> float:
    # WarmupCosineLR(1e-3, 10, 110, min_lr=1e-5) in closed form.
    if step < 10:
        return 1e-3 * (step + 1) / 10
    progress = min((step - 10) / 100, 1.0)
    return 1e-5 + 0.5 * (1e-3 - 1e-5) * (1.0 + math.cos(math.pi * progress))


@pytest.mark.parametrize("step", [0, 4, 9, 10, 35, 60, 109, 110, 200])
def test_warmup_cosine_values(step: int) -> None:
    schedule = WarmupCosineLR(1e-3, warmup_steps=10, total_steps=110, min_lr=1e-5)

    value = float(schedule(Tensor([step], ms.int32)).asnumpy()[0])

    assert value == pytest.approx(_warmup_cosine(step), rel=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"warmup_steps": 0, "total_steps": 10},
            "need 1 <= warmup_steps < total_steps, got warmup_steps=0, total_steps=10",
        ),
        (
            {"warmup_steps": 10, "total_steps": 10},
            "need 1 <= warmup_steps < total_steps, got warmup_steps=10, total_steps=10",
        ),
        (
            {"warmup_steps": 1, "total_steps": 10, "min_lr": 2e-3},
            "need 0 <= min_lr <= peak_lr, got min_lr=0.002, peak_lr=0.001",
        ),
    ],
)
def test_warmup_cosine_rejects(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError, match=f"^{re.escape(message)}$"):
        WarmupCosineLR(1e-3, **kwargs)  # type: ignore[arg-type]
