"""Reading the authors' checkpoints (fabbrimatteo/LoCO): plain ``torch.save``'d state_dicts, legacy or zip format.

Three formats are recognised from their key sets: the VHA (``Autoencoder``, keys ``encoder.*``, ``fuser.*``,
``defuser.*``, ``decoder.*``; the version follows from the shapes), the Code Predictor's ``best.pth`` (keys
``f_extractor.*`` and ``main.*``; a training checkpoint ``{"model": state_dict, ...}`` works too) and the Pose
Refiner (``fc1.0``, ``fc2.0``, ``fc3.0``). Files are read with ``weights_only=True`` and ``map_location="cpu"``, so
checkpoints saved on a GPU load on a CPU-only machine and no pickled code ever runs.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from pathlib import Path

import torch

from loco.models.code_predictor import CodePredictor
from loco.models.refiner import PoseRefiner
from loco.models.vha import VHA, VHA_VERSIONS

__all__ = ["load_original_checkpoint", "model_from_state_dict", "KINDS"]

KINDS = ("vha", "code_predictor", "refiner")


def _kind_of(state: Mapping[str, torch.Tensor]) -> str:
    keys = set(state)
    if "fc1.0.weight" in keys:
        return "refiner"
    if "encoder.0.weight" in keys and "defuser.0.weight" in keys:
        return "vha"
    if any(k.startswith("f_extractor.") for k in keys):
        return "code_predictor"
    raise ValueError(f"unrecognised checkpoint: keys {sorted(keys)[:8]}... match no known format ({', '.join(KINDS)})")


def _vha_from(state: Mapping[str, torch.Tensor]) -> VHA:
    try:
        c1, c0 = state["encoder.0.weight"].shape[:2]
        c2, c3 = state["encoder.2.weight"].shape[0], state["encoder.4.weight"].shape[0]
        joints = state["fuser.0.weight"].shape[1]
    except (KeyError, IndexError) as exc:
        raise ValueError(f"VHA checkpoint lacks the encoder/fuser layout: {exc}") from exc
    for version, spec in VHA_VERSIONS.items():
        if (c1, c2, c3) == tuple(c0 // d for d in spec["divisors"]):
            return VHA(version=version, joints=int(joints), depth_bins=int(c0))
    raise ValueError(f"VHA checkpoint with channels {c0} -> {c1} -> {c2} -> {c3} matches no version of Table 1")


def _code_predictor_from(state: Mapping[str, torch.Tensor]) -> CodePredictor:
    # The head's layout names the VHA version: one ConvTranspose block per halving of the backbone's stride.
    backbone = "inception_v3" if any(k.startswith("f_extractor.Mixed_7c.") for k in state) else "light"
    n_up = sum(1 for k in state if re.fullmatch(r"main\.\d+\.main\.0\.weight", k))
    heads = [int(k.split(".")[1]) for k in state if re.fullmatch(r"main\.\d+\.weight", k)]
    if not heads:
        raise ValueError("Code Predictor checkpoint has no final 1x1 convolution (main.<i>.weight)")
    channels = int(state[f"main.{max(heads)}.weight"].shape[0])
    if backbone == "inception_v3":
        versions = {2: 1, 1: 2, 0: 3}.get(n_up)
    else:  # stride 32: v2 and v3 share the layout, the code's channels tell them apart
        versions = {1: 1, 0: 3 if channels == 316 // 8 else 2}.get(n_up)
    if versions is None:
        raise ValueError(f"Code Predictor checkpoint with {n_up} upsampling blocks matches no VHA version")
    divisor = VHA_VERSIONS[versions]["divisors"][2]
    depth_bins = 316 if 316 // divisor == channels else channels * divisor
    try:
        widths = tuple(int(state[f"main.{n_up + i}.main.1.weight"].shape[0]) for i in range(2))
    except KeyError as exc:
        raise ValueError(f"Code Predictor checkpoint lacks the head block {exc}") from exc
    return CodePredictor(backbone=backbone, vha_version=versions, depth_bins=depth_bins, head_widths=widths)


def model_from_state_dict(state: Mapping[str, torch.Tensor], kind: str = "auto") -> torch.nn.Module:
    """Build the loco model for one of the authors' state_dicts and load it strictly.

    Args:
        state: the state_dict (a ``module.`` prefix from ``DataParallel`` is removed).
        kind: ``"auto"`` (from the keys) or one of :data:`KINDS`.

    Returns:
        A :class:`VHA`, :class:`CodePredictor` or :class:`PoseRefiner` in eval mode.

    Raises:
        ValueError: unknown format, or keys / shapes that differ from the model's (listing them).
    """
    if not isinstance(state, Mapping) or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise TypeError("state must be a mapping of names to tensors")
    state = {k.removeprefix("module."): v for k, v in state.items()}
    if kind not in ("auto", *KINDS):
        raise ValueError(f"kind must be 'auto' or one of {KINDS}, got {kind!r}")
    kind = _kind_of(state) if kind == "auto" else kind
    model = {"vha": _vha_from, "code_predictor": _code_predictor_from, "refiner": lambda s: PoseRefiner()}[kind](state)
    own = model.state_dict()
    missing, unexpected = sorted(set(own) - set(state)), sorted(set(state) - set(own))
    bad = [
        f"{k}: {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in own
        if k in state and own[k].shape != state[k].shape
    ]
    if missing or unexpected or bad:
        raise ValueError(
            f"{kind} checkpoint does not match {type(model).__name__}{model.config}: missing {missing[:6]}, "
            f"unexpected {unexpected[:6]}, wrong shapes {bad[:6]}"
        )
    model.load_state_dict({k: v.to(own[k].dtype) for k, v in state.items()}, strict=True)
    return model.eval()


def load_original_checkpoint(path: str | Path, kind: str = "auto") -> torch.nn.Module:
    """Load one of the authors' ``.pth`` files (VHA, Code Predictor ``best.pth`` or Pose Refiner) on the CPU.

    Args:
        path: the ``.pth`` file (legacy pre-1.6 or zip format; GPU-tagged storages are mapped to the CPU).
        kind: ``"auto"`` or one of :data:`KINDS`.

    Returns:
        The model, in eval mode, on the CPU.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint {path} not found")
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # the unpickler's errors come in many types; say what failed and where
        raise ValueError(
            f"cannot read {path} as a weights-only torch checkpoint ({type(exc).__name__}); "
            "loco never unpickles arbitrary objects"
        ) from exc
    if isinstance(obj, Mapping) and "model" in obj and isinstance(obj["model"], Mapping):
        obj = obj["model"]  # a training checkpoint {"epoch", "model", "optimizer", ...}
    if not isinstance(obj, Mapping):
        raise ValueError(f"{path} holds a {type(obj).__name__}, not a state_dict")
    return model_from_state_dict(obj, kind)
