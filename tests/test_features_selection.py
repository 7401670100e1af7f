"""Rhythm-aware beat selection on seeded synthetic envelopes: what the rhythm adds to the threshold."""
from __future__ import annotations

import numpy as np
import pytest

from tasks.features.beats import first_pass, pick_beats
from tasks.features.selection import ECTOPIC_COST, ECTOPIC_RANGE, rr_cost

FS = 500.0
N = int(10 * FS)


def _bumps(at: np.ndarray, height: np.ndarray, width_s: float = 0.03) -> np.ndarray:
    t = np.arange(N)[:, None]
    return (height[None, :] * np.exp(-0.5 * ((t - at[None, :]) / (width_s * FS)) ** 2)).sum(axis=1)


def _envelopes(qrs, qrs_h, others=(), others_h=(), others_sharp=0.1, seed=0):
    """(QRS envelope, 15-45 Hz envelope): QRS bumps are steep; the other bumps (T waves, artefacts)
    get `others_sharp` of their height in the steep band. A seeded noise floor under both."""
    rng = np.random.default_rng(seed)
    qrs, qrs_h = np.asarray(qrs, float), np.asarray(qrs_h, float)
    others, others_h = np.asarray(others, float), np.asarray(others_h, float)
    floor = 0.02 + 0.01 * rng.random(N)
    env = floor + _bumps(qrs, qrs_h) + _bumps(others, others_h, 0.05)
    sharp = floor + _bumps(qrs, qrs_h) + _bumps(others, others_sharp * others_h, 0.05)
    return env, sharp


def _assert_same_beats(found: np.ndarray, truth: np.ndarray, tol: int = 10):
    assert found.size == truth.size, (found, truth)
    assert np.abs(found - truth).max() <= tol, (found, truth)


def test_weak_beat_in_a_regular_rhythm_is_found_and_t_waves_are_not():
    beats = np.arange(300, N - 100, 400)  # 75 bpm
    heights = np.ones(beats.size)
    heights[6] = 0.22  # below the threshold, and lower than the T waves
    env, sharp = _envelopes(beats, heights, beats + 150, np.full(beats.size, 0.3))
    first = first_pass(env, FS, sharp)
    assert not np.any(np.abs(first - beats[6]) <= 10)  # the threshold alone misses it ...
    _assert_same_beats(pick_beats(env, FS, sharp), beats)  # ... the rhythm finds it


def test_long_intervals_of_an_irregular_rhythm_are_not_filled():
    rng = np.random.default_rng(11)
    rr = np.exp(np.log(300) + 0.25 * rng.standard_normal(40))  # atrial-fibrillation-like spread
    beats = (100 + np.cumsum(rr)).astype(int)
    beats = beats[beats < N - 100]
    gaps = np.diff(beats)
    long_mid = (beats[:-1] + gaps // 2)[gaps > 1.3 * np.median(gaps)]  # weak bumps mid-pause
    assert long_mid.size >= 2
    env, sharp = _envelopes(beats, np.ones(beats.size), long_mid, np.full(long_mid.size, 0.12))
    _assert_same_beats(pick_beats(env, FS, sharp), beats)


def test_artefact_bursts_between_regular_beats_are_rejected():
    beats = np.arange(250, N - 100, 400)
    bursts = np.array([beats[5] + 120, beats[5] + 220, beats[9] + 260])  # taller than the QRS
    env, sharp = _envelopes(beats, np.ones(beats.size), bursts, np.full(bursts.size, 2.5), others_sharp=1.0)
    _assert_same_beats(pick_beats(env, FS, sharp), beats)


def test_premature_beat_with_a_compensatory_pause_is_kept():
    beats = np.arange(250, N - 100, 450).astype(float)
    beats[8] -= 200  # premature by 44% of the RR
    beats = beats.astype(int)
    env, sharp = _envelopes(beats, np.ones(beats.size), beats + 140, np.full(beats.size, 0.35))
    _assert_same_beats(pick_beats(env, FS, sharp), beats)


@pytest.mark.parametrize("sigma", [0.05, 0.3])
def test_rr_cost_is_zero_on_time_capped_for_ectopy_and_steep_for_t_waves_and_missed_beats(sigma):
    cost = rr_cost(np.array([1.0, ECTOPIC_RANGE[0], ECTOPIC_RANGE[1], 0.25, 2.6]), sigma)
    assert cost[0] == 0.0
    assert cost[1] <= ECTOPIC_COST and cost[2] <= ECTOPIC_COST
    assert cost[3] > 2 * ECTOPIC_COST and cost[4] > 2 * ECTOPIC_COST
