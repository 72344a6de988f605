import sys, numpy as np, torch
from loco.training.tied import load_tied
from loco.training.sampler import HeatmapSampler
from loco.training.vha import _render_crop, _peak_rows
from scipy.spatial import cKDTree
torch.set_num_threads(1)
model = load_tied(sys.argv[1])
mode = sys.argv[2]
fwd = (lambda v: model.unfeatures(model.features(v), v.shape[-2:])) if mode == "A" else model
val = HeatmapSampler("jta", (1080, 1920), (48, 48), 1.0, True)
rows = []
for i in range(4):
    rng = np.random.default_rng([10000, 2, i])
    c, j = val.frame(np.random.default_rng([10000, 1, i]))
    vol = _render_crop(val, rng, [(c, j)], 2.0, "cpu")
    with torch.no_grad():
        rec = fwd(vol)
    gt = _peak_rows(vol)[0]; pr = _peak_rows(rec)[0]
    for jt in range(14):
        g = gt[gt[:, 0] == jt][:, 1:]; p = pr[pr[:, 0] == jt][:, 1:]
        if len(g) == 0: continue
        dist = cKDTree(p).query(g)[0] if len(p) else np.full(len(g), 99.0)
        for gi, dd in zip(g, dist):
            d, v, u = gi.astype(int)
            others = np.linalg.norm(g - gi, axis=1); others = others[others > 0]
            nn_ = others.min() if len(others) else 99
            loc = rec[0, jt, max(d-2,0):d+3, max(v-2,0):v+3, max(u-2,0):u+3]
            rows.append((dd, nn_, min(v, u, 47 - v, 47 - u), d, float(rec[0, jt, d, v, u]), float(loc.max())))
rows = np.array(rows)
miss = rows[rows[:, 0] > 2]
print("gt", len(rows), "missed@2", len(miss))
print("missed: nn_same_type_dist, border_dist, depth, rec_at_gt, rec_max_near")
for r in miss[:40]: print(np.round(r[1:], 3))
print("median rec at found peaks", np.median(rows[rows[:, 0] <= 2][:, 4]))
