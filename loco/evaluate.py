"""Evaluation loops: the JTA protocol over a dataset for a pipeline, and the ground-truth ("oracle") upper bound.

The oracle replaces the networks by the ground truth: each frame's joints are rendered into volumetric heatmaps
(:func:`loco.ops.render_heatmaps`), and the rest of the pipeline runs as at test time: peak search
(:func:`loco.ops.find_peaks`), back-projection (:func:`loco.ops.backproject`) and association
(:func:`loco.association.associate`). What it loses is what the representation and the post-processing lose: joints
merged with a same-type neighbour, quantisation of integer peaks, joints the association drops (paper Tables 3-5,
rows "GT Volumetric Heatmaps").

Ground truth of a frame: every joint whose voxel position rounds to a voxel inside the grid (on screen and within
the depth range), occluded or not, as the original heatmaps contain. Only those are rendered, so the volume holds no
clipped blob of an off-screen joint.

A dataset is anything indexable (``len`` and ``[i]``) whose samples are dicts with ``camera`` (:class:`Camera`) and
``poses3d`` ``(P, 14, 3)`` metres (NaN for missing joints), plus ``image`` for a pipeline
(:class:`loco.data.synthetic.SyntheticScenes` is one). A pipeline is any object with ``predict(image, camera)``
returning ``poses3d`` ``(P, 14, 3)``: an array, a dict with ``"poses3d"``, or an object with a ``poses3d``
attribute (``loco.LoCO``'s ``Prediction``).
"""

from __future__ import annotations

import json
import math
import numbers
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import torch

from loco import ops
from loco._checks import check_choice, check_int, check_positive, check_real
from loco.association import METHODS, associate, voxel_tolerance
from loco.geometry import Camera, VoxelGrid
from loco.kernels import BACKENDS
from loco.metrics import (
    JTA_THRESHOLDS,
    MATCHINGS,
    VOXEL_THRESHOLDS,
    DetectionMeter,
    _check_threshold,
    panoptic_metrics,
    poses_to_rows,
)
from loco.skeleton import NUM_JOINTS

__all__ = [
    "PEAK_MODES",
    "SyntheticGroundTruth",
    "OracleConfig",
    "ground_truth_mask",
    "oracle_peaks",
    "evaluate_oracle",
    "evaluate_pipeline",
    "peak_rows",
    "vha_compression",
    "format_table",
    "save_results",
]

#: How the oracle makes and reads its heatmaps: name -> (snap the centres to voxels, find_peaks ``refine``).
#: ``original`` is the original code's ground truth and integer peak search; ``integer`` renders the exact centres
#: and reads integer peaks; ``gaussian`` renders the exact centres and refines the peaks.
PEAK_MODES: dict[str, tuple[bool, str | None]] = {
    "original": (True, None),
    "integer": (False, None),
    "gaussian": (False, "gaussian"),
}


@dataclass(frozen=True)
class OracleConfig:
    """Settings of the oracle upper bound.

    Attributes:
        peaks: names of :data:`PEAK_MODES` to run.
        associations: association methods (``"paper"``, ``"hungarian"``); the raw peaks are always scored too.
        matching: JTA matching, ``"greedy"`` (the original) or ``"optimal"``.
        thresholds: JTA thresholds, metres.
        sigma: Gaussian width in voxels (the paper's 2).
        threshold: find_peaks threshold (the original's 0.1).
        connectivity: find_peaks neighbourhood, 6 (paper Eq. 3) or 26 (the original evaluation kernel).
        person_distance: Panoptic-style person match gate, metres.
        backend: ops backend.
    """

    peaks: tuple[str, ...] = ("original", "gaussian")
    associations: tuple[str, ...] = METHODS
    matching: str = "greedy"
    thresholds: tuple[float, ...] = JTA_THRESHOLDS
    sigma: float = 2.0
    threshold: float = 0.1
    connectivity: int = 6
    person_distance: float = 0.5
    backend: str = "auto"

    def __post_init__(self) -> None:
        for name in self.peaks:
            check_choice("peaks", name, tuple(PEAK_MODES))
        for name in self.associations:
            check_choice("associations", name, METHODS)
        check_choice("matching", self.matching, MATCHINGS)
        if not self.peaks:
            raise ValueError("peaks must name at least one peak mode")
        object.__setattr__(self, "thresholds", tuple(_check_threshold(t) for t in self.thresholds))
        object.__setattr__(self, "sigma", check_positive("sigma", self.sigma))
        object.__setattr__(self, "person_distance", check_positive("person_distance", self.person_distance))
        object.__setattr__(self, "threshold", check_real("threshold", self.threshold, nan=False))
        object.__setattr__(self, "connectivity", check_choice("connectivity", self.connectivity, (6, 26)))
        check_choice("backend", self.backend, BACKENDS)


class SyntheticGroundTruth:
    """Poses-only frames of the synthetic world for the oracle (no image is rendered, so a frame costs milliseconds).

    Frame ``i`` is ``loco.data.synthetic.sample_scene(preset, numpy.random.default_rng([seed, i]), n_i)`` with
    ``n_i`` drawn uniformly from ``people`` by ``default_rng([seed, i, 1])``; fewer people may fit in a scene.

    Args:
        preset: ``"jta"``, ``"panoptic"`` or ``"h36m"``.
        seed: the world seed.
        people: (min, max) number of people to place, inclusive.
        length: number of frames.
    """

    def __init__(self, preset: str = "jta", seed: int = 0, people: tuple[int, int] = (20, 60), length: int = 10_000):
        from loco.data.synthetic import sample_scene

        lo, hi = people
        if not (0 <= lo <= hi):
            raise ValueError(f"people must be (min, max) with 0 <= min <= max, got {people}")
        if length < 1:
            raise ValueError(f"length must be >= 1, got {length}")
        self._sample = sample_scene
        self.preset, self.seed, self.people, self.length = preset, int(seed), (int(lo), int(hi)), int(length)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, index: int) -> dict:
        if not 0 <= index < self.length:
            raise IndexError(f"index {index} out of range for {self.length} frames")
        n = int(np.random.default_rng([self.seed, index, 1]).integers(self.people[0], self.people[1] + 1))
        scene = self._sample(self.preset, np.random.default_rng([self.seed, index]), n)
        return {"camera": scene.camera, "poses3d": scene.poses3d(), "index": index}

    def __repr__(self) -> str:
        return f"SyntheticGroundTruth(preset={self.preset!r}, seed={self.seed}, people={self.people})"


def _as_tensor(name: str, x) -> torch.Tensor:
    if isinstance(x, torch.Tensor):
        return x.detach().cpu().to(torch.float64)
    try:
        return torch.as_tensor(np.asarray(x, dtype=np.float64))
    except (TypeError, ValueError) as exc:
        raise TypeError(f"{name} must be array-like, got {type(x).__name__}") from exc


def _check_sample(sample, index) -> tuple[torch.Tensor, Camera]:
    if not isinstance(sample, dict) or "poses3d" not in sample or "camera" not in sample:
        raise TypeError(f"sample {index} must be a dict with 'poses3d' and 'camera'")
    poses = _as_tensor("poses3d", sample["poses3d"])
    if poses.numel() == 0:
        poses = poses.reshape(0, NUM_JOINTS, 3)
    if poses.ndim != 3 or poses.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"sample {index}: poses3d must have shape (P, {NUM_JOINTS}, 3), got {tuple(poses.shape)}")
    camera = sample["camera"]
    if not isinstance(camera, Camera):
        raise TypeError(f"sample {index}: camera must be a loco.Camera, got {type(camera).__name__}")
    return poses, camera


def ground_truth_mask(poses3d: torch.Tensor, grid: VoxelGrid, camera: Camera) -> torch.Tensor:
    """(P, 14) bool: the joints that are finite, in front of the camera and round to a voxel inside the grid."""
    if poses3d.shape[0] == 0:
        return torch.zeros(poses3d.shape[:2], dtype=torch.bool)
    pos = ops.project(poses3d.reshape(-1, 3).to(torch.float64), grid, camera).reshape(*poses3d.shape[:2], 3)
    dims = torch.tensor(grid.shape, dtype=torch.float64)
    r = torch.round(pos)
    inside = torch.isfinite(pos).all(-1) & (r >= 0).all(-1) & (r <= dims - 1).all(-1)
    return inside & torch.isfinite(poses3d).all(-1) & (poses3d[..., 2] > 0)


def oracle_peaks(
    poses3d: torch.Tensor,
    camera: Camera,
    grid: VoxelGrid,
    *,
    snap: bool,
    refines: Sequence[str | None],
    sigma: float = 2.0,
    threshold: float = 0.1,
    connectivity: int = 6,
    backend: str = "auto",
    out: torch.Tensor | None = None,
) -> dict[str | None, tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
    """Render one frame's ground truth and read it back as detected joints.

    Args:
        poses3d: (P, 14, 3) metres; joints outside :func:`ground_truth_mask` are not rendered.
        camera, grid: the frame's intrinsics and the voxel grid.
        snap: round the centres to voxels (the original ground truth).
        refines: one entry per readout, each a find_peaks ``refine`` (``None``, ``"gaussian"``, ...): the volume is
            rendered once and searched once per entry.
        sigma, threshold, connectivity, backend: passed to the ops.
        out: optional (1, 14, D, H, W) float32 buffer to render into (saves a 577 MB allocation per JTA frame).

    Returns:
        ``{refine: (xyz (K, 3) float64 metres, joint (K,) int64, score (K,) float32)}``.
    """
    mask = ground_truth_mask(poses3d, grid, camera)
    joints = torch.arange(NUM_JOINTS).expand(poses3d.shape[0], -1)[mask]
    centers = ops.project(poses3d[mask].to(torch.float64), grid, camera).to(torch.float32)
    volume = ops.render_heatmaps(centers, joints, grid, sigma=sigma, snap=snap, batch_size=1, out=out, backend=backend)
    result = {}
    for refine in refines:
        peaks = ops.find_peaks(volume, threshold=threshold, connectivity=connectivity, refine=refine, backend=backend)
        xyz = ops.backproject(peaks.position.to(torch.float64), grid, camera, backend="torch")
        result[refine] = (xyz, peaks.joint, peaks.score)
    return result


@dataclass
class _Row:
    """The accumulators of one table row."""

    joints: DetectionMeter
    person_tp: int = 0
    person_fp: int = 0
    person_fn: int = 0
    person_f1: list[float] = field(default_factory=list)
    person_err_sum: float = 0.0
    person_err_count: int = 0

    def update(self, pred_rows: np.ndarray, gt_rows: np.ndarray, pred_poses, gt_poses, gate: float) -> None:
        self.joints.update(pred_rows, gt_rows)
        if pred_poses is None:
            return
        m = panoptic_metrics(pred_poses, gt_poses, max_distance=gate)
        self.person_tp += m["tp"]
        self.person_fp += m["fp"]
        self.person_fn += m["fn"]
        self.person_f1.append(m["f1"])
        if m["joints"]:
            self.person_err_sum += m["mpjpe"] * m["joints"]
            self.person_err_count += m["joints"]

    def summary(self) -> dict[str, float]:
        out = self.joints.summary()
        if self.person_f1:
            out["person_f1"] = 100.0 * float(np.mean(self.person_f1))
            out["person_tp"], out["person_fp"], out["person_fn"] = self.person_tp, self.person_fp, self.person_fn
            out["person_mpjpe_mm"] = self.person_err_sum / self.person_err_count if self.person_err_count else math.nan
        return out


def _frame_indices(dataset, frames: int | Iterable[int] | None) -> list[int]:
    if frames is None:
        return list(range(len(dataset)))
    if isinstance(frames, numbers.Integral) and not isinstance(frames, bool):
        frames = check_int("frames", frames, 1)
        return list(range(min(frames, len(dataset)) if hasattr(dataset, "__len__") else frames))
    if isinstance(frames, (str, bytes)) or not isinstance(frames, Iterable):
        raise TypeError(f"frames must be None, a count or frame indices, got {type(frames).__name__}")
    indices = [check_int("frames[]", i, 0) for i in frames]
    n = len(dataset) if hasattr(dataset, "__len__") else None
    if n is not None and any(i >= n for i in indices):
        raise ValueError(f"frames indices must be < {n} (the dataset's length), got {max(indices)}")
    return indices


def _progress(iterable, total: int, desc: str, progress: bool):
    if not progress:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, total=total, desc=desc, unit="frame", dynamic_ncols=True)


def evaluate_oracle(
    dataset,
    frames: int | Iterable[int] | None = None,
    config: OracleConfig | None = None,
    *,
    grid: VoxelGrid | None = None,
    progress: bool = True,
) -> dict:
    """The ground-truth upper bound over a dataset (paper Tables 3-5, "GT Volumetric Heatmaps").

    For each frame the ground truth is rendered once per snapping setting and read back with every requested peak
    mode; the raw peaks (``"<mode>/peaks"``) and each association (``"<mode>/<method>"``) are scored with the JTA
    protocol; associations are also scored per person (Panoptic-style: Hungarian on mean joint distance, person
    F1 and MPJPE over matched people, which shows association mistakes the joint-level F1 cannot see).

    Args:
        dataset: indexable samples with ``camera`` and ``poses3d`` (see the module docstring).
        frames: how many frames from the start, or which indices; default all.
        config: :class:`OracleConfig`.
        grid: the voxel grid; default :meth:`VoxelGrid.jta`.
        progress: show a tqdm progress bar.

    Returns:
        dict ``{"rows": {name: summary}, "config": ..., "frames": n, "seconds_per_frame": s}``; summaries as
        :meth:`loco.metrics.DetectionMeter.summary` plus ``person_f1``, ``person_mpjpe_mm`` for association rows.
    """
    config = config or OracleConfig()
    grid = grid or VoxelGrid.jta()
    indices = _frame_indices(dataset, frames)
    rows: dict[str, _Row] = {}
    for mode in config.peaks:
        for method in ("peaks", *config.associations):
            rows[f"{mode}/{method}"] = _Row(DetectionMeter(config.thresholds, config.matching))
    by_snap: dict[bool, list[tuple[str, str | None]]] = {}
    for mode in config.peaks:
        snap, refine = PEAK_MODES[mode]
        by_snap.setdefault(snap, []).append((mode, refine))
    buffer = torch.empty((1, NUM_JOINTS, *grid.shape), dtype=torch.float32)
    start = time.perf_counter()
    people = []
    for index in _progress(indices, len(indices), "oracle", progress):
        poses, camera = _check_sample(dataset[index], index)
        mask = ground_truth_mask(poses, grid, camera)
        gt_poses = torch.where(mask[..., None], poses, torch.nan)[mask.any(-1)].numpy()  # people with a joint in view
        gt_rows = poses_to_rows(gt_poses)
        people.append(int(mask.any(-1).sum()))
        for snap, modes in by_snap.items():
            read = oracle_peaks(
                poses,
                camera,
                grid,
                snap=snap,
                refines=[r for _, r in modes],
                sigma=config.sigma,
                threshold=config.threshold,
                connectivity=config.connectivity,
                backend=config.backend,
                out=buffer,
            )
            for mode, refine in modes:
                xyz, joint, score = read[refine]
                peak_rows = np.concatenate([joint.numpy()[:, None].astype(np.float64), xyz.numpy()], axis=1)
                rows[f"{mode}/peaks"].update(peak_rows, gt_rows, None, None, config.person_distance)
                tol = voxel_tolerance(xyz, grid, camera) if refine is None else 0.0
                for method in config.associations:
                    poses_pred, _ = associate(xyz.numpy(), joint.numpy(), score.numpy(), method, tolerance=tol)
                    rows[f"{mode}/{method}"].update(
                        poses_to_rows(poses_pred), gt_rows, poses_pred, gt_poses, config.person_distance
                    )
    elapsed = time.perf_counter() - start
    return {
        "rows": {name: row.summary() for name, row in rows.items()},
        "config": {**asdict(config), "grid": grid.to_dict()},
        "frames": len(indices),
        "people_per_frame": {
            "min": min(people, default=0),
            "max": max(people, default=0),
            "mean": float(np.mean(people)) if people else 0.0,
        },
        "seconds_per_frame": elapsed / max(len(indices), 1),
    }


def _poses_of(prediction) -> np.ndarray:
    if isinstance(prediction, dict):
        prediction = prediction["poses3d"]
    elif hasattr(prediction, "poses3d"):
        prediction = prediction.poses3d
    if isinstance(prediction, torch.Tensor):
        prediction = prediction.detach().cpu().numpy()
    arr = np.asarray(prediction, dtype=np.float64)
    if arr.size == 0:
        return arr.reshape(0, NUM_JOINTS, 3)
    if arr.ndim != 3 or arr.shape[1:] != (NUM_JOINTS, 3):
        raise ValueError(f"a prediction's poses3d must have shape (P, {NUM_JOINTS}, 3), got {arr.shape}")
    return arr


def evaluate_pipeline(
    dataset,
    pipeline,
    frames: int | Iterable[int] | None = None,
    *,
    thresholds: Sequence[float] = JTA_THRESHOLDS,
    matching: str = "greedy",
    person_distance: float = 0.5,
    grid: VoxelGrid | None = None,
    progress: bool = True,
) -> dict:
    """The JTA protocol for a pipeline: ``pipeline.predict(sample["image"], sample["camera"])`` on every frame.

    Ground truth as the oracle's (joints inside ``grid``), so the two are comparable.

    Args:
        dataset: indexable samples with ``image``, ``camera`` and ``poses3d``.
        pipeline: any object with ``predict(image, camera)`` returning ``poses3d`` (see the module docstring).
        frames: how many frames from the start, or which indices; default all.
        thresholds, matching: JTA protocol settings.
        person_distance: person match gate, metres.
        grid: the grid that defines which ground-truth joints count; default :meth:`VoxelGrid.jta`.
        progress: show a tqdm progress bar.

    Returns:
        dict ``{"rows": {"pipeline": summary}, "frames": n, "seconds_per_frame": s}``.
    """
    if not callable(getattr(pipeline, "predict", None)):
        raise TypeError(f"pipeline must have a predict(image, camera) method, got {type(pipeline).__name__}")
    grid = grid or VoxelGrid.jta()
    indices = _frame_indices(dataset, frames)
    row = _Row(DetectionMeter(thresholds, matching))
    start = time.perf_counter()
    for index in _progress(indices, len(indices), "eval", progress):
        sample = dataset[index]
        poses, camera = _check_sample(sample, index)
        if "image" not in sample:
            raise TypeError(f"sample {index} has no 'image' to predict on")
        mask = ground_truth_mask(poses, grid, camera)
        gt_poses = torch.where(mask[..., None], poses, torch.nan)[mask.any(-1)].numpy()  # people with a joint in view
        pred = _poses_of(pipeline.predict(sample["image"], camera))
        row.update(poses_to_rows(pred), poses_to_rows(gt_poses), pred, gt_poses, person_distance)
    elapsed = time.perf_counter() - start
    return {
        "rows": {"pipeline": row.summary()},
        "config": {"thresholds": list(thresholds), "matching": matching, "person_distance": person_distance},
        "frames": len(indices),
        "seconds_per_frame": elapsed / max(len(indices), 1),
    }


def peak_rows(peaks: ops.Peaks, batch_size: int) -> list[np.ndarray]:
    """Split :class:`loco.ops.Peaks` into per-image voxel rows ``(joint, d, v, u)`` (integer indices) for
    :func:`loco.metrics.voxel_f1`: a list of ``batch_size`` arrays (K_b, 4) float64."""
    rows = torch.cat([peaks.joint[:, None], peaks.index], dim=1).cpu().numpy().astype(np.float64)
    batch = peaks.batch.cpu().numpy()
    return [rows[batch == b] for b in range(batch_size)]


def vha_compression(
    volume,
    decoded,
    thresholds: Sequence[float] = VOXEL_THRESHOLDS,
    *,
    threshold: float = 0.1,
    connectivity: int = 6,
    matching: str = "greedy",
    backend: str = "auto",
) -> dict[str, float]:
    """The VHA compression metric (paper Table 2): F1 between the integer peaks of ``H`` and of ``d(e(H))``.

    Args:
        volume: (B, J, D, H, W) or (J, D, H, W) ground-truth heatmaps ``H``.
        decoded: the same shape, the autoencoder's reconstruction ``d(e(H))``.
        thresholds: voxel distances (the paper's 0, 1, 2), inclusive.
        threshold, connectivity, backend: find_peaks settings for both volumes.
        matching: ``"greedy"`` (the original) or ``"optimal"``.

    Returns:
        dict ``precision@t``, ``recall@t``, ``f1@t`` in percent, averaged over the batch, plus ``tp/fp/fn@t`` sums.
    """
    if not isinstance(volume, torch.Tensor) or not isinstance(decoded, torch.Tensor):
        raise TypeError("volume and decoded must be torch.Tensors")
    if volume.shape != decoded.shape:
        raise ValueError(f"decoded must have the shape of volume {tuple(volume.shape)}, got {tuple(decoded.shape)}")
    batch = volume.shape[0] if volume.ndim == 5 else 1
    kwargs = {"threshold": threshold, "connectivity": connectivity, "backend": backend}
    true_rows = peak_rows(ops.find_peaks(volume, **kwargs), batch)
    pred_rows = peak_rows(ops.find_peaks(decoded, **kwargs), batch)
    meter = DetectionMeter(thresholds, matching)
    for pred, gt in zip(pred_rows, true_rows):
        meter.update(pred, gt)
    summary = meter.summary()
    for key in ("mean_error_mm", "matched_joints"):
        summary.pop(key)
    return summary


def format_table(results: dict) -> str:
    """A Markdown table of :func:`evaluate_oracle` / :func:`evaluate_pipeline` results (F1 in percent)."""
    rows = results["rows"]
    if not rows:
        return "(no rows)"
    thresholds = results["config"].get("thresholds", JTA_THRESHOLDS)
    head = ["row", *[f"F1@{t:g}" for t in thresholds], "mean error (mm)", "person F1", "person MPJPE (mm)"]
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]

    def num(value, digits):
        return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.{digits}f}"

    for name, s in rows.items():
        cells = [name, *[num(s.get(f"f1@{t:g}"), 2) for t in thresholds], num(s.get("mean_error_mm"), 2)]
        cells += [num(s.get("person_f1"), 2), num(s.get("person_mpjpe_mm"), 2)]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _environment() -> dict:
    import loco

    commit = None
    try:
        repo = Path(__file__).resolve().parents[1]
        commit = (
            subprocess.run(
                ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, timeout=5, check=False
            ).stdout.strip()
            or None
        )
    except (OSError, subprocess.SubprocessError):
        pass
    return {
        "loco": loco.__version__,
        "torch": torch.__version__,
        "numpy": np.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
        "commit": commit,
        "time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def save_results(results: dict, path: str | Path, **extra) -> Path:
    """Write results as JSON with the environment (versions, commit, time) and any ``extra`` fields."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {**results, **extra, "environment": _environment()}

    def default(obj):
        if isinstance(obj, (np.integer, np.floating)):
            return obj.item()
        if isinstance(obj, tuple):
            return list(obj)
        raise TypeError(f"not JSON serialisable: {type(obj).__name__}")

    path.write_text(json.dumps(payload, indent=2, default=default, allow_nan=True) + "\n")
    return path
