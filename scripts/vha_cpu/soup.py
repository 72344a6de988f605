"""Weight averaging ("model soup") of CoarseVHAs fine-tuned from one another, scored by Table 2 on frames that are
not Table 2's.

    python scripts/vha_cpu/soup.py OUT CKPT [CKPT ...]             # the uniform mean, to OUT/coarse.safetensors
    python scripts/vha_cpu/soup.py --score FRAMES SEED SPEC [SPEC ...]  # F1 at 0/1/2 voxels (1080x1920) of each

A SPEC is one CKPT or several joined by ``+`` (their mean).

Each CKPT is what :func:`loco.training.coarse.load_coarse` takes (a run folder, a coarse file, a bundled name); all
must share one configuration (version, kernel sizes). The stages after YA continued one another at a small learning
rate from one point, so their weights lie in one basin, where the mean of several is often better than each
(Wortsman et al., "Model soups", ICML 2022). ``--score`` runs :func:`loco.training.windows.evaluate_coarse` on
``FRAMES`` held-out frames of seed ``SEED``: pick the soup on a seed other than Table 2's 10000, then report Table 2
with ``table2.py OUT``.
"""

import json
import sys
import time
from pathlib import Path

import torch

from loco.training.coarse import load_coarse
from loco.training.windows import evaluate_coarse

torch.set_num_threads(2)


def average(specs: list[str]):
    models = [load_coarse(s) for s in specs]
    configs = {json.dumps(m.config, sort_keys=True) for m in models}
    if len(configs) != 1:
        raise ValueError(f"the checkpoints {specs} have different configurations: {sorted(configs)}")
    soup = models[0]
    state = {k: torch.stack([m.state_dict()[k].float() for m in models]).mean(0) for k in soup.state_dict()}
    soup.load_state_dict(state)
    return soup


if len(sys.argv) < 3 or (sys.argv[1] == "--score" and len(sys.argv) < 5):
    sys.exit(__doc__)
if sys.argv[1] == "--score":
    frames, seed = int(sys.argv[2]), int(sys.argv[3])
    for spec in sys.argv[4:]:
        t = time.perf_counter()
        r = evaluate_coarse(average(spec.split("+")), frames, seed=seed)
        f1 = " / ".join(f"{r[f'f1@{k}']:.2f}" for k in (0, 1, 2))
        print(f"{spec}: F1 {f1} ({frames} frames, seed {seed}, {time.perf_counter() - t:.0f} s)", flush=True)
else:
    out = Path(sys.argv[1])
    out.mkdir(parents=True, exist_ok=True)
    average(sys.argv[2:]).save(out / "coarse.safetensors", {"soup": " + ".join(sys.argv[2:])})
    print(f"wrote {out / 'coarse.safetensors'}: the mean of {len(sys.argv) - 2} CoarseVHAs")
