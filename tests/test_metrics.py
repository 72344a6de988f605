"""loco.metrics: each metric pinned on hand-built cases, the greedy matching against a direct port of the
original's nested-loop algorithm, and the optimal matching against brute force."""

import itertools
import json
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loco import metrics as M


def _rows(*points):
    """Rows (joint_type, x, 0, 0) from (type, x) pairs, on a line so distances are easy to read."""
    return np.array([[t, x, 0.0, 0.0] for t, x in points], dtype=np.float64).reshape(-1, 4)


def _original_greedy(pred, gt, th):
    """The original ``joint_det_metrics`` (GT rows x pred columns, NaN-suppression), as nested loops."""
    if len(pred) and len(gt):
        mat = np.full((len(gt), len(pred)), np.nan)
        for i, g in enumerate(gt):
            for k, p in enumerate(pred):
                if g[0] == p[0]:
                    d = np.linalg.norm(np.asarray(g) - np.asarray(p))
                    mat[i, k] = d if d <= th else np.nan

        def suppress(x):
            x = x.copy()
            if np.isnan(x).all():
                return x
            first = int(np.nanargmin(x))
            keep = x[first]
            x[:] = np.nan
            x[first] = keep
            return x

        mat = np.apply_along_axis(suppress, 1, mat)
        mat = np.apply_along_axis(suppress, 0, mat)
        tp = int((~np.isnan(mat)).any(axis=1).sum())
        fn, fp = len(gt) - tp, len(pred) - tp
        return tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fn + fp)
    if not len(pred) and not len(gt):
        return 1.0, 1.0, 1.0
    return 0.0, 0.0, 0.0


def _brute_force_max_matches(pred, gt, th):
    best = 0
    for jt in set(pred[:, 0]) & set(gt[:, 0]):
        p, g = pred[pred[:, 0] == jt], gt[gt[:, 0] == jt]
        ok = np.linalg.norm(g[:, None, 1:] - p[None, :, 1:], axis=2) <= th
        small, large = (g, p) if len(g) <= len(p) else (p, g)
        okm = ok if len(g) <= len(p) else ok.T
        top = 0
        for perm in itertools.permutations(range(len(large)), len(small)):
            top = max(top, sum(okm[i, c] for i, c in enumerate(perm)))
        best += top
    return best


def test_worked_example_greedy_vs_optimal():
    # GT at 0.0 and 1.0, predictions at 0.6 and 1.7, threshold 1 m (the module docstring's example).
    gt, pred = _rows((0, 0.0), (0, 1.0)), _rows((0, 0.6), (0, 1.7))
    greedy = M.joint_detection(pred, gt, 1.0, matching="greedy")
    optimal = M.joint_detection(pred, gt, 1.0, matching="optimal")
    assert (greedy["tp"], greedy["fp"], greedy["fn"]) == (1, 1, 1)
    assert greedy["precision"] == greedy["recall"] == greedy["f1"] == 0.5
    assert (optimal["tp"], optimal["fp"], optimal["fn"]) == (2, 0, 0)
    assert optimal["f1"] == 1.0
    m = M.match_joints(pred, gt, 1.0, "greedy")
    assert m.gt.tolist() == [1] and m.pred.tolist() == [0] and m.distance.tolist() == pytest.approx([0.4])


def test_greedy_ties_take_the_first_minimum():
    gt, pred = _rows((3, 0.0)), _rows((3, 0.5), (3, -0.5))
    m = M.match_joints(pred, gt, 1.0, "greedy")
    assert m.pred.tolist() == [0]
    # two GT rows tied on one prediction: the first row keeps it
    m = M.match_joints(_rows((3, 0.0)), _rows((3, -0.5), (3, 0.5)), 1.0, "greedy")
    assert m.gt.tolist() == [0] and m.pred.tolist() == [0]


@pytest.mark.parametrize("matching", M.MATCHINGS)
def test_empty_sets(matching):
    some = _rows((0, 0.0), (1, 0.0))
    both = M.joint_detection(np.zeros((0, 4)), [], 0.4, matching)
    assert (both["precision"], both["recall"], both["f1"]) == (1.0, 1.0, 1.0)
    for pred, gt, fp, fn in ((np.zeros((0, 4)), some, 0, 2), (some, np.zeros((0, 4)), 2, 0)):
        s = M.joint_detection(pred, gt, 0.4, matching)
        assert (s["precision"], s["recall"], s["f1"], s["fp"], s["fn"]) == (0.0, 0.0, 0.0, fp, fn)


@pytest.mark.parametrize("matching", M.MATCHINGS)
def test_types_never_match_and_threshold_is_inclusive(matching):
    gt = _rows((0, 0.0), (1, 0.0))
    assert M.joint_detection(_rows((1, 0.0), (0, 5.0)), gt, 0.4, matching)["tp"] == 1
    assert M.joint_detection(_rows((0, 0.5)), _rows((0, 0.0)), 0.5, matching)["tp"] == 1  # exactly at threshold
    assert M.joint_detection(_rows((0, 0.5)), _rows((0, 0.0)), 0.4999, matching)["tp"] == 0


def test_voxel_f1_at_zero_voxels_needs_exact_peaks():
    gt = np.array([[0, 10, 20, 30], [1, 5, 5, 5], [1, 9, 9, 9]])
    pred = np.array([[0, 10, 20, 30], [1, 5, 5, 6], [2, 9, 9, 9]])
    assert M.voxel_f1(pred, gt, 0)["tp"] == 1
    assert M.voxel_f1(pred, gt, 1)["tp"] == 2
    assert M.voxel_f1(pred, gt, 2)["f1"] == pytest.approx(2 / 3)


def test_accepts_torch_and_lists():
    gt = torch.tensor([[0.0, 1.0, 2.0, 3.0]])
    assert M.joint_detection([[0, 1.0, 2.0, 3.1]], gt, 0.4)["f1"] == 1.0


@pytest.mark.parametrize(
    "pred, gt, threshold, matching, exc, word",
    [
        (np.zeros((2, 3)), np.zeros((1, 4)), 0.4, "greedy", ValueError, "pred"),
        (np.zeros((2, 4)), np.zeros((1, 5)), 0.4, "greedy", ValueError, "gt"),
        (np.array([[0, np.nan, 0, 0]]), np.zeros((1, 4)), 0.4, "greedy", ValueError, "pred"),
        (np.array([[0.5, 0, 0, 0]]), np.zeros((1, 4)), 0.4, "greedy", ValueError, "joint_type"),
        (np.zeros((1, 4)), np.zeros((1, 4)), -1.0, "greedy", ValueError, "threshold"),
        (np.zeros((1, 4)), np.zeros((1, 4)), "0.4", "greedy", TypeError, "threshold"),
        (np.zeros((1, 4)), np.zeros((1, 4)), 0.4, "hungarian", ValueError, "matching"),
        ("abc", np.zeros((1, 4)), 0.4, "greedy", TypeError, "pred"),
    ],
)
def test_bad_inputs_name_the_argument(pred, gt, threshold, matching, exc, word):
    with pytest.raises(exc, match=word):
        M.joint_detection(pred, gt, threshold, matching)


_points = st.lists(
    st.tuples(st.integers(0, 2), st.integers(-6, 6).map(lambda v: v / 4), st.integers(-2, 2).map(lambda v: v / 4)),
    max_size=7,
)


@settings(deadline=None, max_examples=60)
@given(pred=_points, gt=_points, th=st.sampled_from([0.0, 0.25, 0.5, 1.0]))
def test_greedy_reproduces_the_original_and_optimal_is_maximal(pred, gt, th):
    pred = np.array([[t, x, y, 0.0] for t, x, y in pred]).reshape(-1, 4)
    gt = np.array([[t, x, y, 0.0] for t, x, y in gt]).reshape(-1, 4)
    g = M.joint_detection(pred, gt, th, "greedy")
    assert (g["precision"], g["recall"], g["f1"]) == pytest.approx(_original_greedy(pred, gt, th))
    o = M.match_joints(pred, gt, th, "optimal")
    assert o.tp >= g["tp"]
    assert o.tp == (_brute_force_max_matches(pred, gt, th) if len(pred) and len(gt) else 0)
    for m in (o, M.match_joints(pred, gt, th, "greedy")):
        assert len(set(m.pred.tolist())) == m.tp and len(set(m.gt.tolist())) == m.tp
        assert (m.distance <= th).all()
        assert (pred[m.pred, 0] == gt[m.gt, 0]).all()


def test_optimal_prefers_the_smaller_total_distance_among_maximal_matchings():
    gt, pred = _rows((0, 0.0), (0, 1.0)), _rows((0, 0.1), (0, 0.9))
    m = M.match_joints(pred, gt, 1.0, "optimal")
    assert m.gt.tolist() == [0, 1] and m.pred.tolist() == [0, 1]


def test_poses_to_rows_drops_missing_joints():
    poses = np.arange(2 * 14 * 3, dtype=float).reshape(2, 14, 3)
    poses[0, 3] = np.nan
    rows = M.poses_to_rows(poses)
    assert rows.shape == (27, 4)
    assert rows[:3, 0].tolist() == [0, 1, 2] and rows[3, 0] == 4
    assert M.poses_to_rows(np.zeros((0, 14, 3))).shape == (0, 4)
    with pytest.raises(ValueError, match="poses"):
        M.poses_to_rows(np.zeros((2, 14)))


def test_detection_meter_averages_per_image():
    meter = M.DetectionMeter(thresholds=(0.4, 0.8))
    gt = _rows((0, 0.0), (1, 0.0))
    meter.update(_rows((0, 0.1), (1, 0.0)), gt)  # perfect, errors 100 mm and 0
    meter.update(np.zeros((0, 4)), gt)  # nothing found
    meter.update(_rows((0, 0.5)), _rows((0, 0.0)))  # found only at 0.8
    s = meter.summary()
    assert s["images"] == 3
    assert s["f1@0.4"] == pytest.approx(100 / 3)
    assert s["f1@0.8"] == pytest.approx(200 / 3)
    assert s["mean_error_mm"] == pytest.approx(50.0)  # pairs matched at 0.4 m: 100 mm and 0 mm
    assert (s["tp@0.4"], s["fp@0.4"], s["fn@0.4"]) == (2, 1, 3)
    assert (s["tp@0.8"], s["fp@0.8"], s["fn@0.8"]) == (3, 0, 2)
    json.dumps(s)
    with pytest.raises(ValueError, match="thresholds"):
        M.DetectionMeter(thresholds=())


def _people(n, seed=0):
    rng = np.random.default_rng(seed)
    base = rng.normal(0, 0.3, size=(14, 3))
    return np.stack([base + [2.0 * i, 0.0, 10.0] for i in range(n)]) + rng.normal(0, 0.01, size=(n, 14, 3))


def test_panoptic_matches_people_in_any_order():
    gt = _people(4)
    pred = gt[[2, 0, 3]] + np.array([0.0, 0.0, 0.01])  # one person missed, all off by 10 mm
    m = M.panoptic_metrics(pred, gt)
    assert (m["tp"], m["fp"], m["fn"]) == (3, 0, 1)
    assert m["mpjpe"] == pytest.approx(10.0)
    assert m["recall"] == 0.75 and m["precision"] == 1.0
    pi, gi, d = M.match_people(pred, gt)
    assert gi.tolist() == [0, 2, 3] and pi.tolist() == [1, 0, 2]
    assert d == pytest.approx([0.01] * 3)


def test_panoptic_missing_joints_gate_and_empty():
    gt = _people(2)
    pred = gt.copy()
    pred[0, :7] = np.nan  # half a pose: scored on the joints it has
    pred[1] += 1.0  # too far: a false positive and a false negative
    m = M.panoptic_metrics(pred, gt, max_distance=0.5)
    assert (m["tp"], m["fp"], m["fn"], m["joints"]) == (1, 1, 1, 7)
    assert m["mpjpe"] == pytest.approx(0.0, abs=1e-9)
    empty = M.panoptic_metrics(np.zeros((0, 14, 3)), np.zeros((0, 14, 3)))
    assert empty["f1"] == 1.0 and math.isnan(empty["mpjpe"])
    assert M.panoptic_metrics(np.zeros((0, 14, 3)), gt)["f1"] == 0.0
    with pytest.raises(ValueError, match="pred"):
        M.panoptic_metrics(np.zeros((1, 13, 3)), gt)
    assert M.panoptic_metrics(pred, gt, max_distance=np.float32(0.5)) == m
    for value, error in ((True, TypeError), ("0.5", TypeError), (0.0, ValueError), (float("nan"), ValueError)):
        with pytest.raises(error, match="max_distance"):
            M.match_people(pred, gt, max_distance=value)


def _rotation(rng):
    q, r = np.linalg.qr(rng.normal(size=(3, 3)))
    q = q * np.sign(np.diag(r))
    return q if np.linalg.det(q) > 0 else -q


def test_mpjpe_and_root_alignment():
    gt = _people(3)
    assert M.mpjpe(gt + [0.0, 0.02, 0.0], gt) == pytest.approx(20.0)
    assert M.mpjpe(gt + [0.0, 0.02, 0.0], gt, root=(8, 11)) == pytest.approx(0.0, abs=1e-9)
    assert M.mpjpe(gt[0] + 0.001, gt[0], root=0, scale=1.0) == pytest.approx(0.0, abs=1e-12)
    with pytest.raises(ValueError, match="pred"):
        M.mpjpe(gt[:2], gt)
    with pytest.raises(ValueError, match="finite"):
        M.mpjpe(np.full_like(gt, np.nan), gt)
    assert M.mpjpe(gt + 0.01, gt, root=np.int64(8)) == M.mpjpe(gt + 0.01, gt, root=[8]) == pytest.approx(0.0, abs=1e-9)
    for root, error in ((14, ValueError), (-1, ValueError), ((), ValueError), (1.5, TypeError), ((8, "11"), TypeError)):
        with pytest.raises(error, match="root"):  # 14 was an IndexError, -1 silently the last joint, 1.5 a crash
            M.mpjpe(gt, gt, root=root)
    for scale, error in ((0, ValueError), ("1000", TypeError), (float("inf"), ValueError)):
        with pytest.raises(error, match="scale"):
            M.mpjpe(gt, gt, scale=scale)
        with pytest.raises(error, match="scale"):
            M.panoptic_metrics(gt, gt, scale=scale)


def test_procrustes_undoes_a_similarity_but_not_a_reflection():
    rng = np.random.default_rng(3)
    gt = _people(2)
    moved = np.stack([1.3 * g @ _rotation(rng).T + rng.normal(size=3) for g in gt])
    np.testing.assert_allclose(M.procrustes_align(moved, gt), gt, atol=1e-9)
    assert M.pa_mpjpe(moved, gt) == pytest.approx(0.0, abs=1e-6)
    mirrored = gt * np.array([-1.0, 1.0, 1.0])
    assert M.pa_mpjpe(mirrored, gt) > 1.0
    noisy = gt + rng.normal(0, 0.02, size=gt.shape)
    assert M.pa_mpjpe(noisy, gt) <= M.mpjpe(noisy, gt) + 1e-9


def test_h36m_protocols_select_the_test_subjects():
    gt = _people(4)
    pred = gt + [0.0, 0.0, 0.05]  # 50 mm off, but only in translation
    pred[0] += 1.0  # a subject-1 sample (training subject): not scored
    subjects = [1, 9, 11, 11]
    p1 = M.h36m_metrics(pred, gt, subjects, "P1")
    assert p1["samples"] == 3 and p1["error_mm"] == pytest.approx(0.0, abs=1e-9)  # root-relative
    p2 = M.h36m_metrics(pred, gt, subjects, "P2")
    assert p2["metric"] == "pa_mpjpe" and p2["error_mm"] == pytest.approx(0.0, abs=1e-6)
    s11 = M.H36MProtocol("P2-S11", (1, 5, 6, 7, 8, 9), (11,), "pa_mpjpe", frame_step=64)
    assert M.h36m_metrics(pred, gt, subjects, s11, frames=[0, 0, 64, 65])["samples"] == 1
    with pytest.raises(ValueError, match="protocol"):
        M.h36m_metrics(pred, gt, subjects, "P3")
    with pytest.raises(ValueError, match="test subjects"):
        M.h36m_metrics(pred, gt, [1, 5, 6, 7], "P1")


def test_authors_predictions_score_perfectly_against_themselves(authors_dir):
    for k in (1, 2, 3):
        poses = np.asarray(json.loads((authors_dir / f"{k}_res.json").read_text())["poses"], dtype=np.float64)
        rows = poses.reshape(-1, 4)
        shuffled = rows[np.random.default_rng(k).permutation(len(rows))]
        for matching in M.MATCHINGS:
            for th in M.JTA_THRESHOLDS:
                assert M.joint_detection(shuffled, rows, th, matching)["f1"] == 1.0
        # one person dropped: recall falls by exactly one person's joints
        s = M.joint_detection(rows[14:], rows, 0.4, "optimal")
        assert s["fn"] == 14 and s["precision"] == 1.0
