"""How a VHA v2's decoder takes errors in its code: the pipeline's question when a Code Predictor is paired with it.

    python scripts/vha_cpu/code_errors.py [FRAMES=8] [VHA ...]

For each VHA (a CoarseVHA file such as ``runs/v2YK/coarse.safetensors``, a bundled coarse name such as ``vha2``, or a
TiedVHA checkpoint such as ``C3_300``) the exact code of FRAMES held-out 270x480 frames (the Code Predictor's
validation frames, seed 10000) is perturbed the ways a regressor errs and decoded; the detection F1 at 0.4/0.8/1.2 m
is that of :func:`loco.training.predictor.evaluate_codes` (decode, peaks above 0.1, back-projection, JTA matching per
frame, averaged over frames, so an empty frame with no detection scores 100). Perturbations: ``exact``; ``shrinkA``
(the code pulled towards the code of an empty volume: ``empty + A * (code - empty)``); ``noiseS`` (Gaussian noise of
S times the code's standard deviation, generator seed 0); ``blur3`` (a 3x3 spatial mean of the code). ``code_mse`` is
the perturbation's mean squared error; ``signal`` is the mean of ``(code - empty) ** 2`` over the frames, the part of
the code a predictor must learn from the image.
"""

import json
import sys

import torch
import torch.nn.functional as F

import loco.training.predictor as P
from loco.training import PredictorConfig
from loco.training.coarse import load_frozen_vha

torch.set_num_threads(1)
frames = int(sys.argv[1]) if len(sys.argv) > 1 else 8
names = sys.argv[2:] or ["vha2", "C3_300"]
cfg = PredictorConfig(out="/tmp/code_errors", vha="tied", backbone="light", image_size=(270, 480), batch_size=1)
val = P.FrameDataset(cfg, seed=cfg.val_seed, augment=False)
grid = val.grid


class Perturbed:
    """Stands in for a Code Predictor: returns the exact code of the frame it is called for (frames come in order,
    as :func:`~loco.training.predictor.evaluate_codes` asks for them), perturbed."""

    def __init__(self, codes, empty, fn):
        self.codes, self.empty, self.fn, self.i = codes, empty, fn, 0

    def __call__(self, _image):
        self.i += 1
        return self.fn(self.codes[self.i - 1], self.empty)


def perturbations(gen):
    return {
        "exact": lambda c, e: c,
        "shrink0.8": lambda c, e: e + 0.8 * (c - e),
        "shrink0.6": lambda c, e: e + 0.6 * (c - e),
        "noise0.2": lambda c, e: c + 0.2 * c.std() * torch.randn(c.shape, generator=gen),
        "noise0.4": lambda c, e: c + 0.4 * c.std() * torch.randn(c.shape, generator=gen),
        "blur3": lambda c, e: F.avg_pool3d(c, (1, 3, 3), 1, (0, 1, 1), count_include_pad=False),
    }


out = {}
with torch.no_grad():
    for name in names:
        vha = load_frozen_vha(name)
        empty = vha.encode(torch.zeros(1, 14, 316, grid.height, grid.width))
        # the exact codes once: every perturbation starts from them
        codes = [P.render_codes(vha, [val.item(i, 0)[:3]], grid, cfg.sigma, cfg.snap, "cpu") for i in range(frames)]
        out[name] = {"signal": sum(float(((c - empty) ** 2).mean()) for c in codes) / frames}
        for kind, fn in perturbations(torch.Generator().manual_seed(0)).items():
            r = P.evaluate_codes(Perturbed(codes, empty, fn), vha, val, frames)
            out[name][kind] = {k: r[k] for k in ("f1@0.4", "f1@0.8", "f1@1.2", "code_mse")}
            print(name, kind, out[name][kind], flush=True)
print(json.dumps(out, indent=1))
