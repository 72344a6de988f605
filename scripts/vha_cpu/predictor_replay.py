"""Code Predictor (light backbone, 270x480) against the code of a depth-tied VHA, on a CPU, with a replay buffer.

    python scripts/vha_cpu/predictor_replay.py OUT_DIR TIED STEPS [BATCH=6] [FRESH=1] [LR=1e-3]

TIED is a TiedVHA checkpoint (name or path) or a CoarseVHA (a ``--recipe windows`` run folder or its
``coarse.safetensors``, or a bundled name such as ``vha2``), loaded by :func:`loco.training.coarse.load_frozen_vha`: the
code is the checkpoint's own encoder's, the exported VHA's code. ``INIT=WEIGHTS`` (env) starts the
predictor from a bundled name or folder (e.g. ``code_predictor_light``) instead of from scratch.

A step of `loco train predictor` on this 2-core CPU costs ~2.5 s for 4 frames: ~0.9 s making the synthetic images,
~1.0 s encoding their full 316x34x60 volumes and ~0.45 s for the network. Here each step makes FRESH new frames
(image, flip, heatmaps, code of the frozen tied encoder ``TIED``), keeps them in a buffer, and trains on them plus
BATCH - FRESH frames drawn from the buffer with fresh colour augmentation: ~1.4 s per step of 6, every frame seen
about BATCH/FRESH times. The loss is the MSE against the code, with weight 11 on cells that differ from the code of
an empty volume by more than 0.05 (the people); the head's bias starts at that empty code.

Writes OUT_DIR/state.pt (model + optimiser + step; resumed when present; the buffer is not saved) every 250 steps,
OUT_DIR/predictor_<step>.safetensors every 500, and validation on 8 held-out frames (seed 10000; decode with the
exported VHA, peaks, F1 at 0.4/0.8/1.2 m, :func:`loco.training.predictor.evaluate_codes`).
"""

import json
import os
import sys
import time

import numpy as np
import replay
import torch
from safetensors.torch import save_file

import loco.training.predictor as P
from loco.models import CodePredictor
from loco.training import PredictorConfig
from loco.training.coarse import load_frozen_vha

out, tied_name, steps = sys.argv[1], sys.argv[2], int(sys.argv[3])
B = int(sys.argv[4]) if len(sys.argv) > 4 else 6
FRESH = int(sys.argv[5]) if len(sys.argv) > 5 else 1
LR = float(sys.argv[6]) if len(sys.argv) > 6 else 1e-3
CAP = 8000
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
os.makedirs(out, exist_ok=True)

vha = load_frozen_vha(tied_name)  # its encode is the checkpoint's own, the same function and 3x cheaper here
cfg = PredictorConfig(out=out, vha="tied", backbone="light", image_size=(270, 480), batch_size=1)
src = P.FrameDataset(cfg, augment=False)
val_set = P.FrameDataset(cfg, seed=cfg.val_seed, augment=False)
grid = src.grid
with torch.no_grad():
    empty = vha.encode(torch.zeros(1, 14, 316, grid.height, grid.width))[0]  # (1, C, h, w)

torch.manual_seed(0)
model = CodePredictor(backbone="light", vha_version=2, depth_bins=316)
with torch.no_grad():
    model.main[-1].bias.copy_(empty[0].mean(dim=(1, 2)))
if os.environ.get("INIT"):
    model.load_state_dict(CodePredictor.from_pretrained(os.environ["INIT"]).float().state_dict())
opt = torch.optim.Adam(model.parameters(), lr=LR, weight_decay=0.0)
start = replay.resume(out, model, opt)

buffer: list = []
rng = np.random.default_rng([7, start])


def fresh(k: int):
    image, centers, joints = replay.frame(src, k, rng)
    return image, P.render_codes(vha, [(image, centers, joints)], grid, cfg.sigma, cfg.snap, "cpu")[0]


def validate():
    model.eval()
    r = P.evaluate_codes(model, vha, val_set, 8)
    model.train()
    return r


t0, acc, n_acc = time.time(), 0.0, 0
model.train()
for step in range(start + 1, steps + 1):
    picks = replay.step_picks(buffer, fresh, step, FRESH, B, CAP, rng)
    images = torch.stack([P.augment_image(buffer[i][0], rng) for i in picks])
    codes = torch.stack([buffer[i][1] for i in picks])
    lr = LR * min(1.0, step / 100) * (0.2 if step > 0.8 * steps else 1.0)
    for g in opt.param_groups:
        g["lr"] = lr
    pred = model(P.normalize_float(images)).float()
    weight = 1.0 + 10.0 * ((codes - empty).abs() > 0.05).float()
    loss = (((pred - codes) ** 2) * weight).mean() * 100.0
    opt.zero_grad()
    loss.backward()
    opt.step()
    acc += float(loss.detach())
    n_acc += 1
    if step % 25 == 0:
        print(json.dumps({"step": step, "loss": round(acc / n_acc, 3), "s": round(time.time() - t0), "buffer": len(buffer)}), flush=True)
        acc, n_acc = 0.0, 0
    if step % 250 == 0:
        replay.save(out, model, opt, step)
    if step % 500 == 0 or step == steps:
        save_file(model.state_dict(), f"{out}/predictor_{step}.safetensors")
        print(json.dumps({"step": step, "val": validate()}), flush=True)
