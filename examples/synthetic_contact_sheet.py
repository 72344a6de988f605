"""Contact sheet of the synthetic world: two frames per preset with the ground-truth 2D skeletons drawn over them,
plus two full-resolution crops of JTA frames, so the overlay can be checked pixel for pixel.

    python examples/synthetic_contact_sheet.py --out docs/contact_sheet.png

Yellow dots: visible joints; hollow magenta: occluded or self-occluded (from the renderer's depth buffer).
Right limbs are red, left limbs blue.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw

from loco.data.draw import draw_skeletons
from loco.data.synthetic import PRESETS, SyntheticScenes

TILE = (270, 480)  # (H, W) of one cell


def _tile(sample: dict, label: str) -> Image.Image:
    img = sample["image"].permute(1, 2, 0).numpy()
    h, w = img.shape[:2]
    s = min(TILE[0] / h, TILE[1] / w)
    small = np.asarray(Image.fromarray(img).resize((round(w * s), round(h * s)), Image.LANCZOS))
    over = draw_skeletons(small, sample["poses2d"].numpy() * s, sample["visibility"].numpy(), 1, 1, min_size=30)
    cell = Image.new("RGB", (TILE[1], TILE[0]), (20, 20, 20))
    cell.paste(Image.fromarray(over), ((TILE[1] - over.shape[1]) // 2, (TILE[0] - over.shape[0]) // 2))
    _label(cell, label)
    return cell


def _crop(sample: dict, label: str) -> Image.Image:
    """A TILE-sized window of the full-resolution frame around the most crowded visible area."""
    img = sample["image"].permute(1, 2, 0).numpy()
    h, w = img.shape[:2]
    uv, vis = sample["poses2d"].numpy(), sample["visibility"].numpy()
    pts = uv[vis]
    best, score = (0, 0), -1
    for y0 in range(0, h - TILE[0] + 1, 45):
        for x0 in range(0, w - TILE[1] + 1, 60):
            inside = (pts[:, 0] >= x0) & (pts[:, 0] < x0 + TILE[1]) & (pts[:, 1] >= y0) & (pts[:, 1] < y0 + TILE[0])
            if inside.sum() > score:
                best, score = (y0, x0), int(inside.sum())
    y0, x0 = best
    over = draw_skeletons(img[y0 : y0 + TILE[0], x0 : x0 + TILE[1]].copy(), uv - [x0, y0], vis, 1, 2)
    cell = Image.fromarray(over)
    _label(cell, label)
    return cell


def _label(cell: Image.Image, text: str) -> None:
    d = ImageDraw.Draw(cell)
    d.rectangle([0, 0, 7 * len(text) + 8, 14], fill=(0, 0, 0))
    d.text((4, 2), text, fill=(255, 255, 255))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=Path("docs/contact_sheet.png"))
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    cells = []
    picks = {"jta": (6, 10), "panoptic": (0, 3), "h36m": (2, 5)}
    for preset, indices in picks.items():
        ds = SyntheticScenes(preset, PRESETS[preset]["size"], seed=args.seed)
        for i in indices:
            s = ds[i]
            cells.append(_tile(s, f"{preset} #{i}: {len(s['activity'])} people"))
    ds = SyntheticScenes("jta", (1080, 1920), seed=args.seed)
    for i in (12, 3):
        cells.append(_crop(ds[i], f"jta #{i}, 1:1 crop"))
    sheet = Image.new("RGB", (2 * TILE[1] + 4, 4 * TILE[0] + 6), (255, 255, 255))
    for k, cell in enumerate(cells):
        sheet.paste(cell, ((k % 2) * (TILE[1] + 4), (k // 2) * (TILE[0] + 2)))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    # a 256-colour palette keeps the PNG small despite the sensor noise
    sheet.quantize(256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE).save(args.out, optimize=True)
    print(f"wrote {args.out} ({args.out.stat().st_size // 1024} KB)")


if __name__ == "__main__":
    main()
