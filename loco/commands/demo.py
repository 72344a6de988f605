"""``loco demo``: predict on the bundled example image with the bundled weights; write JSON and both pictures.

The example (``loco/assets/demo.jpg``) is a synthetic JTA-preset frame rendered by :mod:`loco.data.synthetic`, with
its camera and ground-truth poses in ``loco/assets/demo.json``, so the demo also reports how many of the ground-truth
joints it found (F1 at 0.4 m, the JTA protocol).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ASSETS = Path(__file__).resolve().parents[1] / "assets"
DEMO_IMAGE = ASSETS / "demo.jpg"
DEMO_META = ASSETS / "demo.json"


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", type=Path, default=Path("loco_demo"), help="output folder (default %(default)s)")
    parser.add_argument("--weights", default="vha2", help="pipeline: bundled name or folder (default %(default)s)")
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")


def demo_score(pred, meta: dict, preset: str = "jta") -> tuple[float, int]:
    """``(F1 at 0.4 m, people in view)`` of a prediction on the demo frame against its ground truth ``meta["poses3d"]``
    (the JTA protocol: joints inside the frame's voxel grid count)."""
    import numpy as np
    import torch

    from loco.evaluate import ground_truth_mask
    from loco.geometry import VoxelGrid
    from loco.metrics import joint_detection, poses_to_rows
    from loco.pipeline import as_camera

    gt = torch.as_tensor(np.asarray(meta["poses3d"], dtype=np.float64))
    h, w = pred.image_size
    mask = ground_truth_mask(gt, VoxelGrid.for_image(h, w, preset), as_camera(meta["camera"], 0, 0))
    gt_rows = poses_to_rows(torch.where(mask[..., None], gt, torch.nan).numpy())
    return joint_detection(poses_to_rows(pred.poses3d), gt_rows, 0.4)["f1"], int(mask.any(-1).sum())


def run(args: argparse.Namespace) -> int:
    from loco.pipeline import LoCO, as_camera

    if not DEMO_IMAGE.is_file() or not DEMO_META.is_file():
        raise FileNotFoundError(f"the demo image is missing from this install (expected {DEMO_IMAGE}, {DEMO_META})")
    meta = json.loads(DEMO_META.read_text())
    try:
        model = LoCO.from_pretrained(args.weights, device=args.device)
    except FileNotFoundError as exc:
        raise RuntimeError(
            f"loco demo needs the pipeline weights {args.weights!r}, which this install does not have: {exc}"
        ) from None
    camera = as_camera(meta["camera"], 0, 0)
    pred = model.predict(str(DEMO_IMAGE), camera)
    pred.source = "loco/assets/demo.jpg"

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    paths = {"poses": out / "demo_poses.json", "overlay": out / "demo_overlay.png", "3d": out / "demo_3d.png"}
    pred.save(paths["poses"])
    from PIL import Image

    from loco.viz import draw_2d

    Image.fromarray(draw_2d(pred.image, pred.poses2d, pred.confidence)).save(paths["overlay"])  # PIL only
    pred.plot_3d(path=paths["3d"], title=f"loco demo: {len(pred)} people")  # needs matplotlib

    f1, in_view = demo_score(pred, meta, model.preset)
    stages = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in pred.timings.items() if k != "total")
    print(f"{model!r}")
    print(f"{len(pred)} people found ({in_view} in the ground truth); F1@0.4 m = {100 * f1:.1f}")
    print(f"time {pred.timings['total']:.2f} s: {stages}")
    for what, path in paths.items():
        print(f"{what:>8}: {path}")
    return 0
