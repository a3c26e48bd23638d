"""Tests for the layer-wise lr scales."""

from __future__ import annotations

import pytest

from grouprules.scales import lr_scale, lr_scales


def test_head_gets_one() -> None:
    assert lr_scale(13, 12, 0.8) == 1.0


def test_each_id_below_one_more_factor() -> None:
    assert lr_scale(12, 12, 0.8) == pytest.approx(0.8)
    assert lr_scale(0, 12, 0.8) == pytest.approx(0.8**13)


def test_scales_for_every_id() -> None:
    assert lr_scales(2, 0.5) == (0.125, 0.25, 0.5, 1.0)


def test_no_decay_gives_ones() -> None:
    assert lr_scales(3, 1.0) == (1.0, 1.0, 1.0, 1.0, 1.0)


def test_scales_are_floats() -> None:
    assert all(type(value) is float for value in lr_scales(4, 1))
