"""The LoCO pipeline as a user meets it: ``LoCO.from_pretrained("vha2").predict(image)``.

One forward pass, whatever the number of people: the Code Predictor maps the (resized) image to a VHA code; the VHA
decoder restores the 14 volumetric heatmaps a few joints at a time while the peak search runs on each chunk
(:func:`loco.models.decode_peaks`; at most ``Settings.decode_budget_mb`` of volume is held, never the whole
``14 x D x H' x W'`` at large inputs); the peaks are lifted to metres (:func:`loco.ops.backproject`), grouped into
people (:func:`loco.association.associate`) and completed by the Pose Refiner. The post-processing (peaks -> poses)
is :func:`peaks_to_poses`, shared with anything that makes its own heatmaps (:func:`volume_to_poses` runs it on a
whole volume).

Decisions a user relies on:

* **Image size.** The networks run at the pipeline's ``input_size`` (``(H, W)``, e.g. 270 x 480 for the bundled
  ``"vha2"``). Another image is resized keeping its aspect ratio (``scale = min(H / h, W / w)``) and padded at the
  bottom/right with the ImageNet mean colour (zero after normalisation, as the Code Predictor pads); the intrinsics
  are scaled by the same factor. 3D poses are in the camera frame of the original image; ``poses2d`` are the 3D
  poses projected with the original camera, in the original image's pixels.
* **Unknown camera.** ``camera=None`` means ``Camera.from_fov(width, height)``: square pixels, principal point at the
  image centre, the JTA camera's horizontal field of view (:data:`loco.geometry.JTA_HFOV_DEG`, 79.3 degrees), so a
  1920x1080 image gets exactly the JTA camera ``fx = fy = 1158``. Metric depth is only as good as this guess: pass
  the real intrinsics when known (a :class:`~loco.Camera`, ``(fx, fy, cx, cy)`` or a dict).
* **Colour.** Grayscale, palette, 16-bit and RGBA images are converted to 8-bit RGB (alpha dropped).
* **Settings.** Defaults: peaks above 0.1, 6-connected (paper Eq. 3), sub-voxel ``"gaussian"`` refinement, the
  ``"hungarian"`` association, the refiner with the authors' demo thresholds. ``paper_compat=True`` gives the
  paper's: integer peaks and the ``"paper"`` association without the limb-length check (the original code).
"""

from __future__ import annotations

import contextlib
import json
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field, fields, replace
from pathlib import Path

import numpy as np
import torch

from loco import ops
from loco._checks import check_bool, check_choice, check_device, check_int, check_positive, check_real, check_shape
from loco.association import METHODS, associate, voxel_tolerance
from loco.geometry import Camera, VoxelGrid
from loco.kernels import BACKENDS
from loco.skeleton import JOINT_NAMES, NUM_JOINTS

__all__ = [
    "LoCO",
    "Prediction",
    "Settings",
    "PAPER_SETTINGS",
    "BUNDLED_PIPELINES",
    "DEFAULT_INPUT_SIZE",
    "MIN_IMAGE_SIDE",
    "peaks_to_poses",
    "volume_to_poses",
    "load_image",
    "as_camera",
    "available_pipelines",
]

PIPELINE_CONFIG = "pipeline.json"
PIPELINE_FORMAT = "loco-pipeline"

#: Network input ``(H, W)`` when a pipeline folder does not say (the Code Predictor's training default).
DEFAULT_INPUT_SIZE: tuple[int, int] = (270, 480)

#: Smallest accepted image side in pixels: below it there is nothing to see.
MIN_IMAGE_SIDE = 16

#: Bundled pipelines that are assembled from the bundled networks (``loco/weights/<name>/``) when their folder has
#: no ``pipeline.json`` of its own.
BUNDLED_PIPELINES: dict[str, dict[str, str]] = {
    "vha2": {"predictor": "code_predictor_light", "vha": "vha2_c3p", "refiner": "pose_refiner"},
}

IMAGE_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".tif", ".tiff", ".webp", ".ppm", ".pgm")

# ImageNet mean as uint8 RGB: the padding colour, zero after the Code Predictor's normalisation.
_PAD_RGB = (124, 116, 104)


@dataclass(frozen=True)
class Settings:
    """Post-processing settings of the pipeline (peak search, association, refiner).

    Attributes:
        threshold: minimum heatmap value of a peak (exclusive).
        connectivity: 6 (face neighbours, paper Eq. 3) or 26.
        refine: sub-voxel peak refinement, ``"gaussian"``, ``"quadratic"`` or ``None`` (integer peaks).
        association: ``"hungarian"`` or ``"paper"`` (:func:`loco.association.associate`).
        limb_check: reject joints whose limbs would be too long (:data:`loco.association.MAX_LIMB`); off in the
            original code.
        use_refiner: run the Pose Refiner (when the pipeline has one).
        hole_threshold, replace_threshold: :meth:`loco.models.PoseRefiner.refine` thresholds (the authors' demo).
        joints_per_chunk: joints decoded together by :func:`loco.models.decode_peaks` (memory vs speed); ``None``
            picks as many as fit in ``decode_budget_mb`` (all 14 at the bundled 480x270 input, where batching the
            decoder's convolutions is 2.3x faster than one joint at a time; one at a time on the 1920x1080 JTA grid,
            41 MB a joint).
        decode_budget_mb: the decoded volume held at once when ``joints_per_chunk`` is ``None``.
        backend: ops backend (``"auto"``: numba on CPU, Triton on CUDA).
        tf32: let CUDA run the networks' float32 convolutions and matrix products in TensorFloat-32 (PyTorch's own
            default for cuDNN convolutions). Off by default: on an H200 it made ``predict`` 1.5x faster on the demo
            frame (26.9 vs 40.2 ms) but moved 18 of its 48 people by more than 1 mm (up to 0.82 m) against the CPU,
            where with it off all 48 agree within 0.001 mm (``scripts/vha_gpu/pipeline_check.py``, 2026-12-04). The
            decoded heatmaps turn small differences in the code into peaks that cross the threshold or not. No
            effect on CPU; PyTorch's global flags are restored after each call.
    """

    threshold: float = 0.1
    connectivity: int = 6
    refine: str | None = "gaussian"
    association: str = "hungarian"
    limb_check: bool = True
    use_refiner: bool = True
    hole_threshold: float = 0.2
    replace_threshold: float = 1.0
    joints_per_chunk: int | None = None
    decode_budget_mb: float = 64.0
    backend: str = "auto"
    tf32: bool = False

    def __post_init__(self) -> None:
        # Every field is checked here, so a bad value fails when the settings are made (not inside predict), and
        # numpy numbers are stored as Python ones, so ``asdict`` stays JSON-serialisable (save_pretrained).
        for name in ("limb_check", "use_refiner", "tf32"):
            object.__setattr__(self, name, check_bool(name, getattr(self, name)))
        object.__setattr__(self, "association", check_choice("association", self.association, METHODS))
        object.__setattr__(self, "refine", check_choice("refine", self.refine, (None, "gaussian", "quadratic")))
        object.__setattr__(self, "connectivity", check_choice("connectivity", self.connectivity, (6, 26)))
        for name in ("threshold", "hole_threshold", "replace_threshold"):
            object.__setattr__(self, name, check_real(name, getattr(self, name), nan=False))
        object.__setattr__(self, "decode_budget_mb", check_positive("decode_budget_mb", self.decode_budget_mb))
        if self.joints_per_chunk is not None:
            object.__setattr__(self, "joints_per_chunk", check_int("joints_per_chunk", self.joints_per_chunk, 1))
        check_choice("backend", self.backend, BACKENDS)

    @classmethod
    def from_dict(cls, d: dict) -> Settings:
        names = {f.name for f in fields(cls)}
        unknown = set(d) - names
        if unknown:
            raise ValueError(f"unknown pipeline settings {sorted(unknown)}; valid: {sorted(names)}")
        return cls(**d)


def _check_settings(settings) -> Settings:
    """``settings``, or the default :class:`Settings` for None; ``TypeError`` for anything else."""
    if settings is None:
        return Settings()
    if not isinstance(settings, Settings):
        raise TypeError(f"settings must be a loco.pipeline.Settings or None, got {type(settings).__name__}")
    return settings


#: The paper's settings (``paper_compat=True``): integer 6-connected peaks, the paper's association without the
#: limb check, the refiner as in the authors' demo.
PAPER_SETTINGS = Settings(refine=None, association="paper", limb_check=False)


# --------------------------------------------------------------------------------------------- post-processing


def peaks_to_poses(
    peaks: ops.Peaks, grid: VoxelGrid, cameras: Camera | Sequence[Camera], settings: Settings | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """The pipeline's post-processing: peaks -> metres (back-projection) -> people (association), per image.

    Args:
        peaks: :class:`loco.ops.Peaks` of a batch of volumes on ``grid`` (from :func:`loco.ops.find_peaks` or
            :func:`loco.models.decode_peaks`).
        grid: the voxel grid the peaks live on.
        cameras: the intrinsics of the grid's image, one for the whole batch or one per batch element.
        settings: association settings (:class:`Settings`); integer peaks (``settings.refine is None``) get a half
            voxel of position tolerance in the association, refined ones none.

    Returns:
        per batch element ``(poses (P, 14, 3) float32 metres NaN where missing, confidence (P, 14) float32)``.
    """
    if not isinstance(peaks, ops.Peaks):
        raise TypeError(f"peaks must be a loco.ops.Peaks (find_peaks, decode_peaks), got {type(peaks).__name__}")
    settings = _check_settings(settings)
    n = int(peaks.batch.max()) + 1 if len(peaks) else 1  # batch elements the peaks come from
    if isinstance(cameras, Camera):
        cameras = [cameras] * n
    if isinstance(cameras, (str, bytes)) or not isinstance(cameras, Sequence):
        raise TypeError(f"cameras must be a loco.Camera or a sequence of them, got {type(cameras).__name__}")
    cameras = list(cameras)
    for i, camera in enumerate(cameras):
        if not isinstance(camera, Camera):
            raise TypeError(f"cameras[{i}] must be a loco.Camera, got {type(camera).__name__}")
    if len(cameras) < n:  # the peaks of the batch elements without a camera would be dropped without a word
        raise ValueError(f"cameras has {len(cameras)} camera(s) but the peaks come from {n} batch elements")
    batch = peaks.batch.cpu()
    out = []
    for b, camera in enumerate(cameras):
        sel = batch == b
        position = peaks.position.cpu()[sel].to(torch.float64)
        xyz = ops.backproject(position, grid, camera, backend="torch").numpy()
        joint, score = peaks.joint.cpu()[sel].numpy(), peaks.score.cpu()[sel].numpy()
        tol = voxel_tolerance(xyz, grid, camera) if settings.refine is None and settings.limb_check else 0.0
        poses, conf = associate(
            xyz,
            joint,
            score,
            settings.association,
            tolerance=tol,
            max_limb=None if settings.limb_check else {},
        )
        out.append((np.asarray(poses, np.float32), np.asarray(conf, np.float32)))
    return out


def volume_to_poses(
    volume: torch.Tensor, grid: VoxelGrid, cameras: Camera | Sequence[Camera], settings: Settings | None = None
) -> list[tuple[np.ndarray, np.ndarray]]:
    """:func:`loco.ops.find_peaks` with the pipeline's settings, then :func:`peaks_to_poses`.

    Args:
        volume: (B, 14, D, H', W') or (14, D, H', W') heatmaps on ``grid``.
        grid, cameras, settings: as :func:`peaks_to_poses`.
    """
    settings = _check_settings(settings)
    peaks = ops.find_peaks(
        volume,
        threshold=settings.threshold,
        connectivity=settings.connectivity,
        refine=settings.refine,
        backend=settings.backend,
    )
    if isinstance(cameras, Camera):
        cameras = [cameras] * (volume.shape[0] if volume.ndim == 5 else 1)
    return peaks_to_poses(peaks, grid, cameras, settings)


# --------------------------------------------------------------------------------------------- inputs


def _to_rgb_array(img) -> np.ndarray:
    """A PIL image to (H, W, 3) uint8."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(img, dtype=np.float64)
        a = a / max(float(a.max()), 1.0) * 255.0
        img = Image.fromarray(a.astype(np.uint8), "L")
    if img.mode != "RGB":
        img = img.convert("RGBA" if img.mode in ("P", "PA", "LA") else img.mode).convert("RGB")
    return np.asarray(img, dtype=np.uint8)


def _array_to_rgb(a: np.ndarray, what: str) -> np.ndarray:
    """(H, W), (H, W, 1|3|4) uint8 or float in [0, 1] -> (H, W, 3) uint8."""
    if a.ndim == 2:
        a = a[..., None]
    if a.ndim != 3 or a.shape[2] not in (1, 3, 4):
        raise ValueError(f"{what} must be (H, W), (H, W, 1), (H, W, 3) or (H, W, 4), got shape {a.shape}")
    if a.dtype == np.bool_:
        a = a.astype(np.uint8) * 255
    elif np.issubdtype(a.dtype, np.floating):
        if not np.isfinite(a).all():
            raise ValueError(f"{what} holds non-finite values")
        # Floats are read as [0, 1]. Values beyond it by more than half a uint8 step are a mistake (a float copy of
        # a 0..255 image, or a normalised one) that clipping would turn into a white or black picture without a word.
        lo, hi = (float(a.min()), float(a.max())) if a.size else (0.0, 0.0)
        if lo < -0.5 / 255 or hi > 1 + 0.5 / 255:
            hint = " (a 0..255 image: divide by 255 or pass uint8)" if hi > 1 else ""
            raise ValueError(f"{what} is float, so its values must lie in [0, 1]; got [{lo:g}, {hi:g}]{hint}")
        a = np.clip(np.rint(a * 255.0), 0, 255).astype(np.uint8)
    elif a.dtype != np.uint8:
        if not np.issubdtype(a.dtype, np.integer):
            raise TypeError(f"{what} must be uint8 or float in [0, 1], got dtype {a.dtype}")
        lo, hi = (int(a.min()), int(a.max())) if a.size else (0, 0)
        if lo < 0 or hi > 255:  # a 16-bit image, say: clipping would saturate it
            raise ValueError(f"{what} has dtype {a.dtype}, so its values must lie in [0, 255]; got [{lo}, {hi}]")
        a = a.astype(np.uint8)
    if a.shape[2] == 1:
        a = np.repeat(a, 3, axis=2)
    elif a.shape[2] == 4:
        a = a[..., :3]
    return np.ascontiguousarray(a)


def load_image(image) -> np.ndarray:
    """Any supported image to an (H, W, 3) uint8 RGB array.

    Args:
        image: a path (str or Path), a PIL image, an (H, W[, C]) array (uint8, or float in [0, 1]) or a (C, H, W)
            tensor (uint8, or float in [0, 1]); C in 1, 3, 4. Other integer dtypes are taken when their values lie
            in [0, 255], bools as black and white.

    Raises:
        FileNotFoundError: a path that does not exist.
        ValueError: a file that is not a readable image, a wrong shape, a side below :data:`MIN_IMAGE_SIDE`, or
            values outside [0, 1] (floats) or [0, 255] (integers).
        TypeError: an unsupported type.
    """
    from PIL import Image, UnidentifiedImageError

    if isinstance(image, (str, Path)):
        path = Path(image)
        if not path.exists():
            raise FileNotFoundError(f"image file not found: {path}")
        if path.is_dir():
            raise ValueError(f"{path} is a folder, not an image (the CLI's `loco predict` takes folders)")
        try:
            with Image.open(path) as img:
                img.load()  # decode now, so a truncated file fails here and not later
                arr = _to_rgb_array(img)
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError) as exc:
            raise ValueError(f"cannot read image {path}: not an image file, or corrupt ({exc})") from exc
        what = str(path)
    elif isinstance(image, Image.Image):
        arr, what = _to_rgb_array(image), "PIL image"
    elif isinstance(image, torch.Tensor):
        t = image.detach().cpu()
        if t.ndim == 2:
            t = t.unsqueeze(0)
        if t.ndim != 3 or t.shape[0] not in (1, 3, 4):
            raise ValueError(f"image tensor must be (C, H, W) with C in 1, 3, 4, got shape {tuple(image.shape)}")
        arr, what = _array_to_rgb(t.permute(1, 2, 0).numpy(), "image tensor"), "image tensor"
    elif isinstance(image, np.ndarray):
        arr, what = _array_to_rgb(image, "image array"), "image array"
    else:
        raise TypeError(
            "image must be a path, PIL image, numpy array or torch tensor (or a list of them), "
            f"got {type(image).__name__}"
        )
    h, w = arr.shape[:2]
    if min(h, w) < MIN_IMAGE_SIDE:
        raise ValueError(f"{what} is {w}x{h} pixels; images need at least {MIN_IMAGE_SIDE} pixels per side")
    return arr


def as_camera(camera, width: int, height: int) -> Camera:
    """A :class:`Camera` from ``None`` (the documented default), a Camera, ``(fx, fy, cx, cy)``, a dict or a string
    ``"fx,fy,cx,cy"``.

    Args:
        camera: the intrinsics of the image as given (before any resizing).
        width, height: image size in pixels, for the default.
    """
    if camera is None:
        return Camera.from_fov(width, height)
    if isinstance(camera, Camera):
        return camera
    if isinstance(camera, str):
        parts = [p.strip() for p in camera.split(",")]
        try:
            values = [float(p) for p in parts]
        except ValueError:
            raise ValueError(f"camera must be 'fx,fy,cx,cy' (four numbers), got {camera!r}") from None
        camera = values
    if isinstance(camera, dict):
        try:
            return Camera(*(float(camera[k]) for k in ("fx", "fy", "cx", "cy")))
        except KeyError as exc:
            raise ValueError(f"a camera dict needs fx, fy, cx, cy; missing {exc}") from None
    if isinstance(camera, (tuple, list, np.ndarray, torch.Tensor)):
        try:
            values = [float(v) for v in np.asarray(camera, dtype=np.float64).reshape(-1)]
        except (TypeError, ValueError):
            raise ValueError(f"camera must be (fx, fy, cx, cy), four numbers, got {camera!r}") from None
        if len(values) != 4:
            raise ValueError(f"camera must be (fx, fy, cx, cy), four numbers, got {len(values)}: {list(values)}")
        try:
            return Camera(*(float(v) for v in values))
        except (TypeError, ValueError) as exc:
            raise ValueError(f"invalid camera (fx, fy, cx, cy) = {tuple(values)}: {exc}") from None
    raise TypeError(f"camera must be None, a loco.Camera, (fx, fy, cx, cy) or a dict, got {type(camera).__name__}")


def _letterbox(rgb: np.ndarray, size: tuple[int, int]) -> tuple[np.ndarray, float]:
    """Resize keeping the aspect ratio to fit ``size`` and pad bottom/right; returns the image and the scale."""
    from PIL import Image

    h, w = rgb.shape[:2]
    th, tw = size
    scale = min(th / h, tw / w)
    nh, nw = min(th, max(1, round(h * scale))), min(tw, max(1, round(w * scale)))
    if (nh, nw) == (h, w):
        resized = rgb
    else:
        resized = np.asarray(Image.fromarray(rgb).resize((nw, nh), Image.BILINEAR, reducing_gap=3.0))
    if (nh, nw) == (th, tw):
        return resized, scale
    out = np.empty((th, tw, 3), np.uint8)
    out[:] = _PAD_RGB
    out[:nh, :nw] = resized
    return out, scale


# --------------------------------------------------------------------------------------------- prediction


def _json_array(a: np.ndarray, digits: int) -> list:
    """Nested lists, NaN -> None, rounded."""
    r = np.round(a.astype(np.float64), digits)
    obj = r.astype(object)
    obj[~np.isfinite(r)] = None
    return obj.tolist()


@dataclass
class Prediction:
    """The people found in one image.

    Attributes:
        poses3d: (P, 14, 3) float32 joints in metres, camera frame (x right, y down, z forward), JTA joint order
            (:data:`loco.skeleton.JOINT_NAMES`); NaN where a joint is missing.
        poses2d: (P, 14, 2) float32 the same joints in pixels of the input image (projected with ``camera``).
        confidence: (P, 14) float32 heatmap peak value of each detected joint; 0 for joints the Pose Refiner filled
            in or that are missing.
        camera: the intrinsics of the input image (given or default).
        image_size: (H, W) of the input image.
        image: the input image (H, W, 3) uint8, kept for :meth:`plot_2d` (not serialised).
        source: where the image came from (a path, or ``None``).
        timings: seconds per stage of the call that made this prediction (shared by a batch).
    """

    poses3d: np.ndarray
    poses2d: np.ndarray
    confidence: np.ndarray
    camera: Camera
    image_size: tuple[int, int]
    image: np.ndarray | None = field(default=None, repr=False, compare=False)
    source: str | None = None
    timings: dict[str, float] = field(default_factory=dict, compare=False)

    def __len__(self) -> int:
        return int(self.poses3d.shape[0])

    def __repr__(self) -> str:
        h, w = self.image_size
        return f"Prediction({len(self)} people, image {w}x{h}, source={self.source!r})"

    def to_dict(self, digits: int = 4) -> dict:
        """JSON-ready dict: ``poses3d`` metres, ``poses2d`` pixels, ``confidence``, nested lists with ``None`` for
        missing joints, plus ``people``, ``camera``, ``image_size``, ``joint_names``, ``source``."""
        return {
            "source": self.source,
            "people": len(self),
            "image_size": list(self.image_size),
            "camera": self.camera.to_dict(),
            "joint_names": list(JOINT_NAMES),
            "poses3d": _json_array(self.poses3d, digits),
            "poses2d": _json_array(self.poses2d, 2),
            "confidence": _json_array(self.confidence, 4),
        }

    @classmethod
    def from_dict(cls, d: dict) -> Prediction:
        """Inverse of :meth:`to_dict` (without the image)."""
        if not isinstance(d, dict):
            raise TypeError(f"a prediction dict is needed, got {type(d).__name__}")
        missing = [k for k in ("poses3d", "poses2d", "confidence", "camera", "image_size") if k not in d]
        if missing:
            raise ValueError(f"not a loco prediction: missing {missing} (Prediction.to_dict writes them)")

        def arr(key, shape):
            a = np.array(d[key], dtype=object)
            a = np.where(a == None, np.nan, a).astype(np.float32)  # noqa: E711 (elementwise None test)
            return a.reshape(-1, *shape)

        return cls(
            poses3d=arr("poses3d", (NUM_JOINTS, 3)),
            poses2d=arr("poses2d", (NUM_JOINTS, 2)),
            confidence=arr("confidence", (NUM_JOINTS,)),
            camera=Camera(**d["camera"]),
            image_size=tuple(d["image_size"]),
            source=d.get("source"),
        )

    def to_json(self, indent: int | None = None, **extra) -> str:
        """:meth:`to_dict` (plus ``extra`` fields) as a JSON string; one line by default."""
        return json.dumps({**self.to_dict(), **extra}, indent=indent)

    def save(self, path: str | Path) -> Path:
        """Write :meth:`to_json` (indented) to ``path``; returns the path. :meth:`load` reads it back."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(self.to_json(indent=1) + "\n")
        return path

    @classmethod
    def load(cls, path: str | Path) -> Prediction:
        """The prediction written by :meth:`save`, without the image.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not JSON, not a prediction, or several (use :meth:`load_all`).
        """
        found = cls.load_all(path)
        if len(found) != 1:
            raise ValueError(f"{path} holds {len(found)} predictions; Prediction.load_all reads them all")
        return found[0]

    @classmethod
    def load_all(cls, path: str | Path) -> list[Prediction]:
        """Every prediction in a file: one JSON object (:meth:`save`) or JSON lines, one object per image or frame
        (``loco predict --out``), in file order; without the images.

        Raises:
            FileNotFoundError: no such file.
            ValueError: the file is not JSON (lines), or holds something that is not a prediction.
        """
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"prediction file not found: {path}")
        try:
            text = path.read_text()
            try:
                docs = [json.loads(text)]
            except json.JSONDecodeError:  # JSON lines
                docs = [json.loads(line) for line in text.splitlines() if line.strip()]
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"cannot read {path}: not JSON or JSON lines ({exc})") from exc
        try:
            return [cls.from_dict(d) for d in docs]
        except (TypeError, ValueError) as exc:
            raise ValueError(f"{path}: {exc}") from exc

    def plot_2d(self, image=None, path: str | Path | None = None, **kwargs):
        """Skeletons drawn over the image, one colour per person (hollow dots: joints the refiner filled in).

        Args:
            image: the picture to draw on (anything :func:`load_image` reads); default the predicted image.
            path: also save the picture there (the format from its extension).
            **kwargs: passed to :func:`loco.viz.plot_2d`.

        Returns:
            a matplotlib ``Figure``.
        """
        from loco import viz

        if image is None:
            if self.image is None:
                raise ValueError("this prediction holds no image; pass image=")
            image = self.image
        return viz.plot_2d(load_image(image), self.poses2d, self.confidence, path=path, **kwargs)

    def plot_3d(self, path: str | Path | None = None, **kwargs):
        """The people in 3D (metres, camera frame) over the ground plane fitted to their feet.

        Args:
            path: also save the picture there (the format from its extension).
            **kwargs: passed to :func:`loco.viz.plot_3d`.

        Returns:
            a matplotlib ``Figure``.
        """
        from loco import viz

        return viz.plot_3d(self.poses3d, self.confidence, path=path, **kwargs)


# --------------------------------------------------------------------------------------------- weights


def _weights_dir() -> Path:
    from loco.models._hub import WEIGHTS_DIR

    return WEIGHTS_DIR


def _is_pipeline_dir(path: Path) -> bool:
    return (path / PIPELINE_CONFIG).is_file() or ((path / "predictor").is_dir() and (path / "vha").is_dir())


def available_pipelines() -> list[str]:
    """Names :meth:`LoCO.from_pretrained` resolves: :data:`BUNDLED_PIPELINES` and every folder of
    ``loco/weights/`` holding a ``pipeline.json`` (whether or not its files are installed)."""
    names = set(BUNDLED_PIPELINES)
    root = _weights_dir()
    if root.is_dir():
        names.update(p.name for p in root.iterdir() if p.is_dir() and _is_pipeline_dir(p))
    return sorted(names)


def _component(ref: str | None, base: Path) -> Path | str | None:
    """A component reference of pipeline.json: a folder relative to the pipeline folder, or a bundled name."""
    if ref is None:
        return None
    for candidate in (base / ref, _weights_dir() / ref):
        if candidate.exists():
            return candidate
    return ref


def _resolve_pipeline(name_or_path) -> tuple[dict, Path | None]:
    """``(spec, base folder)``; spec keys ``predictor``, ``vha``, ``refiner``, ``input_size``, ``preset``,
    ``settings``; component values are paths or bundled network names."""
    if not isinstance(name_or_path, (str, Path)):
        raise TypeError(f"name_or_path must be a str or Path, got {type(name_or_path).__name__}")
    path = Path(name_or_path)
    if path.exists():
        directory = path.parent if path.is_file() else path
        if not _is_pipeline_dir(directory):
            raise ValueError(
                f"{path} is not a loco pipeline: expected a folder with {PIPELINE_CONFIG} (LoCO.save_pretrained) or "
                f"with predictor/ and vha/ (and optionally refiner/) network folders"
            )
        return _read_spec(directory), directory
    name = str(name_or_path)
    valid = available_pipelines()
    if name not in valid:
        raise ValueError(f"unknown weights {name!r}: not an existing path, and not one of the bundled {valid}")
    shipped = _weights_dir() / name
    if _is_pipeline_dir(shipped):
        return _read_spec(shipped), shipped
    root = _weights_dir()
    spec = {k: root / v for k, v in BUNDLED_PIPELINES[name].items()}
    missing = [p.name for p in spec.values() if not (p / "model.safetensors").is_file()]
    if missing:
        raise FileNotFoundError(
            f"the bundled {name!r} pipeline is not installed in this copy of loco: {', '.join(missing)} missing "
            f"under {root}. Train it (`loco train`), or pass a folder written by LoCO.save_pretrained"
        )
    return spec, None


def _read_spec(directory: Path) -> dict:
    config_path = directory / PIPELINE_CONFIG
    if config_path.is_file():
        try:
            spec = json.loads(config_path.read_text())
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise ValueError(f"{config_path} is corrupt (not JSON: {exc})") from None
        if not isinstance(spec, dict) or spec.get("format") != PIPELINE_FORMAT:
            raise ValueError(f"{config_path} is not a loco pipeline config (format {PIPELINE_FORMAT!r})")
        for key in ("predictor", "vha"):
            if not isinstance(spec.get(key), str):
                raise ValueError(f"{config_path} must name the {key!r} network")
        spec = dict(spec)
        for key in ("predictor", "vha", "refiner"):
            spec[key] = _component(spec.get(key), directory)
        return spec
    spec = {"predictor": directory / "predictor", "vha": directory / "vha"}
    spec["refiner"] = directory / "refiner" if (directory / "refiner").is_dir() else None
    return spec


def _input_size_of(predictor_ref) -> tuple[int, int] | None:
    """The ``image_size`` (or ``input_size``) that a Code Predictor folder's ``config.json`` metadata records, at the
    top or nested (e.g. a training config saved there), if any."""
    if isinstance(predictor_ref, str):
        predictor_ref = _weights_dir() / predictor_ref
    try:
        meta = json.loads((Path(predictor_ref) / "config.json").read_text()).get("metadata", {})
    except (OSError, ValueError, AttributeError):
        return None

    def find(d, depth: int):
        if not isinstance(d, dict) or depth > 3:
            return None
        for key in ("image_size", "input_size"):
            size = d.get(key)
            if isinstance(size, (list, tuple)) and len(size) == 2 and all(isinstance(v, int) for v in size):
                return int(size[0]), int(size[1])
        for value in d.values():
            found = find(value, depth + 1)
            if found:
                return found
        return None

    return find(meta, 0)


def _load_network(ref, expected: str, device):
    from safetensors import SafetensorError

    from loco.models import load_pretrained

    try:
        return load_pretrained(ref, device=device, expected=expected)
    except (SafetensorError, json.JSONDecodeError, UnicodeDecodeError, RuntimeError, KeyError) as exc:
        raise ValueError(
            f"cannot load the {expected} weights from {ref}: corrupt or incompatible file ({exc})"
        ) from None


@contextlib.contextmanager
def _float32_precision(tf32: bool):
    """PyTorch's TF32 switches for cuDNN convolutions and CUDA matrix products set to ``tf32``, restored on exit."""
    conv, matmul = torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32
    torch.backends.cudnn.allow_tf32 = torch.backends.cuda.matmul.allow_tf32 = tf32
    try:
        yield
    finally:
        torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32 = conv, matmul


# --------------------------------------------------------------------------------------------- the pipeline


class LoCO:
    """Multi-person 3D pose estimation from one RGB image (the LoCO pipeline).

    Args:
        predictor: a :class:`loco.models.CodePredictor`.
        vha: the :class:`loco.models.VHA` whose codes the predictor predicts.
        refiner: an optional :class:`loco.models.PoseRefiner`.
        input_size: ``(H, W)`` the networks see; images are resized to it (see the module docstring).
        preset: depth range of the voxel grid (``"jta"``: 0-100 m Euclidean distance, ``"panoptic"``, ``"h36m"``).
        settings: :class:`Settings`.
        device: where the networks run; default CUDA when available, else CPU.

    Example::

        model = LoCO.from_pretrained("vha2")
        pred = model.predict("street.jpg")            # camera unknown: JTA field of view
        pred.poses3d                                   # (P, 14, 3) metres
        pred.plot_2d(path="overlay.png"); pred.plot_3d(path="3d.png")
    """

    def __init__(
        self,
        predictor,
        vha,
        refiner=None,
        *,
        input_size: tuple[int, int] = DEFAULT_INPUT_SIZE,
        preset: str = "jta",
        settings: Settings | None = None,
        device: str | torch.device | None = None,
    ) -> None:
        from loco.models import VHA, CodePredictor, PoseRefiner

        if not isinstance(predictor, CodePredictor):
            raise TypeError(f"predictor must be a loco.models.CodePredictor, got {type(predictor).__name__}")
        if not isinstance(vha, VHA):
            raise TypeError(f"vha must be a loco.models.VHA, got {type(vha).__name__}")
        if refiner is not None and not isinstance(refiner, PoseRefiner):
            raise TypeError(f"refiner must be a loco.models.PoseRefiner or None, got {type(refiner).__name__}")
        if predictor.vha_version != vha.version or predictor.code_channels != vha.code_channels:
            raise ValueError(
                f"the Code Predictor predicts VHA v{predictor.vha_version} codes with {predictor.code_channels} "
                f"channels, but the VHA is v{vha.version} with {vha.code_channels}"
            )
        self.input_size = check_shape("input_size", input_size, MIN_IMAGE_SIDE)
        self.name: str | None = None  # the name or path it was loaded from
        self.preset = preset
        self.grid = replace(VoxelGrid.for_image(*self.input_size, preset=preset), depth_bins=vha.depth_bins)
        self.settings = _check_settings(settings)
        self.device = check_device(device)
        self.predictor = predictor.eval().to(self.device)
        self.vha = vha.eval().to(self.device)
        self.refiner = refiner.eval().to(self.device) if refiner is not None else None
        from loco.models.code_predictor import IMAGENET_MEAN, IMAGENET_STD

        self._mean = torch.tensor(IMAGENET_MEAN, device=self.device).view(1, 3, 1, 1) * 255.0
        self._std = torch.tensor(IMAGENET_STD, device=self.device).view(1, 3, 1, 1) * 255.0

    def __repr__(self) -> str:
        h, w = self.input_size
        return (
            f"LoCO(predictor={self.predictor.backbone}, vha=v{self.vha.version}, refiner={self.refiner is not None}, "
            f"input {w}x{h}, preset={self.preset!r}, device={self.device})"
        )

    # ----------------------------------------------------------------------------------------- weights

    @classmethod
    def from_pretrained(
        cls, name_or_path: str | Path = "vha2", device: str | torch.device | None = None, **overrides
    ) -> LoCO:
        """Load a pipeline: a bundled name (:func:`available_pipelines`), a folder, or a file inside one.

        A pipeline folder holds ``pipeline.json`` (written by :meth:`save_pretrained`: the three networks' folders
        or bundled names, ``input_size``, ``preset``, ``settings``) or, without it, ``predictor/``, ``vha/`` and
        optionally ``refiner/`` network folders (safetensors + config.json, :func:`loco.models.save_pretrained`).
        Weights are read with safetensors, never unpickled.

        Args:
            name_or_path: bundled name (default ``"vha2"``), folder or file.
            device: default CUDA when available, else CPU.
            **overrides: constructor arguments replacing the stored ones (``input_size``, ``preset``, ``settings``).

        Raises:
            ValueError: an unknown name (the message lists the valid ones), or a corrupt weights folder.
            FileNotFoundError: a bundled name whose files are not installed, or a folder missing a file.
        """
        spec, _ = _resolve_pipeline(name_or_path)
        device = check_device(device)
        predictor = _load_network(spec["predictor"], "CodePredictor", device)
        vha = _load_network(spec["vha"], "VHA", device)
        refiner = _load_network(spec["refiner"], "PoseRefiner", device) if spec.get("refiner") is not None else None
        input_size = spec.get("input_size") or _input_size_of(spec["predictor"]) or DEFAULT_INPUT_SIZE
        settings = spec.get("settings") or {}
        kwargs = {
            "input_size": tuple(int(s) for s in input_size),
            "preset": spec.get("preset", "jta"),
            "settings": settings if isinstance(settings, Settings) else Settings.from_dict(settings),
        }
        kwargs.update(overrides)
        pipeline = cls(predictor, vha, refiner, device=device, **kwargs)
        pipeline.name = str(name_or_path)
        return pipeline

    def save_pretrained(self, directory: str | Path) -> Path:
        """Write ``pipeline.json`` and the networks (``predictor/``, ``vha/``, ``refiner/``) to ``directory``."""
        from loco.models import save_pretrained

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        meta = {"image_size": list(self.input_size)}
        save_pretrained(self.predictor, directory / "predictor", metadata=meta)
        save_pretrained(self.vha, directory / "vha")
        if self.refiner is not None:
            save_pretrained(self.refiner, directory / "refiner")
        spec = {
            "format": PIPELINE_FORMAT,
            "predictor": "predictor",
            "vha": "vha",
            "refiner": "refiner" if self.refiner is not None else None,
            "input_size": list(self.input_size),
            "preset": self.preset,
            "settings": asdict(self.settings),
        }
        (directory / PIPELINE_CONFIG).write_text(json.dumps(spec, indent=2) + "\n")
        return directory

    # ----------------------------------------------------------------------------------------- predict

    def _settings(self, paper_compat: bool, overrides: dict) -> Settings:
        paper_compat = check_bool("paper_compat", paper_compat)
        base = PAPER_SETTINGS if paper_compat else self.settings
        if paper_compat:
            keep = ("joints_per_chunk", "decode_budget_mb", "backend")  # how to compute, not what
            base = replace(base, **{k: getattr(self.settings, k) for k in keep})
        if overrides:
            names = {f.name for f in fields(Settings)}
            unknown = set(overrides) - names
            if unknown:
                raise TypeError(f"predict() got unknown settings {sorted(unknown)}; valid: {sorted(names)}")
            base = replace(base, **overrides)
        return base

    def _joints_per_chunk(self, cfg: Settings, code: torch.Tensor) -> int:
        if cfg.joints_per_chunk is not None:
            return cfg.joints_per_chunk
        h, w = code.shape[-2] * self.vha.stride, code.shape[-1] * self.vha.stride
        per_joint = self.vha.depth_bins * h * w * 4  # float32 decoded map of one joint, uncropped
        return int(max(1, min(self.vha.joints, cfg.decode_budget_mb * 2**20 // per_joint)))

    def _sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @torch.no_grad()
    def predict(self, image, camera=None, *, paper_compat: bool = False, **settings):
        """Find the people in an image (or a batch of images).

        Args:
            image: a path, a PIL image, an (H, W, 3) uint8 array (grayscale and RGBA accepted; floats read as
                [0, 1]), a (C, H, W) tensor, or a list of them (run as one batch through the networks); a
                (B, C, H, W) tensor is a batch too.
            camera: the intrinsics of the image as given: a :class:`~loco.Camera`, ``(fx, fy, cx, cy)``, a dict, or
                ``None`` for the default (:meth:`Camera.from_fov`, the JTA field of view); for a batch, one camera
                for all or a list.
            paper_compat: the paper's settings (:data:`PAPER_SETTINGS`: integer peaks, the paper's association).
            **settings: any :class:`Settings` field for this call (e.g. ``threshold=0.2``, ``use_refiner=False``).

        Returns:
            a :class:`Prediction`, or a list of them for a list / 4-D tensor input.
        """
        batched = isinstance(image, (list, tuple)) or (isinstance(image, torch.Tensor) and image.ndim == 4)
        images = list(image) if batched else [image]
        if not images:
            return []
        cfg = self._settings(paper_compat, settings)
        timings: dict[str, float] = {}
        t = time.perf_counter()

        rgbs = [load_image(im) for im in images]
        per_image = (
            batched
            and isinstance(camera, (list, tuple))
            and len(camera) > 0
            and not any(isinstance(c, (int, float, np.number)) for c in camera)
        )
        cams_in = list(camera) if per_image else [camera] * len(rgbs)
        if len(cams_in) != len(rgbs):
            raise ValueError(f"got {len(cams_in)} cameras for {len(rgbs)} images")
        cameras = [as_camera(c, rgb.shape[1], rgb.shape[0]) for c, rgb in zip(cams_in, rgbs)]
        boxed = [_letterbox(rgb, self.input_size) for rgb in rgbs]
        net_cameras = [cam.scaled(scale) for cam, (_, scale) in zip(cameras, boxed)]
        x = torch.from_numpy(np.stack([b for b, _ in boxed])).to(self.device)
        x = (x.permute(0, 3, 1, 2).float() - self._mean) / self._std
        self._sync()
        timings["preprocess"] = time.perf_counter() - t

        from loco.models import decode_peaks

        with _float32_precision(cfg.tf32):
            t = time.perf_counter()
            code = self.predictor(x)
            self._sync()
            timings["backbone"] = time.perf_counter() - t

            t = time.perf_counter()
            peaks = decode_peaks(
                self.vha,
                code,
                self.grid,
                joints_per_chunk=self._joints_per_chunk(cfg, code),
                threshold=cfg.threshold,
                connectivity=cfg.connectivity,
                refine=cfg.refine,
                backend=cfg.backend,
            )
            self._sync()
            timings["decode_peaks"] = time.perf_counter() - t

        t = time.perf_counter()
        people = peaks_to_poses(peaks, self.grid, net_cameras, cfg)
        timings["association"] = time.perf_counter() - t

        t = time.perf_counter()
        results = []
        for (poses, conf), camera_, rgb, src in zip(people, cameras, rgbs, images):
            if cfg.use_refiner and self.refiner is not None and len(poses):
                poses = (
                    self.refiner.refine(
                        torch.from_numpy(poses),
                        torch.from_numpy(conf),
                        hole_threshold=cfg.hole_threshold,
                        replace_threshold=cfg.replace_threshold,
                    )
                    .cpu()
                    .numpy()
                )
            results.append((poses, conf, camera_, rgb, src))
        timings["refiner"] = time.perf_counter() - t

        out = []
        for poses, conf, camera_, rgb, src in results:
            out.append(
                Prediction(
                    poses3d=poses.astype(np.float32),
                    poses2d=_project_px(poses, camera_),
                    confidence=conf.astype(np.float32),
                    camera=camera_,
                    image_size=(int(rgb.shape[0]), int(rgb.shape[1])),
                    image=rgb,
                    source=str(src) if isinstance(src, (str, Path)) else None,
                    timings=timings,
                )
            )
        timings["total"] = sum(timings.values())
        return out if batched else out[0]

    __call__ = predict


def _project_px(poses: np.ndarray, camera: Camera) -> np.ndarray:
    """(P, 14, 3) metres -> (P, 14, 2) pixels (NaN for missing joints or joints behind the camera)."""
    p = np.asarray(poses, np.float64).reshape(-1, NUM_JOINTS, 3)
    z = p[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.fx * p[..., 0] / z + camera.cx
        v = camera.fy * p[..., 1] / z + camera.cy
    uv = np.stack((u, v), -1)
    uv[~(z > 0)] = np.nan
    return uv.astype(np.float32)
