"""Predict multi-person 3D poses on one image with the Python API, then save the poses and both pictures.

    python examples/predict_image.py                      # the bundled example frame
    python examples/predict_image.py photo.jpg --camera 1158,1158,960,540 --weights path/to/pipeline

Without ``--camera`` the image gets the default intrinsics (centred principal point, the JTA camera's 79.3 degree
horizontal field of view); metric depth is only as good as that guess.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from loco.pipeline import LoCO
from loco.skeleton import JOINT_NAMES

ASSETS = Path(__file__).resolve().parents[1] / "loco" / "assets"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("image", nargs="?", default=str(ASSETS / "demo.jpg"))
    parser.add_argument("--weights", default="vha2", help="bundled pipeline name or folder")
    parser.add_argument("--camera", default=None, help="fx,fy,cx,cy in pixels")
    parser.add_argument("--out", type=Path, default=Path("predict_image_out"))
    args = parser.parse_args()

    model = LoCO.from_pretrained(args.weights)  # CUDA when available, else CPU
    camera = args.camera
    if camera is None and Path(args.image) == ASSETS / "demo.jpg":
        import json

        camera = json.loads((ASSETS / "demo.json").read_text())["camera"]  # the example's true intrinsics
    pred = model.predict(args.image, camera)

    stages = ", ".join(f"{k} {1000 * v:.0f} ms" for k, v in pred.timings.items())
    print(f"{len(pred)} people (the nearest one below); {stages}")
    if len(pred):
        nearest = int(np.nanargmin(np.nanmedian(pred.poses3d[..., 2], axis=1)))  # every person has a joint
        for name, (x, y, z), c in zip(JOINT_NAMES, pred.poses3d[nearest], pred.confidence[nearest]):
            print(f"  {name:<15} x={x:6.2f} y={y:6.2f} z={z:6.2f} m  confidence {c:.2f}")

    args.out.mkdir(parents=True, exist_ok=True)
    pred.save(args.out / "poses.json")
    pred.plot_2d(path=args.out / "overlay.png")
    pred.plot_3d(path=args.out / "poses3d.png")
    print(f"wrote {args.out}/poses.json, overlay.png, poses3d.png")


if __name__ == "__main__":
    main()
