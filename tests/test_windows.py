"""The windows recipe: its windows are crops of the frame's volume, its losses vanish on a perfect output and see
misplaced and false peaks, training resumes bit for bit, and ``loco train vha --recipe windows`` exports a VHA."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from loco import ops
from loco.models import VHA
from loco.training import VHAConfig, load_checkpoint
from loco.training.coarse import CoarseVHA, load_coarse
from loco.training.windows import WindowSampler, build_coarse, window_losses

REPO = Path(__file__).resolve().parents[1]


def _tiny(tmp_path, **kw) -> VHAConfig:
    base = dict(
        out=str(tmp_path / "win"),
        recipe="windows",
        init="identity",
        steps=4,
        batch_size=2,
        crop=(16, 16),
        window_depth=6,
        depth_margin=4,
        margin=2,
        image_size=(270, 480),
        lr=1e-3,
        warmup=1,
        val_frames=0,
        progress=False,
        ckpt_minutes=0,
        log_every=1,
        threads=1,
        device="cpu",
        deterministic=True,
    )
    return VHAConfig(**(base | kw))


def test_windows_are_crops_of_the_frame(tmp_path):
    cfg = _tiny(tmp_path, small_fraction=0.0, person_crop=1.0)
    sampler = WindowSampler(cfg, CoarseVHA(2))
    rng = np.random.default_rng(4)
    (centers, joints), small = sampler.frame(0, 3)
    assert small == 0 and len(centers) > 0
    d0, v0, u0 = sampler.window(rng, centers, small)
    assert d0 % 4 == 0
    full = ops.render_heatmaps(centers, joints, sampler.samplers[0].grid, sigma=2.0, snap=True, batch_size=1)
    shifted = torch.round(centers) - torch.tensor([float(d0), float(v0), float(u0)])
    win = ops.render_heatmaps(shifted, joints, (14, 24, 16, 16), sigma=2.0, batch_size=1)
    top, left = max(0, v0), max(0, u0)
    ref = full[..., d0 : d0 + 24, top : v0 + 16, left : u0 + 16]
    got = win[..., top - v0 : top - v0 + ref.shape[-2], left - u0 : left - u0 + ref.shape[-1]]
    torch.testing.assert_close(got, ref, rtol=0, atol=1e-6)


def test_window_losses_vanish_on_a_perfect_output_and_see_errors():
    cfg = VHAConfig(depth_margin=2, margin=2)
    target = ops.render_heatmaps(
        torch.tensor([[10.0, 8.0, 9.0], [12.0, 9.0, 11.0]]), torch.tensor([3, 5]), (14, 24, 20, 20), batch_size=1
    )
    inside = torch.ones(1, 1, 1, 20, 20)
    perfect = window_losses(target.clone(), target, inside, cfg)
    assert perfect["peaks"] == 2
    assert float(perfect["mse"]) == 0 and float(perfect["peak"]) == 0 and float(perfect["fp"]) == 0
    moved = torch.roll(target, shifts=1, dims=4)  # every peak one voxel off
    leaked = target.clone()
    leaked[0, 7] = target[0, 3]  # joint type 3 also decoded as type 7: a false peak
    assert float(window_losses(moved, target, inside, cfg)["peak"]) > 0
    assert float(window_losses(leaked, target, inside, cfg)["fp"]) > 0
    assert float(window_losses(leaked, target, inside, cfg)["peak"]) == 0


def test_windows_resume_is_bit_for_bit(tmp_path):
    from loco.training.vha import train_vha

    full = train_vha(_tiny(tmp_path / "a"))
    assert isinstance(full.model, CoarseVHA)
    train_vha(_tiny(tmp_path / "b"), stop_at=2)
    cfg = _tiny(tmp_path / "b")
    resumed = train_vha(cfg, resume=cfg.out)
    assert resumed.state.step == full.state.step == cfg.steps
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    losses = [[h["loss"] for h in tr.history if "loss" in h] for tr in (full, resumed)]
    assert losses[0][2:] == losses[1]
    assert all(np.isfinite(losses[0]))
    assert load_checkpoint(Path(cfg.out) / "last.pt")["config"] == cfg
    assert (Path(cfg.out) / "coarse.safetensors").is_file()


def test_windows_with_ema_write_the_average_and_the_raw_weights(tmp_path):
    """Under ``ema`` the run folder's ``coarse.safetensors`` is the weights' moving average (what the run exports and
    validates) and ``coarse_raw.safetensors`` the trained weights; without it there is no raw file."""
    from safetensors.torch import load_file

    from loco.training.vha import train_vha

    trainer = train_vha(_tiny(tmp_path / "a", steps=3, ema=0.5))
    out = Path(trainer.config.out)
    average, raw = load_file(str(out / "coarse.safetensors")), load_file(str(out / "coarse_raw.safetensors"))
    assert all(torch.equal(average[k], v) for k, v in trainer.ema.state_dict().items())
    assert all(torch.equal(raw[k], v) for k, v in trainer.model.state_dict().items())
    assert any(not torch.equal(average[k], raw[k]) for k in raw)
    plain = train_vha(_tiny(tmp_path / "b", steps=3))
    assert not (Path(plain.config.out) / "coarse_raw.safetensors").exists()


def test_build_coarse_rejects_a_version_mismatch(tmp_path):
    model = CoarseVHA(3)
    model.save(tmp_path / "v3.safetensors")
    with pytest.raises(ValueError, match="version-3"):
        build_coarse(VHAConfig(recipe="windows", version=2, init=str(tmp_path / "v3.safetensors")))


@pytest.mark.parametrize("spec", ["vha2", "file", "folder"])
def test_build_coarse_starts_from_a_bundled_name_file_or_run_folder(tmp_path, spec):
    bundled = load_coarse("vha2")
    (tmp_path / "run").mkdir()
    bundled.save(tmp_path / "run" / "coarse.safetensors")
    init = {"vha2": "vha2", "file": str(tmp_path / "run" / "coarse.safetensors"), "folder": str(tmp_path / "run")}
    got, want = build_coarse(VHAConfig(recipe="windows", version=2, init=init[spec])).state_dict(), bundled.state_dict()
    assert got.keys() == want.keys()
    for k, v in want.items():
        assert torch.equal(got[k], v), k


def test_cli_windows_recipe_exports_a_vha(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "loco.cli",
        "train",
        "vha",
        "--recipe",
        "windows",
        "--init",
        "identity",
        "--steps",
        "2",
        "--batch-size",
        "1",
        "--crop",
        "16,16",
        "--window-depth",
        "6",
        "--depth-margin",
        "4",
        "--margin",
        "2",
        "--image-size",
        "270,480",
        "--val-frames",
        "0",
        "--threads",
        "1",
        "--device",
        "cpu",
        "--no-progress",
        "--out",
        str(out),
        "--fp16",
    ]
    subprocess.run(cmd, check=True, cwd=REPO, capture_output=True, timeout=600)
    vha = VHA.from_pretrained(out / "model")
    assert vha.version == 2
    coarse = build_coarse(VHAConfig(recipe="windows", init=str(out)))
    x = torch.zeros(1, 14, 316, 8, 8)
    x[0, 2, 100, 4, 4] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(vha.float()(x), coarse.to_vha()(x), rtol=1e-2, atol=1e-3)


def test_export_run_bundles_the_equal_vha(tmp_path):
    from loco.training.export import export_run
    from loco.training.vha import train_vha

    trainer = train_vha(_tiny(tmp_path, steps=1))
    folder = export_run(trainer.config.out, "vha_test", {"summary": "test"}, out_dir=tmp_path, fp16=False)
    vha = VHA.from_pretrained(folder)
    x = torch.zeros(1, 14, 316, 8, 8)
    x[0, 5, 40, 3, 4] = 1.0
    with torch.no_grad():
        torch.testing.assert_close(vha(x), trainer.model.to_vha()(x), rtol=1e-5, atol=1e-6)
    assert (folder / "MODEL_CARD.md").is_file()


def _random_coarse(version: int) -> CoarseVHA:
    gen = torch.Generator().manual_seed(version)
    m = CoarseVHA(version, depth_bins=64)
    with torch.no_grad():
        for p in m.parameters():
            p.copy_(torch.randn(p.shape, generator=gen) * 0.2 + (0.05 if p.ndim == 1 else 0.0))
    return m


@pytest.mark.parametrize("version", [1, 2, 3])
def test_boxed_forward_is_the_whole_frame_vha_at_its_borders(version):
    m = _random_coarse(version)
    cov = m.P * m.S
    frame = ops.render_heatmaps(
        torch.tensor([[5.0, 0.0, 0.0], [30.0, 7.0, 11.0], [50.0, 3.0, 5.0]]),
        torch.tensor([0, 4, 13]),
        (14, cov, 8, 12),
        batch_size=1,
    )
    s = m.stride
    v0, u0 = -s, -2 * s  # the window overhangs the frame on every side, aligned to the stride
    h, w = 8 + 2 * s, 12 + 3 * s
    window = torch.zeros(1, 14, cov, h, w)
    window[..., -v0 : -v0 + 8, -u0 : -u0 + 12] = frame
    box = torch.tensor([[-v0, -v0 + 8, -u0, -u0 + 12]])
    with torch.no_grad():
        ref = m.reconstruct(frame)
        got = m(window, box)
        plain = m(window)
    torch.testing.assert_close(got[..., -v0 : -v0 + 8, -u0 : -u0 + 12], ref, rtol=1e-4, atol=1e-5)
    assert float(got.abs().sum()) == pytest.approx(float(got[..., -v0 : -v0 + 8, -u0 : -u0 + 12].abs().sum()))
    # zero input around the frame is not zero padding: without the box the borders come out different
    assert not torch.allclose(plain[..., -v0 : -v0 + 8, -u0 : -u0 + 12], ref, rtol=1e-3, atol=1e-3)


def test_boxes_batch_in_order_and_are_checked():
    m = _random_coarse(2)
    x = torch.rand(3, 14, 16, 16, 16)
    boxes = torch.tensor([[0, 16, 0, 16], [4, 16, 0, 12], [0, 16, 0, 16]])
    with torch.no_grad():
        got = m(x, boxes)
        for i, (t, b, lft, r) in enumerate(boxes.tolist()):
            one = m(x[i : i + 1, ..., t:b, lft:r])
            torch.testing.assert_close(got[i : i + 1, ..., t:b, lft:r], one, rtol=1e-5, atol=1e-6)
    with pytest.raises(ValueError, match="boxes"):
        m(x, boxes[:2])
    with pytest.raises(ValueError, match="empty or outside"):
        m(x, torch.tensor([[0, 16, 0, 16], [4, 4, 0, 12], [0, 16, 0, 20]]))


def test_exact_border_windows_reach_the_frame_borders(tmp_path):
    cfg = _tiny(tmp_path, small_fraction=0.0, person_crop=0.0)
    sampler = WindowSampler(cfg, CoarseVHA(2))
    grid = sampler.samplers[0].grid
    rng = np.random.default_rng(0)
    (centers, _), small = sampler.frame(0, 0)
    seen = np.zeros((grid.height, grid.width), bool)
    for _ in range(400):
        d0, v0, u0 = sampler.window(rng, centers, small)
        assert v0 % 4 == 0 and u0 % 4 == 0 and -8 <= v0 and -8 <= u0
        box, valid = sampler.valid(d0, v0, u0, small)
        t, b, lft, r = box
        assert 0 <= t < b <= 16 and 0 <= lft < r <= 16 and b - t >= 8 and r - lft >= 8
        rows = valid[0].amax((0, 2)).nonzero()[:, 0] + v0
        cols = valid[0].amax((0, 1)).nonzero()[:, 0] + u0
        assert rows.min() >= 0 and rows.max() < grid.height and cols.min() >= 0 and cols.max() < grid.width
        seen[rows.min() : rows.max() + 1, cols.min() : cols.max() + 1] = True
    assert seen[0].any() and seen[-1].any() and seen[:, 0].any() and seen[:, -1].any()
    # without exact borders the loss never reaches the frame's border rows
    old = WindowSampler(_tiny(tmp_path, small_fraction=0.0, person_crop=0.0, exact_borders=False), CoarseVHA(2))
    vol, inside, boxes, valid, _ = old.batch(0, 0, "cpu")
    assert boxes is None and valid is None


def test_windows_per_frame_and_the_batch_masks(tmp_path, monkeypatch):
    """Step ``t`` slot ``b`` shows frame ``(t // windows_per_frame) * B + b``; the batch's loss masks are
    :meth:`WindowSampler.valid`'s, window by window (they are now built on the training device)."""
    cfg = _tiny(tmp_path, small_fraction=0.0, windows_per_frame=3)
    sampler = WindowSampler(cfg, CoarseVHA(2))
    asked = []
    frame = sampler.frame
    monkeypatch.setattr(sampler, "frame", lambda rank, index: asked.append(index) or frame(rank, index))
    for step in range(7):
        vol, inside, boxes, valid, _ = sampler.batch(step, 0, "cpu")
    assert asked == [(t // 3) * 2 + b for t in range(7) for b in range(2)]
    # the last batch's masks against valid() for the same windows (the batch's rng replayed)
    from loco.training.trainer import step_rng

    rng = step_rng(cfg.seed, 6, 0)
    for b in range(2):
        (centers, _), small = frame(0, (6 // 3) * 2 + b)
        box, mask = sampler.valid(*sampler.window(rng, centers, small), small)
        assert tuple(boxes[b].tolist()) == box
        torch.testing.assert_close(valid[b], mask, rtol=0, atol=0)
    with pytest.raises(ValueError, match="windows_per_frame"):
        WindowSampler(_tiny(tmp_path, windows_per_frame=0), CoarseVHA(2))


def test_isolation_weights_count_neighbours_and_steer_the_windows(tmp_path, monkeypatch):
    """``n ** -isolation_power`` with ``n`` the joints within ``isolation_radius`` (itself included), against a brute
    force count; power 0 keeps the uniform draw (the same rng calls as before the field existed), and a window picks
    a lone joint far more often than any one joint of a crowd."""
    from loco.training.windows import isolation_weights

    centers = torch.tensor([[50.0, 10, 10], [50, 10, 15], [52, 12, 11], [51, 9, 10], [200, 30, 40]])
    cfg = _tiny(tmp_path, isolation_power=1.0, isolation_radius=4.5)
    n = np.array([sum(float(torch.dist(a, b)) <= 4.5 for b in centers) for a in centers], float)
    np.testing.assert_allclose(isolation_weights(centers, cfg), (1 / n) / (1 / n).sum())
    assert n.tolist() == [3, 1, 3, 3, 1]
    np.testing.assert_allclose(isolation_weights(centers, cfg.replace(isolation_power=2.0)), n**-2 / (n**-2).sum())
    uniform = WindowSampler(_tiny(tmp_path), CoarseVHA(2))
    a, b = np.random.default_rng(3), np.random.default_rng(3)
    assert [uniform.pick(a, centers) for _ in range(20)] == [int(b.integers(5)) for _ in range(20)]
    steered = WindowSampler(cfg, CoarseVHA(2))
    rng = np.random.default_rng(0)
    counts = np.bincount([steered.pick(rng, centers) for _ in range(4000)], minlength=5)
    assert counts[4] > 2.5 * counts[[0, 2, 3]].max()
    # computed once per frame (the same centres tensor), with the draws of recomputing them every time
    import loco.training.windows as windows

    calls = []
    monkeypatch.setattr(windows, "isolation_weights", lambda c, k: calls.append(1) or isolation_weights(c, k))
    fresh, other = WindowSampler(cfg, CoarseVHA(2)), centers.flip(0)
    r1, r2 = np.random.default_rng(5), np.random.default_rng(5)
    picks = [fresh.pick(r1, c) for c in (centers, other) * 10]
    assert len(calls) == 2
    assert picks == [int(r2.choice(5, p=isolation_weights(c, cfg))) for c in (centers, other) * 10]
    for bad in (dict(isolation_power=-1.0), dict(isolation_radius=0.0)):
        with pytest.raises(ValueError, match=next(iter(bad))):
            WindowSampler(_tiny(tmp_path, **bad), CoarseVHA(2))


def test_grid_jitter_trains_every_bottom_and_right_border_and_end_windows_reach_the_volume_ends(tmp_path):
    """``grid_jitter`` cuts each window's frame by 0..stride-1 rows/columns at the bottom/right: the batch's boxes and
    loss masks are those of the cut frame (replayed from the same rng), every residue of the frame size modulo the
    stride appears at the bottom border, and nothing is drawn without it (the old rng stream). ``end_windows`` puts
    that fraction of the windows at the volume's first or last code positions."""
    from loco.training.trainer import step_rng

    cfg = _tiny(tmp_path, small_fraction=0.0, person_crop=0.0, grid_jitter=True)
    sampler = WindowSampler(cfg, CoarseVHA(2))
    gh, gw = sampler.size(0)
    bottoms, rights = set(), set()
    for step in range(60):
        vol, inside, boxes, valid, _ = sampler.batch(step, 0, "cpu")
        rng = step_rng(cfg.seed, step, 0)
        for b in range(2):
            (centers, _), small = sampler.frame(0, (step // 4) * 2 + b)
            size = sampler.trimmed(rng, small)
            assert gh - 4 < size[0] <= gh and gw - 4 < size[1] <= gw
            d0, v0, u0 = sampler.window(rng, centers, small, size)
            box, mask = sampler.valid(d0, v0, u0, small, size)
            assert tuple(boxes[b].tolist()) == box
            torch.testing.assert_close(valid[b], mask, rtol=0, atol=0)
            t, btm, lft, r = box
            assert torch.all(inside[b, ..., btm:, :] == 0) and torch.all(inside[b, ..., :, r:] == 0)
            assert v0 + btm <= size[0] and u0 + r <= size[1]
            if v0 + 16 >= size[0]:
                bottoms.add(size[0] % 4)
            if u0 + 16 >= size[1]:
                rights.add(size[1] % 4)
    assert bottoms == {0, 1, 2, 3} and rights == {0, 1, 2, 3}
    plain = WindowSampler(_tiny(tmp_path, small_fraction=0.0), CoarseVHA(2))
    rng, ref = np.random.default_rng(5), np.random.default_rng(5)
    assert plain.trimmed(rng, 0) is None and rng.random() == ref.random()
    ends = WindowSampler(_tiny(tmp_path, small_fraction=0.0, end_windows=0.5), CoarseVHA(2))
    rng = np.random.default_rng(1)
    (centers, _), small = ends.frame(0, 0)
    d0s = [ends.window(rng, centers, small)[0] // 4 for _ in range(400)]
    at_ends = np.isin(d0s, [0, ends.P - 6]).mean()
    assert 0.4 < at_ends < 0.6, at_ends
    with pytest.raises(ValueError, match="end_windows"):
        WindowSampler(_tiny(tmp_path, end_windows=1.5), CoarseVHA(2))


def test_empty_loss_sees_bias_peaks_and_training_with_it_resumes_bit_for_bit(tmp_path):
    """``empty_loss`` is the output above 0.02 on an all-zero volume (the whole-volume function, its size drawn from
    the step's own rng stream): 0 for an identity-initialised network, positive once a bias lights the output, and a
    gradient step lowers it; a run with ``empty_weight`` resumes bit for bit."""
    from loco.training.trainer import step_rng
    from loco.training.vha import train_vha
    from loco.training.windows import EMPTY_MARGIN, EMPTY_SIZES, empty_loss

    cfg = _tiny(tmp_path, empty_weight=1.0)
    m = CoarseVHA(2).identity_init()
    with torch.no_grad():
        for conv in (m.fuser[0], m.fuser[2], m.defuser[0], m.defuser[2]):
            conv.bias.zero_()  # every bias 0: zeros in, zeros out
    assert float(empty_loss(m, 0, cfg)) == 0.0
    with torch.no_grad():
        m.biases["d3"][1] = 0.3  # phase 1 of every code position, every joint: a bias peak
    loss = empty_loss(m, 3, cfg)
    h, w = step_rng(cfg.seed, 3, 0, stream=1).integers(EMPTY_SIZES[0], EMPTY_SIZES[1] + 1, size=2)
    ref = m.reconstruct(torch.zeros(1, 14, 316, int(h), int(w)))
    torch.testing.assert_close(loss, (ref - EMPTY_MARGIN).clamp_min(0).sum())
    assert float(loss) > 0
    loss.backward()
    with torch.no_grad():
        for p in m.parameters():
            if p.grad is not None:
                p -= 1e-3 * p.grad
    assert float(empty_loss(m, 3, cfg)) < float(loss)
    full = train_vha(_tiny(tmp_path / "a", empty_weight=1.0))
    logged = [json.loads(x) for x in (tmp_path / "a" / "win" / "log.jsonl").read_text().splitlines()]
    assert all("empty" in r for r in logged if "loss" in r)
    run = _tiny(tmp_path / "b", empty_weight=1.0)
    train_vha(run, stop_at=2)
    resumed = train_vha(run, resume=run.out)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_old_windows_configs_resume_without_exact_borders():
    d = VHAConfig(recipe="windows").to_dict()
    assert VHAConfig.from_dict(d).exact_borders is True
    del d["exact_borders"]
    assert VHAConfig.from_dict(d).exact_borders is False


def test_fuser_lr_scale_makes_two_groups_and_resumes_bit_for_bit(tmp_path):
    from loco.training.vha import train_vha

    with pytest.raises(ValueError, match="fuser_lr_scale"):
        train_vha(_tiny(tmp_path / "z", fuser_lr_scale=0.0))
    full = train_vha(_tiny(tmp_path / "a", fuser_lr_scale=10.0))
    groups = full.optimizer.param_groups
    assert len(groups) == 2 and groups[1]["lr"] == pytest.approx(10 * groups[0]["lr"]) and groups[0]["lr"] > 0
    fused = {id(p) for m in (full.model.fuser, full.model.defuser) for p in m.parameters()}
    assert {id(p) for p in groups[1]["params"]} == fused
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in full.model.parameters())
    cfg = _tiny(tmp_path / "b", fuser_lr_scale=10.0)
    train_vha(cfg, stop_at=2)
    resumed = train_vha(cfg, resume=cfg.out)
    a, b = full.model.state_dict(), resumed.model.state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)
    assert len(train_vha(_tiny(tmp_path / "c", steps=1)).optimizer.param_groups) == 1  # the default: as before


def test_freeze_code_trains_the_decoder_side_only_and_keeps_the_code(tmp_path):
    from loco.training.coarse import load_coarse
    from loco.training.vha import train_vha

    init = load_coarse(_randomised_identity(tmp_path))
    with pytest.raises(ValueError, match="leaky_code 0"):
        train_vha(_tiny(tmp_path / "z", init=str(tmp_path / "init.safetensors"), freeze_code=True))
    with pytest.raises(ValueError, match="keeps the code of an init"):
        train_vha(_tiny(tmp_path / "z", init="", freeze_code=True, leaky_code=0.0))
    with pytest.raises(ValueError, match="replaces its fuser"):
        init_path = str(tmp_path / "init.safetensors")
        train_vha(_tiny(tmp_path / "z", init=init_path, freeze_code=True, leaky_code=0.0, fuser_init=init_path))
    cfg = _tiny(
        tmp_path / "a", init=str(tmp_path / "init.safetensors"), freeze_code=True, leaky_code=0.0, fuser_lr_scale=5.0
    )
    full = train_vha(cfg)
    trained, start = full.model.state_dict(), load_coarse(tmp_path / "init.safetensors").state_dict()
    frozen = [k for k in trained if k.startswith(("weights.e", "biases.e", "fuser."))]
    assert len(frozen) == 10
    for k in trained:
        assert torch.equal(trained[k], start[k]) == (k in frozen), k  # the decoder side moved, the rest did not
    x = torch.rand(1, 14, 316, 9, 11) ** 8
    with torch.no_grad():
        assert torch.equal(full.model.encode3d(x), init.encode3d(x))
    groups = full.optimizer.param_groups
    assert len(groups) == 2 and {id(p) for p in groups[1]["params"]} == {id(p) for p in full.model.defuser.parameters()}
    cfg = _tiny(
        tmp_path / "b", init=str(tmp_path / "init.safetensors"), freeze_code=True, leaky_code=0.0, fuser_lr_scale=5.0
    )
    train_vha(cfg, stop_at=2)
    resumed = train_vha(cfg, resume=cfg.out).model.state_dict()
    assert all(torch.equal(trained[k], resumed[k]) for k in trained)


def _window_losses_autograd(out, target, inside, cfg, valid=None):
    """The window loss as first written, differentiated by autograd: the oracle for the closed-form gradient."""
    from loco.training.windows import FP_THRESHOLD, RIDGE_MARGIN, _interior

    if valid is None:
        md, ms = cfg.depth_margin, cfg.margin
        o, t = _interior(out, md, ms), _interior(target, md, ms)
        mse = _interior((out - target) ** 2 * inside, md, ms).mean() * 1000.0
    else:
        o, t = out, target
        mse = ((out - target) ** 2 * valid).sum() / (valid.sum() * out.shape[1]).clamp_min(1.0) * 1000.0
    gt = ops.find_peaks(t.detach().float().contiguous(), threshold=0.1)
    b, j, (d, v, u) = gt.batch, gt.joint, gt.index.T
    if valid is not None:
        keep = valid[b, 0, d, v, u] > 0
        b, j, d, v, u = b[keep], j[keep], d[keep], v[keep], u[keep]
    n = max(1, len(b))
    centre = o[b, j, d, v, u]
    peak = torch.relu(0.5 - centre).sum()
    for axis in range(3):
        for sign in (-1, 1):
            idx = [d, v, u]
            idx[axis] = idx[axis] + sign
            ok = (idx[axis] >= 0) & (idx[axis] < o.shape[2 + axis])
            nb = o[b[ok], j[ok], idx[0][ok], idx[1][ok], idx[2][ok]]
            peak = peak + torch.relu(cfg.peak_margin - (centre[ok] - nb)).sum()
    pred = ops.find_peaks(o.detach().float().contiguous(), threshold=FP_THRESHOLD)
    keys = [
        ((p.batch * 64 + p.joint) * 4096 + p.index[:, 0]) * 2**20 + p.index[:, 1] * 1024 + p.index[:, 2]
        for p in (pred, gt)
    ]
    false = ~torch.isin(keys[0], keys[1])
    if valid is not None:
        false &= valid[pred.batch, 0, pred.index[:, 0], pred.index[:, 1], pred.index[:, 2]] > 0
    fi = pred.index[false]
    fp = torch.relu(o[pred.batch[false], pred.joint[false], fi[:, 0], fi[:, 1], fi[:, 2]] - 0.05).sum()
    ridge = o.new_zeros(())
    for off in itertools.product((-1, 0, 1), repeat=3):
        if sum(x != 0 for x in off) < 2:
            continue
        e = [d + off[0], v + off[1], u + off[2]]
        ok = torch.stack([(e[a] >= 0) & (e[a] < o.shape[2 + a]) for a in range(3)]).all(0)
        inner = [[e[a] - off[a] if a == k else e[a] for a in range(3)] for k in range(3) if off[k]]
        best = torch.stack([o[(b[ok], j[ok], *[x[ok] for x in c])] for c in inner]).max(0).values
        ridge = ridge + torch.relu(RIDGE_MARGIN - (best - o[(b[ok], j[ok], *[x[ok] for x in e])])).sum()
    return mse + cfg.peak_weight * peak / n + cfg.fp_weight * fp / n + cfg.ridge_weight * ridge / n


@pytest.mark.parametrize("ridge", [0.0, 2.3], ids=["no-ridge", "ridge"])
@pytest.mark.parametrize("exact", [True, False], ids=["valid-mask", "interior"])
def test_window_loss_gradient_is_autograds(tmp_path, exact, ridge):
    cfg = _tiny(tmp_path, exact_borders=exact, peak_weight=1.7, fp_weight=0.6, peak_margin=0.2, ridge_weight=ridge)
    model = build_coarse(cfg)
    sampler = WindowSampler(cfg, model)
    torch.manual_seed(0)
    vol, inside, boxes, valid, _ = sampler.batch(3, 0, "cpu")
    # an output with peaks near and off the targets, false peaks and margins on both sides of the hinges
    noisy = (vol + 0.3 * torch.rand_like(vol) * (torch.rand_like(vol) > 0.97)).roll(1, dims=4)
    got_out = noisy.clone().requires_grad_(True)
    ref_out = noisy.clone().requires_grad_(True)
    terms = window_losses(got_out, vol, inside, cfg, valid)
    terms["loss"].backward()
    ref = _window_losses_autograd(ref_out, vol, inside, cfg, valid)
    ref.backward()
    assert terms["peaks"] > 0 and float(terms["peak"]) > 0 and float(terms["fp"]) > 0
    torch.testing.assert_close(terms["loss"].detach(), ref.detach(), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(got_out.grad, ref_out.grad, rtol=1e-5, atol=1e-7)
    assert float(terms["loss"].detach()) == pytest.approx(
        float(terms["mse"])
        + 1.7 * float(terms["peak"])
        + 0.6 * float(terms["fp"])
        + ridge * float(terms.get("ridge", 0.0)),
        rel=1e-6,
    )
    assert ("ridge" in terms) == (ridge > 0) and (ridge == 0 or float(terms["ridge"]) > 0)


def test_ridge_loss_sees_a_diagonal_twin_and_nothing_on_the_target():
    """A second maximum diagonal to a target peak (invisible to the 6-neighbour peak margin) costs ridge loss; the
    target itself (a sigma-2 Gaussian, whose diagonal steps exceed the 0.02 margin) costs none."""
    cfg = VHAConfig(depth_margin=2, margin=2, ridge_weight=1.0)
    target = ops.render_heatmaps(torch.tensor([[10.0, 8.0, 9.0]]), torch.tensor([3]), (14, 24, 20, 20), batch_size=1)
    inside = torch.ones(1, 1, 1, 20, 20)
    clean = window_losses(target.clone(), target, inside, cfg)
    assert float(clean["ridge"]) == 0 and float(clean["peak"]) == 0
    twin = target.clone()
    twin[0, 3, 10, 9, 10] = 0.99  # diagonal (0, +1, +1) to the peak at (d, v, u) = (10, 8, 9): a 6-connected maximum
    peaks = ops.find_peaks(twin, threshold=0.1)
    assert peaks.index.tolist() == [[10, 8, 9], [10, 9, 10]]
    terms = window_losses(twin.requires_grad_(True), target, inside, cfg)
    assert float(terms["peak"]) == 0  # the 6-neighbour margins hold: only the ridge term sees the twin
    assert float(terms["ridge"]) > 0
    terms["loss"].backward()
    assert float(twin.grad[0, 3, 10, 9, 10]) > 0  # pushed down
    assert float(twin.grad[0, 3, 10, 8, 10]) < 0 or float(twin.grad[0, 3, 10, 9, 9]) < 0  # a nearer neighbour lifted


def _ddp_empty_worker(rank: int, init: str, out: str) -> None:
    """One of two gloo ranks: the windows recipe's loss (:func:`train_vha_windows`'s ``loss_fn``: the window term
    through the DDP wrapper, ``empty_loss`` through the unwrapped module) against the same gradient computed without
    DDP: the mean of the two ranks' window gradients plus the (rank-independent) empty term's."""
    import torch.distributed as dist

    from loco.training.windows import empty_loss

    torch.set_num_threads(1)
    dist.init_process_group("gloo", init_method=f"file://{init}", rank=rank, world_size=2)
    try:
        cfg = VHAConfig(recipe="windows", empty_weight=1.0)
        torch.manual_seed(0)
        core = CoarseVHA(2).identity_init()
        with torch.no_grad():
            for p in core.parameters():
                p.add_(0.01 * torch.randn_like(p))
            core.biases["d3"][1] = 0.3  # a bias peak, so the empty term has a gradient
        windows = [torch.rand(1, 14, 4 * core.S, 8, 8, generator=torch.Generator().manual_seed(r)) for r in (1, 2)]

        def grads(loss: torch.Tensor) -> list[torch.Tensor]:
            core.zero_grad(set_to_none=True)
            loss.backward()
            return [p.grad.clone() for p in core.parameters()]

        ref = [grads(core(w).square().sum()) for w in windows]
        empty = grads(empty_loss(core, 3, cfg))
        expected = [(a + b) / 2 + e for a, b, e in zip(*ref, empty)]
        ddp = torch.nn.parallel.DistributedDataParallel(core)
        got = grads(ddp(windows[rank]).square().sum() + cfg.empty_weight * empty_loss(core, 3, cfg))
        err = max(float((g - x).abs().max() / x.abs().max().clamp_min(1e-12)) for g, x in zip(got, expected))
        Path(out, f"rank{rank}.json").write_text(json.dumps({"rel_err": err}))
        dist.barrier()  # as Trainer.close: a rank tearing gloo down while the other still uses it aborts
    finally:
        dist.destroy_process_group()


def test_empty_loss_under_ddp_adds_to_the_averaged_window_gradient(tmp_path):
    """Under torch DDP (2 gloo processes) the empty term, computed on the unwrapped module beside the wrapped window
    forward, joins the window term in one backward before DDP averages: every rank's gradient is the two ranks' mean
    window gradient plus the empty term's gradient."""
    import torch.multiprocessing as mp

    mp.start_processes(_ddp_empty_worker, args=(str(tmp_path / "init"), str(tmp_path)), nprocs=2, start_method="spawn")
    for rank in (0, 1):
        assert json.loads((tmp_path / f"rank{rank}.json").read_text())["rel_err"] < 1e-5


def test_untie_trains_per_position_kernels_from_the_init_and_resumes_bit_for_bit(tmp_path):
    from loco.training.coarse import CoarseVHA, load_coarse
    from loco.training.vha import train_vha

    init = _randomised_identity(tmp_path)
    cfg = _tiny(tmp_path / "a", init=init, untie=True, window_depth=4, person_crop=0.0)
    full = train_vha(cfg)
    model = full.model
    assert isinstance(model, CoarseVHA) and model.untied
    assert {id(p) for g in full.optimizer.param_groups for p in g["params"]} == {id(p) for p in model.parameters()}
    # only the positions the windows covered got their own kernels
    sampler = WindowSampler(cfg, CoarseVHA(2))
    seen = set()
    for step in range(cfg.steps):
        seen |= {s + i for s in sampler.batch(step, 0, "cpu")[4].tolist() for i in range(cfg.window_depth)}
    moved = {c for c in range(model.P) if float(model.position_weights["d3"][c].detach().abs().max()) > 0}
    assert moved and moved <= seen and len(seen) < model.P
    saved = load_coarse(cfg.out)
    trained = model.state_dict()
    assert saved.untied and all(torch.equal(v, trained[k]) for k, v in saved.state_dict().items())
    cfg_b = _tiny(tmp_path / "b", init=init, untie=True, window_depth=4, person_crop=0.0)
    train_vha(cfg_b, stop_at=2)
    resumed = train_vha(cfg_b, resume=cfg_b.out).model.state_dict()
    assert all(torch.equal(resumed[k], v) for k, v in trained.items())


def _randomised_identity(tmp_path) -> str:
    from loco.training.coarse import CoarseVHA

    init = CoarseVHA(2).identity_init()
    with torch.no_grad():
        for w in init.weights.values():
            w.add_(torch.randn_like(w) * 1e-2)
    init.save(tmp_path / "init.safetensors")
    return str(tmp_path / "init.safetensors")


def test_untied_lr_scale_gives_the_offsets_a_group_of_their_own(tmp_path):
    from loco.training.vha import train_vha

    init = _randomised_identity(tmp_path)
    tr = train_vha(_tiny(tmp_path / "a", init=init, untie=True, steps=1, fuser_lr_scale=10.0, untied_lr_scale=0.1))
    model, groups = tr.model, tr.optimizer.param_groups
    offsets = {id(p) for p in [*model.position_weights.values(), *model.position_biases.values()]}
    fused = {id(p) for m in (model.fuser, model.defuser) for p in m.parameters()}
    assert [{id(p) for p in g["params"]} for g in groups[1:]] == [fused, offsets]
    assert groups[2]["lr"] == pytest.approx(0.1 * groups[0]["lr"]) and groups[0]["lr"] > 0
    assert sorted(id(p) for g in groups for p in g["params"]) == sorted(id(p) for p in model.parameters())
    assert len(train_vha(_tiny(tmp_path / "b", init=init, untie=True, steps=1)).optimizer.param_groups) == 1
    with pytest.raises(ValueError, match="untied_lr_scale"):
        train_vha(_tiny(tmp_path / "c", init=init, untie=True, untied_lr_scale=0.0))
