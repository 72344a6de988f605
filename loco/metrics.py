"""The paper's evaluation metrics: JTA joint detection, VHA compression, CMU Panoptic and Human3.6M.

Everything is vectorised numpy (scipy's ``linear_sum_assignment`` for optimal matching), so a 60-person frame
(840 joints per side) is scored in about a millisecond per threshold rather than the original's quarter second.

Units: 3-D inputs are metres, camera frame; distance-based outputs named ``*_mm`` or documented as millimetres are
multiplied by ``scale=1000``.

JTA protocol (paper Sec. 5, original ``test_metrics.py``): for each image, a predicted joint is a true positive when
it is matched to a ground-truth joint *of the same type* at most ``threshold`` metres away (inclusive); precision,
recall and F1 are computed per image and then averaged over images (:class:`DetectionMeter`). Two matchings:

* ``"greedy"`` reproduces the original: in the (GT x prediction) distance matrix with pairs farther than the
  threshold or of different types removed, every row keeps only its minimum, then every column keeps only its
  minimum among what is left (first minimum on ties); each surviving entry is a match. A GT joint whose nearest
  prediction is claimed by a closer GT joint is *not* re-matched, so greedy can under-count.
* ``"optimal"`` maximises the number of matches (ties broken by the smallest total distance) with the Hungarian
  algorithm, so it is never below greedy.

Worked example (one joint type, threshold 1 m, positions on a line): GT at 0.0 and 1.0, predictions at 0.6 and 1.7.
Distances: GT 0 -> (0.6, out); GT 1 -> (0.4, 0.7). Greedy: row minima keep GT0-P0 (0.6) and GT1-P0 (0.4); column
P0 keeps GT1 (0.4); P1 is never a row minimum. One match: precision 1/2, recall 1/2, F1 0.5. Optimal: GT0-P0 (0.6)
and GT1-P1 (0.7): precision = recall = F1 = 1.0.

Empty images (the original's rule, applied to the whole image, all joint types together): no prediction and no
ground truth scores 1.0 for precision, recall and F1; exactly one of the two empty scores 0.0 for all three.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

from loco._checks import check_choice, check_int, check_positive, check_real
from loco.skeleton import NUM_JOINTS

__all__ = [
    "JTA_THRESHOLDS",
    "VOXEL_THRESHOLDS",
    "MATCHINGS",
    "Matches",
    "match_joints",
    "joint_detection",
    "voxel_f1",
    "poses_to_rows",
    "DetectionMeter",
    "match_people",
    "panoptic_metrics",
    "mpjpe",
    "pa_mpjpe",
    "procrustes_align",
    "H36MProtocol",
    "H36M_PROTOCOLS",
    "h36m_metrics",
]

#: JTA thresholds in metres (paper Table 3).
JTA_THRESHOLDS: tuple[float, ...] = (0.4, 0.8, 1.2)
#: VHA compression thresholds in voxels (paper Table 2).
VOXEL_THRESHOLDS: tuple[float, ...] = (0.0, 1.0, 2.0)
MATCHINGS: tuple[str, ...] = ("greedy", "optimal")


def _to_numpy(name: str, x) -> np.ndarray:
    if hasattr(x, "detach") and hasattr(x, "cpu"):  # torch tensor, without importing torch here
        x = x.detach().cpu().numpy()
    try:
        arr = np.asarray(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like of numbers, got {type(x).__name__}") from exc
    return arr


def _check_rows(name: str, rows) -> np.ndarray:
    arr = _to_numpy(name, rows)
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim != 2 or arr.shape[1] != 4:
        raise ValueError(f"{name} must have shape (K, 4) with rows (joint_type, x, y, z), got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError(f"{name} must be finite (drop missing joints first, e.g. with poses_to_rows)")
    if not np.array_equal(arr[:, 0], np.round(arr[:, 0])):
        bad = arr[:, 0][arr[:, 0] != np.round(arr[:, 0])]
        raise ValueError(f"{name}[:, 0] (joint_type) must hold integers, got {bad[:3]}")
    return arr


def _check_threshold(threshold) -> float:
    threshold = check_real("threshold", threshold)
    if not math.isfinite(threshold) or threshold < 0:
        raise ValueError(f"threshold must be finite and >= 0, got {threshold}")
    return threshold


def _check_matching(matching: str) -> str:
    return check_choice("matching", matching, MATCHINGS)


@dataclass(frozen=True)
class Matches:
    """Matched pairs between predicted and ground-truth rows of one image.

    Attributes:
        pred: (M,) int64 row index into the predictions.
        gt: (M,) int64 row index into the ground truth.
        distance: (M,) float64 distance of each pair (same units as the input).
        num_pred: K_pred, number of predicted rows.
        num_gt: K_gt, number of ground-truth rows.
    """

    pred: np.ndarray
    gt: np.ndarray
    distance: np.ndarray
    num_pred: int
    num_gt: int

    @property
    def tp(self) -> int:
        return int(self.pred.shape[0])

    def scores(self) -> dict[str, float]:
        """``precision``, ``recall``, ``f1``, ``tp``, ``fp``, ``fn`` with the original's empty-set rule."""
        tp, fp, fn = self.tp, self.num_pred - self.tp, self.num_gt - self.tp
        if self.num_pred == 0 and self.num_gt == 0:
            p = r = f = 1.0
        elif self.num_pred == 0 or self.num_gt == 0:
            p = r = f = 0.0
        else:
            p, r, f = tp / (tp + fp), tp / (tp + fn), 2 * tp / (2 * tp + fp + fn)
        return {"precision": p, "recall": r, "f1": f, "tp": tp, "fp": fp, "fn": fn}


def _greedy(dist: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The original two-pass non-minima suppression on a (G, P) matrix with +inf for impossible pairs."""
    g, p = dist.shape
    rows = np.arange(g)
    row_arg = np.argmin(dist, axis=1)  # first minimum on ties, as the original
    row_val = dist[rows, row_arg]
    kept = np.full((g, p), np.inf)
    valid = np.isfinite(row_val)
    kept[rows[valid], row_arg[valid]] = row_val[valid]
    col_arg = np.argmin(kept, axis=0)
    col_val = kept[col_arg, np.arange(p)]
    ok = np.isfinite(col_val)
    return col_arg[ok], np.arange(p)[ok]


def _optimal(dist: np.ndarray, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    """Maximum-cardinality matching within the threshold, then minimum total distance (Hungarian)."""
    finite = np.isfinite(dist)
    if not finite.any():
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    # An impossible pair costs more than any set of possible ones, so more matches always win.
    big = min(dist.shape) * threshold + 1.0
    cost = np.where(finite, dist, big)
    r, c = linear_sum_assignment(cost)
    ok = finite[r, c]
    return r[ok], c[ok]


def _pairwise(pred: np.ndarray, gt: np.ndarray, threshold: float) -> np.ndarray:
    """(G, P) Euclidean distances, +inf across types or beyond the threshold (inclusive, as the original)."""
    diff = gt[:, None, 1:] - pred[None, :, 1:]
    dist = np.sqrt(np.einsum("gpk,gpk->gp", diff, diff))
    dist[(gt[:, None, 0] != pred[None, :, 0]) | (dist > threshold)] = np.inf
    return dist


def match_joints(pred, gt, threshold: float, matching: str = "greedy") -> Matches:
    """Match predicted to ground-truth joints of the same type within ``threshold``.

    Args:
        pred: (K_pred, 4) rows ``(joint_type, x, y, z)`` of one image (numpy, torch or nested lists).
        gt: (K_gt, 4) rows ``(joint_type, x, y, z)``.
        threshold: maximum distance of a match, inclusive, in the units of the coordinates.
        matching: ``"greedy"`` (the original) or ``"optimal"`` (Hungarian); see the module docstring.

    Returns:
        :class:`Matches`.
    """
    pred, gt = _check_rows("pred", pred), _check_rows("gt", gt)
    threshold, matching = _check_threshold(threshold), _check_matching(matching)
    empty = np.zeros(0, np.int64)
    if len(pred) == 0 or len(gt) == 0:
        return Matches(empty, empty, np.zeros(0), len(pred), len(gt))
    # Joint types never match across, so each type is an independent block; solving per type keeps the
    # Hungarian problems small (14 blocks of ~P x P instead of one 14P x 14P).
    g_idx, p_idx = [], []
    for jt in np.intersect1d(np.unique(pred[:, 0]), np.unique(gt[:, 0])):
        gi, pi = np.flatnonzero(gt[:, 0] == jt), np.flatnonzero(pred[:, 0] == jt)
        dist = _pairwise(pred[pi], gt[gi], threshold)
        r, c = _greedy(dist) if matching == "greedy" else _optimal(dist, threshold)
        g_idx.append(gi[r])
        p_idx.append(pi[c])
    g_all = np.concatenate(g_idx) if g_idx else empty
    p_all = np.concatenate(p_idx) if p_idx else empty
    order = np.argsort(g_all, kind="stable")
    g_all, p_all = g_all[order].astype(np.int64), p_all[order].astype(np.int64)
    distance = np.linalg.norm(gt[g_all, 1:] - pred[p_all, 1:], axis=1)
    return Matches(p_all, g_all, distance, len(pred), len(gt))


def joint_detection(pred, gt, threshold: float, matching: str = "greedy") -> dict[str, float]:
    """JTA joint-detection precision, recall and F1 of one image (paper Table 3, original ``joint_det_metrics``).

    Args:
        pred: (K_pred, 4) rows ``(joint_type, x, y, z)`` in metres.
        gt: (K_gt, 4) rows ``(joint_type, x, y, z)`` in metres.
        threshold: match distance in metres (the paper uses 0.4, 0.8, 1.2), inclusive.
        matching: ``"greedy"`` (the original) or ``"optimal"`` (Hungarian).

    Returns:
        dict with ``precision``, ``recall``, ``f1`` in [0, 1] and the counts ``tp``, ``fp``, ``fn``; both sets empty
        score 1.0, exactly one empty 0.0.
    """
    return match_joints(pred, gt, threshold, matching).scores()


def voxel_f1(pred, gt, threshold: float, matching: str = "greedy") -> dict[str, float]:
    """VHA compression metric (paper Table 2): peaks of ``H`` vs peaks of ``d(e(H))``, distances in voxels.

    Args:
        pred: (K_pred, 4) rows ``(joint_type, d, v, u)``: the peaks of the decoded volume.
        gt: (K_gt, 4) rows ``(joint_type, d, v, u)``: the peaks of the input volume.
        threshold: voxels (the paper uses 0, 1, 2), inclusive, Euclidean in voxel units.
        matching: ``"greedy"`` (the original) or ``"optimal"``.

    Returns:
        dict as :func:`joint_detection`.
    """
    return joint_detection(pred, gt, threshold, matching)


def poses_to_rows(poses, joint_types: Sequence[int] | None = None) -> np.ndarray:
    """Flatten poses into detection rows, dropping missing (non-finite) joints.

    Args:
        poses: (P, J, 3) joint positions with NaN for missing joints.
        joint_types: (J,) type of each joint slot; default ``0..J-1``.

    Returns:
        (K, 4) float64 rows ``(joint_type, x, y, z)``, person-major.
    """
    arr = _to_numpy("poses", poses)
    if arr.size == 0:
        return np.zeros((0, 4))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"poses must have shape (P, J, 3), got shape {arr.shape}")
    types = np.arange(arr.shape[1]) if joint_types is None else _to_numpy("joint_types", joint_types)
    if types.shape != (arr.shape[1],):
        raise ValueError(f"joint_types must have shape ({arr.shape[1]},), got {types.shape}")
    keep = np.isfinite(arr).all(axis=2)
    rows = np.concatenate([np.broadcast_to(types, arr.shape[:2])[..., None], arr], axis=2)
    return rows[keep]


class DetectionMeter:
    """Per-image JTA scores accumulated over a dataset and averaged as the paper does (mean of per-image values).

    Besides precision/recall/F1 per threshold it accumulates the distances of the pairs matched at the smallest
    threshold, for a mean joint error.

    Args:
        thresholds: match distances, metres; default the paper's (0.4, 0.8, 1.2).
        matching: ``"greedy"`` or ``"optimal"``.
    """

    def __init__(self, thresholds: Iterable[float] = JTA_THRESHOLDS, matching: str = "greedy") -> None:
        self.thresholds = tuple(_check_threshold(t) for t in thresholds)
        if not self.thresholds:
            raise ValueError("thresholds must not be empty")
        self.matching = _check_matching(matching)
        self._scores: dict[float, list[tuple[float, float, float]]] = {t: [] for t in self.thresholds}
        self._dist_sum = 0.0
        self._dist_count = 0
        self._counts = {t: np.zeros(3, np.int64) for t in self.thresholds}  # tp, fp, fn summed over images

    def update(self, pred, gt) -> dict[float, dict[str, float]]:
        """Score one image; ``pred``, ``gt`` as :func:`joint_detection`. Returns the per-threshold scores."""
        out = {}
        for i, t in enumerate(sorted(self.thresholds)):
            m = match_joints(pred, gt, t, self.matching)
            s = m.scores()
            self._scores[t].append((s["precision"], s["recall"], s["f1"]))
            self._counts[t] += (s["tp"], s["fp"], s["fn"])
            if i == 0:
                self._dist_sum += float(m.distance.sum())
                self._dist_count += m.tp
            out[t] = s
        return out

    def __len__(self) -> int:
        return len(self._scores[self.thresholds[0]])

    def summary(self, scale: float = 100.0) -> dict[str, float]:
        """Averages over images: ``precision@t``, ``recall@t``, ``f1@t`` (times ``scale``, percent by default) and
        ``mean_error_mm`` (mean distance of the pairs matched at the smallest threshold, metres -> mm), and the
        counts summed over images: ``tp@t``, ``fp@t``, ``fn@t``."""
        out: dict[str, float] = {"images": len(self)}
        for t in self.thresholds:
            vals = np.asarray(self._scores[t]).reshape(-1, 3)
            mean = vals.mean(axis=0) * scale if len(vals) else np.full(3, math.nan)
            for key, value in zip(("precision", "recall", "f1"), mean):
                out[f"{key}@{t:g}"] = float(value)
            for key, value in zip(("tp", "fp", "fn"), self._counts[t].tolist()):
                out[f"{key}@{t:g}"] = value
        out["mean_error_mm"] = 1000.0 * self._dist_sum / self._dist_count if self._dist_count else math.nan
        out["matched_joints"] = self._dist_count
        return out


def _check_poses(name: str, poses, num_joints: int | None = None) -> np.ndarray:
    arr = _to_numpy(name, poses)
    if arr.size == 0 and arr.ndim != 3:
        return np.zeros((0, num_joints or NUM_JOINTS, 3))
    if arr.ndim != 3 or arr.shape[2] != 3:
        raise ValueError(f"{name} must have shape (P, J, 3), got shape {arr.shape}")
    if num_joints is not None and arr.shape[1] != num_joints:
        raise ValueError(f"{name} must have {num_joints} joints per pose, got shape {arr.shape}")
    return arr


def _mean_joint_distance(pred: np.ndarray, gt: np.ndarray) -> np.ndarray:
    """(P_gt, P_pred) mean distance over the joints present (finite) in both poses; +inf where none are."""
    diff = gt[:, None] - pred[None, :]
    dist = np.sqrt(np.einsum("gpjk,gpjk->gpj", diff, diff))
    valid = np.isfinite(dist)
    count = valid.sum(axis=2)
    total = np.where(valid, dist, 0.0).sum(axis=2)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(count > 0, total / np.maximum(count, 1), np.inf)


def match_people(pred, gt, max_distance: float = math.inf) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Hungarian matching of people on the mean distance over the joints both poses have.

    Args:
        pred: (P_pred, J, 3) predicted poses, NaN for missing joints.
        gt: (P_gt, J, 3) ground-truth poses, NaN for missing joints.
        max_distance: pairs with a larger mean joint distance are never matched.

    Returns:
        ``(pred_index (M,), gt_index (M,), mean_distance (M,))``, sorted by ground-truth index.
    """
    gt_arr = _check_poses("gt", gt)
    pred_arr = _check_poses("pred", pred, gt_arr.shape[1])
    max_distance = check_real("max_distance", max_distance)
    if not max_distance > 0:
        raise ValueError(f"max_distance must be a positive number, got {max_distance!r}")
    empty = np.zeros(0, np.int64)
    if len(pred_arr) == 0 or len(gt_arr) == 0:
        return empty, empty, np.zeros(0)
    dist = _mean_joint_distance(pred_arr, gt_arr)
    dist[dist > max_distance] = np.inf
    finite = np.isfinite(dist)
    if not finite.any():
        return empty, empty, np.zeros(0)
    big = min(dist.shape) * float(np.max(dist[finite])) + 1.0
    r, c = linear_sum_assignment(np.where(finite, dist, big))
    ok = finite[r, c]
    return c[ok].astype(np.int64), r[ok].astype(np.int64), dist[r[ok], c[ok]]


def panoptic_metrics(pred, gt, max_distance: float = 0.5, scale: float = 1000.0) -> dict[str, float]:
    """CMU Panoptic protocol for one image: people matched by Hungarian on mean joint distance, MPJPE over the
    matched people, and person-level precision/recall/F1.

    A predicted person is a true positive when it is matched to a ground-truth person with a mean joint distance
    of at most ``max_distance`` metres (our choice, 0.5 m by default: the paper does not state one). MPJPE is the
    mean over the joints present in both poses of every matched pair, absolute (camera frame, no root alignment).

    Args:
        pred: (P_pred, J, 3) metres, NaN for missing joints.
        gt: (P_gt, J, 3) metres, NaN for missing joints.
        max_distance: match gate in metres.
        scale: multiplier of the MPJPE (1000: metres -> millimetres).

    Returns:
        dict ``mpjpe`` (NaN when nothing matched), ``joints`` (how many joint pairs it averages), ``precision``,
        ``recall``, ``f1`` (person level; both empty 1.0, one empty 0.0), ``tp``, ``fp``, ``fn``.
    """
    gt_arr = _check_poses("gt", gt)
    pred_arr = _check_poses("pred", pred, gt_arr.shape[1])
    scale = check_positive("scale", scale)
    pi, gi, _ = match_people(pred_arr, gt_arr, max_distance)
    err = np.linalg.norm(pred_arr[pi] - gt_arr[gi], axis=2)
    err = err[np.isfinite(err)]
    scores = Matches(pi, gi, np.zeros(len(pi)), len(pred_arr), len(gt_arr)).scores()
    return {"mpjpe": float(err.mean() * scale) if err.size else math.nan, "joints": int(err.size), **scores}


def _check_pair(pred, gt) -> tuple[np.ndarray, np.ndarray]:
    p, g = _to_numpy("pred", pred), _to_numpy("gt", gt)
    if g.ndim == 2:
        p, g = p[None] if p.ndim == 2 else p, g[None]
    if g.ndim != 3 or g.shape[2] != 3:
        raise ValueError(f"gt must have shape (N, J, 3) or (J, 3), got shape {g.shape}")
    if p.shape != g.shape:
        raise ValueError(f"pred must have the shape of gt {g.shape}, got {p.shape}")
    if not (np.isfinite(p).all() and np.isfinite(g).all()):
        raise ValueError("pred and gt must be finite (Human3.6M poses are complete)")
    return p, g


def mpjpe(pred, gt, root: int | Sequence[int] | None = None, scale: float = 1000.0) -> float:
    """Mean per-joint position error.

    Args:
        pred: (N, J, 3) or (J, 3) metres.
        gt: same shape as ``pred``.
        root: ``None`` for absolute positions; a joint index, or several whose mean is the root (e.g. ``(8, 11)``,
            the mid-hip of the 14-joint skeleton), to compare root-relative poses.
        scale: multiplier (1000: metres -> millimetres).

    Returns:
        the mean over poses and joints of ``||pred - gt||``, times ``scale``.
    """
    p, g = _check_pair(pred, gt)
    scale = check_positive("scale", scale)
    if root is not None:
        joints = p.shape[1]
        many = isinstance(root, (tuple, list, np.ndarray)) and not isinstance(root, str)
        idx = [check_int("root", j, 0) for j in (root if many else [root])]
        if not idx or max(idx) >= joints:
            raise ValueError(f"root must be a joint index in [0, {joints}) or a non-empty list of them, got {root!r}")
        p = p - p[:, idx].mean(axis=1, keepdims=True)
        g = g - g[:, idx].mean(axis=1, keepdims=True)
    return float(np.linalg.norm(p - g, axis=2).mean() * scale)


def procrustes_align(pred, gt) -> np.ndarray:
    """Similarity transform (rotation, translation, scale; Umeyama) of each ``pred`` pose onto its ``gt``.

    Args:
        pred: (N, J, 3) or (J, 3).
        gt: same shape.

    Returns:
        (N, J, 3) float64: ``s * R @ pred + t`` minimising the squared error, with a proper rotation (det +1).
    """
    p, g = _check_pair(pred, gt)
    mp, mg = p.mean(axis=1, keepdims=True), g.mean(axis=1, keepdims=True)
    p0, g0 = p - mp, g - mg
    cov = np.einsum("nji,njk->nik", g0, p0)  # (N, 3, 3): sum of g0 p0^T
    u, s, vt = np.linalg.svd(cov)
    d = np.sign(np.linalg.det(u @ vt))
    s[:, 2] *= d
    u[:, :, 2] *= d[:, None]
    rot = u @ vt
    var = (p0**2).sum(axis=(1, 2))
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(var > 0, s.sum(axis=1) / var, 1.0)
    return scale[:, None, None] * np.einsum("nik,njk->nji", rot, p0) + mg


def pa_mpjpe(pred, gt, scale: float = 1000.0) -> float:
    """MPJPE after Procrustes alignment with scale of each pose (Human3.6M protocol 2).

    Args:
        pred: (N, J, 3) or (J, 3) metres.
        gt: same shape.
        scale: multiplier (1000: metres -> millimetres).
    """
    return mpjpe(procrustes_align(pred, gt), gt, scale=scale)


@dataclass(frozen=True)
class H36MProtocol:
    """A Human3.6M evaluation protocol: which subjects train and test, and which error is reported.

    Attributes:
        name: ``"P1"`` or ``"P2"``.
        train_subjects, test_subjects: subject numbers.
        metric: ``"mpjpe"`` (root-relative) or ``"pa_mpjpe"``.
        root: joints averaged into the root for MPJPE: the mid-hip of the 14-joint skeleton.
        frame_step: evaluate every ``frame_step``-th frame.
    """

    name: str
    train_subjects: tuple[int, ...]
    test_subjects: tuple[int, ...]
    metric: str
    root: tuple[int, ...] = (8, 11)
    frame_step: int = 1

    def select(self, subjects, frames=None) -> np.ndarray:
        """Boolean mask (N,) of the samples in this protocol's test split (``subjects`` (N,), ``frames`` (N,))."""
        subj = np.asarray(subjects)
        mask = np.isin(subj, self.test_subjects)
        if frames is not None and self.frame_step > 1:
            mask &= np.asarray(frames) % self.frame_step == 0
        return mask


#: The two standard protocols, on the usual split (train S1, S5, S6, S7, S8; test S9, S11): P1 reports root-relative
#: MPJPE, P2 PA-MPJPE (Procrustes with scale). Other papers' "P2" (S11, every 64th frame, frontal camera) is
#: ``H36MProtocol("P2-S11", (1, 5, 6, 7, 8, 9), (11,), "pa_mpjpe", frame_step=64)``.
H36M_PROTOCOLS: dict[str, H36MProtocol] = {
    "P1": H36MProtocol("P1", (1, 5, 6, 7, 8), (9, 11), "mpjpe"),
    "P2": H36MProtocol("P2", (1, 5, 6, 7, 8), (9, 11), "pa_mpjpe"),
}


def h36m_metrics(pred, gt, subjects, protocol: str | H36MProtocol = "P1", frames=None) -> dict[str, float]:
    """Human3.6M error of one protocol over a set of single-person poses.

    Args:
        pred: (N, J, 3) metres.
        gt: (N, J, 3) metres.
        subjects: (N,) subject number of each sample.
        protocol: a key of :data:`H36M_PROTOCOLS` or an :class:`H36MProtocol`.
        frames: (N,) frame numbers, for protocols with ``frame_step > 1``.

    Returns:
        dict ``protocol``, ``metric``, ``error_mm``, ``samples``.
    """
    if isinstance(protocol, str):
        protocol = H36M_PROTOCOLS[check_choice("protocol", protocol, tuple(sorted(H36M_PROTOCOLS)))]
    elif not isinstance(protocol, H36MProtocol):
        raise TypeError(f"protocol must be a str or H36MProtocol, got {type(protocol).__name__}")
    p, g = _check_pair(pred, gt)
    mask = protocol.select(subjects, frames)
    if mask.shape != (len(g),):
        raise ValueError(f"subjects must have shape ({len(g)},), got {mask.shape}")
    if not mask.any():
        raise ValueError(f"no sample belongs to the test subjects {protocol.test_subjects} of {protocol.name}")
    p, g = p[mask], g[mask]
    err = mpjpe(p, g, root=protocol.root) if protocol.metric == "mpjpe" else pa_mpjpe(p, g)
    return {"protocol": protocol.name, "metric": protocol.metric, "error_mm": err, "samples": int(mask.sum())}
