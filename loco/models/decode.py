"""Memory-lean decoding: VHA code -> peaks without ever holding the whole (B, J, D, H', W') volume.

The VHA decoder mixes joints only in its defuser (a Conv3d with the joint axis as channels, run here once on the
small code); after it every ``(b, j)`` map is decoded on its own, so decoding a few joints at a time is exact.
Spatial tiles (``tile_rows``) are exact too: each tile decodes its code rows plus a halo that covers the decoder's
receptive field, keeps one extra voxel row each side for the neighbour test, and reports only the peaks of its own
rows.
"""

from __future__ import annotations

import torch

from loco._checks import check_int
from loco.geometry import VoxelGrid
from loco.models.vha import VHA
from loco.ops import Peaks, find_peaks

__all__ = ["decode_peaks", "decoder_halo"]


def decoder_halo(vha: VHA) -> int:
    """Code rows a tile needs on each side so its core rows equal the whole decode.

    Walking the decoder backwards from one voxel row beyond the core (read by the peak test): a 5x5 convolution
    needs 2 more rows at its resolution; a bilinear x``f`` upsampling (``align_corners=False``) needs
    ``ceil(r / f) + 1`` input rows for ``r`` output rows (one more for the interpolation partner, which also absorbs
    the edge clamping of a cropped input).
    """
    r = 1  # the neighbour row beyond the core that the peak test reads
    for factor in reversed(vha.strides):
        if factor > 1:
            r = -(-r // factor) + 1
        r += 2
    return r


def _sort(channel: torch.Tensor, flat: torch.Tensor, score: torch.Tensor) -> torch.Tensor:
    # Same key and the same stable-sort sequence as loco.ops: (channel, -score, flat index).
    order = torch.argsort(flat, stable=True)
    order = order[torch.argsort(-score[order], stable=True)]
    return order[torch.argsort(channel[order], stable=True)]


@torch.no_grad()
def decode_peaks(
    vha: VHA,
    code: torch.Tensor,
    grid: VoxelGrid | tuple[int, int] | None = None,
    *,
    joints_per_chunk: int = 1,
    tile_rows: int | None = None,
    threshold: float = 0.1,
    connectivity: int = 6,
    ties: str = "strict",
    refine: str | None = None,
    backend: str = "auto",
) -> Peaks:
    """Decode ``code`` a few joints (and optionally a few rows) at a time and search peaks on each chunk.

    Gives the same peaks as ``find_peaks(vha.decode(code, grid), ...)``: same ``batch``, ``joint``, ``index``,
    ``score`` and order; ``position`` too, except with ``tile_rows`` and ``refine`` where its ``v`` coordinate can
    differ by one float32 rounding (the offset is added to a tile-local row, then shifted).

    Peak memory: the code, its defused maps (B x J x C x h x w, 9 MB for JTA) and one chunk
    (``joints_per_chunk x D x rows x W'`` plus the decoder's intermediates and the peak search's buffers), instead of
    the ``B x J x D x H' x W'`` volume (0.58 GB per JTA image) and its upsampled intermediate.

    Args:
        vha: the autoencoder whose decoder is used (in eval mode for reproducible results).
        code: (B, 1, C, h, w) codes.
        grid: the grid (or ``(H', W')``) to crop the volume to, as :meth:`VHA.decode`; default no crop.
        joints_per_chunk: joints decoded together (>= 1).
        tile_rows: also split the volume's rows into tiles of ``tile_rows`` code rows (``tile_rows * S`` voxel
            rows) plus a halo of :func:`decoder_halo` code rows; ``None`` decodes whole maps.
        threshold, connectivity, ties, refine, backend: passed to :func:`loco.ops.find_peaks`.

    Returns:
        :class:`loco.ops.Peaks` over ``(B, J, D, H', W')``, sorted by batch, joint, descending score, then index.
    """
    if not isinstance(vha, VHA):
        raise TypeError(f"vha must be a loco.models.VHA, got {type(vha).__name__}")
    vha._check_code(code)
    joints_per_chunk = check_int("joints_per_chunk", joints_per_chunk, 1)
    if tile_rows is not None:
        tile_rows = check_int("tile_rows", tile_rows, 1)
    s = vha.stride
    h_code, w_code = code.shape[-2:]
    height, width = vha._crop_size(grid, code) if grid is not None else (h_code * s, w_code * s)
    depth, joints = vha.depth_bins, vha.joints
    tiles = (
        [(0, h_code)] if tile_rows is None else [(r, min(r + tile_rows, h_code)) for r in range(0, h_code, tile_rows)]
    )
    halo = decoder_halo(vha)

    maps = vha.defuse(code)  # (B, J, C, h, w): small, and the only step that mixes joints
    found = []
    for b in range(code.shape[0]):
        for j0 in range(0, joints, joints_per_chunk):
            chunk = maps[b, j0 : j0 + joints_per_chunk]
            for r0, r1 in tiles:
                core0, core1 = r0 * s, min(r1 * s, height)  # voxel rows this tile reports
                if core0 >= core1:
                    continue
                c0, c1 = (r0, r1) if tile_rows is None else (max(r0 - halo, 0), min(r1 + halo, h_code))
                vol = vha.decode_maps(chunk[..., c0:c1, :])
                lo, hi = max(core0 - 1, 0), min(core1 + 1, height)  # one row each side for the neighbour test
                vol = vol[:, :, lo - c0 * s : hi - c0 * s, :width]
                p = find_peaks(
                    vol, threshold=threshold, connectivity=connectivity, ties=ties, refine=refine, backend=backend
                )
                del vol
                v = p.index[:, 1] + lo
                keep = (v >= core0) & (v < core1)
                index = torch.stack((p.index[:, 0], v, p.index[:, 2]), 1)[keep]
                position = p.position[keep]
                if lo:
                    position = position + torch.tensor([0.0, float(lo), 0.0], device=position.device)
                found.append((p.joint[keep] + j0 + b * joints, index, position, p.score[keep]))

    channel, index, position, score = (torch.cat(t) for t in zip(*found))
    flat = ((channel * depth + index[:, 0]) * height + index[:, 1]) * width + index[:, 2]
    order = _sort(channel, flat, score)
    channel = channel[order]
    return Peaks(
        batch=channel // joints,
        joint=channel % joints,
        index=index[order],
        position=position[order],
        score=score[order],
    )
