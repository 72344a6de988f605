"""Pictures of predictions: skeletons over the image (:func:`plot_2d`) and the people in 3D (:func:`plot_3d`).

Both return a matplotlib ``Figure`` (made without pyplot, so no window opens and no global state is touched) and
save the picture when given a ``path``, in the format its extension names (``.png``, ``.jpg``, ``.pdf``, ...;
:func:`check_picture_path`). Each person has one colour in both pictures (:data:`PALETTE`, matplotlib's tab20,
person ``k`` gets ``PALETTE[k % 20]``), so people can be matched between them. Filled dots are detected joints,
hollow ones joints with confidence 0 (filled in by the Pose Refiner). :func:`draw_2d` makes the overlay as an array
with PIL alone (no matplotlib), which the command line uses for ``--overlay``.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np

from loco._checks import check_choice
from loco.skeleton import LIMBS, NUM_JOINTS

__all__ = ["PALETTE", "draw_2d", "plot_2d", "plot_3d", "ground_plane", "check_picture_path"]

#: matplotlib's tab20 colours as RGB uint8, one per person (cycled).
PALETTE: tuple[tuple[int, int, int], ...] = (
    (31, 119, 180), (255, 127, 14), (44, 160, 44), (214, 39, 40), (148, 103, 189),
    (140, 86, 75), (227, 119, 194), (127, 127, 127), (188, 189, 34), (23, 190, 207),
    (174, 199, 232), (255, 187, 120), (152, 223, 138), (255, 152, 150), (197, 176, 213),
    (196, 156, 148), (247, 182, 210), (199, 199, 199), (219, 219, 141), (158, 218, 229),
)  # fmt: skip

_ANKLES = (10, 13)


def _figure_cls():
    try:
        from matplotlib.figure import Figure
    except ImportError:  # matplotlib is the optional "plot" extra
        raise RuntimeError("plots need matplotlib (a dependency of loco): pip install matplotlib") from None
    return Figure


@functools.cache
def _pil_formats() -> frozenset[str]:
    """Extensions PIL can write an RGB picture as (``.png``, ``.jpg``, ``.tif``, ...): each format PIL registers a
    saver for, tried once on a 2x2 RGB image, since some savers are stubs (``.h5``, ``.wmf``: no handler installed)
    or take other modes only (``.xbm``, ``.msp``, ``.blp``). ~0.1 s on the first call."""
    import io

    from PIL import Image

    probe = Image.new("RGB", (2, 2))
    writable = set()
    for fmt in {fmt for fmt in Image.registered_extensions().values() if fmt in Image.SAVE}:
        try:
            probe.save(io.BytesIO(), format=fmt)
        except Exception:  # noqa: BLE001 - any failure means not this format
            continue
        writable.add(fmt)
    return frozenset(ext for ext, fmt in Image.registered_extensions().items() if fmt in writable)


def _matplotlib_formats() -> frozenset[str]:
    """Extensions matplotlib's Agg canvas can write (``.png``, ``.pdf``, ``.svg``, ...)."""
    _figure_cls()  # the clear error when matplotlib is missing
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    return frozenset("." + ext for ext in FigureCanvasAgg.get_supported_filetypes())  # a classmethod


def check_picture_path(path, plot: str) -> Path:
    """``path`` checked for a picture of ``plot`` "2d" (:func:`plot_2d`, written by PIL) or "3d" (:func:`plot_3d`,
    written by matplotlib), before anything is drawn or a folder is made: ``TypeError`` unless a str or Path,
    ``ValueError`` when its extension (the format comes from it) is missing or not one that writer knows. Returns it
    as a Path."""
    plot = check_choice("plot", plot, ("2d", "3d"))
    if not isinstance(path, (str, Path)):
        raise TypeError(f"path must be a str or Path, got {type(path).__name__}")
    suffix = Path(path).suffix
    if not suffix:
        raise ValueError(f"path must end in an image extension such as .png or .jpg, got {str(path)!r}")
    formats = _pil_formats() if plot == "2d" else _matplotlib_formats()
    if suffix.lower() not in formats:
        raise ValueError(
            f"path has the extension {suffix!r}, which this picture cannot be saved as; use one of "
            f"{', '.join(sorted(formats))} (got {str(path)!r})"
        )
    return Path(path)


def _locator(n: int):
    from matplotlib.ticker import MaxNLocator

    return MaxNLocator(n)


def _poses(name: str, poses, dims: int) -> np.ndarray:
    a = np.asarray(poses, dtype=np.float64)
    if a.size == 0:
        return a.reshape(0, NUM_JOINTS, dims)
    if a.ndim != 3 or a.shape[1:] != (NUM_JOINTS, dims):
        raise ValueError(f"{name} must have shape (P, {NUM_JOINTS}, {dims}), got shape {a.shape}")
    return a


def _confidence(confidence, n: int) -> np.ndarray:
    if confidence is None:
        return np.ones((n, NUM_JOINTS))
    c = np.asarray(confidence, dtype=np.float64)
    if c.size == 0 and n == 0:
        return c.reshape(0, NUM_JOINTS)
    if c.shape != (n, NUM_JOINTS):
        raise ValueError(f"confidence must have shape ({n}, {NUM_JOINTS}), got shape {c.shape}")
    return c


def draw_2d(image: np.ndarray, poses2d, confidence=None, width: int | None = None) -> np.ndarray:
    """Skeletons over a copy of the image, one colour per person.

    Args:
        image: (H, W, 3) uint8.
        poses2d: (P, 14, 2) pixels; NaN joints are skipped.
        confidence: (P, 14); joints at 0 are drawn hollow. Default all detected.
        width: line width in pixels (default about H / 300, at least 2).

    Returns:
        (H, W, 3) uint8.
    """
    from PIL import Image, ImageDraw

    img = np.asarray(image)
    if img.ndim != 3 or img.shape[2] != 3 or img.dtype != np.uint8:
        raise ValueError(f"image must be (H, W, 3) uint8, got shape {img.shape} dtype {img.dtype}")
    pts = _poses("poses2d", poses2d, 2)
    conf = _confidence(confidence, len(pts))
    width = max(2, img.shape[0] // 300) if width is None else int(width)
    r = width + 1
    pil = Image.fromarray(img.copy())
    d = ImageDraw.Draw(pil)
    for p in range(len(pts)):
        colour = PALETTE[p % len(PALETTE)]
        ok = np.isfinite(pts[p]).all(1)
        for a, b in LIMBS:
            if ok[a] and ok[b]:
                d.line([tuple(pts[p, a]), tuple(pts[p, b])], fill=colour, width=width)
        for j in np.flatnonzero(ok):
            x, y = pts[p, j]
            if conf[p, j] > 0:
                d.ellipse([x - r, y - r, x + r, y + r], fill=colour, outline=(255, 255, 255))
            else:
                d.ellipse([x - r, y - r, x + r, y + r], outline=colour, width=max(1, width // 2))
    return np.asarray(pil)


def plot_2d(image: np.ndarray, poses2d, confidence=None, path: str | Path | None = None, ax=None, width=None):
    """The 2D overlay as a matplotlib figure (the file at ``path`` has the image's own resolution).

    Args:
        image: (H, W, 3) uint8.
        poses2d: (P, 14, 2) pixels.
        confidence: (P, 14), joints at 0 hollow.
        path: save the overlay there (pixel for pixel, through PIL; any format PIL writes, by extension).
        ax: draw into this matplotlib axes instead of a new figure.
        width: line width in pixels.

    Returns:
        the ``Figure``.
    """
    Figure = _figure_cls()
    path = None if path is None else check_picture_path(path, "2d")  # before any drawing
    arr = draw_2d(image, poses2d, confidence, width=width)
    if path is not None:
        from PIL import Image

        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(arr).save(path)
    if ax is None:
        h, w = arr.shape[:2]
        scale = 8.0 / max(h, w)  # an 8-inch figure; the saved file above keeps full resolution
        fig = Figure(figsize=(w * scale, h * scale), dpi=100)
        ax = fig.add_axes((0, 0, 1, 1))
    ax.imshow(arr)
    ax.set_axis_off()
    return ax.figure


def ground_plane(poses3d) -> tuple[np.ndarray, np.ndarray] | None:
    """The ground under the people: a plane fitted to the ankles (least squares), normal pointing up.

    Args:
        poses3d: (P, 14, 3) metres, camera frame (y down).

    Returns:
        ``(point (3,), unit normal (3,))`` with the normal's y negative (up), or ``None`` without any ankle. With
        fewer than three ankles, or ankles on a line, the plane is perpendicular to the camera's y axis through
        the lowest one.
    """
    p = _poses("poses3d", poses3d, 3)
    feet = p[:, _ANKLES].reshape(-1, 3)
    feet = feet[np.isfinite(feet).all(1)]
    if len(feet) == 0:
        return None
    up = np.array([0.0, -1.0, 0.0])
    if len(feet) >= 3:
        centre = feet.mean(0)
        _, s, vt = np.linalg.svd(feet - centre)
        normal = vt[-1]
        # Ankles spread in 2-D (not on a line) and a plane within 60 degrees of the camera's "up".
        if s[1] > 1e-3 * max(s[0], 1e-9) and abs(normal @ up) > 0.5:
            return centre, normal if normal @ up > 0 else -normal
    lowest = feet[np.argmax(feet[:, 1])]
    return lowest, up


def _ground_frame(plane) -> tuple[np.ndarray, np.ndarray]:
    """Rotation (3, 3) rows (right, forward, up) and origin of a frame whose z is the plane's normal."""
    point, up = plane
    right = np.array([1.0, 0.0, 0.0]) - up[0] * up  # the camera's x, made parallel to the ground
    right /= np.linalg.norm(right)
    forward = np.cross(up, right)
    return np.stack([right, forward, up]), point


def plot_3d(
    poses3d,
    confidence=None,
    path: str | Path | None = None,
    ax=None,
    ground: bool = True,
    elev: float = 20.0,
    azim: float = -65.0,
    title: str | None = None,
    dpi: int = 100,
):
    """The people in 3D, metres, over the ground.

    With ``ground=True`` and ankles to fit (:func:`ground_plane`), the scene is drawn in a ground frame: the plane
    is ``z = 0`` (grey grid), z is the height above it, y the camera's viewing direction along the ground and x its
    right; otherwise in the camera frame with height up (x = X, y = Z, z = -Y). The camera is the black triangle.

    Args:
        poses3d: (P, 14, 3) metres, camera frame, NaN where missing.
        confidence: (P, 14), joints at 0 hollow.
        path: save the picture there (any format matplotlib writes, by extension: .png, .pdf, .svg, ...).
        ax: a 3-D matplotlib axes to draw into (``fig.add_subplot(projection="3d")``).
        ground: fit and draw the ground plane.
        elev, azim: the view.
        title: the axes title (default the number of people).
        dpi: of the saved picture.

    Returns:
        the ``Figure``.
    """
    Figure = _figure_cls()
    path = None if path is None else check_picture_path(path, "3d")  # before any drawing
    p = _poses("poses3d", poses3d, 3)
    conf = _confidence(confidence, len(p))
    if ax is None:
        fig = Figure(figsize=(8, 6), dpi=dpi)
        ax = fig.add_subplot(projection="3d")
    fig = ax.figure

    plane = ground_plane(p) if ground else None
    if plane is not None:
        rot, origin = _ground_frame(plane)
        q = (p - origin) @ rot.T
        cam = (-origin) @ rot.T
        labels = ("x (m, right)", "y (m, forward)", "height (m)")
    else:
        flip = np.array([[1.0, 0, 0], [0, 0, 1.0], [0, -1.0, 0]])  # X, Z, -Y
        q, cam = p @ flip.T, np.zeros(3)
        labels = ("X (m, right)", "Z (m, forward)", "-Y (m, up)")

    finite = q[np.isfinite(q).all(-1)]
    pts = np.concatenate([finite, cam[None]]) if len(finite) else np.array([cam, cam + [2.0, 5.0, 2.0]])
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.05 * max(float((hi - lo).max()), 1.0)
    lo, hi = lo - pad, hi + pad
    if plane is not None:
        lo[2] = min(lo[2], 0.0)
        gx, gy = np.meshgrid(np.linspace(lo[0], hi[0], 11), np.linspace(lo[1], hi[1], 11))
        gz = np.zeros_like(gx)
        ax.plot_surface(gx, gy, gz, color=(0.6, 0.6, 0.6), alpha=0.25, linewidth=0, shade=False)
        ax.plot_wireframe(gx, gy, gz, color=(0.45, 0.45, 0.45), linewidth=0.4, alpha=0.6)

    for k in range(len(q)):
        colour = tuple(c / 255 for c in PALETTE[k % len(PALETTE)])
        for a, b in LIMBS:
            seg = q[k, [a, b]]
            if np.isfinite(seg).all():
                ax.plot(seg[:, 0], seg[:, 1], seg[:, 2], color=colour, linewidth=2.0)
        ok = np.isfinite(q[k]).all(1)
        det, filled = ok & (conf[k] > 0), ok & ~(conf[k] > 0)
        if det.any():
            ax.scatter(*q[k, det].T, color=colour, s=6, depthshade=False)
        if filled.any():
            ax.scatter(*q[k, filled].T, facecolors="none", edgecolors=[colour], s=10, depthshade=False)

    ax.scatter([cam[0]], [cam[1]], [cam[2]], marker="^", color="black", s=30, depthshade=False)
    ax.set_xlim(lo[0], hi[0])
    ax.set_ylim(lo[1], hi[1])
    ax.set_zlim(lo[2], hi[2])
    ranges = hi - lo
    ax.set_box_aspect(tuple(np.maximum(ranges, 0.15 * ranges.max())))  # metres look like metres (height >= 15 %)
    ax.zaxis.set_major_locator(_locator(4))
    ax.set_xlabel(labels[0])
    ax.set_ylabel(labels[1])
    ax.set_zlabel(labels[2])
    ax.view_init(elev=elev, azim=azim)
    ax.set_title(title if title is not None else f"{len(p)} people")
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.savefig(path, dpi=dpi, bbox_inches="tight")
    return fig
