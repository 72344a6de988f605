"""Saving and loading weights: safetensors + ``config.json``, never unpickling by default."""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file

from loco._checks import check_device

__all__ = ["PretrainedMixin", "save_pretrained", "load_pretrained", "PRETRAINED_NAMES", "WEIGHTS_DIR"]

CONFIG_NAME = "config.json"
WEIGHTS_NAME = "model.safetensors"
FORMAT = "loco"

#: Folder of the weights shipped in the package: ``loco/weights/<name>/{config.json, model.safetensors}``.
WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"

#: Names :meth:`PretrainedMixin.from_pretrained` resolves, per model class.
PRETRAINED_NAMES: dict[str, tuple[str, ...]] = {
    "VHA": ("vha1", "vha2", "vha3", "vha2_c3", "vha2_c3p"),
    "CodePredictor": ("code_predictor_light", "code_predictor_inception"),
    "PoseRefiner": ("pose_refiner",),
}


def _model_classes() -> dict[str, type]:
    from loco.models.code_predictor import CodePredictor
    from loco.models.refiner import PoseRefiner
    from loco.models.vha import VHA

    return {"VHA": VHA, "CodePredictor": CodePredictor, "PoseRefiner": PoseRefiner}


def save_pretrained(model: torch.nn.Module, directory: str | Path, metadata: dict | None = None) -> Path:
    """Write ``model`` to ``directory`` as ``model.safetensors`` + ``config.json``.

    Args:
        model: a :class:`VHA`, :class:`CodePredictor` or :class:`PoseRefiner`.
        directory: created if missing; existing files of the same names are overwritten.
        metadata: extra JSON-serialisable information stored under ``"metadata"`` in the config.

    Returns:
        The directory.
    """
    classes = _model_classes()
    name = type(model).__name__
    if name not in classes:
        raise TypeError(f"model must be one of {sorted(classes)}, got {name}")
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    save_file(tensors, str(directory / WEIGHTS_NAME), metadata={"format": "pt"})
    config = {"format": FORMAT, "class": name, "config": model.config, "metadata": metadata or {}}
    (directory / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    return directory


def _resolve(name_or_path: str | Path, expected: str | None) -> Path:
    path = Path(name_or_path)
    if path.exists():
        return path.parent if path.is_file() else path
    names = PRETRAINED_NAMES.get(expected, ()) if expected else sum(PRETRAINED_NAMES.values(), ())
    if str(name_or_path) in names:
        shipped = WEIGHTS_DIR / str(name_or_path)
        if not (shipped / WEIGHTS_NAME).is_file():
            raise FileNotFoundError(f"weights {name_or_path!r} are not bundled with this install (looked in {shipped})")
        return shipped
    raise ValueError(f"unknown weights {str(name_or_path)!r}: not a path, and not one of {list(names)}")


def load_pretrained(name_or_path: str | Path, device: str | torch.device | None = None, expected: str | None = None):
    """Load a model written by :func:`save_pretrained` (or a bundled name), strictly, without pickle.

    Args:
        name_or_path: a directory holding ``config.json`` + ``model.safetensors``, one of those files, or a bundled
            name (:data:`PRETRAINED_NAMES`).
        device: where to put the model; default CPU.
        expected: the class name the caller wants; a config of another class raises ``ValueError``.

    Returns:
        The model in eval mode.
    """
    device = check_device(device) if device is not None else None
    directory = _resolve(name_or_path, expected)
    config_path, weights_path = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    for p in (config_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(f"{p} not found (a loco weights folder holds {CONFIG_NAME} and {WEIGHTS_NAME})")
    try:
        config = json.loads(config_path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ValueError(f"{config_path} is not a loco model config: not JSON ({exc})") from exc
    if not isinstance(config, dict) or config.get("format") != FORMAT or "class" not in config:
        raise ValueError(f"{config_path} is not a loco model config")
    classes = _model_classes()
    name = config["class"]
    if name not in classes:
        raise ValueError(f"{config_path} names unknown class {name!r}; valid: {sorted(classes)}")
    if expected is not None and name != expected:
        raise ValueError(f"{directory} holds a {name}, not a {expected}")
    model = classes[name](**config.get("config", {}))
    state = load_file(str(weights_path), device="cpu")
    model.load_state_dict(state, strict=True)
    model.eval()
    return model.to(device) if device is not None else model


class PretrainedMixin:
    """``save_pretrained`` / ``from_pretrained`` for the loco networks (safetensors + ``config.json``)."""

    def save_pretrained(self, directory: str | Path, metadata: dict | None = None) -> Path:
        """Write ``model.safetensors`` + ``config.json`` to ``directory``; see :func:`save_pretrained`."""
        return save_pretrained(self, directory, metadata)

    def to_channels_last(self):
        """Put 4-D weights in ``channels_last`` and 5-D ones in ``channels_last_3d`` (in place; returns self).

        ``module.to(memory_format=torch.channels_last)`` refuses the VHA's Conv3d weights; this handles both ranks.
        Inputs may stay contiguous: convolutions follow their weights' layout.
        """
        formats = {4: torch.channels_last, 5: torch.channels_last_3d}
        for p in self.parameters():
            if p.dim() in formats:
                p.data = p.data.contiguous(memory_format=formats[p.dim()])
        return self

    @classmethod
    def from_pretrained(cls, name_or_path: str | Path, device: str | torch.device | None = None):
        """Load bundled weights by name, or a folder / file written by :meth:`save_pretrained`."""
        return load_pretrained(name_or_path, device=device, expected=cls.__name__)
