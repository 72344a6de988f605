"""The pipeline's decoder fine-tuned on the codes its Code Predictor actually predicts, on a CPU.

    python scripts/vha_cpu/decoder_on_predicted.py OUT_DIR STEPS [LR=1e-4] [FP_WEIGHT=1] [BATCH=4] [FRESH=1]

The bundled pipeline decodes the code of ``code_predictor_light`` with ``vha2_c3`` (the tied checkpoint ``C3_300``),
whose decoder was trained on exact codes only. Here the encoder and fuser of ``C3_300`` stay frozen (so the code a
volume maps to, which the predictor regresses, is unchanged) and the defuser and decoder kernels of its CoarseVHA
(:func:`loco.training.coarse.from_tied`) learn to turn the *predicted* code of a whole 270x480 frame (grid 316x34x60)
into the frame's target heatmaps, with the windows recipe's loss (:func:`loco.training.windows.window_losses`: MSE,
target peaks, false peaks at FP_WEIGHT). Each frame is decoded on a depth window of PW (env, default 20) code
positions around one of its joints, the whole frame in H' and W' (a full-depth step cost ~5 s for 2 frames); the 12
bins at the window's inner depth edges, which see zeros where the whole volume has code, are not scored.

Frames come from ``SyntheticScenes`` seed 30000 (the predictor trained on seed 0, the evaluation uses 10000 and the
threshold tuning 20000), so the codes carry the predictor's held-out errors. Each step makes FRESH new frames (half of
them flipped; the predicted code, no grad) into a replay buffer and trains on them plus BATCH - FRESH frames drawn from
it; the target volume is rendered from the frame's joints each time. The decoder runs with 3-D convolutions
(:meth:`CoarseVHA.unfeatures3d`), the hidden layers as plain ReLUs and the output leaky (0.01), as the windows recipe.

With ``INIT`` (env; a CoarseVHA spec for :func:`loco.training.coarse.load_coarse`, e.g. ``vha2_c3p``) the defuser and
decoder start from that checkpoint instead of ``C3_300``'s; its encoder and fuser must be ``C3_300``'s (checked), so
the predicted code still means the same. ``FRAME_OFFSET`` (env, default 0) shifts the frames of seed 30000 a step
takes (frame ``step * FRESH + f + FRAME_OFFSET``), so a continuation sees new ones.

Writes OUT_DIR/state.pt (model, optimiser, step; resumed when present; the buffer is not saved) and
OUT_DIR/coarse.safetensors every 100 steps, and every 250 steps the F1 at 0.4/0.8/1.2 m of decode(predicted code) on
the predictor's 8 validation frames (seed 10000; :func:`loco.training.predictor.evaluate_codes`, as
``predictor_replay.py`` reports). The whole pipeline with the result: ``python -m loco.training.report pipeline
--frames 32 --vha OUT_DIR``.
"""

import json
import os
import sys
import time

import numpy as np
import replay
import torch

import loco.training.predictor as P
from loco import ops
from loco.models import CodePredictor
from loco.training import PredictorConfig, VHAConfig
from loco.training.coarse import from_tied, load_coarse
from loco.training.tied import load_tied
from loco.training.windows import window_losses

out, steps = sys.argv[1], int(sys.argv[2])
LR = float(sys.argv[3]) if len(sys.argv) > 3 else 1e-4
FP = float(sys.argv[4]) if len(sys.argv) > 4 else 1.0
B = int(sys.argv[5]) if len(sys.argv) > 5 else 4
FRESH = int(sys.argv[6]) if len(sys.argv) > 6 else 1
TRAIN_SEED, CAP = 30_000, 4000
PW, MARGIN = int(os.environ.get("PW", "20")), 12  # depth window (code positions) and unscored bins at its inner edges
torch.set_num_threads(int(os.environ.get("THREADS", "2")))
os.makedirs(out, exist_ok=True)

predictor = CodePredictor.from_pretrained("code_predictor_light").float().eval().requires_grad_(False)
INIT, OFFSET = os.environ.get("INIT", ""), int(os.environ.get("FRAME_OFFSET", "0"))
if OFFSET < 0:
    raise SystemExit(f"FRAME_OFFSET must be >= 0, got {OFFSET}")
coarse = from_tied(load_tied("C3_300"))
trainable = [*coarse.defuser.parameters()] + [coarse.weights[n] for n in ("d1", "d2", "d3")]
trainable += [coarse.biases[n] for n in ("d1", "d2", "d3")]
if INIT:  # every parameter that does not train (the encoder and the fuser) must be C3_300's
    start_from = load_coarse(INIT)
    trains = {id(p) for p in trainable}
    frozen = [(n, p) for n, p in coarse.named_parameters() if id(p) not in trains]
    theirs = dict(start_from.named_parameters())
    if not frozen or any(not torch.equal(p, theirs[n]) for n, p in frozen):
        raise SystemExit(f"INIT {INIT}: its encoder and fuser are not C3_300's, so its code is not the predictor's")
    coarse.load_state_dict(start_from.state_dict())  # in place: ``trainable`` still holds the model's parameters
coarse.requires_grad_(False)
for p in trainable:
    p.requires_grad_(True)
coarse.hidden_slope, coarse.output_slope = 0.0, 0.01
loss_cfg = VHAConfig(fp_weight=FP)
cfg = PredictorConfig(out=out, vha="tied", backbone="light", image_size=(270, 480), batch_size=1)
src = P.FrameDataset(cfg, seed=TRAIN_SEED, augment=False)
val_set = P.FrameDataset(cfg, seed=cfg.val_seed, augment=False)
grid = src.grid
size = (grid.height, grid.width)
S, P_ALL = coarse.S, coarse.P

opt = torch.optim.Adam(trainable, lr=LR)
start = replay.resume(out, coarse, opt)
buffer: list = []
rng = np.random.default_rng([8, start] if OFFSET == 0 else [8, start, OFFSET])


def fresh(k: int):
    image, centers, joints = replay.frame(src, k + OFFSET, rng)
    with torch.no_grad():
        code = predictor(P.normalize(image[None].float())).clamp_min(0)
    return code, centers, joints


def validate():
    hidden, output = coarse.hidden_slope, coarse.output_slope
    coarse.hidden_slope = coarse.output_slope = 0.0
    vha = coarse.to_vha().eval()
    coarse.hidden_slope, coarse.output_slope = hidden, output
    vha.encode = coarse.encode3d  # the same function, cheaper (the target code of evaluate_codes' MSE)
    with torch.no_grad():
        return P.evaluate_codes(predictor, vha, val_set, 8)


if start == 0:
    print(json.dumps({"step": 0, "val": validate()}), flush=True)
t0, acc, n_acc = time.time(), {}, 0
for step in range(start + 1, steps + 1):
    picks = replay.step_picks(buffer, fresh, step, FRESH, B, CAP, rng)
    codes, vols, valid = [], [], []
    for i in picks:
        code, centers, joints = buffer[i]
        # a depth window of PW code positions (S * PW bins) around a random joint of the frame, whole frame in H', W'
        c = int(centers[int(rng.integers(len(centers))), 0]) // S if len(centers) else int(rng.integers(P_ALL))
        p0 = min(max(c - PW // 2, 0), P_ALL - PW)
        codes.append(code[:, :, p0 : p0 + PW])
        vol = ops.render_heatmaps(centers, joints, grid, sigma=cfg.sigma, snap=cfg.snap)
        vols.append(vol[:, :, S * p0 : S * (p0 + PW)])
        v = torch.ones_like(vols[-1][:, :1])
        if p0 > 0:  # the window's inner depth edges see zeros where the whole volume has code: not scored
            v[:, :, :MARGIN] = 0
        if p0 + PW < P_ALL:
            v[:, :, -MARGIN:] = 0
        valid.append(v)
    code, vol, valid = torch.cat(codes), torch.cat(vols), torch.cat(valid)
    lr = LR * min(1.0, step / 50) * (0.2 if step > 0.8 * steps else 1.0)
    for g in opt.param_groups:
        g["lr"] = lr
    pred = coarse.unfeatures3d(coarse.defuse(code), size)
    terms = window_losses(pred, vol, None, loss_cfg, valid)
    loss = terms.pop("loss")
    opt.zero_grad()
    loss.backward()
    norm = float(torch.nn.utils.clip_grad_norm_(trainable, 30.0))
    if not np.isfinite(norm):
        raise SystemExit(f"non-finite gradient at step {step}")
    opt.step()
    for k, v in terms.items():
        acc[k] = acc.get(k, 0.0) + float(v)
    n_acc += 1
    if step % 25 == 0:
        row = {k: round(v / n_acc, 4) for k, v in acc.items()}
        print(json.dumps({"step": step, "s": round(time.time() - t0), "buffer": len(buffer)} | row), flush=True)
        acc, n_acc = {}, 0
    if step % 100 == 0 or step == steps:
        replay.save(out, coarse, opt, step)
        coarse.save(f"{out}/coarse.safetensors", {"step": step})
    if step % 250 == 0 or step == steps:
        print(json.dumps({"step": step, "val": validate()}), flush=True)
