"""Train the small ConvNeXt on scikit-learn's digits with grouprules optimizer groups.

The network starts from random weights (no pretrained weights are bundled), and
the training uses the fine-tuning recipe of ``rules/convnext.yaml``: layer-wise lr
decay, no weight decay on biases, norms and layer scales, a warmup-cosine
schedule and ``nn.AdamWeightDecay``. It prints the loss and the lr of a low, a
middle and the head group as training goes, then the accuracy on a held-out split.

The digits are 8x8 grey images with values 0..16. Each is upsampled 4x by
repeating pixels to 32x32, repeated over 3 channels, and normalized with the
training split's mean and standard deviation.

Usage::

    python examples/finetune.py --steps 300 --mode graph
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import mindspore as ms
import numpy as np
from mindspore import Tensor, nn, ops
from mindspore.nn.learning_rate_schedule import LearningRateSchedule
from sklearn.datasets import load_digits
from sklearn.model_selection import train_test_split

if __package__ in (None, ""):
    # Run as a script: make the repository root importable for `examples.convnext`.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from examples.convnext import convnext_small_cpu
from grouprules.mindspore import OptimizerGroups, param_groups

__all__ = ["Digits", "FinetuneResult", "WarmupCosineLR", "load_digit_images", "main", "train"]

RULES = Path(__file__).resolve().parents[1] / "rules" / "convnext.yaml"
IMAGE_SIZE = 32
NUM_CLASSES = 10
HELD_OUT_FRACTION = 0.2
WARMUP_FRACTION = 0.1
WEIGHT_DECAY = 0.05
Array = np.ndarray[Any, Any]
# Digit images hold values 0..16.
_PIXEL_MAX = 16.0


class WarmupCosineLR(LearningRateSchedule):  # type: ignore[misc]
    """Linear warmup to ``peak_lr``, then cosine decay to ``min_lr``.

    Step ``s < warmup_steps`` gets ``peak_lr * (s + 1) / warmup_steps``; later
    steps follow half a cosine from ``peak_lr`` at ``warmup_steps`` to ``min_lr``
    at ``total_steps`` and stay at ``min_lr`` after it.

    Args:
        peak_lr: The lr at the end of the warmup.
        warmup_steps: Number of warmup steps, at least 1.
        total_steps: Number of training steps, more than ``warmup_steps``.
        min_lr: The final lr.

    Raises:
        ValueError: If the steps or lrs are out of range.

    Example:
        >>> schedule = WarmupCosineLR(1e-3, warmup_steps=10, total_steps=100)
        >>> round(float(schedule(Tensor([4], ms.int32)).asnumpy()[0]), 6)
        0.0005
    """

    def __init__(
        self, peak_lr: float, warmup_steps: int, total_steps: int, min_lr: float = 0.0
    ) -> None:
        super().__init__()
        if warmup_steps < 1 or total_steps <= warmup_steps:
            raise ValueError(
                f"need 1 <= warmup_steps < total_steps, got warmup_steps={warmup_steps}, "
                f"total_steps={total_steps}"
            )
        if not 0.0 <= min_lr <= peak_lr:
            raise ValueError(f"need 0 <= min_lr <= peak_lr, got min_lr={min_lr}, peak_lr={peak_lr}")
        self.peak_lr = float(peak_lr)
        self.min_lr = float(min_lr)
        self.warmup_steps = float(warmup_steps)
        self.decay_steps = float(total_steps - warmup_steps)

    def construct(self, global_step: Tensor) -> Tensor:
        """Return the lr at ``global_step``."""
        step = ops.cast(global_step, ms.float32)
        warmup = self.peak_lr * (step + 1.0) / self.warmup_steps
        progress = ops.clamp((step - self.warmup_steps) / self.decay_steps, 0.0, 1.0)
        cosine = self.min_lr + 0.5 * (self.peak_lr - self.min_lr) * (
            1.0 + ops.cos(math.pi * progress)
        )
        return ops.select(step < self.warmup_steps, warmup, cosine)


@dataclass(frozen=True)
class Digits:
    """The digits images as NCHW float32 arrays, split for training and held out."""

    train_images: Array
    train_labels: Array
    test_images: Array
    test_labels: Array


def load_digit_images(seed: int) -> Digits:
    """Load the digits, upsample them to 3x32x32, normalize and split them.

    Args:
        seed: Seed of the stratified split.

    Returns:
        The training and held-out images (N, 3, 32, 32) with int32 labels.
    """
    digits = load_digits()
    scale = IMAGE_SIZE // digits.images.shape[1]
    images = digits.images.astype(np.float32) / _PIXEL_MAX
    images = images.repeat(scale, axis=1).repeat(scale, axis=2)
    images = np.repeat(images[:, None, :, :], 3, axis=1)
    labels = digits.target.astype(np.int32)

    train_images, test_images, train_labels, test_labels = train_test_split(
        images, labels, test_size=HELD_OUT_FRACTION, stratify=labels, random_state=seed
    )
    mean = train_images.mean()
    std = train_images.std()
    return Digits(
        ((train_images - mean) / std).astype(np.float32),
        train_labels,
        ((test_images - mean) / std).astype(np.float32),
        test_labels,
    )


@dataclass(frozen=True)
class FinetuneResult:
    """Outcome of a training run.

    Attributes:
        losses: ``(step, loss)`` at each logged step, the loss averaged over the
            steps since the previous logged step.
        lrs: The lr of the low, middle and head groups at each logged step.
        accuracy: Accuracy on the held-out split, from 0 to 1.
        seconds: Wall time of the run, data loading included.
    """

    losses: list[tuple[int, float]]
    lrs: list[tuple[float, float, float]]
    accuracy: float
    seconds: float


def _watched_groups(out: OptimizerGroups) -> tuple[str, str, str]:
    """Return the names of the decay groups with the lowest, a middle and the highest layer id."""
    decay = sorted((meta for meta in out.metadata if meta.decay), key=lambda meta: meta.layer_id)
    return decay[0].name, decay[len(decay) // 2].name, decay[-1].name


def _batches(count: int, batch_size: int, rng: np.random.Generator) -> list[Array]:
    order = rng.permutation(count)
    return [order[i : i + batch_size] for i in range(0, count - batch_size + 1, batch_size)]


def train(args: argparse.Namespace) -> FinetuneResult:
    """Train with the settings in ``args`` and evaluate on the held-out split.

    Args:
        args: The parsed command line, see :func:`parse_args`.

    Returns:
        The logged losses and lrs, the held-out accuracy and the wall time.
    """
    started = time.perf_counter()
    ms.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    data = load_digit_images(args.seed)
    if len(data.train_labels) < args.batch_size:
        raise ValueError(
            f"--batch-size {args.batch_size} exceeds the {len(data.train_labels)} training images"
        )

    net = convnext_small_cpu(num_classes=NUM_CLASSES, image_size=IMAGE_SIZE)
    warmup_steps = max(1, round(WARMUP_FRACTION * args.steps))
    schedule = WarmupCosineLR(args.lr, warmup_steps, args.steps, min_lr=args.lr / 100)
    # The expect block of convnext.yaml describes ConvNeXt-Base, not this small variant.
    out = param_groups(
        RULES,
        net,
        schedule,
        layer_decay=args.layer_decay,
        weight_decay=WEIGHT_DECAY,
        check_expect=False,
    )
    print(out.plan.summary(args.lr))
    optimizer = nn.AdamWeightDecay(out.groups, learning_rate=out.learning_rate)
    loss_fn = nn.SoftmaxCrossEntropyWithLogits(sparse=True, reduction="mean")
    train_step = nn.TrainOneStepCell(nn.WithLossCell(net, loss_fn), optimizer)
    train_step.set_train()

    watched = _watched_groups(out)
    print("lr groups: low = {}, middle = {}, head = {}".format(*watched))
    log_every = max(1, args.steps // 10)
    losses: list[tuple[int, float]] = []
    lrs: list[tuple[float, float, float]] = []
    batches: list[Array] = []
    recent: list[float] = []
    for step in range(args.steps):
        if not batches:
            batches = _batches(len(data.train_labels), args.batch_size, rng)
        index = batches.pop()
        loss = train_step(Tensor(data.train_images[index]), Tensor(data.train_labels[index]))
        recent.append(float(loss.asnumpy()))

        if step % log_every == 0 or step == args.steps - 1:
            # One batch is noisy, so log the mean loss since the previous line.
            mean_loss = float(np.mean(recent))
            recent.clear()
            # The optimizer used the lr of `step` for this update.
            low, middle, head = (out.lr_at(name, step) for name in watched)
            losses.append((step, mean_loss))
            lrs.append((low, middle, head))
            print(
                f"step {step:4d}  loss {mean_loss:.4f}  lr low {low:.3e}  "
                f"middle {middle:.3e}  head {head:.3e}",
                flush=True,
            )

    net.set_train(False)
    logits = net(Tensor(data.test_images)).asnumpy()
    accuracy = float(np.mean(logits.argmax(axis=1) == data.test_labels))
    seconds = time.perf_counter() - started
    print(
        f"held-out accuracy {accuracy:.4f} on {len(data.test_labels)} images; "
        f"wall time {seconds:.1f} s"
    )
    return FinetuneResult(losses, lrs, accuracy, seconds)


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    """Parse the command line."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=300, help="training steps (default 300)")
    parser.add_argument("--batch-size", type=int, default=32, help="images per step (default 32)")
    parser.add_argument(
        "--lr", type=float, default=4e-3, help="peak lr of the head group (default 4e-3)"
    )
    parser.add_argument(
        "--layer-decay",
        type=float,
        default=None,
        help="lr factor per layer id below the head (default: the rule file's, 0.8)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of weights, split and batches")
    parser.add_argument(
        "--mode", choices=("graph", "pynative"), default="graph", help="MindSpore execution mode"
    )
    args = parser.parse_args(argv)
    if args.steps < 2:
        parser.error(f"--steps must be at least 2, got {args.steps}")
    if args.batch_size < 1:
        parser.error(f"--batch-size must be at least 1, got {args.batch_size}")
    if args.lr <= 0:
        parser.error(f"--lr must be positive, got {args.lr}")
    return args


def main(argv: Sequence[str] | None = None) -> int:
    """Run the example; return the exit status."""
    args = parse_args(argv)
    previous_mode = ms.get_context("mode")
    ms.set_context(mode=ms.GRAPH_MODE if args.mode == "graph" else ms.PYNATIVE_MODE)
    try:
        train(args)
    finally:
        ms.set_context(mode=previous_mode)
    return 0


if __name__ == "__main__":
    sys.exit(main())
