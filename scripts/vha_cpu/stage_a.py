import sys, time, json, numpy as np, torch
from safetensors.torch import save_file
from loco.training.tied import load_tied
from loco.training.sampler import HeatmapSampler
from loco.training.vha import FrameCache, _render_crop, vha_peak_f1, _summary, VOXEL_THRESHOLDS
from loco.metrics import DetectionMeter
torch.manual_seed(0)
init, steps, lr, K, Dc, out = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5]), sys.argv[6]
torch.set_num_threads(2)
sampler = HeatmapSampler("jta", (1080, 1920), (32, 32), 0.95, True)
cache = FrameCache(sampler, 555)
model = load_tied(init).train()
model.hidden_slope, model.output_slope = 0.05, 0.01
fwd = lambda v: model.unfeatures(model.features(v), v.shape[-2:])
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
def windows(step):
    rng = np.random.default_rng([2, step])
    out = []
    k = -1
    while len(out) < K:
        k += 1
        v = _render_crop(sampler, rng, [cache((step * K + k) // 4)], 2.0, "cpu")[0]  # (14, 316, h, w)
        prof = v.amax(dim=(2, 3))
        jj, dd = torch.nonzero(prof > 0.9, as_tuple=True)
        if len(jj) == 0:
            continue
        q = int(rng.integers(len(jj)))
        d0 = int(np.clip(int(dd[q]) - Dc // 2 + int(rng.integers(-Dc // 4, Dc // 4 + 1)), 0, 316 - Dc))
        w = v[:, d0:d0 + Dc]
        keep = w.amax(dim=(1, 2, 3)) > 0.05
        out.append(w[keep])
    return torch.cat(out)[None]  # (1, N, Dc, h, w)
t0 = time.time(); acc = None
for step in range(steps + 1):
    vols = windows(step)
    for g in opt.param_groups: g["lr"] = lr * (0.2 if step > 0.75 * steps else 1.0)
    recon = fwd(vols)
    err = (recon - vols) ** 2
    loss = err.mean() * 1000
    opt.zero_grad(); loss.backward(); opt.step()
    if acc is None: acc = [0.0, 0.0, 0]
    acc[0] += float(err.detach().sum()); acc[1] += float((vols ** 2).sum()); acc[2] += vols.shape[1]
    if step % 25 == 0:
        print(step, round(time.time() - t0), f"rel {acc[0]/max(acc[1],1e-9):.4f} n {acc[2]}", flush=True); acc = None
    if step % 150 == 0 and step:
        print("VAL", step, validate(), flush=True)
        save_file(model.state_dict(), out)
