"""Grouping detected 3-D joints into people.

Two methods, both never giving one detected joint to two people (the original ``coords_to_poses`` took the nearest
joint even when another head had already taken it, duplicating it):

* ``"paper"`` — the paper's rule (original ``association.py``): head_top peaks, in order of descending confidence,
  each start a person; for every other joint type, in skeleton order, the person takes the nearest *unused* peak of
  that type that is closer than ``THS[type]`` metres to its head_top (strict ``<``, as the original) and whose limbs
  to the joints the person already has are no longer than :data:`MAX_LIMB` allows. Joints with no head nearby are
  dropped, so a person whose head was missed is lost.
* ``"hungarian"`` — the improved variant: joint types are visited in skeleton order, parents before children, and
  the people assembled so far are matched *jointly* to the peaks of the type by the Hungarian algorithm on the
  distance to each person's anchor, its present joint nearest in the skeleton graph; a pair is allowed only when
  the peak is within the skeleton-graph bound of the anchor (the sum of :data:`MAX_LIMB` along the shortest limb
  path, so a missing parent does not break the chain), within the head limit ``THS`` if the person has a head, and
  within :data:`MAX_LIMB` of every joint it shares a limb with. Peaks left over seed new people,
  so a person whose head (or neck, ...) was missed is still found; a seeded person with fewer than ``min_joints``
  joints is kept only when its strongest peak scores at least ``solitary_score`` (the original kept solitary joints
  above 0.6): a weak lone peak is more often an echo or a false detection than a person.

Both methods: a peak never starts a person (a head in ``"paper"``, a seed in ``"hungarian"``) when it lies within
``duplicate_radius`` of a peak of its type that is already in a person: two peaks of one joint type that close are
one joint found twice (two head_tops cannot be 10 cm apart), and the weaker is dropped instead of becoming a
phantom person.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from scipy.optimize import linear_sum_assignment
from scipy.spatial.distance import cdist

from loco._checks import check_choice, check_int, check_real
from loco.geometry import Camera, VoxelGrid
from loco.skeleton import LIMBS, NUM_JOINTS, THS

__all__ = ["METHODS", "MAX_LIMB", "Association", "associate", "associate_indices", "graph_bounds", "voxel_tolerance"]

METHODS: tuple[str, ...] = ("paper", "hungarian")

#: The longest each limb of :data:`loco.skeleton.LIMBS` may be, metres: about 1.5 times an adult's length, so
#: tall people and prediction noise pass while a joint of the person standing next to it does not.
MAX_LIMB: dict[tuple[int, int], float] = {
    (0, 1): 0.45,  # head_top - neck
    (1, 2): 0.40,  # neck - shoulder
    (2, 3): 0.55,  # upper arm
    (3, 4): 0.55,  # forearm
    (1, 5): 0.40,
    (5, 6): 0.55,
    (6, 7): 0.55,
    (1, 8): 0.95,  # neck - hip
    (8, 9): 0.75,  # thigh
    (9, 10): 0.75,  # shin
    (1, 11): 0.95,
    (11, 12): 0.75,
    (12, 13): 0.75,
    (8, 11): 0.55,  # hip - hip
}

# Joint types visited in this order: every joint after its parent in the limb tree (JTA order already is).
_ORDER = tuple(range(NUM_JOINTS))


class Association(NamedTuple):
    """People assembled from joints.

    Attributes:
        poses: (P, 14, 3) float32 metres, NaN where a joint is missing (same kind as the input: torch or numpy).
        confidence: (P, 14) float32 score of each joint's peak, 0 where missing.
    """

    poses: object
    confidence: object


def graph_bounds(max_limb: dict[tuple[int, int], float] = MAX_LIMB) -> np.ndarray:
    """(14, 14) longest possible distance between two joints: the shortest path through the limbs, each at most
    its ``max_limb`` length (triangle inequality), Floyd-Warshall on the 14-joint skeleton graph."""
    max_limb = _check_max_limb(max_limb)
    bound = np.full((NUM_JOINTS, NUM_JOINTS), np.inf)
    np.fill_diagonal(bound, 0.0)
    for (a, b), length in max_limb.items():
        bound[a, b] = bound[b, a] = min(bound[a, b], float(length))
    for k in range(NUM_JOINTS):
        bound = np.minimum(bound, bound[:, k : k + 1] + bound[k : k + 1, :])
    return bound


def _check_max_limb(max_limb) -> dict[tuple[int, int], float]:
    """``max_limb`` itself (:data:`MAX_LIMB` for None) after checking it: limbs of LIMBS to lengths > 0 (inf: none)."""
    max_limb = MAX_LIMB if max_limb is None else max_limb
    if not isinstance(max_limb, dict):
        raise TypeError(f"max_limb must be a dict {{(a, b): metres}}, got {type(max_limb).__name__}")
    limbs = {tuple(sorted(limb)) for limb in LIMBS}
    for key in max_limb:
        if not (isinstance(key, tuple) and tuple(sorted(key)) in limbs):
            raise ValueError(f"max_limb keys must be limbs of loco.skeleton.LIMBS, got {key!r}")
        if not check_real(f"max_limb[{key}]", max_limb[key], nan=False) > 0:  # inf: no bound on that limb
            raise ValueError(f"max_limb[{key}] must be a length > 0 (metres), got {max_limb[key]!r}")
    return max_limb


def _limb_matrix(max_limb: dict[tuple[int, int], float]) -> np.ndarray:
    lim = np.full((NUM_JOINTS, NUM_JOINTS), np.inf)
    for (a, b), length in max_limb.items():
        lim[a, b] = lim[b, a] = float(length)
    return lim


def _array(name: str, x, dtype=np.float64) -> np.ndarray:
    """``x`` (array-like or tensor) as numpy of ``dtype`` (``None``: its own); ``TypeError`` naming it when it holds
    no numbers or is ragged."""
    if hasattr(x, "detach") and hasattr(x, "cpu"):
        x = x.detach().cpu().numpy()
    try:
        return np.asarray(x, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc


def _points(xyz) -> np.ndarray:
    """``xyz`` as (K, 3) float64 numpy (an empty input as (0, 3)); ``ValueError`` for another shape."""
    p = _array("xyz", xyz)
    if p.size == 0:
        p = p.reshape(0, 3)
    if p.ndim != 2 or p.shape[1] != 3:
        raise ValueError(f"xyz must have shape (K, 3), got shape {p.shape}")
    return p


def _inputs(xyz, joint, score) -> tuple[np.ndarray, np.ndarray, np.ndarray, object]:
    """Validate and convert to numpy; returns the torch module of the input (or None) for the output kind."""
    torch_mod = None
    if hasattr(xyz, "detach") and hasattr(xyz, "cpu"):
        import torch as torch_mod  # the input is a tensor, so torch is installed

    raw_joint = _array("joint", joint, dtype=None)  # its own dtype, to tell integer types from fractions
    if raw_joint.size and not np.issubdtype(raw_joint.dtype, np.integer):
        if not (np.issubdtype(raw_joint.dtype, np.floating) and np.array_equal(raw_joint, np.round(raw_joint))):
            raise TypeError(f"joint must hold integer joint types, got dtype {raw_joint.dtype}")
    p = _points(xyz)
    j = raw_joint.astype(np.float64)  # converted once; integral by the check above
    s = _array("score", score)
    k = p.shape[0]
    if j.shape != (k,):
        raise ValueError(f"joint must have shape ({k},), got shape {j.shape}")
    if s.shape != (k,):
        raise ValueError(f"score must have shape ({k},), got shape {s.shape}")
    if k and (j.min() < 0 or j.max() >= NUM_JOINTS):
        raise ValueError(f"joint must lie in [0, {NUM_JOINTS}), got values in [{j.min():g}, {j.max():g}]")
    if not np.isfinite(p).all():
        raise ValueError("xyz must be finite")
    if not np.isfinite(s).all():
        raise ValueError("score must be finite")
    return p, j.astype(np.int64), s, torch_mod


def _cdist(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B) Euclidean distances; NaN rows of ``a`` (absent joints) give NaN."""
    if len(a) == 0 or len(b) == 0:
        return np.zeros((len(a), len(b)))
    return cdist(a, b)


def _not_echoes(p: np.ndarray, cand: np.ndarray, taken: np.ndarray, radius: float) -> np.ndarray:
    """The candidates (in order) farther than ``radius`` from every taken peak and every earlier kept candidate."""
    if radius <= 0 or len(cand) == 0:
        return cand
    free = ~(_cdist(p[cand], p[taken]) <= radius).any(axis=1)
    near = _cdist(p[cand], p[cand]) <= radius
    if not near[np.triu_indices(len(cand), 1)].any():
        return cand[free]
    keep: list[int] = []
    for i in np.flatnonzero(free).tolist():  # in order: an earlier kept candidate shadows later ones
        if not near[i, keep].any():
            keep.append(i)
    return cand[np.asarray(keep, dtype=np.int64)]


def _paper(p, j, s, tol, ths, lim, radius) -> list[np.ndarray]:
    order = np.argsort(-s, kind="stable")
    heads = _not_echoes(p, order[j[order] == 0], np.zeros(0, np.int64), radius)
    slots = np.full((len(heads), NUM_JOINTS), -1, np.int64)
    slots[:, 0] = heads
    # Types are independent given the earlier types (a head's choice of type t depends on the type-t peaks the
    # heads before it took and on its own joints of types < t), so the loops swap: for each type, the distance
    # tests are vectorised over heads x candidates and only the greedy pick, head by head, is a Python loop.
    for t in _ORDER[1:]:
        cand = order[j[order] == t]
        if len(cand) == 0 or len(heads) == 0:
            continue
        dist = _cdist(p[heads], p[cand])
        ok = dist < ths[t] + tol[heads][:, None] + tol[cand][None]
        for other in range(t):
            if np.isfinite(lim[t, other]):
                has = slots[:, other] >= 0
                other_idx = np.maximum(slots[:, other], 0)
                limb = _cdist(np.where(has[:, None], p[other_idx], np.nan), p[cand])
                ok &= ~has[:, None] | (limb <= lim[t, other] + tol[other_idx][:, None] + tol[cand][None])
        ranked = np.argsort(np.where(ok, dist, np.inf), axis=1, kind="stable")  # ties: the higher-scored peak
        n_ok = ok.sum(axis=1).tolist()
        used: set[int] = set()
        for h, (row, n) in enumerate(zip(ranked.tolist(), n_ok)):
            for c in row[:n]:
                if c not in used:
                    used.add(c)
                    slots[h, t] = cand[c]
                    break
    return list(slots)


def _hungarian(p, j, s, tol, ths, bound, lim, min_joints, solitary, radius) -> list[np.ndarray]:
    order = np.argsort(-s, kind="stable")
    slots = np.zeros((0, NUM_JOINTS), np.int64)
    seeded = np.zeros(0, bool)
    for t in _ORDER:
        cand = order[j[order] == t]
        if len(cand) == 0:
            continue
        matched = np.zeros(len(cand), bool)
        if len(slots):
            present = slots >= 0
            safe = np.maximum(slots, 0)
            pos = np.where(present[..., None], p[safe], np.nan)  # (P, 14, 3)
            rows = np.arange(len(slots))
            # anchor: the present joint nearest to t in the skeleton graph (ties: lower index)
            graph = np.where(present, bound[t][None], np.inf)
            anchor = np.argmin(graph, axis=1)
            cost = _cdist(pos[rows, anchor], p[cand])  # (P, C)
            ok = cost <= graph[rows, anchor][:, None] + tol[safe[rows, anchor]][:, None] + tol[cand][None]
            if t > 0:
                head_gate = ths[t] + tol[safe[:, 0]][:, None] + tol[cand][None]
                ok &= ~present[:, 0, None] | (_cdist(pos[:, 0], p[cand]) < head_gate)
            for other in np.flatnonzero(np.isfinite(lim[t])):
                gate = lim[t, other] + tol[safe[:, other]][:, None] + tol[cand][None]
                ok &= ~present[:, other, None] | (_cdist(pos[:, other], p[cand]) <= gate)
            if ok.any():
                big = min(cost.shape) * float(np.max(cost[ok])) + 1.0
                r, c = linear_sum_assignment(np.where(ok, cost, big))
                keep = ok[r, c]
                slots[r[keep], t] = cand[c[keep]]
                matched[c[keep]] = True
        taken = slots[:, t][slots[:, t] >= 0] if len(slots) else np.zeros(0, np.int64)
        new = _not_echoes(p, cand[~matched], taken, radius)
        if len(new):
            fresh = np.full((len(new), NUM_JOINTS), -1, np.int64)
            fresh[:, t] = new
            slots = np.concatenate([slots, fresh])
            seeded = np.concatenate([seeded, np.full(len(new), t > 0)])
    count = (slots >= 0).sum(axis=1)
    best = np.where(slots >= 0, s[np.maximum(slots, 0)], -np.inf).max(axis=1) if len(slots) else np.zeros(0)
    keep = ~seeded | (count >= min_joints) | (best >= solitary)
    return list(slots[keep])


def associate_indices(
    xyz,
    joint,
    score,
    method: str = "paper",
    *,
    ths=THS,
    max_limb: dict[tuple[int, int], float] | None = None,
    tolerance=0.0,
    min_joints: int = 2,
    solitary_score: float = 0.6,
    duplicate_radius: float = 0.1,
) -> np.ndarray:
    """Group joints into people; returns which input row fills each slot.

    Args:
        xyz: (K, 3) joint positions, metres (numpy or torch).
        joint: (K,) int joint type in ``[0, 14)``.
        score: (K,) peak confidence; higher first.
        method: ``"paper"`` or ``"hungarian"`` (see the module docstring).
        ths: (14,) head_top-to-joint limits in metres; default :data:`loco.skeleton.THS`.
        max_limb: longest allowed limb per ``(a, b)`` of :data:`loco.skeleton.LIMBS`; default :data:`MAX_LIMB`.
            Pass ``{}`` to turn the limb check off (the original behaviour).
        tolerance: position uncertainty of the joints in metres, a number or (K,) per joint: a limb between joints
            ``a`` and ``b`` may be ``max_limb + tolerance[a] + tolerance[b]`` long, and the head limit grows alike.
            Integer peaks are off by up to half a voxel, tens of centimetres at JTA distances: pass
            :func:`voxel_tolerance` for them. The default 0 is the paper's rule.
        min_joints: ``"hungarian"`` only: people seeded from a joint other than head_top need this many joints...
        solitary_score: ... or a peak scoring at least this much.
        duplicate_radius: metres; a peak this close to a same-type peak already in a person starts no person.

    Returns:
        (P, 14) int64 row index into the inputs, -1 where a joint is missing; every row index appears at most once.
        ``"paper"``: people in order of descending head confidence. ``"hungarian"``: head-seeded people first, in
        that order, then seeded people by the type and confidence of their seed.
    """
    method = check_choice("method", method, METHODS)
    try:
        ths_arr = np.asarray(ths, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise TypeError(f"ths must be {NUM_JOINTS} numbers, got {type(ths).__name__}") from exc
    if ths_arr.shape != (NUM_JOINTS,):
        raise ValueError(f"ths must have {NUM_JOINTS} values, got shape {ths_arr.shape}")
    if not (np.isfinite(ths_arr).all() and (ths_arr >= 0).all()):
        raise ValueError(f"ths must be finite and >= 0, got {ths_arr.tolist()}")
    max_limb = _check_max_limb(max_limb)
    min_joints = check_int("min_joints", min_joints, 1)
    solitary_score = check_real("solitary_score", solitary_score, nan=False)
    duplicate_radius = check_real("duplicate_radius", duplicate_radius)
    if not duplicate_radius >= 0:
        raise ValueError(f"duplicate_radius must be a number >= 0, got {duplicate_radius!r}")
    p, j, s, _ = _inputs(xyz, joint, score)
    if hasattr(tolerance, "detach"):
        tolerance = tolerance.detach().cpu().numpy()
    if isinstance(tolerance, (str, bytes)):
        raise TypeError(f"tolerance must be a number or an array of numbers, got {type(tolerance).__name__}")
    tol = (
        np.broadcast_to(np.asarray(tolerance, dtype=np.float64), (len(p),))
        if np.ndim(tolerance) == 0
        else (np.asarray(tolerance, dtype=np.float64))
    )
    if tol.shape != (len(p),):
        raise ValueError(f"tolerance must be a number or have shape ({len(p)},), got shape {tol.shape}")
    if not (np.isfinite(tol).all() and (tol >= 0).all()):
        raise ValueError("tolerance must be finite and >= 0")
    if method == "paper":
        people = _paper(p, j, s, tol, ths_arr, _limb_matrix(max_limb), float(duplicate_radius))
    else:
        people = _hungarian(
            p,
            j,
            s,
            tol,
            ths_arr,
            graph_bounds(max_limb),
            _limb_matrix(max_limb),
            min_joints,
            float(solitary_score),
            float(duplicate_radius),
        )
    return np.stack(people) if people else np.zeros((0, NUM_JOINTS), np.int64)


def associate(
    xyz,
    joint,
    score,
    method: str = "paper",
    *,
    ths=THS,
    max_limb: dict[tuple[int, int], float] | None = None,
    tolerance=0.0,
    min_joints: int = 2,
    solitary_score: float = 0.6,
    duplicate_radius: float = 0.1,
) -> Association:
    """Group detected joints into people (the pipeline's association step).

    Args:
        xyz: (K, 3) joint positions in metres, camera frame (numpy array or torch tensor).
        joint: (K,) int joint type in ``[0, 14)`` (JTA order).
        score: (K,) peak confidence (heatmap value).
        method: ``"paper"`` (the paper's head-distance rule, without reusing joints) or ``"hungarian"`` (joint
            per-type assignment, people seeded from any joint).
        ths, max_limb, tolerance, min_joints, solitary_score, duplicate_radius: see :func:`associate_indices`.

    Returns:
        :class:`Association` ``(poses (P, 14, 3), confidence (P, 14))``, float32, NaN / 0 for missing joints; torch
        tensors on the input's device when ``xyz`` is a tensor, numpy arrays otherwise.
    """
    idx = associate_indices(
        xyz,
        joint,
        score,
        method,
        ths=ths,
        max_limb=max_limb,
        tolerance=tolerance,
        min_joints=min_joints,
        solitary_score=solitary_score,
        duplicate_radius=duplicate_radius,
    )
    p, _, s, torch_mod = _inputs(xyz, joint, score)
    present = idx >= 0
    safe = np.maximum(idx, 0)
    poses = np.where(present[..., None], p[safe] if len(p) else np.zeros((*idx.shape, 3)), np.nan)
    conf = np.where(present, s[safe] if len(s) else 0.0, 0.0)
    poses, conf = poses.astype(np.float32).reshape(-1, NUM_JOINTS, 3), conf.astype(np.float32).reshape(-1, NUM_JOINTS)
    if torch_mod is not None:
        device = xyz.device
        return Association(torch_mod.from_numpy(poses).to(device), torch_mod.from_numpy(conf).to(device))
    return Association(poses, conf)


def voxel_tolerance(xyz, grid, camera) -> np.ndarray:
    """(K,) half the diagonal of the voxel at each joint, metres: how far an integer peak can be from the joint.

    Args:
        xyz: (K, 3) joint positions, metres, camera frame.
        grid: the :class:`loco.VoxelGrid` the peaks were found on.
        camera: the :class:`loco.Camera`.
    """
    if not isinstance(grid, VoxelGrid):
        raise TypeError(f"grid must be a loco.VoxelGrid, got {type(grid).__name__}")
    if not isinstance(camera, Camera):
        raise TypeError(f"camera must be a loco.Camera, got {type(camera).__name__}")
    p = _points(xyz)
    depth = np.linalg.norm(p, axis=1) if grid.depth_mode == "distance" else p[:, 2]
    lateral = grid.stride * np.maximum(depth, 0.0) / min(camera.fx, camera.fy)  # metres per voxel across the ray
    return 0.5 * np.sqrt(grid.bin_size**2 + 2.0 * lateral**2)
