"""``loco train vha|predictor|refiner``: train the LoCO networks with heatmaps rendered on the fly.

Every run writes to ``--out``: ``config.json``, ``log.jsonl`` (loss, learning rate, steps/s, validations), a
resumable ``last.pt`` (every ``--ckpt-minutes`` and at the end; SIGTERM / Ctrl-C also checkpoints) and, at the end,
the weights as safetensors + ``config.json`` in ``--out/model`` (``--export DIR`` for another folder, ``--fp16`` to
halve them). ``--resume RUN`` continues a run bit for bit from its ``last.pt`` with the config saved in it (only
``--steps`` may be changed, and ``--threads``, which keeps the run bit for bit only at the same count). Data
parallel: ``torchrun --nproc_per_node N -m loco.cli train ...``.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from loco.training.config import PredictorConfig, RefinerConfig, TrainConfig, VHAConfig


def _pair(text: str) -> tuple[int, int]:
    parts = text.lower().replace("x", ",").split(",")
    if len(parts) != 2:
        raise argparse.ArgumentTypeError(f"expected H,W (or HxW), got {text!r}")
    return int(parts[0]), int(parts[1])


def _schedule(text: str) -> tuple:
    """``"8:0.1,4:0.25"`` -> ``((8.0, 0.1), (4.0, 0.25))``; ``""`` -> ``()``."""
    if not text:
        return ()
    out = []
    for item in text.split(","):
        s, until = item.split(":")
        out.append((float(s), float(until)))
    return tuple(out)


def _common(p: argparse.ArgumentParser, defaults: TrainConfig) -> None:
    p.add_argument("--out", default=None, help="run folder (default runs/<kind>)")
    p.add_argument("--resume", default=None, metavar="RUN", help="continue the run (folder or last.pt)")
    p.add_argument(
        "--steps",
        type=int,
        default=None,
        help=f"optimiser steps (default {defaults.steps}; with --resume: the run's own, or this many in all)",
    )
    p.add_argument("--batch-size", type=int, default=defaults.batch_size)
    p.add_argument("--lr", type=float, default=defaults.lr)
    p.add_argument("--warmup", type=int, default=defaults.warmup)
    p.add_argument("--decay-from", type=float, default=defaults.decay_from, help="cosine decay from this fraction")
    p.add_argument("--min-lr-ratio", type=float, default=defaults.min_lr_ratio)
    p.add_argument("--weight-decay", type=float, default=defaults.weight_decay)
    p.add_argument("--seed", type=int, default=defaults.seed)
    p.add_argument("--device", default=defaults.device, help="cpu, cuda, cuda:N or auto (default)")
    p.add_argument(
        "--amp", choices=("none", "bf16"), default=defaults.amp, help="bf16 autocast (GPUs, CPUs with AVX-512 bf16)"
    )
    p.add_argument("--threads", type=int, default=defaults.threads, help="torch CPU threads (0 = default)")
    p.add_argument("--log-every", type=int, default=defaults.log_every)
    p.add_argument("--val-every", type=int, default=defaults.val_every)
    p.add_argument("--ckpt-minutes", type=float, default=defaults.ckpt_minutes)
    p.add_argument("--ckpt-every", type=int, default=defaults.ckpt_every)
    p.add_argument("--grad-clip", type=float, default=defaults.grad_clip)
    p.add_argument(
        "--ema",
        type=float,
        default=defaults.ema,
        help="export and validate a moving average of the weights with this decay, e.g. 0.999 (0 = off)",
    )
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (bit-for-bit resume)")
    p.add_argument("--no-progress", action="store_true", help="no tqdm bar (logs still go to log.jsonl)")
    p.add_argument("--export", default=None, metavar="DIR", help="write the final weights here (default OUT/model)")
    p.add_argument("--fp16", action="store_true", help="export the weights in float16")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="network", metavar="NETWORK")
    sub.required = True

    v = sub.add_parser("vha", help="the Volumetric Heatmap Autoencoder", description="train a VHA (paper Table 1)")
    d = VHAConfig()
    _common(v, d)
    v.add_argument("--version", type=int, choices=(1, 2, 3), default=d.version)
    v.add_argument("--preset", default=d.preset, choices=("jta", "panoptic", "h36m"))
    v.add_argument("--image-size", type=_pair, default=d.image_size, help="frame size H,W in pixels")
    v.add_argument("--crop", type=_pair, default=d.crop, help="crop h,w in voxels")
    v.add_argument("--person-crop", type=float, default=d.person_crop)
    v.add_argument("--sigma", type=float, default=d.sigma)
    v.add_argument("--sigma-schedule", type=_schedule, default=d.sigma_schedule, help='e.g. "8:0.1,4:0.25"')
    v.add_argument("--no-snap", action="store_true", help="render exact centres instead of voxel-snapped ones")
    v.add_argument("--fg-weight", type=float, default=d.fg_weight, help="loss weight (1 + w * H) on the targets")
    v.add_argument("--mix", type=int, default=d.mix, help="frames superimposed in each training crop")
    v.add_argument("--leaky-output", type=float, default=d.leaky_output, help="slope of the output's LeakyReLU")
    v.add_argument("--leaky-code", type=float, default=d.leaky_code, help="initial slope of the hidden LeakyReLUs")
    v.add_argument("--leaky-code-until", type=float, default=d.leaky_code_until, help="fraction of steps to 0")
    v.add_argument("--init-scheme", choices=("lsuv", "default"), default=d.init_scheme)
    v.add_argument("--val-frames", type=int, default=d.val_frames)
    v.add_argument(
        "--init",
        default=d.init,
        help=(
            "start from these weights: a VHA (plain recipe); identity, a tied/coarse checkpoint or a bundled "
            "coarse name such as vha2 (windows recipe)"
        ),
    )
    v.add_argument("--recipe", choices=("plain", "windows"), default=d.recipe, help="see loco.training.windows")
    v.add_argument("--window-depth", type=int, default=d.window_depth, help="code positions per window")
    v.add_argument("--margin", type=int, default=d.margin, help="window edge voxels left out of the loss")
    v.add_argument("--depth-margin", type=int, default=d.depth_margin, help="window edge bins left out of the loss")
    v.add_argument("--peak-weight", type=float, default=d.peak_weight)
    v.add_argument("--peak-margin", type=float, default=d.peak_margin)
    v.add_argument("--fp-weight", type=float, default=d.fp_weight)
    v.add_argument("--small-fraction", type=float, default=d.small_fraction, help="frames at 1/4 of --image-size")
    v.add_argument(
        "--windows-per-frame",
        type=int,
        default=d.windows_per_frame,
        help="steps each synthetic frame serves (windows recipe; raise it on a GPU)",
    )
    v.add_argument(
        "--isolation-power",
        type=float,
        default=d.isolation_power,
        help="windows on a joint pick it with probability ~ (joints within --isolation-radius)^-power (0: uniform)",
    )
    v.add_argument("--isolation-radius", type=float, default=d.isolation_radius, help="voxels (see VHAConfig)")
    v.add_argument(
        "--grid-jitter",
        action="store_true",
        help="cut each window's frame by 0..stride-1 rows/columns at the bottom/right (every frame size is trained)",
    )
    v.add_argument(
        "--end-windows",
        type=float,
        default=d.end_windows,
        help="fraction of windows at the volume's first or last code positions (default: %(default)s)",
    )
    v.add_argument(
        "--empty-weight",
        type=float,
        default=d.empty_weight,
        help="weight of a penalty on the output above 0.02 for an all-zero volume (default: %(default)s, off)",
    )
    v.add_argument(
        "--ridge-weight",
        type=float,
        default=d.ridge_weight,
        help="weight of a hinge making the output fall off from each target peak over its 3x3x3 neighbourhood, "
        "against diagonal twin peaks (default: %(default)s, off)",
    )
    v.add_argument(
        "--no-exact-borders",
        dest="exact_borders",
        action="store_false",
        help="windows never overhang the frame (the behaviour before exact borders; see VHAConfig)",
    )
    v.add_argument("--bypass-fuser", action="store_true", help="train the per-joint path alone")
    v.add_argument(
        "--freeze-code",
        action="store_true",
        help="train the decoder side only: the encoder and fuser keep --init's weights, so its code stays the same "
        "(windows recipe)",
    )
    v.add_argument(
        "--untie",
        action="store_true",
        help="give every code position its own per-joint kernels, starting from --init's tied ones (windows recipe)",
    )
    v.add_argument(
        "--untied-lr-scale",
        type=float,
        default=d.untied_lr_scale,
        help="the per-position kernels' lr is --lr times this (with --untie)",
    )
    v.add_argument("--fuser-init", default=d.fuser_init, help="copy the fuser/defuser of this CoarseVHA file")
    v.add_argument(
        "--fuser-lr-scale", type=float, default=d.fuser_lr_scale, help="the fuser's/defuser's lr is --lr times this"
    )
    v.add_argument("--first-pad", type=int, default=d.first_pad)
    v.add_argument("--kernel", type=int, default=d.kernel)
    v.add_argument("--eval-frames", type=int, default=0, help="at the end, Table 2 on this many full frames")

    c = sub.add_parser("predictor", help="the Code Predictor", description="train a Code Predictor on e(H)")
    d = PredictorConfig()
    _common(c, d)
    c.add_argument("--vha", default=d.vha, help="the frozen VHA (bundled name or folder)")
    c.add_argument("--backbone", default=d.backbone, choices=("light", "inception_v3"))
    c.add_argument("--preset", default=d.preset, choices=("jta", "panoptic", "h36m"))
    c.add_argument("--image-size", type=_pair, default=d.image_size)
    c.add_argument("--length", type=int, default=d.length)
    c.add_argument("--no-augment", action="store_true")
    c.add_argument("--workers", type=int, default=d.workers)
    c.add_argument("--val-frames", type=int, default=d.val_frames)
    c.add_argument("--code-weight", type=float, default=d.code_weight)
    c.add_argument("--init", default=d.init, help="start from these Code Predictor weights")

    r = sub.add_parser("refiner", help="the Pose Refiner", description="train a Pose Refiner (paper Sec. 3.4)")
    d = RefinerConfig()
    _common(r, d)
    r.add_argument("--preset", default=d.preset, choices=("jta", "panoptic", "h36m"))
    r.add_argument("--real", default=d.real, help="an .npy of real (N, 14, 3) poses in metres to add")
    r.add_argument("--drop-prob", type=float, default=d.drop_prob)
    r.add_argument("--noise", type=float, default=d.noise)
    r.add_argument("--noise-per-metre", type=float, default=d.noise_per_metre)
    r.add_argument("--pool-poses", type=int, default=d.pool_poses, help="synthetic training poses")
    r.add_argument("--val-poses", type=int, default=d.val_poses, help="held-out poses for validation")


_SKIP = {
    "network",
    "resume",
    "no_progress",
    "export",
    "fp16",
    "eval_frames",
    "no_snap",
    "no_augment",
    "_module",
    "command",
}


def config_from_args(args: argparse.Namespace) -> TrainConfig:
    """The config of a fresh run from the parsed arguments."""
    cls = {"vha": VHAConfig, "predictor": PredictorConfig, "refiner": RefinerConfig}[args.network]
    kw = {k: v for k, v in vars(args).items() if k not in _SKIP and v is not None}
    kw["progress"] = not args.no_progress
    kw.setdefault("out", f"runs/{args.network}")
    if kw.get("out") is None:
        kw["out"] = f"runs/{args.network}"
    if args.network == "vha":
        kw["snap"] = not args.no_snap
    if args.network == "predictor":
        kw["augment"] = not args.no_augment
    return cls(**kw)


def run(args: argparse.Namespace) -> int:
    import torch

    from loco.training.trainer import load_checkpoint

    if args.resume:
        config = load_checkpoint(args.resume)["config"]
        if config.kind != args.network:
            raise ValueError(f"{args.resume} is a {config.kind} run, not a {args.network} run")
        if args.steps is not None:
            config = config.replace(steps=args.steps)
        if args.threads:  # the CPU thread count changes speed, not the run (bit for bit only at the same count)
            config = config.replace(threads=args.threads)
        resume = args.resume
    else:
        config = config_from_args(args)
        resume = None
    if config.kind == "vha":
        from loco.training.vha import evaluate_vha, train_vha

        trainer = train_vha(config, resume=resume)
    elif config.kind == "predictor":
        from loco.training.predictor import train_predictor

        trainer = train_predictor(config, resume=resume)
    else:
        from loco.training.refiner import train_refiner

        trainer = train_refiner(config, resume=resume)
    if not trainer.dist.main:
        return _finish(trainer)
    model = trainer.final_model  # the weights' moving average under --ema
    if hasattr(model, "to_vha"):  # the windows recipe trains a CoarseVHA: export the VHA it equals
        model = model.to_vha()
    export = Path(args.export) if args.export else Path(config.out) / "model"
    if args.fp16:
        model = model.half()
    meta = {"trained_steps": trainer.state.step, "train_config": config.to_dict()}
    if config.kind == "predictor":
        meta["image_size"] = list(config.image_size)
    model.save_pretrained(export, metadata=meta)
    print(f"weights -> {export}")
    if config.kind == "vha" and getattr(args, "eval_frames", 0):
        result = evaluate_vha(
            model.float(),
            args.eval_frames,
            preset=config.preset,
            image_size=config.image_size,
            seed=config.val_seed,
            sigma=config.sigma,
            snap=config.snap,
            device=trainer.device,
            progress=True,
        )
        print(json.dumps(result))
    del torch
    return _finish(trainer)


def _finish(trainer) -> int:
    """Leave the process group; a distributed process then exits here, skipping the interpreter's teardown.

    The gloo (or NCCL) process group outlives ``destroy_process_group()``: DDP's reducer holds it, and the trainer
    sits in a reference cycle, so its C++ destructor would run while the interpreter shuts down, where it
    intermittently aborted a rank (SIGABRT, about 1 run in 100 of the 2-process gloo test). Every file is written and
    closed by now (checkpoints, ``log.jsonl``, the export), so the exit skips nothing of the run's.
    """
    distributed = trainer.dist.enabled
    trainer.close()
    if not distributed:
        return 0
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)
