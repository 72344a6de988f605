"""Training: configs, schedules, the heatmap sampler, bit-for-bit resume, DDP through torchrun (gloo, 2 processes),
the three trainers on tiny configs, and the ``loco train`` command."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from loco import ops
from loco.geometry import Camera, VoxelGrid
from loco.models import VHA, CodePredictor, PoseRefiner
from loco.training import PredictorConfig, RefinerConfig, VHAConfig, config_from_dict, load_checkpoint, lr_at
from loco.training.sampler import HeatmapSampler, sigma_at

REPO = Path(__file__).resolve().parents[1]


def _tiny_vha(tmp_path, **kw) -> VHAConfig:
    base = dict(
        out=str(tmp_path / "vha"),
        steps=4,
        crop=(8, 8),
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


def _tiny_refiner(tmp_path, **kw) -> RefinerConfig:
    base = dict(
        out=str(tmp_path / "ref"),
        steps=6,
        batch_size=16,
        warmup=1,
        pool_poses=64,
        val_poses=32,
        progress=False,
        ckpt_minutes=0,
        log_every=1,
        threads=1,
        device="cpu",
    )
    return RefinerConfig(**(base | kw))


@pytest.mark.parametrize("cls", [VHAConfig, PredictorConfig, RefinerConfig], ids=lambda c: c.kind)
def test_config_round_trip(cls):
    cfg = cls(steps=7, seed=3)
    if cls is VHAConfig:
        cfg = cfg.replace(sigma_schedule=((8.0, 0.1), (4.0, 0.25)), crop=(16, 24))
    d = json.loads(json.dumps(cfg.to_dict()))
    assert d["kind"] == cls.kind
    assert config_from_dict(d) == cfg


def test_config_rejects_unknown_fields():
    with pytest.raises(ValueError, match="unknown"):
        config_from_dict({"kind": "vha", "nope": 1})
    with pytest.raises(ValueError, match="kind"):
        config_from_dict({"kind": "gan"})


def test_config_checks_every_field_when_made():
    """A bad option fails when the run is configured, naming the field (``steps=-5`` trained nothing and exported the
    untrained model); numpy numbers are stored as Python ones, so the config stays JSON-serialisable."""
    cfg = VHAConfig(steps=np.int64(7), lr=np.float32(0.5), crop=[np.int64(16), 24], version=np.int64(3))
    assert (cfg.steps, cfg.lr, cfg.crop) == (7, 0.5, (16, 24)) and type(cfg.steps) is int and type(cfg.lr) is float
    json.dumps(cfg.to_dict())
    bad = [
        (VHAConfig, "steps", -5, ValueError),
        (VHAConfig, "steps", 10.0, TypeError),
        (VHAConfig, "batch_size", 0, ValueError),
        (VHAConfig, "lr", 0.0, ValueError),
        (VHAConfig, "lr", float("nan"), ValueError),
        (VHAConfig, "decay_from", 1.5, ValueError),
        (VHAConfig, "grad_clip", -1.0, ValueError),
        (VHAConfig, "weight_decay", float("inf"), ValueError),
        (VHAConfig, "amp", "fp16", ValueError),
        (VHAConfig, "progress", "no", TypeError),
        (VHAConfig, "device", None, TypeError),
        (VHAConfig, "version", 4, ValueError),
        (VHAConfig, "version", True, ValueError),
        (VHAConfig, "recipe", "window", ValueError),
        (VHAConfig, "crop", (32,), TypeError),
        (VHAConfig, "crop", (32, 0), ValueError),
        (VHAConfig, "image_size", (1080.0, 1920), TypeError),
        (VHAConfig, "person_crop", 2.0, ValueError),
        (VHAConfig, "sigma", 0.0, ValueError),
        (VHAConfig, "preset", "coco", ValueError),
        (PredictorConfig, "backbone", "resnet", ValueError),
        (PredictorConfig, "workers", -1, ValueError),
        (PredictorConfig, "augment", 1, TypeError),
        (RefinerConfig, "drop_prob", 1.5, ValueError),
        (RefinerConfig, "pool_poses", 0, ValueError),
        (RefinerConfig, "ema", 1.0, ValueError),
        (RefinerConfig, "ema", -0.1, ValueError),
        (VHAConfig, "ema", float("nan"), ValueError),
    ]
    for cls, name, value, error in bad:
        with pytest.raises(error, match=name):
            cls(**{name: value})
    with pytest.raises(ValueError, match="steps"):  # replace and from_dict go through the same checks
        VHAConfig().replace(steps=0)
    with pytest.raises(ValueError, match="steps"):
        config_from_dict(VHAConfig().to_dict() | {"steps": 0})


def test_lr_schedule():
    cfg = VHAConfig(steps=100, lr=1.0, warmup=10, decay_from=0.5, min_lr_ratio=0.1)
    assert lr_at(cfg, 0) == pytest.approx(0.1)
    assert lr_at(cfg, 9) == pytest.approx(1.0)
    assert lr_at(cfg, 50) == pytest.approx(1.0)
    assert lr_at(cfg, 100) == pytest.approx(0.1)
    values = [lr_at(cfg, t) for t in range(50, 101)]
    assert all(a >= b for a, b in zip(values, values[1:]))


def test_sigma_schedule():
    sched = ((8, 0.1), (4, 0.25))
    assert [sigma_at(2, sched, t, 100) for t in (0, 9, 10, 24, 25, 99)] == [8, 8, 4, 4, 2, 2]
    assert sigma_at(2, (), 0, 100) == 2


def test_sampler_crops_match_the_full_volume():
    """A crop rendered directly equals the same window of the full frame's volume."""
    sampler = HeatmapSampler("jta", image_size=(270, 480), crop=(12, 20), person_crop=1.0)
    rng = np.random.default_rng(5)
    centers, joints = sampler.frame(np.random.default_rng([1, 2]))
    assert len(centers) > 0
    top, left = sampler._offset(np.random.default_rng(3), centers)
    full = ops.render_heatmaps(centers, joints, sampler.grid, sigma=2.0, snap=True, batch_size=1)
    shifted = centers - torch.tensor([0.0, top, left])
    crop = ops.render_heatmaps(shifted, joints, (14, 316, 12, 20), sigma=2.0, snap=True, batch_size=1)
    torch.testing.assert_close(crop, full[..., top : top + 12, left : left + 20], rtol=0, atol=0)
    batch = sampler.sample(rng, batch_size=3, sigma=2.0)
    assert batch.shape == (3, 14, 316, 12, 20)
    assert (batch.amax(dim=(1, 2, 3, 4)) > 0.5).all()  # person-centred crops always hold a joint


def _state_equal(a: dict, b: dict) -> bool:
    return a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)


@pytest.mark.parametrize("kind", ["vha", "refiner"])
def test_resume_is_bit_for_bit(tmp_path, kind):
    if kind == "vha":
        from loco.training.vha import train_vha as train

        make = _tiny_vha
    else:
        from loco.training.refiner import train_refiner as train

        make = _tiny_refiner
    full = train(make(tmp_path / "a"))
    interrupted = train(make(tmp_path / "b"), stop_at=2)
    assert interrupted.state.step == 2
    cfg_b = make(tmp_path / "b")
    resumed = train(cfg_b, resume=cfg_b.out)
    assert resumed.state.step == full.state.step == cfg_b.steps
    assert _state_equal(full.model.state_dict(), resumed.model.state_dict())
    opt_a, opt_b = full.optimizer.state_dict()["state"], resumed.optimizer.state_dict()["state"]
    assert all(_state_equal(opt_a[k], opt_b[k]) for k in opt_a)
    losses = lambda tr: [h["loss"] for h in tr.history if "loss" in h]  # noqa: E731
    assert losses(full)[2:] == losses(resumed)
    ckpt = load_checkpoint(Path(cfg_b.out) / "last.pt")
    assert ckpt["config"] == cfg_b and ckpt["step"] == cfg_b.steps


def test_ema_is_the_moving_average_of_the_weights_and_what_validation_scores(tmp_path):
    """``ema`` starts at the initial weights and follows ``a <- d a + (1 - d) w`` after every step (checked against
    the weights each step's loss saw); validation scores the average as ``val`` and the raw weights as ``val_raw``;
    ``final_model`` is the average, and the average does not change the training itself."""
    from loco.training.trainer import Trainer

    def run(ema: float, folder: str):
        torch.manual_seed(0)
        model = torch.nn.Linear(3, 2)
        seen = []

        def loss_fn(net, batch, step):
            seen.append({k: v.detach().clone() for k, v in net.state_dict().items()})
            x = torch.randn(4, 3, generator=torch.Generator().manual_seed(step))
            return (net(x) - 1).square().mean(), {}

        cfg = _tiny_refiner(tmp_path / folder, steps=5, lr=0.1, ema=ema)
        trainer = Trainer(
            cfg, model, lambda *a: None, loss_fn, validate=lambda net, step: {"w": float(net.weight.detach().sum())}
        )
        trainer.fit()
        return trainer, seen

    trainer, seen = run(0.75, "ema")
    plain, seen_plain = run(0.0, "plain")
    assert all(_state_equal(a, b) for a, b in zip(seen, seen_plain, strict=True))
    assert _state_equal(trainer.model.state_dict(), plain.model.state_dict())
    weights = [*seen, trainer.model.state_dict()]  # w_0 .. w_5
    expected = {k: v.clone() for k, v in weights[0].items()}
    for w in weights[1:]:
        expected = {k: 0.75 * expected[k] + 0.25 * w[k] for k in expected}
    average = trainer.ema.state_dict()
    assert all(torch.allclose(average[k], expected[k], atol=1e-7) for k in expected)
    assert not torch.allclose(average["weight"], trainer.model.weight)
    assert trainer.final_model is trainer.ema and plain.final_model is plain.model and plain.ema is None
    last = trainer.history[-1]
    assert last["val"]["w"] == pytest.approx(float(average["weight"].sum()))
    assert last["val_raw"]["w"] == pytest.approx(float(trainer.model.weight.detach().sum()))
    assert "val_raw" not in plain.history[-1]
    assert not any(p.requires_grad for p in trainer.ema.parameters())


def test_ema_resumes_bit_for_bit_and_the_cli_exports_the_average(tmp_path):
    from safetensors.torch import load_file

    from loco.training.refiner import train_refiner

    full = train_refiner(_tiny_refiner(tmp_path / "a", ema=0.9))
    train_refiner(_tiny_refiner(tmp_path / "b", ema=0.9), stop_at=2)
    cfg = _tiny_refiner(tmp_path / "b", ema=0.9)
    resumed = train_refiner(cfg, resume=cfg.out)
    assert _state_equal(full.ema.state_dict(), resumed.ema.state_dict())
    assert _state_equal(full.model.state_dict(), resumed.model.state_dict())
    ckpt = load_checkpoint(Path(cfg.out) / "last.pt")
    assert _state_equal(ckpt["ema"], resumed.ema.state_dict()) and not _state_equal(ckpt["ema"], ckpt["model"])
    # a checkpoint without an average (a run trained without --ema) starts the average at its weights
    from loco.training.trainer import Trainer

    plain = train_refiner(_tiny_refiner(tmp_path / "c"), stop_at=2)
    trainer = Trainer(cfg, PoseRefiner(), None, None)
    trainer.resume(plain.out)
    assert _state_equal(trainer.ema.state_dict(), plain.model.state_dict())

    out = tmp_path / "run"
    cmd = [sys.executable, "-m", "loco.cli", "train", "refiner", "--out", str(out), "--steps", "3", "--batch-size", "8"]
    cmd += ["--no-progress", "--device", "cpu", "--threads", "1", "--ema", "0.5"]
    tiny = ["--warmup", "1", "--pool-poses", "64", "--val-poses", "32"]
    code = subprocess.run(cmd + tiny, env=_env(), capture_output=True, text=True, timeout=120)
    assert code.returncode == 0, code.stderr[-2000:]
    exported = load_file(str(out / "model" / "model.safetensors"))
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["config"].ema == 0.5
    assert _state_equal(exported, ckpt["ema"]) and not _state_equal(exported, ckpt["model"])


@pytest.mark.parametrize("native", [False, True, None])
def test_bf16_on_a_cpu_without_it_warns(monkeypatch, native):
    import warnings

    from loco.training import trainer as trainer_mod

    monkeypatch.setattr(trainer_mod, "cpu_has_bf16", lambda: native)
    cfg = _tiny_refiner(Path("unused"), amp="bf16")
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        trainer_mod.Trainer(cfg, PoseRefiner(), batch_fn=None, loss_fn=None)
    slow = [w for w in caught if "bf16" in str(w.message)]
    assert len(slow) == (1 if native is False else 0)
    if slow:
        assert issubclass(slow[0].category, RuntimeWarning) and "amp='none'" in str(slow[0].message)


def test_vha_training_logs_finite_losses_and_validates(tmp_path):
    from loco.training.vha import train_vha

    cfg = _tiny_vha(tmp_path, steps=12, lr=3e-3, crop=(8, 8), val_frames=1, val_every=0)
    trainer = train_vha(cfg)
    losses = [h["loss"] for h in trainer.history if "loss" in h]
    assert np.isfinite(losses).all()
    val = [h["val"] for h in trainer.history if "val" in h]
    assert val and set(val[-1]) >= {"f1@0", "f1@1", "f1@2"}


def test_log_has_the_gradient_norm_before_clipping(tmp_path):
    """``grad_norm_max`` is the largest global gradient norm of the log window, read before ``grad_clip`` scales
    the gradients: the same first step logs the same norm with and without clipping, above the clip value."""
    from loco.training.refiner import train_refiner

    free = train_refiner(_tiny_refiner(tmp_path / "a", steps=3))
    clipped = train_refiner(_tiny_refiner(tmp_path / "b", steps=3, grad_clip=1e-4))
    norms = [[h["grad_norm_max"] for h in tr.history if "loss" in h] for tr in (free, clipped)]
    assert len(norms[0]) == 3 and all(np.isfinite(norms[0])) and min(norms[0]) > 0
    assert norms[1][0] == pytest.approx(norms[0][0], rel=1e-6) and norms[1][0] > 1e-4
    assert not _state_equal(free.model.state_dict(), clipped.model.state_dict())


@pytest.mark.parametrize(("grad_clip", "log_every"), [(0.0, 1), (30.0, 1), (0.0, 0)])
def test_a_nan_gradient_stops_the_run_before_the_weights_change(tmp_path, grad_clip, log_every):
    """A finite loss whose gradient is NaN (sqrt at 0) raises before the optimiser step: the weights stay as they
    were and no checkpoint is written, with clipping and without, logging and not."""
    from loco.training.trainer import CHECKPOINT_NAME, Trainer

    cfg = _tiny_refiner(tmp_path, steps=3, grad_clip=grad_clip, log_every=log_every, ckpt_every=1)
    model = PoseRefiner()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss_fn(model, batch, step):
        w = next(model.parameters())
        return (w * 0).sum().sqrt(), {}

    trainer = Trainer(cfg, model, batch_fn=lambda *a: None, loss_fn=loss_fn)
    with pytest.raises(RuntimeError, match="gradient norm is nan at step 0"):
        trainer.fit()
    assert _state_equal(before, trainer.model.state_dict())
    assert not (Path(cfg.out) / CHECKPOINT_NAME).exists()


def test_a_nan_loss_stops_the_run_before_the_weights_change(tmp_path):
    """A NaN loss raises before the optimiser step even when no gradient norm is read (no clipping, no log)."""
    from loco.training.trainer import CHECKPOINT_NAME, Trainer

    cfg = _tiny_refiner(tmp_path, steps=3, log_every=0, ckpt_every=1)
    model = PoseRefiner()
    before = {k: v.clone() for k, v in model.state_dict().items()}

    def loss_fn(model, batch, step):
        return next(model.parameters()).sum() * float("nan"), {}

    trainer = Trainer(cfg, model, batch_fn=lambda *a: None, loss_fn=loss_fn)
    with pytest.raises(RuntimeError, match="loss is nan at step 0"):
        trainer.fit()
    assert _state_equal(before, trainer.model.state_dict())
    assert not (Path(cfg.out) / CHECKPOINT_NAME).exists()


def test_refiner_learns_to_fill_holes(tmp_path):
    from loco.training.refiner import train_refiner

    trainer = train_refiner(
        _tiny_refiner(tmp_path, steps=150, lr=3e-3, batch_size=64, pool_poses=256, val_poses=128, log_every=50)
    )
    val = [h["val"] for h in trainer.history if "val" in h][-1]
    assert val["kept_out_mm"] < val["kept_in_mm"] * 1.5
    assert np.isfinite(val["holes_out_mm"])
    assert isinstance(trainer.model, PoseRefiner)


def test_flip_is_exact():
    from loco.training.predictor import flip_sample

    rng = np.random.default_rng(0)
    poses = torch.from_numpy(rng.uniform([-3, -2, 5], [3, 2, 20], size=(2, 14, 3)).astype(np.float32))
    camera = Camera(500.0, 510.0, 230.0, 140.0)
    image = torch.arange(3 * 6 * 9, dtype=torch.uint8).reshape(3, 6, 9)
    grid = VoxelGrid.for_image(6, 9)
    flipped_image, flipped, cam2 = flip_sample(image, poses, camera)
    assert torch.equal(flipped_image[..., 0], image[..., -1])
    from loco.training.predictor import _FLIP

    u = ops.project(poses.reshape(-1, 3).double(), grid, camera).reshape(2, 14, 3)
    u2 = ops.project(flipped.reshape(-1, 3).double(), grid, cam2).reshape(2, 14, 3)
    # pixel x -> W - 1 - x, so voxel u -> (W - 1 - x) / s for the mirrored joint
    x = u[..., 2] * grid.stride
    torch.testing.assert_close(u2[:, _FLIP, 2] * grid.stride, 9 - 1 - x)
    torch.testing.assert_close(u2[:, _FLIP, :2], u[..., :2])


def test_predictor_trains_a_step(tmp_path):
    from loco.training.predictor import train_predictor

    vha_dir = VHA(version=3).save_pretrained(tmp_path / "vha3")
    cfg = PredictorConfig(
        out=str(tmp_path / "pred"),
        vha=str(vha_dir),
        image_size=(64, 96),
        steps=2,
        batch_size=2,
        warmup=1,
        val_frames=1,
        workers=0,
        progress=False,
        ckpt_minutes=0,
        log_every=1,
        threads=1,
        device="cpu",
        length=8,
    )
    trainer = train_predictor(cfg)
    assert trainer.state.step == 2
    assert isinstance(trainer.model, CodePredictor)
    val = [h["val"] for h in trainer.history if "val" in h][-1]
    assert "f1@0.4" in val and np.isfinite(val["code_mse"])


def _env() -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    env["OMP_NUM_THREADS"] = "1"
    return env


def test_cli_train_refiner_exports_loadable_weights(tmp_path):
    out = tmp_path / "run"
    cmd = [
        sys.executable,
        "-m",
        "loco.cli",
        "train",
        "refiner",
        "--out",
        str(out),
        "--steps",
        "3",
        "--batch-size",
        "8",
        "--no-progress",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--fp16",
    ]
    tiny = ["--warmup", "1", "--pool-poses", "64", "--val-poses", "32"]
    code = subprocess.run(cmd + tiny, env=_env(), capture_output=True, text=True, timeout=120)
    assert code.returncode == 0, code.stderr[-2000:]
    from safetensors.torch import load_file

    assert all(t.dtype == torch.float16 for t in load_file(str(out / "model" / "model.safetensors")).values())
    model = PoseRefiner.from_pretrained(out / "model")  # fp16 files load into the float32 model
    assert torch.isfinite(model(torch.full((2, 13, 3), 0.5))).all()
    meta = json.loads((out / "model" / "config.json").read_text())["metadata"]
    assert meta["trained_steps"] == 3


@pytest.mark.skipif(
    shutil.which("torchrun") is None and not (Path(sys.executable).parent / "torchrun").exists(),
    reason="torchrun not installed",
)
def test_ddp_two_processes_gloo(tmp_path):
    torchrun = shutil.which("torchrun") or str(Path(sys.executable).parent / "torchrun")
    out = tmp_path / "ddp"
    cmd = [
        torchrun,
        "--standalone",
        "--nproc_per_node",
        "2",
        "-m",
        "loco.cli",
        "train",
        "refiner",
        "--out",
        str(out),
        "--steps",
        "4",
        "--batch-size",
        "8",
        "--warmup",
        "1",
        "--no-progress",
        "--device",
        "cpu",
        "--threads",
        "1",
        "--pool-poses",
        "64",
        "--val-poses",
        "32",
        "--log-every",
        "1",
    ]
    proc = subprocess.run(cmd, env=_env(), capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ckpt = load_checkpoint(out / "last.pt")
    assert ckpt["step"] == 4
    log = [json.loads(line) for line in (out / "log.jsonl").read_text().splitlines()]
    assert [r["step"] for r in log if "loss" in r] == [1, 2, 3, 4]
    assert all(np.isfinite(r["loss"]) for r in log if "loss" in r)
