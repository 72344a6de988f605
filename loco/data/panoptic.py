"""CMU Panoptic Studio: ``hdPose3d_stage1_coco19`` bodies projected to one HD camera, mapped to the 14 joints.

Layout of a sequence directory (as ``getData.sh`` of the panoptic-toolbox writes it)::

    <seq>/calibration_<seq>.json                          {"cameras": [{"name": "00_16", "type": "hd", "K": 3x3,
                                                            "distCoef": 5, "R": 3x3, "t": 3x1, ...}, ...]}
    <seq>/hdPose3d_stage1_coco19/body3DScene_00000123.json {"bodies": [{"id": 0, "joints19": 76 numbers
                                                            (x, y, z, confidence) x 19, centimetres}, ...]}
    <seq>/hdImgs/00_16/00_16_00000123.jpg                  the HD frames (optional)

World points go to the camera frame with ``X_cam = R X + t`` (centimetres), then to metres. The COCO-19 body has no
head top: it is estimated as ``c + 0.6 (c - neck)``, ``c`` the middle of the ears (else of the eyes, else the
nose), which puts it about 12 cm above the ears of an adult. Lens distortion (``distCoef``) is returned but not
applied: ``poses2d`` is the pinhole projection, as everywhere in loco.
"""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import torch

from loco._checks import check_int
from loco.data._io import DataFormatError, as_array, read_image, read_json, require_dir
from loco.geometry import Camera

__all__ = ["Panoptic", "COCO19_TO_JTA14", "coco19_to_jta14", "read_calibration"]

#: COCO-19 index of each of the 14 LoCO joints (head_top, index 0, is estimated, see the module docstring).
COCO19_TO_JTA14: tuple[int, ...] = (-1, 0, 9, 10, 11, 3, 4, 5, 12, 13, 14, 6, 7, 8)

_POSE_DIR = "hdPose3d_stage1_coco19"
_BODY_FORMAT = '{"bodies": [{"id": int, "joints19": 76 numbers (x, y, z, confidence) x 19 in cm}]}'


def coco19_to_jta14(joints19: np.ndarray, min_confidence: float = 0.1) -> np.ndarray:
    """Map COCO-19 joints to the 14 LoCO joints.

    Args:
        joints19: (..., 19, 4) ``x, y, z, confidence``.
        min_confidence: joints below it become NaN.

    Returns:
        (..., 14, 3) float64, NaN where a joint is missing.
    """
    j = np.asarray(joints19, dtype=np.float64)
    xyz = np.where((j[..., 3:4] >= min_confidence), j[..., :3], np.nan)
    out = np.full(j.shape[:-2] + (14, 3), np.nan)
    for k, src in enumerate(COCO19_TO_JTA14):
        if src >= 0:
            out[..., k, :] = xyz[..., src, :]
    neck = xyz[..., 0, :]
    ears = 0.5 * (xyz[..., 16, :] + xyz[..., 18, :])
    eyes = 0.5 * (xyz[..., 15, :] + xyz[..., 17, :])
    centre = np.where(np.isfinite(ears), ears, np.where(np.isfinite(eyes), eyes, xyz[..., 1, :]))
    out[..., 0, :] = centre + 0.6 * (centre - neck)
    return out


def read_calibration(path: Path, camera: str) -> dict:
    """The camera ``camera`` (e.g. ``"00_16"``) of a Panoptic calibration file.

    Returns:
        dict ``camera`` (:class:`~loco.geometry.Camera`), ``R`` (3, 3), ``t`` (3,) centimetres, ``dist`` (5,),
        ``resolution`` (W, H).
    """
    what = 'a Panoptic calibration JSON {"cameras": [{"name", "K", "distCoef", "R", "t", "resolution"}]}'
    data = read_json(path, what)
    if not isinstance(data, dict) or not isinstance(data.get("cameras"), list):
        raise DataFormatError(f"{path}: no 'cameras' list; expected {what}")
    names = []
    for cam in data["cameras"]:
        if not isinstance(cam, dict):
            raise DataFormatError(f"{path}: every entry of 'cameras' must be an object; expected {what}")
        names.append(cam.get("name"))
        if cam.get("name") == camera:
            try:
                k = as_array(cam["K"], path, f"K of camera {camera}", (3, 3))
                r = as_array(cam["R"], path, f"R of camera {camera}", (3, 3))
                t = as_array(cam["t"], path, f"t of camera {camera}", (3, 1)).reshape(3)
            except KeyError as exc:
                raise DataFormatError(f"{path}: camera {camera} has no {exc}; expected {what}") from None
            dist = np.asarray(cam.get("distCoef", np.zeros(5)), dtype=np.float64).reshape(-1)
            res = tuple(int(x) for x in cam.get("resolution", (1920, 1080)))
            return {
                "camera": Camera(float(k[0, 0]), float(k[1, 1]), float(k[0, 2]), float(k[1, 2])),
                "R": r,
                "t": t,
                "dist": dist,
                "resolution": res,
            }
    raise DataFormatError(f"{path}: no camera named {camera!r}; found {sorted(n for n in names if n)[:20]}")


def _read_bodies(path: Path) -> tuple[np.ndarray, np.ndarray]:
    data = read_json(path, f"a Panoptic body file {_BODY_FORMAT}")
    if not isinstance(data, dict) or not isinstance(data.get("bodies"), list):
        raise DataFormatError(f"{path}: no 'bodies' list; expected {_BODY_FORMAT}")
    ids, joints = [], []
    for body in data["bodies"]:
        if not isinstance(body, dict) or "joints19" not in body:
            raise DataFormatError(f"{path}: a body without 'joints19'; expected {_BODY_FORMAT}")
        joints.append(as_array(body["joints19"], path, "joints19", (76,)).reshape(19, 4))
        ids.append(int(body.get("id", len(ids))))
    return np.array(ids, dtype=np.int64), np.array(joints).reshape(-1, 19, 4)


class Panoptic(torch.utils.data.Dataset):
    """CMU Panoptic frames of one HD camera with 14-joint 3D poses in that camera's frame.

    Args:
        root: a sequence directory (holding ``hdPose3d_stage1_coco19/``) or a directory of sequence directories.
        camera: the HD camera name, ``"PP_NN"`` (panel 00 is the HD ring).
        step: keep every ``step``-th annotated frame.
        load_images: read ``hdImgs/<camera>/<camera>_<frame:08d>.jpg`` into ``image`` (missing files raise).
        min_confidence: joints with a lower confidence are NaN.

    A sample is a dict: ``image`` (3, H, W) uint8 (when ``load_images``), ``camera``, ``dist`` (5,) float64,
    ``poses3d`` (P, 14, 3) float32 camera frame metres (NaN for missing joints), ``poses2d`` (P, 14, 2) float32,
    ``visibility`` / ``on_screen`` (P, 14) bool (confident, in front and inside the image: Panoptic has no
    occlusion labels), ``person_ids`` (P,), ``sequence``, ``frame``, ``path``.
    """

    def __init__(
        self,
        root: str | Path,
        camera: str = "00_16",
        step: int = 1,
        load_images: bool = True,
        min_confidence: float = 0.1,
    ) -> None:
        if not isinstance(camera, str) or not re.fullmatch(r"\d\d_\d\d", camera):
            raise ValueError(f"camera must be a name like '00_16', got {camera!r}")
        step = check_int("step", step, 1)
        root = require_dir(Path(root), f"a Panoptic sequence directory (with {_POSE_DIR}/) or a folder of them")
        seq_dirs = (
            [root] if (root / _POSE_DIR).is_dir() else sorted(p for p in root.iterdir() if (p / _POSE_DIR).is_dir())
        )
        if not seq_dirs:
            raise FileNotFoundError(f"{root}: no {_POSE_DIR}/ directory in it or its subdirectories")
        self.camera_name, self.load_images, self.min_confidence = camera, bool(load_images), float(min_confidence)
        self.calibration: dict[str, dict] = {}
        self.items: list[tuple[Path, int]] = []
        for seq in seq_dirs:
            self.calibration[seq.name] = read_calibration(seq / f"calibration_{seq.name}.json", camera)
            frames = sorted(
                int(m.group(1))
                for p in (seq / _POSE_DIR).iterdir()
                if (m := re.fullmatch(r"body3DScene_(\d+)\.json", p.name))
            )
            self.items += [(seq, f) for f in frames[::step]]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> dict:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -len(self) <= index < len(self):
            raise IndexError(f"index {index} out of range for Panoptic of length {len(self)}")
        seq, frame = self.items[index]
        calib = self.calibration[seq.name]
        ids, joints19 = _read_bodies(seq / _POSE_DIR / f"body3DScene_{frame:08d}.json")
        world = coco19_to_jta14(joints19, self.min_confidence)
        cam_pts = (world @ calib["R"].T + calib["t"]) / 100.0
        cam = calib["camera"]
        z = cam_pts[..., 2]
        with np.errstate(divide="ignore", invalid="ignore"):
            uv = np.stack([cam.fx * cam_pts[..., 0] / z + cam.cx, cam.fy * cam_pts[..., 1] / z + cam.cy], axis=-1)
        w, h = calib["resolution"]
        ok = np.isfinite(z) & (z > 0)
        on_screen = ok & (uv[..., 0] >= 0) & (uv[..., 0] < w) & (uv[..., 1] >= 0) & (uv[..., 1] < h)
        path = seq / "hdImgs" / self.camera_name / f"{self.camera_name}_{frame:08d}.jpg"
        sample = {
            "camera": cam,
            "dist": calib["dist"],
            "poses3d": torch.from_numpy(cam_pts.astype(np.float32)),
            "poses2d": torch.from_numpy(uv.astype(np.float32)),
            "visibility": torch.from_numpy(on_screen),
            "on_screen": torch.from_numpy(on_screen),
            "person_ids": torch.from_numpy(ids),
            "sequence": seq.name,
            "frame": frame,
            "path": str(path),
        }
        if self.load_images:
            sample["image"] = read_image(path, f"a Panoptic HD frame of camera {self.camera_name}")
        return sample
