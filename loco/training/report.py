"""The figures of the bundled weights, on held-out synthetic JTA-preset frames (seed 10000, never used in training).

    python -m loco.training.report vha --names vha2 --frames 16            # paper Table 2: F1 at 0/1/2 voxels
    python -m loco.training.report pipeline --frames 32                      # F1@0.4/0.8/1.2 m, with/without refiner
    python -m loco.training.report pipeline --frames 32 --vha C3_300         # the same, decoding with another VHA
    python -m loco.training.report refiner --frames 200                      # the refiner alone, occluded joints

Training draws its frames from seeds 0.. (VHA crops: ``[seed * 1000 + rank + 1, 1, i]``; Code Predictor
``SyntheticScenes(seed=0)``; refiner poses ``[0, 3, i]``); the evaluation uses ``seed = 10000`` throughout unless
``--seed`` says otherwise. Seed 10000 also held the few validation frames that training runs printed and that chose
which stage to bundle; ``--seed 50000`` gives frames no run, threshold tuning (seed 20000) or decoder fine-tuning
(seed 30000) has seen.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from loco._checks import check_int
from loco.training.vha import evaluate_vha

__all__ = ["vha_table", "pipeline_table", "occluded_recall", "refiner_table"]

EVAL_SEED = 10_000


def vha_table(names, frames: int, progress: bool = True, seed: int = EVAL_SEED) -> dict:
    """``{name: {f1@0, f1@1, f1@2, ...}}`` on ``frames`` full 1080x1920 JTA-preset frames of ``seed``."""
    from loco.models import VHA

    seed = check_int("seed", seed, 0)
    out = {}
    for name in names:
        t = time.perf_counter()
        out[name] = evaluate_vha(VHA.from_pretrained(name).float(), frames, seed=seed, progress=progress)
        out[name]["seconds"] = round(time.perf_counter() - t, 1)
    return out


def occluded_recall(pipeline, dataset, frames: int, threshold: float = 0.4) -> dict:
    """Recall at ``threshold`` metres of the occluded ground-truth joints (on screen, hidden) and of the visible
    ones, per joint type matching (greedy, as the JTA protocol), pooled over frames."""
    from loco.evaluate import ground_truth_mask
    from loco.metrics import match_joints, poses_to_rows

    hit = {"occluded": [0, 0], "visible": [0, 0]}
    for i in range(frames):
        s = dataset[i]
        poses = s["poses3d"].double()
        mask = ground_truth_mask(poses, dataset.grid, s["camera"])
        pred = pipeline.predict(s["image"], s["camera"]).poses3d
        pred_rows = poses_to_rows(np.asarray(pred, dtype=np.float64))
        for key, sel in (("occluded", mask & ~s["visibility"]), ("visible", mask & s["visibility"])):
            gt = torch.where(sel[..., None], poses, torch.nan).numpy()
            gt_rows = poses_to_rows(gt)
            if len(gt_rows) == 0:
                continue
            m = match_joints(pred_rows, gt_rows, threshold)
            hit[key][0] += m.tp
            hit[key][1] += len(gt_rows)
    return {f"recall@{threshold:g}_{k}": round(100 * a / max(1, b), 2) for k, (a, b) in hit.items()} | {
        f"{k}_joints": b for k, (a, b) in hit.items()
    }


def pipeline_table(
    frames: int,
    image_size=(270, 480),
    progress: bool = True,
    vha: str | None = None,
    refiner: bool | None = None,
    seed: int = EVAL_SEED,
) -> dict:
    """The bundled "vha2" pipeline with and without its refiner (JTA protocol, greedy matching).

    ``refiner`` picks one row: ``True`` only ``"with_refiner"``, ``False`` only ``"without_refiner"``; ``None``
    (the default) both. ``seed`` picks the held-out frames (``SyntheticScenes(seed=seed)``).

    ``vha`` decodes with another VHA instead of the bundled one (:func:`~loco.training.coarse.load_frozen_vha`: a
    windows run folder, a CoarseVHA file, a bundled coarse name or a tied checkpoint, in float32). Only a VHA with
    the bundled one's code makes sense here (``C3_300``, or a decoder trained from it with ``--freeze-code`` or
    ``scripts/vha_cpu/decoder_on_predicted.py``): the Code Predictor regresses that code.
    """
    if refiner not in (None, True, False):
        raise TypeError(f"refiner must be True, False or None (both rows), got {refiner!r}")
    seed = check_int("seed", seed, 0)
    from loco.data.synthetic import SyntheticScenes
    from loco.evaluate import evaluate_pipeline
    from loco.geometry import VoxelGrid
    from loco.pipeline import LoCO

    grid = VoxelGrid.for_image(*image_size)
    data = SyntheticScenes("jta", image_size=image_size, seed=seed, length=max(frames, 1), grid=grid)
    pipe = LoCO.from_pretrained("vha2", device="cpu", input_size=tuple(image_size))
    if vha is not None:
        from loco.training.coarse import load_frozen_vha

        pipe.vha = load_frozen_vha(vha)
    bundled_refiner = pipe.refiner
    rows = [("with_refiner", True), ("without_refiner", False)]
    out = {}
    for label, refine in [r for r in rows if refiner is None or r[1] == refiner]:
        pipe.refiner = bundled_refiner if refine else None
        res = evaluate_pipeline(data, pipe, frames, grid=grid, progress=progress)
        row = res["rows"]["pipeline"]
        out[label] = {k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()} | {
            "seconds_per_frame": round(res.get("seconds_per_frame", float("nan")), 3)
        }
        out[label] |= occluded_recall(pipe, data, frames)
    return out


@torch.no_grad()
def refiner_table(
    frames: int, name: str = "pose_refiner", image_size=(270, 480), progress: bool = True, seed: int = EVAL_SEED
) -> dict:
    """The refiner on frames with occluded joints, without the other networks.

    Per held-out frame, the detections are the ground-truth joints that are visible (on screen and not hidden),
    read through the JTA voxel grid as the pipeline reads them (projected, rounded to voxels, lifted back: the
    quantisation error of integer peaks); occluded joints are missing. The people whose head_top is detected are
    refined (``PoseRefiner.refine`` with the pipeline's thresholds: missing joints are holes, every joint is
    replaced). Scored with the JTA protocol (greedy, per-image F1 averaged) against all ground-truth joints in view,
    and the recall of the occluded ones, with and without the refiner.
    """
    from loco import ops
    from loco.data.synthetic import SyntheticScenes
    from loco.evaluate import ground_truth_mask
    from loco.geometry import VoxelGrid
    from loco.metrics import DetectionMeter, match_joints, poses_to_rows
    from loco.models import PoseRefiner

    seed = check_int("seed", seed, 0)
    refiner = PoseRefiner.from_pretrained(name).float()
    data = SyntheticScenes("jta", image_size=image_size, seed=seed, length=max(frames, 1))
    meters = {"without_refiner": DetectionMeter(), "with_refiner": DetectionMeter()}
    occ = {k: [0, 0] for k in meters}
    frames_with_occlusion = 0
    it = range(frames)
    if progress:
        from tqdm import tqdm

        it = tqdm(it, desc="refiner")
    for i in it:
        s = data[i]
        grid = VoxelGrid.for_image(*image_size)
        poses = s["poses3d"].double()
        if len(poses) == 0:
            continue
        mask = ground_truth_mask(poses, grid, s["camera"])
        seen = mask & s["visibility"]
        quant = ops.backproject(
            torch.round(ops.project(poses.reshape(-1, 3), grid, s["camera"])), grid, s["camera"], backend="torch"
        ).reshape(poses.shape)
        detected = torch.where(seen[..., None], quant, torch.nan)
        keep = seen[:, 0]  # people whose head_top was detected can be refined
        refined = detected.clone()
        if keep.any():
            conf = seen[keep].double()
            refined[keep] = refiner.refine(detected[keep].float(), conf.float()).double()
        gt = torch.where(mask[..., None], poses, torch.nan)[mask.any(-1)].numpy()
        hidden = torch.where((mask & ~s["visibility"])[..., None], poses, torch.nan).numpy()
        frames_with_occlusion += int((mask & ~s["visibility"]).any())
        for key, pred in (("without_refiner", detected), ("with_refiner", refined)):
            rows = poses_to_rows(pred.numpy())
            meters[key].update(rows, poses_to_rows(gt))
            hid = poses_to_rows(hidden)
            if len(hid):
                occ[key][0] += match_joints(rows, hid, 0.4).tp
                occ[key][1] += len(hid)
    out = {}
    for key, m in meters.items():
        summ = m.summary()
        out[key] = {k: round(v, 2) for k, v in summ.items() if k.startswith(("f1", "precision", "recall"))}
        out[key]["recall@0.4_occluded"] = round(100 * occ[key][0] / max(1, occ[key][1]), 2)
    out["frames"] = frames
    out["frames_with_occluded_joints"] = frames_with_occlusion
    out["occluded_joints"] = occ["with_refiner"][1]
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("what", choices=("vha", "pipeline", "refiner"))
    p.add_argument("--names", nargs="+", default=["vha2"])
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument(
        "--seed",
        type=int,
        default=EVAL_SEED,
        help=f"the held-out frames' seed (default {EVAL_SEED}; 50000: a second set that no training run, threshold "
        "tuning or model choice has seen)",
    )
    p.add_argument("--out", default=None, help="write the JSON here too")
    p.add_argument(
        "--vha",
        default=None,
        help="pipeline: decode with this VHA (run folder, CoarseVHA file, bundled coarse name or tied checkpoint) "
        "instead of the bundled one; it must have the bundled one's code",
    )
    a = p.parse_args(argv)
    torch.set_num_threads(a.threads)
    if a.what == "vha":
        res = vha_table(a.names, a.frames, seed=a.seed)
    elif a.what == "refiner":
        res = refiner_table(a.frames, seed=a.seed)
    else:
        res = pipeline_table(a.frames, vha=a.vha, seed=a.seed)
    text = json.dumps(res, indent=2)
    print(text)
    if a.out:
        with open(a.out, "w") as f:
            f.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
