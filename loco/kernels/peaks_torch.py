"""6/26-connected peak search with sub-voxel refinement, pure torch: the readable reference (any device)."""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F


def neighbour_offsets(connectivity: int) -> list[tuple[int, int, int]]:
    """The (dd, dv, du) offsets of the face (6) or face+edge+corner (26) neighbours."""
    offsets = [o for o in itertools.product((-1, 0, 1), repeat=3) if o != (0, 0, 0)]
    if connectivity == 6:
        offsets = [o for o in offsets if sum(map(abs, o)) == 1]
    return offsets


def refine_offsets(h0: torch.Tensor, hm: torch.Tensor, hp: torch.Tensor, mode: str) -> torch.Tensor:
    """Sub-voxel offset along one axis from the peak value and its two face neighbours.

    ``mode="gaussian"`` fits a parabola to the logs (exact for an isolated Gaussian), ``"quadratic"`` to the raw
    values. No offset where a neighbour is outside the volume (``-inf``) or <= 0, or the fit is not concave; the
    result is clamped to [-0.5, 0.5].
    """
    valid = (hm > 0) & (hp > 0) & (h0 > 0)
    if mode == "gaussian":
        safe = lambda t: torch.log(torch.where(valid, t, torch.ones_like(t)))
        hm, h0, hp = safe(hm), safe(h0), safe(hp)
    den = hm - 2.0 * h0 + hp
    valid = valid & (den < 0)
    off = 0.5 * (hm - hp) / torch.where(valid, den, torch.full_like(den, -1.0))
    return torch.where(valid, off.clamp(-0.5, 0.5), torch.zeros_like(off))


def find_peaks_torch(
    volume: torch.Tensor, threshold: float, connectivity: int, ties: str, refine: str | None
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Peaks of ``volume`` (C, D, H, W) in memory order.

    Returns:
        flat (K,) int64 flat index into ``volume``, score (K,) float32, offset (K, 3) float32 (zeros if no refine).
    """
    vol = volume if volume.dtype in (torch.float32, torch.float64) else volume.to(torch.float32)
    padded = F.pad(vol, (1, 1, 1, 1, 1, 1), value=float("-inf"))
    _, depth, height, width = vol.shape
    centre = padded[:, 1:-1, 1:-1, 1:-1]
    mask = centre > threshold
    for dd, dv, du in neighbour_offsets(connectivity):
        nb = padded[:, 1 + dd : 1 + dd + depth, 1 + dv : 1 + dv + height, 1 + du : 1 + du + width]
        mask &= (centre > nb) if ties == "strict" else (centre >= nb)
    idx = mask.nonzero()  # (K, 4) in memory order
    c, d, v, u = idx.unbind(-1)
    score = vol[c, d, v, u]
    flat = ((c * depth + d) * height + v) * width + u
    offset = torch.zeros(idx.shape[0], 3, dtype=torch.float32, device=vol.device)
    if refine is not None:
        pc, pd, pv, pu = c, d + 1, v + 1, u + 1
        for axis, (ed, ev, eu) in enumerate(((1, 0, 0), (0, 1, 0), (0, 0, 1))):
            hm = padded[pc, pd - ed, pv - ev, pu - eu]
            hp = padded[pc, pd + ed, pv + ev, pu + eu]
            offset[:, axis] = refine_offsets(score, hm, hp, refine).to(torch.float32)
    return flat, score.to(torch.float32), offset
