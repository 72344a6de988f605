import sys, time, json, numpy as np, torch
from safetensors.torch import save_file
from loco.training.tied import TiedVHA
from loco.training.sampler import HeatmapSampler
from loco.training.vha import FrameCache, _render_crop, vha_peak_f1, _summary, VOXEL_THRESHOLDS
from loco.metrics import DetectionMeter
torch.manual_seed(0)
crop = int(sys.argv[1]); steps = int(sys.argv[2]); lr = float(sys.argv[3]); bs = int(sys.argv[4]); out = sys.argv[5]
fgw = float(sys.argv[6]) if len(sys.argv) > 6 else 0.0
torch.set_num_threads(2)
sampler = HeatmapSampler("jta", (1080, 1920), (crop, crop), 0.9, True)
cache = FrameCache(sampler, 123)
model = TiedVHA(2)
from loco.training.vha import lsuv_init
model.hidden_slope, model.output_slope = 0.1, 0.01
stage = sys.argv[7]
if stage == 'A':
    model.identity_init()
if stage == 'B':
    lsuv_init(model, sampler.sample(np.random.default_rng(7), batch_size=2))
fwd = (lambda v: model.unfeatures(model.features(v), v.shape[-2:])) if stage == 'A' else model
opt = torch.optim.Adam(model.parameters(), lr=lr)
val = HeatmapSampler("jta", (1080, 1920), (48, 48), 1.0, True)
def validate():
    hs, os_ = model.hidden_slope, model.output_slope
    model.hidden_slope = model.output_slope = 0.0
    meter = DetectionMeter(VOXEL_THRESHOLDS)
    with torch.no_grad():
        for i in range(6):
            rng = np.random.default_rng([10000, 2, i])
            c, j = val.frame(np.random.default_rng([10000, 1, i]))
            vol = _render_crop(val, rng, [(c, j)], 2.0, "cpu")
            vha_peak_f1(fwd, vol, meter)
    model.hidden_slope, model.output_slope = hs, os_
    return _summary(meter)
t0 = time.time(); ema = None
for step in range(steps + 1):
    rng = np.random.default_rng([0, step])
    vols = torch.cat([_render_crop(sampler, rng, [cache((step * bs + b) // 4)], 2.0, "cpu") for b in range(bs)])
    for g in opt.param_groups: g["lr"] = lr * min(1.0, (step + 1) / 50)
    recon = fwd(vols)
    err = (recon - vols) ** 2
    if fgw: err = err * (1 + fgw * vols)
    loss = err.mean() * 1000
    opt.zero_grad(); loss.backward(); opt.step()
    if ema is None: ema = [0.0, 0.0]
    ema[0] += float(((recon.detach() - vols) ** 2).sum()); ema[1] += float((vols ** 2).sum())
    if step % 25 == 0:
        print(step, round(time.time() - t0), f"rel {ema[0]/max(ema[1],1e-9):.4f} outmax {float(recon.detach().max()):.3f}", flush=True); ema = None
    if step % 100 == 0 and step:
        print("VAL", step, validate(), flush=True)
        save_file(model.state_dict(), out)
