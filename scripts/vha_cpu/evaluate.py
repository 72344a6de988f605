"""Paper Table 2 for a tied checkpoint: F1 at 0/1/2 voxels on held-out synthetic JTA-preset frames (seed 10000).

    python scripts/vha_cpu/evaluate.py CKPT [FRAMES]      # CKPT: a .safetensors file or a name, e.g. C3_300

Evaluates the exported ``VHA`` (``TiedVHA.to_vha()``, float32) on FRAMES full 1080x1920 frames (grid 316x135x240)
and on 4*FRAMES full 270x480 frames (grid 316x34x60, the pipeline's), with ``loco.training.vha.evaluate_vha``.
"""
import json, sys, time
import torch
from loco.training.tied import load_tied
from loco.training.vha import evaluate_vha

torch.set_num_threads(2)
ckpt, frames = sys.argv[1], int(sys.argv[2]) if len(sys.argv) > 2 else 4
vha = load_tied(ckpt).to_vha().eval()
out = {"checkpoint": ckpt}
for label, size, n in (("jta_1080x1920", (1080, 1920), frames), ("pipeline_270x480", (270, 480), 4 * frames)):
    t = time.perf_counter()
    out[label] = evaluate_vha(vha, n, image_size=size, seed=10_000, progress=True)
    out[label]["seconds"] = round(time.perf_counter() - t, 1)
    print(label, out[label], flush=True)
print(json.dumps(out, indent=2))
