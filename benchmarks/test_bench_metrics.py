"""Metrics and association on one 60-person JTA frame (840 joints): the per-frame cost of evaluation.

``pytest benchmarks/test_bench_metrics.py --benchmark-only``. Predictions are the ground truth with 5 cm noise and
5 % of the joints dropped, so matching has real work to do. The baseline is the original ``joint_det_metrics``
(Python loops over the full GT x prediction matrix), timed on the same frame.
"""

from __future__ import annotations

import numpy as np
import pytest

from loco import association, metrics
from loco.testing import random_crowd

N_PEOPLE = 60


@pytest.fixture(scope="module")
def frame():
    """(gt rows (840, 4), pred rows (~800, 4), pred xyz, joint, score) of a 60-person JTA crowd."""
    poses = random_crowd(N_PEOPLE, seed=0).numpy()
    rng = np.random.default_rng(0)
    gt = metrics.poses_to_rows(poses)
    keep = rng.random(len(gt)) > 0.05
    pred = gt[keep] + np.c_[np.zeros(keep.sum()), rng.normal(0, 0.05, (keep.sum(), 3))]
    pred = pred[rng.permutation(len(pred))]
    score = rng.uniform(0.2, 1.0, len(pred))
    return gt, pred, pred[:, 1:].copy(), pred[:, 0].astype(np.int64), score


def _original_joint_det_metrics(points_pred, points_true, th):
    """The original metric's algorithm (nested Python loops, NaN suppression), for the baseline timing."""
    mat = np.full((len(points_true), len(points_pred)), np.nan)
    for i, t in enumerate(points_true):
        for k, p in enumerate(points_pred):
            if t[0] == p[0]:
                d = np.linalg.norm(np.asarray(t) - np.asarray(p))
                mat[i, k] = d if d <= th else np.nan

    def suppress(x):
        if np.isnan(x).all():
            return x
        keep = np.full_like(x, np.nan)
        first = np.nanargmin(x)
        keep[first] = x[first]
        return keep

    mat = np.apply_along_axis(suppress, 1, mat)
    mat = np.apply_along_axis(suppress, 0, mat)
    tp = int((~np.isnan(mat)).any(axis=1).sum())
    return 2 * tp / (len(points_true) + len(points_pred))


@pytest.mark.benchmark(group="metrics")
@pytest.mark.parametrize("matching", metrics.MATCHINGS)
def test_joint_detection(benchmark, frame, matching):
    gt, pred, *_ = frame
    result = benchmark(metrics.joint_detection, pred, gt, 0.4, matching)
    assert result["f1"] > 0.9


@pytest.mark.benchmark(group="metrics")
def test_jta_three_thresholds(benchmark, frame):
    gt, pred, *_ = frame

    def all_thresholds():
        return [metrics.joint_detection(pred, gt, t) for t in metrics.JTA_THRESHOLDS]

    assert benchmark(all_thresholds)[0]["f1"] > 0.9


@pytest.mark.benchmark(group="metrics")
def test_baseline_original_joint_det_metrics(benchmark, frame):
    gt, pred, *_ = frame
    f1 = benchmark.pedantic(_original_joint_det_metrics, args=(pred.tolist(), gt.tolist(), 0.4), rounds=3)
    assert f1 == pytest.approx(metrics.joint_detection(pred, gt, 0.4)["f1"])


@pytest.mark.benchmark(group="metrics")
def test_panoptic_metrics(benchmark, frame):
    poses = random_crowd(N_PEOPLE, seed=0).numpy()
    noisy = poses + np.random.default_rng(1).normal(0, 0.05, poses.shape)
    assert benchmark(metrics.panoptic_metrics, noisy, poses)["tp"] == N_PEOPLE


@pytest.mark.benchmark(group="association")
@pytest.mark.parametrize("method", association.METHODS)
def test_associate(benchmark, frame, method):
    _, _, xyz, joint, score = frame
    poses, _ = benchmark(association.associate, xyz, joint, score, method)
    assert poses.shape[0] >= N_PEOPLE * 0.9
