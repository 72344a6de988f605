"""The training loop shared by the three trainers: devices, seeds, DDP, bf16 autocast, checkpoints and ``--resume``.

A trainer supplies a model, ``batch_fn(step, rank, world) -> batch`` and ``loss_fn(model, batch, step) -> loss``.
Data of step ``t`` on rank ``r`` must be a function of ``(seed, t, r)`` only (every sampler here draws from
``numpy.random.default_rng([seed, t, r])``), so a run resumed from a checkpoint sees exactly the batches the
uninterrupted run saw; the checkpoint also holds the model, the optimiser, the step and the torch / numpy / Python RNG
states, which makes the resumed run equal to the uninterrupted one bit for bit (same device, threads and world size).

Multi-process data parallel: launch with ``torchrun --nproc_per_node N -m loco.cli train ...``; the loop reads the
``RANK`` / ``WORLD_SIZE`` / ``LOCAL_RANK`` environment, joins the process group (NCCL on CUDA, gloo on CPU), wraps the
model in ``DistributedDataParallel`` and only rank 0 writes checkpoints and logs.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import random
import signal
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist

from loco._checks import check_choice, check_device
from loco.training.config import TrainConfig, config_from_dict

__all__ = [
    "Trainer",
    "cpu_has_bf16",
    "TrainState",
    "resolve_device",
    "seed_everything",
    "load_checkpoint",
    "save_checkpoint",
    "lr_at",
    "step_rng",
    "DistInfo",
    "init_distributed",
]

CHECKPOINT_NAME = "last.pt"


def step_rng(seed: int, step: int, rank: int = 0, stream: int = 0) -> np.random.Generator:
    """The generator of the data of ``step`` on ``rank`` (``stream`` separates independent uses)."""
    return np.random.default_rng([seed, step, rank, stream])


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> ``cuda`` when available (the local rank's GPU under torchrun), else ``cpu``."""
    dev = check_device(device)
    if dev.type == "cuda" and dev.index is None:
        dev = torch.device("cuda", int(os.environ.get("LOCAL_RANK", 0)))
    return dev


def seed_everything(seed: int) -> None:
    """Seed Python, numpy and torch (all devices)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 - the legacy global state is what third-party code draws from
    torch.manual_seed(seed)


@dataclass
class DistInfo:
    rank: int = 0
    world: int = 1
    local_rank: int = 0

    @property
    def enabled(self) -> bool:
        return self.world > 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def init_distributed(device: torch.device) -> DistInfo:
    """Join the torchrun process group when ``WORLD_SIZE > 1`` (gloo on CPU, NCCL on CUDA)."""
    world = int(os.environ.get("WORLD_SIZE", 1))
    if world <= 1:
        return DistInfo()
    if not dist.is_initialized():
        dist.init_process_group(backend="nccl" if device.type == "cuda" else "gloo")
    return DistInfo(dist.get_rank(), dist.get_world_size(), int(os.environ.get("LOCAL_RANK", 0)))


def lr_at(config: TrainConfig, step: int) -> float:
    """Linear warm-up, constant, then cosine from ``decay_from * steps`` down to ``lr * min_lr_ratio``."""
    if config.warmup > 0 and step < config.warmup:
        return config.lr * (step + 1) / config.warmup
    start = int(config.decay_from * config.steps)
    if step < start or config.steps <= start:
        return config.lr
    t = min(1.0, (step - start) / max(1, config.steps - start))
    floor = config.lr * config.min_lr_ratio
    return floor + (config.lr - floor) * 0.5 * (1 + math.cos(math.pi * t))


@dataclass
class TrainState:
    step: int = 0
    elapsed_s: float = 0.0


def _rng_states() -> dict:
    return {
        "python": random.getstate(),
        "numpy": np.random.get_state(),  # noqa: NPY002 - saved so resumed runs match
        "torch": torch.get_rng_state(),
        "cuda": torch.cuda.get_rng_state_all() if torch.cuda.is_available() else [],
    }


def _set_rng_states(states: dict) -> None:
    random.setstate(states["python"])
    np.random.set_state(states["numpy"])  # noqa: NPY002 - restored so resumed runs match
    torch.set_rng_state(states["torch"])
    if states.get("cuda") and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


def save_checkpoint(
    path: str | Path, *, model, optimizer, config: TrainConfig, state: TrainState, extra=None, ema=None
) -> Path:
    """Write a resumable checkpoint atomically (``path.tmp`` then rename); ``ema`` is the weights' moving average."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = {
        "format": "loco-train-1",
        "config": config.to_dict(),
        "model_class": type(model).__name__,
        "model_config": getattr(model, "config", {}),
        "model": model.state_dict(),
        "optimizer": optimizer.state_dict(),
        "step": state.step,
        "elapsed_s": state.elapsed_s,
        "rng": _rng_states(),
        "extra": extra or {},
    }
    if ema is not None:
        payload["ema"] = ema.state_dict()
    tmp = path.with_suffix(path.suffix + ".tmp")
    torch.save(payload, tmp)
    os.replace(tmp, path)
    return path


def load_checkpoint(path: str | Path) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`.

    Checkpoints hold numpy RNG state and Python tuples, so they are read with ``weights_only=False``: load only your
    own runs' checkpoints (the bundled weights are safetensors and never unpickled).
    """
    path = Path(path)
    if path.is_dir():
        path = path / CHECKPOINT_NAME
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    ckpt = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(ckpt, dict) or ckpt.get("format") != "loco-train-1":
        raise ValueError(f"{path} is not a loco training checkpoint")
    ckpt["config"] = config_from_dict(ckpt["config"])
    return ckpt


class _StopFlag:
    """SIGTERM/SIGINT ask the loop to checkpoint and stop after the current step."""

    def __init__(self) -> None:
        self.stop = False
        self._old = {}

    def __enter__(self):
        for sig in (signal.SIGTERM, signal.SIGINT):
            try:
                self._old[sig] = signal.signal(sig, self._handler)
            except ValueError:  # not the main thread
                pass
        return self

    def _handler(self, signum, frame) -> None:
        self.stop = True

    def __exit__(self, *exc) -> None:
        for sig, old in self._old.items():
            signal.signal(sig, old)


def cpu_has_bf16() -> bool | None:
    """Whether this CPU computes bfloat16 natively (AVX-512 bf16 or AMX); ``None`` where it cannot be told.

    Without it PyTorch's CPU kernels emulate bfloat16 through float32 conversions, and bf16 autocast is slower
    than plain float32 instead of faster.
    """
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return bool(flags & {"avx512_bf16", "amx_bf16"})
    except OSError:
        return None
    return None


class Trainer:
    """Run ``config.steps`` optimiser steps of ``loss_fn`` on ``batch_fn``'s batches, resumably.

    Args:
        config: the run's config (saved in every checkpoint).
        model: the network to train (moved to the device; wrapped in DDP under torchrun).
        batch_fn: ``(step, rank, world, device) -> batch``, a pure function of ``(config.seed, step, rank)``.
        loss_fn: ``(model, batch, step) -> (loss, info dict)``, called under autocast.
        validate: optional ``(model, step) -> dict`` run on rank 0 every ``config.val_every`` steps and at the end.
        parameters: the parameters to optimise (default all of ``model``'s that require grad), or param groups
            (dicts with ``"params"`` and an optional ``"lr_scale"``: the group's learning rate is the schedule's times
            it).
        on_checkpoint: optional ``(model, step) -> None`` called on rank 0 after each checkpoint (e.g. export), with
            :attr:`final_model`.

    With ``config.ema > 0`` the trainer keeps :attr:`ema`, a moving average of ``model``'s weights (a copy of the
    module, updated after every optimiser step); validation scores it, checkpoints carry it, and :attr:`final_model`
    (what a run exports) is it.
    """

    def __init__(
        self,
        config: TrainConfig,
        model: torch.nn.Module,
        batch_fn: Callable,
        loss_fn: Callable,
        validate: Callable | None = None,
        parameters=None,
        on_checkpoint: Callable | None = None,
    ) -> None:
        self.config = config
        self.device = resolve_device(config.device)
        if config.threads > 0 and self.device.type == "cpu":
            torch.set_num_threads(config.threads)
        self.dist = init_distributed(self.device)
        check_choice("amp", config.amp, TrainConfig._choices["amp"])  # again: a config's fields can be reassigned
        if config.amp == "bf16" and self.device.type == "cpu" and cpu_has_bf16() is False:
            warnings.warn(
                "amp='bf16' on a CPU without AVX-512 bf16 or AMX: PyTorch emulates bfloat16 here, and a VHA "
                "windows step measured >7x slower than float32 (AMD EPYC, AVX2); use amp='none'",
                RuntimeWarning,
                stacklevel=2,
            )
        seed_everything(config.seed + self.dist.rank)
        self.model = model.to(self.device)
        self.ema = copy.deepcopy(self.model).requires_grad_(False) if config.ema > 0 else None
        self.batch_fn, self.loss_fn, self.validate, self.on_checkpoint = batch_fn, loss_fn, validate, on_checkpoint
        params = list(parameters if parameters is not None else model.parameters())
        if params and isinstance(params[0], dict):
            params = [g | {"params": [p for p in g["params"] if p.requires_grad]} for g in params]
        else:
            params = [p for p in params if p.requires_grad]
        self.optimizer = torch.optim.AdamW(params, lr=config.lr, weight_decay=config.weight_decay)
        self.state = TrainState()
        self.out = Path(config.out)
        self.history: list[dict] = []

    @property
    def ddp_model(self):
        return self._ddp if self.dist.enabled else self.model

    @property
    def final_model(self) -> torch.nn.Module:
        """What the run exports: the weights' moving average when ``config.ema > 0``, else the trained model."""
        return self.ema if self.ema is not None else self.model

    def _update_ema(self) -> None:
        decay = self.config.ema
        with torch.no_grad():
            for avg, p in zip(self.ema.parameters(), self.model.parameters(), strict=True):
                avg.lerp_(p.detach(), 1.0 - decay)
            for avg, b in zip(self.ema.buffers(), self.model.buffers(), strict=True):
                avg.copy_(b)

    def resume(self, path: str | Path) -> None:
        """Restore model, optimiser, step and RNG states from a checkpoint."""
        ckpt = load_checkpoint(path)
        self.model.load_state_dict(ckpt["model"])
        if self.ema is not None:
            # a checkpoint of a run without an average (or an older one) starts the average at its weights
            self.ema.load_state_dict(ckpt.get("ema", ckpt["model"]))
        self.optimizer.load_state_dict(ckpt["optimizer"])
        self.state = TrainState(ckpt["step"], ckpt.get("elapsed_s", 0.0))
        if self.dist.main:
            _set_rng_states(ckpt["rng"])
        else:
            seed_everything(self.config.seed + self.dist.rank + 7919 * self.state.step)

    def checkpoint(self) -> Path | None:
        if not self.dist.main:
            return None
        path = save_checkpoint(
            self.out / CHECKPOINT_NAME,
            model=self.model,
            optimizer=self.optimizer,
            config=self.config,
            state=self.state,
            ema=self.ema,
        )
        if self.on_checkpoint is not None:
            self.on_checkpoint(self.final_model, self.state.step)
        return path

    def _log(self, record: dict) -> None:
        self.history.append(record)
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            with open(self.out / "log.jsonl", "a") as f:
                f.write(json.dumps(record) + "\n")

    def _autocast(self):
        if self.config.amp == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def run_validation(self) -> dict:
        if self.validate is None or not self.dist.main:
            return {}
        record = {"step": self.state.step}
        for key, model in (("val", self.final_model), ("val_raw", self.model if self.ema is not None else None)):
            if model is None:
                continue
            model.eval()
            with torch.no_grad():
                record[key] = self.validate(model, self.state.step)
            model.train()
        self._log(record)
        return record["val"]

    def fit(self, stop_at: int | None = None) -> TrainState:
        """Train from the current step to ``config.steps`` (or ``stop_at``), checkpointing as configured."""
        with self._determinism():
            return self._fit(stop_at)

    @contextlib.contextmanager
    def _determinism(self):
        if not self.config.deterministic:
            yield
            return
        previous = torch.are_deterministic_algorithms_enabled()
        torch.use_deterministic_algorithms(True, warn_only=True)
        try:
            with (
                torch.backends.mkldnn.flags(enabled=False),
                torch.backends.cudnn.flags(enabled=torch.backends.cudnn.enabled, benchmark=False, deterministic=True),
            ):
                yield
        finally:
            torch.use_deterministic_algorithms(previous)

    def _fit(self, stop_at: int | None) -> TrainState:
        cfg = self.config
        end = cfg.steps if stop_at is None else min(stop_at, cfg.steps)
        if self.dist.main:
            self.out.mkdir(parents=True, exist_ok=True)
            (self.out / "config.json").write_text(json.dumps(cfg.to_dict(), indent=2) + "\n")
        if self.dist.enabled:
            ids = [self.device.index] if self.device.type == "cuda" else None
            self._ddp = torch.nn.parallel.DistributedDataParallel(self.model, device_ids=ids)
        model = self.ddp_model
        model.train()
        bar = None
        if cfg.progress and self.dist.main:
            from tqdm import tqdm

            bar = tqdm(total=end, initial=self.state.step, desc=f"train {cfg.kind}", dynamic_ncols=True)
        last_ckpt = time.monotonic()
        window_t, window_n, loss_sum, grad_max = time.monotonic(), 0, 0.0, 0.0
        with _StopFlag() as flag:
            while self.state.step < end:
                step = self.state.step
                t0 = time.monotonic()
                batch = self.batch_fn(step, self.dist.rank, self.dist.world, self.device)
                for group in self.optimizer.param_groups:
                    group["lr"] = lr_at(cfg, step) * group.get("lr_scale", 1.0)
                with self._autocast():
                    loss, info = self.loss_fn(model, batch, step)
                self.optimizer.zero_grad(set_to_none=True)
                loss.backward()
                loss_value = float(loss.detach())
                # both checks come before the step, so a NaN/inf never reaches the weights (or a checkpoint)
                if not math.isfinite(loss_value):
                    raise RuntimeError(f"loss is {loss_value} at step {step}; lower --lr or check the data")
                # The global norm is read every step (one pass over the gradients, small beside the backward):
                # a NaN/inf gradient under a finite loss stops the run whether or not it clips or logs.
                if cfg.grad_clip > 0:
                    norm = float(torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip))
                else:
                    grads = [p.grad for p in self.model.parameters() if p.grad is not None]
                    norm = float(torch.nn.utils.get_total_norm(grads)) if grads else 0.0
                if not math.isfinite(norm):
                    raise RuntimeError(
                        f"gradient norm is {norm} at step {step} (loss {loss_value}); lower --lr or check the data"
                    )
                grad_max = max(grad_max, norm)
                self.optimizer.step()
                if self.ema is not None:
                    self._update_ema()
                self.state.step += 1
                self.state.elapsed_s += time.monotonic() - t0
                loss_sum += loss_value
                window_n += 1
                if bar is not None:
                    bar.update(1)
                    bar.set_postfix(loss=f"{loss_value:.3g}", lr=f"{lr_at(cfg, step):.2g}")
                if cfg.log_every and self.state.step % cfg.log_every == 0:
                    now = time.monotonic()
                    self._log(
                        {
                            "step": self.state.step,
                            "loss": loss_sum / window_n,
                            "lr": lr_at(cfg, step),
                            "steps_per_s": window_n / max(1e-9, now - window_t),
                            "elapsed_s": round(self.state.elapsed_s, 1),
                            # the largest global gradient norm of the window's steps, before clipping
                            "grad_norm_max": grad_max,
                            **{k: float(v) for k, v in info.items()},
                        }
                    )
                    window_t, window_n, loss_sum, grad_max = now, 0, 0.0, 0.0
                if cfg.val_every and self.state.step % cfg.val_every == 0 and self.state.step < end:
                    self.run_validation()
                due = (cfg.ckpt_every and self.state.step % cfg.ckpt_every == 0) or (
                    cfg.ckpt_minutes > 0 and time.monotonic() - last_ckpt > 60 * cfg.ckpt_minutes
                )
                stop = flag.stop
                if self.dist.enabled:
                    # Every rank must agree on stopping, or the next all-reduce hangs.
                    t = torch.tensor([float(stop)], device=self.device)
                    dist.all_reduce(t)
                    stop = bool(t.item() > 0)
                if due or stop:
                    self.checkpoint()
                    last_ckpt = time.monotonic()
                if stop:
                    break
        if bar is not None:
            bar.close()
        if self.state.step >= end:
            self.checkpoint()
            if self.state.step >= cfg.steps:
                self.run_validation()
        return self.state

    def close(self) -> None:
        if self.dist.enabled and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()
