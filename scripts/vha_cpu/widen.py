"""A CoarseVHA with wider depth kernels that computes the same function: the old kernels zero-padded in depth.

    python scripts/vha_cpu/widen.py SRC OUT KERNEL FIRST_PAD   # e.g. widen.py vha2 runs/v2wide9 9 10

SRC is what :func:`loco.training.coarse.load_coarse` takes (a run folder, a coarse file, a bundled name); OUT is a
folder that gets ``coarse.safetensors`` (a run folder for ``--init``). ``KERNEL`` (odd, at least the old one) is the
depth extent in code positions of the per-joint layers after the first; ``FIRST_PAD`` (at least the old one) sets the
first layer's span of ``2 * FIRST_PAD + S`` fine bins.

Why: the block-Toeplitz convolutions of the windows recipe are dense over a window's depth, so a wider tied kernel
costs the training nothing, while the exported VHA (the paper's, untied) connects every depth channel to every other.
With the bundled kernels (5 code positions, 20 bins for v2) each code position of a joint sees only its depth
neighbourhood; widening lets the per-joint layers read, and write, further along depth. Checked here: the widened
network's output on a window of Gaussian blobs equals the source's to float rounding
(:meth:`~loco.training.coarse.CoarseVHA.widened`).
"""

import sys
from pathlib import Path

import torch

from loco.training.coarse import load_coarse


def main(argv: list[str]) -> None:
    if len(argv) != 4:
        sys.exit(__doc__)
    src_spec, out_dir, kernel, first_pad = argv[0], Path(argv[1]), int(argv[2]), int(argv[3])
    src = load_coarse(src_spec).eval()
    wide = src.widened(kernel, first_pad).eval()
    g = torch.Generator().manual_seed(0)
    vol = torch.zeros(1, src.joints, src.S * 20, 48, 48)
    zz, yy, xx = torch.meshgrid(torch.arange(vol.shape[2]), torch.arange(48), torch.arange(48), indexing="ij")
    for _ in range(30):  # a few Gaussian blobs
        j, d, y, x = (int(torch.randint(0, n, (1,), generator=g)) for n in (src.joints, vol.shape[2], 48, 48))
        blob = torch.exp(-((zz - d) ** 2 + (yy - y) ** 2 + (xx - x) ** 2) / 8.0)
        vol[0, j] = torch.maximum(vol[0, j], blob)
    with torch.no_grad():
        a, b = src(vol), wide(vol)
    err = float((a - b).abs().max())
    print(f"max |widened - source| on a 20-position window: {err:.2e} (output max {float(a.max()):.3f})")
    if err > 1e-4:
        raise SystemExit("the widened network does not compute the source's function")
    out_dir.mkdir(parents=True, exist_ok=True)
    wide.save(out_dir / "coarse.safetensors", {"widened_from": src_spec})
    print(
        f"wrote {out_dir / 'coarse.safetensors'}: kernel {src.kernel} -> {kernel}, first_pad {src.first_pad} -> {first_pad}"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
