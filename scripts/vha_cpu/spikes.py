"""Where the windows recipe's gradient spikes come from: per step, the global gradient norm of each loss term
(squared error, peak, false peak, ridge, empty volume) of a CoarseVHA on the batches of a run's configuration, with
the batch's number of target peaks ``n`` (the peak and false-peak terms are divided by it).

    python scripts/vha_cpu/spikes.py RUN [STEPS=200] [FIRST=0] [THREADS=1]

RUN is a run folder (its ``config.json`` gives the recipe and seed; its ``coarse.safetensors`` the weights). The
batches are those of steps ``FIRST .. FIRST + STEPS - 1`` of that configuration (:meth:`WindowSampler.batch` depends
on ``(seed, step)`` only). Prints one line per step, then the total norm's median and maximum by range of ``n`` and
each term's. The code's hidden slope is taken as 0: every v2 windows stage from W on ran with ``--leaky-code 0``.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch

from loco.training.coarse import load_coarse
from loco.training.config import VHAConfig
from loco.training.windows import EMPTY_EVERY, WindowSampler, empty_loss, window_losses

run = Path(sys.argv[1])
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 200
first = int(sys.argv[3]) if len(sys.argv) > 3 else 0
torch.set_num_threads(int(sys.argv[4]) if len(sys.argv) > 4 else 1)
config = VHAConfig.from_dict(json.loads((run / "config.json").read_text()))
model = load_coarse(run)
model.hidden_slope, model.output_slope = 0.0, config.leaky_output
sampler = WindowSampler(config, model)
params = list(model.parameters())
TERMS = ("mse", "peak", "fp", "ridge")


def grad_of(loss: torch.Tensor) -> torch.Tensor:
    grads = torch.autograd.grad(loss, params, retain_graph=True, allow_unused=True)
    return torch.cat([(g if g is not None else torch.zeros_like(p)).flatten() for g, p in zip(grads, params)])


def norm(g: torch.Tensor) -> float:
    return float(torch.linalg.vector_norm(g))


rows = []
for step in range(first, first + steps):
    vol, inside, boxes, valid, _ = sampler.batch(step, 0, "cpu")
    out = model(vol) if boxes is None else model(vol, boxes)
    # window_losses writes one gradient for all its terms: a term's own is the gradient with only that term's
    # weight (and the squared error) minus the gradient with the squared error alone
    alone = {"peak_weight": 0.0, "fp_weight": 0.0, "ridge_weight": 0.0}
    base = window_losses(out, vol, inside, VHAConfig.from_dict(config.to_dict() | alone), valid)
    g_mse = grad_of(base["loss"])
    row = {"step": step, "n": base["peaks"], "mse": norm(g_mse)}
    # the loss is the weighted sum of its terms (window_losses), so its gradient is the sum of theirs
    g = g_mse
    for term in TERMS[1:]:
        weight = getattr(config, f"{term}_weight")
        if weight > 0:
            cfg = VHAConfig.from_dict(config.to_dict() | alone | {f"{term}_weight": weight})
            g_term = grad_of(window_losses(out, vol, inside, cfg, valid)["loss"]) - g_mse
            row[term], g = norm(g_term), g + g_term
    if config.empty_weight > 0 and step % EMPTY_EVERY == 0:
        g_empty = grad_of(config.empty_weight * empty_loss(model, step, config))
        row["empty"], g = norm(g_empty), g + g_empty
    row["total"] = norm(g)
    rows.append(row)
    print(json.dumps({k: round(v, 2) if isinstance(v, float) else v for k, v in row.items()}), flush=True)

total = np.array([r["total"] for r in rows])
n = np.array([r["n"] for r in rows])
print(f"\n{len(rows)} steps: total gradient norm median {np.median(total):.1f}, max {total.max():.1f}")
for lo, hi in ((0, 10), (10, 40), (40, 100), (100, 10**6)):
    m = (n >= lo) & (n < hi)
    if m.any():
        print(f"  n in [{lo}, {hi}): {m.sum()} steps, median {np.median(total[m]):.1f}, max {total[m].max():.1f}")
for term in (*TERMS, "empty"):
    v = np.array([r[term] for r in rows if term in r])
    if len(v):
        print(f"  {term:6s} alone: median {np.median(v):.1f}, max {v.max():.1f}")
