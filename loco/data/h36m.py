"""Human3.6M in the common ``data_3d_h36m.npz`` layout (VideoPose3D's ``prepare_data_h36m.py``).

Files:

* ``data_3d_h36m.npz`` with one key ``positions_3d``: ``{subject: {action: (N, 32, 3) float}}``, world frame,
  metres (the 17-joint reduction ``(N, 17, 3)`` is accepted too). It is a pickled object array; it is read with a
  restricted unpickler that only builds dicts, strings and numpy arrays, so a hostile file cannot run code.
* a camera JSON (the project does not ship the calibration):
  ``{"intrinsic": [{"id": "54138969", "center": [cx, cy], "focal_length": [fx, fy], "res_w": 1000,
  "res_h": 1002}, ... 4 cameras], "extrinsic": {"S1": [{"orientation": [w, x, y, z], "translation": [x, y, z]
  (millimetres)}, ... 4 cameras], ...}}`` — the same dictionaries as VideoPose3D's ``h36m_dataset.py``, dumped
  with ``json.dump``. The camera frame is ``X_cam = R^T (X - t)``, ``R`` the orientation quaternion's rotation.

Protocols: subjects S1, S5, S6, S7, S8 train and S9, S11 test. ``"p1"`` scores MPJPE and ``"p2"`` PA-MPJPE (after
rigid alignment) on the same frames, so both give the same samples here; ``step`` subsamples frames (64 is common
for test sets).
"""

from __future__ import annotations

import io
import pickle
import zipfile
from pathlib import Path

import numpy as np
import torch

from loco._checks import check_choice, check_int
from loco.data._io import DataFormatError, as_array, read_json, require_file
from loco.geometry import Camera

__all__ = ["H36M", "PROTOCOLS", "H36M32_TO_JTA14", "H36M17_TO_JTA14", "load_positions"]

PROTOCOLS: dict[str, dict[str, tuple[str, ...]]] = {
    "p1": {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
    "p2": {"train": ("S1", "S5", "S6", "S7", "S8"), "test": ("S9", "S11")},
}

#: Index in the 32-joint H3.6M skeleton of each LoCO joint (head_top = the head "site", neck = thorax).
H36M32_TO_JTA14: tuple[int, ...] = (15, 13, 25, 26, 27, 17, 18, 19, 1, 2, 3, 6, 7, 8)
#: Same for the 17-joint reduction (VideoPose3D order).
H36M17_TO_JTA14: tuple[int, ...] = (10, 8, 14, 15, 16, 11, 12, 13, 1, 2, 3, 4, 5, 6)

_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class _RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        if (module, name) in _ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refusing to load {module}.{name}")


def load_positions(path: Path) -> dict[str, dict[str, np.ndarray]]:
    """Read ``positions_3d`` from a ``data_3d_h36m.npz`` without running arbitrary pickled code.

    Returns:
        ``{subject: {action: (N, J, 3) float64}}`` with J = 32 or 17.
    """
    what = "a data_3d_h36m.npz with 'positions_3d' = {subject: {action: (N, 32, 3) array}}"
    path = require_file(Path(path), what)
    try:
        with zipfile.ZipFile(path) as zf:
            if "positions_3d.npy" not in zf.namelist():
                raise DataFormatError(f"{path}: no 'positions_3d' array (found {zf.namelist()}); expected {what}")
            buf = io.BytesIO(zf.read("positions_3d.npy"))
    except zipfile.BadZipFile:
        raise DataFormatError(f"{path}: not an .npz (zip) file; expected {what}") from None
    try:
        version = np.lib.format.read_magic(buf)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(buf)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(buf)
        if dtype.hasobject:
            arr = _RestrictedUnpickler(buf).load()
        else:
            raise DataFormatError(f"{path}: 'positions_3d' is a plain {dtype} array of shape {shape}; expected {what}")
    except (ValueError, pickle.UnpicklingError, EOFError) as exc:
        if isinstance(exc, DataFormatError):
            raise
        raise DataFormatError(f"{path}: cannot read 'positions_3d' ({exc}); expected {what}") from None
    data = arr.item() if isinstance(arr, np.ndarray) and arr.shape == () else arr
    if not isinstance(data, dict):
        raise DataFormatError(f"{path}: 'positions_3d' holds {type(data).__name__}; expected {what}")
    out: dict[str, dict[str, np.ndarray]] = {}
    for subject, actions in data.items():
        if not isinstance(actions, dict):
            raise DataFormatError(f"{path}: positions_3d[{subject!r}] is not a dict of actions; expected {what}")
        out[str(subject)] = {}
        for action, pos in actions.items():
            a = np.asarray(pos, dtype=np.float64)
            if a.ndim != 3 or a.shape[1] not in (32, 17) or a.shape[2] != 3:
                raise DataFormatError(
                    f"{path}: positions_3d[{subject!r}][{action!r}] has shape {a.shape}; expected (N, 32, 3) or "
                    "(N, 17, 3)"
                )
            out[str(subject)][str(action)] = a
    return out


def _quat_to_matrix(q: np.ndarray) -> np.ndarray:
    w, x, y, z = q / np.linalg.norm(q)
    return np.array(
        [
            [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
            [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
            [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
        ]
    )


def read_cameras(path: Path) -> dict:
    """Parse the camera JSON (see the module docstring) into intrinsics and per-subject extrinsics."""
    what = "an H3.6M camera JSON {'intrinsic': [4 cameras], 'extrinsic': {subject: [4 cameras]}}"
    data = read_json(path, what)
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("intrinsic"), list)
        or not isinstance(data.get("extrinsic"), dict)
    ):
        raise DataFormatError(f"{path}: needs 'intrinsic' (list) and 'extrinsic' (dict); expected {what}")
    intr = []
    for k, cam in enumerate(data["intrinsic"]):
        try:
            c = as_array(cam["center"], path, f"intrinsic[{k}].center", (2,))
            f = as_array(cam["focal_length"], path, f"intrinsic[{k}].focal_length", (2,))
            intr.append(
                {
                    "id": str(cam.get("id", k)),
                    "camera": Camera(float(f[0]), float(f[1]), float(c[0]), float(c[1])),
                    "size": (int(cam.get("res_h", 1002)), int(cam.get("res_w", 1000))),
                }
            )
        except (KeyError, TypeError) as exc:
            raise DataFormatError(f"{path}: intrinsic[{k}] lacks {exc}; expected {what}") from None
    extr = {}
    for subject, cams in data["extrinsic"].items():
        if not isinstance(cams, list) or len(cams) != len(intr):
            raise DataFormatError(f"{path}: extrinsic[{subject!r}] must list {len(intr)} cameras; expected {what}")
        extr[subject] = []
        for k, cam in enumerate(cams):
            try:
                q = as_array(cam["orientation"], path, f"extrinsic[{subject!r}][{k}].orientation", (4,))
                t = as_array(cam["translation"], path, f"extrinsic[{subject!r}][{k}].translation", (3,))
            except (KeyError, TypeError) as exc:
                raise DataFormatError(f"{path}: extrinsic[{subject!r}][{k}] lacks {exc}; expected {what}") from None
            extr[subject].append((_quat_to_matrix(q), t / 1000.0))
    return {"intrinsic": intr, "extrinsic": extr}


class H36M(torch.utils.data.Dataset):
    """Human3.6M 3D poses (one person) in each camera's frame, mapped to the 14 joints.

    Args:
        positions: path of ``data_3d_h36m.npz``.
        cameras: path of the camera JSON (module docstring).
        split: ``"train"`` or ``"test"``.
        protocol: ``"p1"`` or ``"p2"`` (:data:`PROTOCOLS`).
        step: keep every ``step``-th frame.
        cameras_used: indices (0..3) of the cameras to use; all four by default.
        subjects: override the protocol's subjects.

    A sample is a dict: ``camera``, ``poses3d`` (1, 14, 3) float32 camera frame metres, ``poses2d`` (1, 14, 2)
    float32, ``visibility`` / ``on_screen`` (1, 14) bool, ``subject``, ``action``, ``camera_id``, ``frame``.
    Images are not part of this layout.
    """

    def __init__(
        self,
        positions: str | Path,
        cameras: str | Path,
        split: str = "test",
        protocol: str = "p1",
        step: int = 1,
        cameras_used: tuple[int, ...] | None = None,
        subjects: tuple[str, ...] | None = None,
    ) -> None:
        protocol = check_choice("protocol", protocol, tuple(sorted(PROTOCOLS)))
        split = check_choice("split", split, ("train", "test"))
        step = check_int("step", step, 1)
        self.positions = load_positions(Path(positions))
        self.cams = read_cameras(Path(cameras))
        n_cams = len(self.cams["intrinsic"])
        cameras_used = tuple(range(n_cams)) if cameras_used is None else tuple(cameras_used)
        if any(not 0 <= c < n_cams for c in cameras_used):
            raise ValueError(f"cameras_used must be indices in [0, {n_cams}), got {cameras_used}")
        subjects = PROTOCOLS[protocol][split] if subjects is None else tuple(subjects)
        self.items: list[tuple[str, str, int, int]] = []
        for subject in subjects:
            if subject not in self.positions:
                continue
            if subject not in self.cams["extrinsic"]:
                raise DataFormatError(f"{cameras}: no extrinsics for subject {subject!r}")
            for action in sorted(self.positions[subject]):
                n = self.positions[subject][action].shape[0]
                for cam in cameras_used:
                    self.items += [(subject, action, cam, f) for f in range(0, n, step)]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for H36M of length {len(self)}")
        subject, action, cam, frame = self.items[index]
        world = self.positions[subject][action][frame]
        mapping = H36M32_TO_JTA14 if world.shape[0] == 32 else H36M17_TO_JTA14
        world = world[list(mapping)]
        rot, t = self.cams["extrinsic"][subject][cam]
        xyz = (world - t) @ rot
        intr = self.cams["intrinsic"][cam]
        c = intr["camera"]
        uv = np.stack([c.fx * xyz[:, 0] / xyz[:, 2] + c.cx, c.fy * xyz[:, 1] / xyz[:, 2] + c.cy], axis=-1)
        h, w = intr["size"]
        on = (xyz[:, 2] > 0) & (uv[:, 0] >= 0) & (uv[:, 0] < w) & (uv[:, 1] >= 0) & (uv[:, 1] < h)
        return {
            "camera": c,
            "poses3d": torch.from_numpy(xyz[None].astype(np.float32)),
            "poses2d": torch.from_numpy(uv[None].astype(np.float32)),
            "visibility": torch.from_numpy(on[None]),
            "on_screen": torch.from_numpy(on[None]),
            "subject": subject,
            "action": action,
            "camera_id": intr["id"],
            "frame": frame,
        }
