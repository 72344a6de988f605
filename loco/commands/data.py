"""``loco data``: write synthetic samples to disk (images + JSON), time the renderer, print pose statistics."""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def _size(text: str) -> tuple[int, int]:
    try:
        h, w = (int(x) for x in text.lower().split("x"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"size must look like 1080x1920 (HxW), got {text!r}") from None
    return h, w


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", metavar="ACTION")
    sub.required = True
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--preset", default="jta", choices=("jta", "panoptic", "h36m"), help="scene preset")
    common.add_argument("--size", type=_size, default=None, help="image size HxW (default: the preset's native)")
    common.add_argument("--seed", type=int, default=0, help="dataset seed")
    common.add_argument("-n", "--num", type=int, default=8, help="number of samples")
    w = sub.add_parser("write", parents=[common], help="write N samples as images + JSON")
    w.add_argument("--out", type=Path, required=True, help="output directory")
    w.add_argument("--format", default="png", choices=("png", "jpg"), help="image format")
    w.add_argument("--overlay", action="store_true", help="also write a copy with the 2D skeleton drawn")
    sub.add_parser("bench", parents=[common], help="time scene sampling and rendering per frame")
    sub.add_parser("stats", parents=[common], help="limb length mean/std per limb against the anthropometric table")


def _native(preset: str) -> tuple[int, int]:
    from loco.data.synthetic import PRESETS

    return PRESETS[preset]["size"]


def run(args: argparse.Namespace) -> int:
    if args.num < 1:
        raise ValueError(f"--num must be >= 1, got {args.num}")
    size = args.size or _native(args.preset)
    from loco.data.synthetic import SyntheticScenes

    ds = SyntheticScenes(args.preset, size, seed=args.seed, length=max(args.num, 1) + 1)
    if args.action == "write":
        return _write(ds, args)
    if args.action == "bench":
        return _bench(ds, args)
    return _stats(ds, args)


def _write(ds, args) -> int:
    from PIL import Image

    from loco.data.draw import draw_skeletons

    args.out.mkdir(parents=True, exist_ok=True)
    for i in range(args.num):
        s = ds[i]
        img = s["image"].permute(1, 2, 0).numpy()
        name = f"{args.preset}_{i:05d}"
        Image.fromarray(img).save(args.out / f"{name}.{args.format}")
        if args.overlay:
            over = draw_skeletons(img, s["poses2d"].numpy(), s["visibility"].numpy())
            Image.fromarray(over).save(args.out / f"{name}_overlay.{args.format}")
        meta = {
            "preset": args.preset,
            "seed": args.seed,
            "index": i,
            "image": f"{name}.{args.format}",
            "camera": s["camera"].to_dict(),
            "joint_order": list(__import__("loco.skeleton", fromlist=["JOINT_NAMES"]).JOINT_NAMES),
            "poses3d": s["poses3d"].tolist(),
            "poses2d": s["poses2d"].tolist(),
            "visibility": s["visibility"].tolist(),
            "activity": s["activity"],
            "height": s["height"].tolist(),
        }
        (args.out / f"{name}.json").write_text(json.dumps(meta))
        print(f"{args.out / name}.{args.format}: {len(s['activity'])} people")
    return 0


def _bench(ds, args) -> int:
    import numpy as np

    from loco.data.synthetic import render

    render(ds.scene(0), ds.image_size)  # compile / load the numba cache
    t_scene, t_render, people = [], [], []
    for i in range(1, args.num + 1):
        t0 = time.perf_counter()
        scene = ds.scene(i)
        t1 = time.perf_counter()
        render(scene, ds.image_size)
        t2 = time.perf_counter()
        t_scene.append(t1 - t0)
        t_render.append(t2 - t1)
        people.append(len(scene.people))
    ts, tr = np.array(t_scene) * 1e3, np.array(t_render) * 1e3
    print(
        f"{args.preset} {ds.image_size[0]}x{ds.image_size[1]}, {args.num} frames, {np.mean(people):.1f} people/frame: "
        f"scene {np.median(ts):.0f} ms, render {np.median(tr):.0f} ms (median; min {tr.min():.0f}, max {tr.max():.0f})"
    )
    return 0


def _stats(ds, args) -> int:
    import numpy as np

    from loco.data.body import limb_length_table
    from loco.data.synthetic import limb_lengths
    from loco.skeleton import JOINT_NAMES, LIMBS

    lengths, table = [], []
    for i in range(args.num):
        scene = ds.scene(i)
        if scene.people:
            lengths.append(limb_lengths(scene.poses3d()))
            table.append(np.stack([limb_length_table(p.height) for p in scene.people]))
    if not lengths:
        print("no people sampled")
        return 0
    got, ref = np.concatenate(lengths), np.concatenate(table)
    print(f"{got.shape[0]} people from {args.num} {args.preset} scenes; metres")
    print(f"{'limb':<32}{'mean':>8}{'std':>8}{'table':>8}{'table std':>10}")
    for k, (a, b) in enumerate(LIMBS):
        name = f"{JOINT_NAMES[a]}-{JOINT_NAMES[b]}"
        print(f"{name:<32}{got[:, k].mean():8.3f}{got[:, k].std():8.3f}{ref[:, k].mean():8.3f}{ref[:, k].std():10.3f}")
    return 0
