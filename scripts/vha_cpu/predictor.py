"""Code Predictor (light, 270x480) against the codes of the depth-tied VHA; the tied encoder computes e(H) (the same
function as the exported VHA's, tests/test_tied.py) at a fraction of the cost on a CPU."""
import sys, os, torch
import loco.training.predictor as P
from loco.models import VHA
from loco.training import PredictorConfig
from loco.training.tied import load_tied
from loco.training.trainer import load_checkpoint
out, vha_dir, tied_pt, steps, threads = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), int(sys.argv[5])
tied = load_tied(tied_pt)
for p in tied.parameters(): p.requires_grad_(False)
orig = VHA.from_pretrained
def from_pretrained(name, device=None):
    v = orig(name, device)
    v.encode = tied.encode
    return v
VHA.from_pretrained = from_pretrained
P.VHA.from_pretrained = from_pretrained
if os.path.exists(out + "/last.pt"):
    cfg = load_checkpoint(out)["config"].replace(steps=steps)
    P.train_predictor(cfg, resume=out)
else:
    cfg = PredictorConfig(out=out, vha=vha_dir, backbone="light", image_size=(270, 480), steps=steps,
                          batch_size=4, lr=1e-3, warmup=50, decay_from=0.6, weight_decay=1e-4,
                          val_every=300, val_frames=8, log_every=20, ckpt_minutes=3, progress=False, threads=threads, workers=0,
                          code_weight=10.0)
    P.train_predictor(cfg)
