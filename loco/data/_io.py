"""File helpers for the dataset loaders: every missing or malformed file raises an error naming it and what was
expected."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import torch

__all__ = ["DataFormatError", "read_json", "read_image", "require_dir", "require_file", "as_array"]


class DataFormatError(ValueError):
    """A dataset file exists but does not hold what its format promises (the message names the file)."""


def require_file(path: Path, what: str) -> Path:
    """``path`` if it is a file; ``FileNotFoundError`` naming it and ``what`` it should be otherwise."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing; expected {what}")
    return path


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a directory; ``FileNotFoundError`` naming it and ``what`` it should hold otherwise."""
    path = Path(path)
    if not path.is_dir():
        raise FileNotFoundError(f"{path}: missing directory; expected {what}")
    return path


def read_json(path: Path, what: str):
    """Parse a JSON file, raising ``FileNotFoundError`` / :class:`DataFormatError` that name the file."""
    require_file(path, what)
    try:
        with open(path, encoding="utf-8") as f:
            return json.load(f)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataFormatError(f"{path}: not valid JSON ({exc}); expected {what}") from None


def as_array(value, path: Path, what: str, shape: tuple[int | None, ...], dtype=np.float64) -> np.ndarray:
    """``value`` as a numeric array of ``shape`` (``None`` for any size), or :class:`DataFormatError`."""
    try:
        arr = np.asarray(value, dtype=dtype)
    except (TypeError, ValueError):
        raise DataFormatError(f"{path}: {what} must be numeric with shape {_fmt(shape)}") from None
    if arr.ndim != len(shape) or any(s is not None and s != a for s, a in zip(shape, arr.shape)):
        raise DataFormatError(f"{path}: {what} must have shape {_fmt(shape)}, got {arr.shape}")
    return arr


def _fmt(shape: tuple[int | None, ...]) -> str:
    return "(" + ", ".join("N" if s is None else str(s) for s in shape) + ")"


def read_image(path: Path, what: str) -> torch.Tensor:
    """An RGB image file as a (3, H, W) uint8 tensor; errors name the file."""
    from PIL import Image, UnidentifiedImageError

    require_file(path, what)
    try:
        with Image.open(path) as im:
            arr = np.asarray(im.convert("RGB"))
    except (UnidentifiedImageError, OSError) as exc:
        raise DataFormatError(f"{path}: cannot be read as an image ({exc}); expected {what}") from None
    return torch.from_numpy(arr.copy()).permute(2, 0, 1).contiguous()
