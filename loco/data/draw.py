"""Draw 2D skeletons over images (for inspection and the contact sheet)."""

from __future__ import annotations

import numpy as np

from loco.skeleton import LIMBS

__all__ = ["draw_skeletons"]

# right limbs warm, left limbs cool, centre white
_RIGHT = {(1, 2), (2, 3), (3, 4), (1, 8), (8, 9), (9, 10)}
_LEFT = {(1, 5), (5, 6), (6, 7), (1, 11), (11, 12), (12, 13)}


def draw_skeletons(
    image: np.ndarray,
    poses2d: np.ndarray,
    visibility: np.ndarray,
    width: int | None = None,
    radius: int | None = None,
    min_size: float = 0.0,
) -> np.ndarray:
    """Draw the 14-joint skeletons on a copy of ``image``.

    Args:
        image: (H, W, 3) uint8.
        poses2d: (P, 14, 2) pixels; non-finite joints are skipped.
        visibility: (P, 14) bool; visible joints are filled dots, hidden ones hollow.
        width: line width in pixels (default: image height / 360, at least 1).
        radius: joint dot radius in pixels (default: ``width + 1``).
        min_size: people whose 2D box is shorter than this many pixels get lines only, no dots.

    Returns:
        (H, W, 3) uint8, a new array.
    """
    from PIL import Image, ImageDraw

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    pts = np.asarray(poses2d, dtype=np.float64).reshape(-1, 14, 2)
    vis = np.asarray(visibility, dtype=bool).reshape(-1, 14)
    if vis.shape[0] != pts.shape[0]:
        raise ValueError(f"visibility must be (P, 14) with P={pts.shape[0]}, got {vis.shape}")
    width = max(1, img.shape[0] // 360) if width is None else int(width)
    pil = Image.fromarray(img.copy())
    d = ImageDraw.Draw(pil)
    r = width + 1 if radius is None else int(radius)
    for p in range(pts.shape[0]):
        for a, b in LIMBS:
            if not (np.all(np.isfinite(pts[p, a])) and np.all(np.isfinite(pts[p, b]))):
                continue
            col = (255, 90, 60) if (a, b) in _RIGHT else (70, 160, 255) if (a, b) in _LEFT else (255, 255, 255)
            d.line([tuple(pts[p, a]), tuple(pts[p, b])], fill=col, width=width)
        finite = np.isfinite(pts[p]).all(axis=1)
        if not finite.any() or np.ptp(pts[p, finite, 1]) < min_size:
            continue
        for j in range(14):
            if not finite[j]:
                continue
            x, y = pts[p, j]
            if vis[p, j]:
                d.ellipse([x - r, y - r, x + r, y + r], fill=(255, 255, 0))
            else:
                d.ellipse([x - r, y - r, x + r, y + r], outline=(255, 0, 255), width=max(1, width // 2))
    return np.asarray(pil)
