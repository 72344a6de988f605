import sys, time, json, numpy as np, torch
from safetensors.torch import save_file
from torch import nn
from loco.training.tied import load_tied
from loco.training.sampler import HeatmapSampler
from loco.training.vha import FrameCache, _render_crop, vha_peak_f1, _summary, VOXEL_THRESHOLDS
from loco.metrics import DetectionMeter
torch.manual_seed(0)
init, stage, steps, lr, crop, K, Dc, out = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4]), int(sys.argv[5]), int(sys.argv[6]), int(sys.argv[7]), sys.argv[8]
import os; torch.set_num_threads(int(os.environ.get("THREADS", "2")))
sampler = HeatmapSampler("jta", (1080, 1920), (32, crop), 0.95, True)
cache = FrameCache(sampler, 777 if stage == "B" else 999)
small = HeatmapSampler("jta", (270, 480), (32, crop), 0.95, True)
cache_small = FrameCache(small, 1777 if stage == "B" else 1999)
model = load_tied(init).train()
model.hidden_slope, model.output_slope = 0.0, 0.01
if stage in ("B", "C0"):
    with torch.no_grad():
        # the encoder's maps sit on a constant background: the fuser removes it, the defuser puts it back
        bg = float(model.features(torch.zeros(1, 1, 48, 32, 32))[..., 4:-4, 2:-2, 2:-2].median())
        print("background", bg)
        # fuser/defuser start in the linear regime of their ReLUs (positive biases), the output at the background
        torch.manual_seed(1)
        for seq in (model.fuser, model.defuser):
            for c in [m for m in seq if isinstance(m, nn.Conv3d)]:
                nn.init.kaiming_normal_(c.weight, nonlinearity="relu"); c.weight.mul_(0.3); c.bias.fill_(1.0)
        last = model.defuser[2]
        last.weight.mul_(0.1); last.bias.fill_(bg)
        if "matched" in sys.argv[9:]:
            # a linear code by construction: joint j enters the code through a random 5x5x5 pattern f_j (the sum of
            # its 4 fuser kernels), around a code level of 1; the defuser reads joint j back with the matched filter
            # flip(f_j) / |f_j|^2 and puts the background back
            f1, f2, d1, d2 = model.fuser[0], model.fuser[2], model.defuser[0], model.defuser[2]
            P = torch.randn(4, model.joints, 5, 5, 5)
            f = P.sum(0)  # (J, 5, 5, 5)
            f1.weight.copy_(P); f1.bias.copy_(1.0 - bg * P.sum(dim=(2, 3, 4)).sum(1))
            f2.weight.zero_(); f2.weight[0, :, 2, 2, 2] = 1.0; f2.bias.fill_(1.0 - 4.0)
            d1.weight.zero_(); d1.weight[:, 0, 2, 2, 2] = 1.0; d1.bias.zero_()
            g = f.flip(1, 2, 3) / (f ** 2).sum(dim=(1, 2, 3), keepdim=True)  # (J, 5, 5, 5)
            d2.weight.copy_(g[:, None].expand(-1, 4, -1, -1, -1) / 4.0)
            d2.bias.copy_(bg - g.sum(dim=(1, 2, 3)))
    params = list(model.fuser.parameters()) + list(model.defuser.parameters())
    if stage == "C0":
        params = [{"params": params, "lr": lr}, {"params": list(model.enc.parameters()) + list(model.dec.parameters()), "lr": lr * 0.3}]
elif stage == "CF":
    params = list(model.fuser.parameters()) + list(model.defuser.parameters())
    for p in list(model.enc.parameters()) + list(model.dec.parameters()):
        p.requires_grad_(False)
elif "freeze_code" in sys.argv[9:]:
    params = list(model.defuser.parameters()) + list(model.dec.parameters())
    for p in list(model.enc.parameters()) + list(model.fuser.parameters()):
        p.requires_grad_(False)
else:
    params = list(model.parameters())
opt = torch.optim.Adam(params, lr=lr)
for g in opt.param_groups: g["base_lr"] = g["lr"]
val = HeatmapSampler("jta", (1080, 1920), (48, 48), 1.0, True)
val_small = HeatmapSampler("jta", (270, 480), (34, 60), 1.0, True)
def validate():
    hs, os_ = model.hidden_slope, model.output_slope
    model.hidden_slope = model.output_slope = 0.0
    meter = DetectionMeter(VOXEL_THRESHOLDS)
    with torch.no_grad():
        for i in range(8):
            rng = np.random.default_rng([10000, 2, i])
            c, j = val.frame(np.random.default_rng([10000, 1, i]))
            vol = _render_crop(val, rng, [(c, j)], 2.0, "cpu")
            vha_peak_f1(model, vol, meter)
        meter2 = DetectionMeter(VOXEL_THRESHOLDS)
        for i in range(4):
            rng = np.random.default_rng([10000, 2, i])
            c, j = val_small.frame(np.random.default_rng([10000, 1, i]))
            vol = _render_crop(val_small, rng, [(c, j)], 2.0, "cpu")
            vha_peak_f1(model, vol, meter2)
    model.hidden_slope, model.output_slope = hs, os_
    s2 = _summary(meter2)
    return _summary(meter) | {"small_f1@0": s2["f1@0"], "small_f1@1": s2["f1@1"], "small_f1@2": s2["f1@2"]}
def windows(step):
    rng = np.random.default_rng([3, step])
    out = []
    k = -1
    while len(out) < K:
        k += 1
        if k % 2 == 0:
            v = _render_crop(sampler, rng, [cache((step * K + k) // 4)], 2.0, "cpu")[0]
        else:
            v = _render_crop(small, rng, [cache_small((step * K + k) // 2)], 2.0, "cpu")[0]
        prof = v.amax(dim=(0, 2, 3))
        dd = torch.nonzero(prof > 0.9)[:, 0]
        if len(dd) == 0:
            continue
        if Dc >= 316:
            out.append(v[None])
            continue
        q = int(rng.integers(len(dd)))
        d0 = int(np.clip(int(dd[q]) - Dc // 2 + int(rng.integers(-Dc // 4, Dc // 4 + 1)), 0, 316 - Dc))
        out.append(v[None, :, d0:d0 + Dc])
    return torch.cat(out)
print("VAL", 0, validate(), flush=True)
t0 = time.time(); acc = None
for step in range(1, steps + 1):
    vols = windows(step)
    for g in opt.param_groups: g["lr"] = g["base_lr"] * min(1.0, step / 30) * (0.2 if step > 0.75 * steps else 1.0)
    if stage == "B":
        with torch.no_grad():
            target = model.features(vols)
        rec = model._seq(model.defuser, model._seq(model.fuser, target, model.hidden_slope), model.hidden_slope)
    else:
        target = vols
        rec = model(vols)
    err = (rec - target) ** 2
    if stage != "B" and Dc < 316:  # depth-window edges: keep the loss away from them
        m = Dc // 5
        err, target = err[:, :, m:-m], target[:, :, m:-m]
    loss = err.mean() * 1000
    opt.zero_grad(); loss.backward(); opt.step()
    if acc is None: acc = [0.0, 0.0]
    acc[0] += float(err.detach().sum()); acc[1] += float(((target - (bg if stage == "B" else 0.0)) ** 2).sum())
    if step % 25 == 0:
        print(step, round(time.time() - t0), f"rel {acc[0]/max(acc[1],1e-9):.4f}", flush=True); acc = None
    if step % 300 == 0:
        print("VAL", step, validate(), flush=True)
        save_file(model.state_dict(), out)
