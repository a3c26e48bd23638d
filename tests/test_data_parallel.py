"""Data-parallel training with scheduled grouprules groups: two CPU ranks under msrun.

msrun starts tests/parallel_worker.py twice on this machine, talking over
127.0.0.1 only. Each rank trains the same network on different batches and saves
its parameters and local gradients. The test checks that the ranks stay
identical and that every parameter moves by its group lr times the mean of the
two ranks' gradients.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

WORKER = Path(__file__).resolve().parent / "parallel_worker.py"
MSRUN = Path(sys.executable).parent / "msrun"
STEPS = 3
RANKS = 2
# Two ranks compile two tiny graphs each; on 2 shared cores that takes about 20 s.
TIMEOUT_S = 300


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@pytest.fixture(scope="module")
def rank_outputs(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not MSRUN.exists():
        pytest.skip(f"msrun not found at {MSRUN}; it comes with the MindSpore wheel")
    output = tmp_path_factory.mktemp("data_parallel")
    command = [
        str(MSRUN),
        f"--worker_num={RANKS}",
        f"--local_worker_num={RANKS}",
        "--master_addr=127.0.0.1",
        f"--master_port={free_port()}",
        "--join=True",
        "--cluster_time_out=120",
        f"--log_dir={output / 'logs'}",
        str(WORKER),
        str(output),
        str(STEPS),
    ]
    # msrun starts the workers with the `python` found on PATH.
    env = dict(os.environ, PATH=f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}")
    env["GLOG_v"] = "3"
    process = subprocess.Popen(
        command,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        out, _ = process.communicate(timeout=TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.communicate()
        pytest.fail(f"msrun did not finish within {TIMEOUT_S} s; logs in {output / 'logs'}")

    if process.returncode != 0:
        logs = []
        for log in sorted((output / "logs").glob("worker_*.log")):
            lines = [line for line in log.read_text().splitlines() if "WARNING" not in line]
            logs.append(f"--- {log.name}\n" + "\n".join(lines[-20:]))
        pytest.fail(f"msrun exited with {process.returncode}:\n{out[-2000:]}\n" + "\n".join(logs))
    return output


def load_rank(output: Path, rank: int, mode: str) -> dict[str, np.ndarray]:
    with np.load(output / f"rank{rank}_{mode}.npz") as data:
        return dict(data)


@pytest.mark.parametrize("mode", ["graph", "pynative"])
def test_ranks_stay_identical(rank_outputs: Path, mode: str) -> None:
    ranks = [load_rank(rank_outputs, rank, mode) for rank in range(RANKS)]
    count = len(ranks[0]["factors"])

    for step in range(STEPS):
        for index in range(count):
            key = f"after_{step}_{index}"
            np.testing.assert_array_equal(ranks[0][key], ranks[1][key], err_msg=key)


@pytest.mark.parametrize("mode", ["graph", "pynative"])
def test_update_is_group_lr_times_mean_grad(rank_outputs: Path, mode: str) -> None:
    ranks = [load_rank(rank_outputs, rank, mode) for rank in range(RANKS)]
    factors = ranks[0]["factors"]
    base_lrs = ranks[0]["base_lrs"]
    assert sorted(set(factors.tolist())) == [0.125, 0.25, 0.5, 2.0]

    for step in range(STEPS):
        for index, factor in enumerate(factors):
            grads = [data[f"grad_{step}_{index}"] for data in ranks]
            # Different batches per rank, so averaging is really exercised.
            assert not np.allclose(grads[0], grads[1]), f"grad_{step}_{index}"
            moved = ranks[0][f"before_{step}_{index}"] - ranks[0][f"after_{step}_{index}"]
            expected = base_lrs[step] * factor * np.mean(grads, axis=0)
            np.testing.assert_allclose(
                moved, expected, rtol=1e-4, atol=1e-7, err_msg=f"step {step} parameter {index}"
            )
