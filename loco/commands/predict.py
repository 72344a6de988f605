"""``loco predict``: 3D poses for images, folders of images and videos, as JSON lines and pictures.

Each input is an image file, a folder (its image files, sorted by name, not recursive) or a video: an animated
GIF / WebP / PNG / TIFF is read with PIL; other video formats (``.mp4``, ``.avi``, ...) need ``imageio`` with its
ffmpeg plugin (``pip install 'imageio[ffmpeg]'``). ``--out`` gets one JSON object per frame, one per line
(:meth:`loco.Prediction.to_dict` plus ``frame``); with several frames, ``--overlay`` and ``--plot3d`` get one
picture per frame named ``<stem>_<frame label><suffix>``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Iterator
from pathlib import Path

VIDEO_EXTENSIONS = (".mp4", ".avi", ".mov", ".mkv", ".webm", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv")
# Formats PIL reads frame by frame; a single-frame file of these is an ordinary image.
ANIMATED_EXTENSIONS = (".gif", ".webp", ".png", ".apng", ".tif", ".tiff")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT", help="image files, folders of images, or videos")
    parser.add_argument("--weights", default="vha2", help="pipeline: bundled name or folder (default %(default)s)")
    parser.add_argument("--out", help="write JSON lines here, one object per frame ('-' for stdout)")
    parser.add_argument(
        "--overlay", type=Path, help="picture of the skeletons over the image (.png, .jpg, ...; PNG without extension)"
    )
    parser.add_argument(
        "--plot3d", type=Path, help="the people in 3D over the ground (.png, .pdf, .svg, ...; PNG without extension)"
    )
    parser.add_argument("--device", default=None, help="torch device (default: cuda if available, else cpu)")
    parser.add_argument(
        "--camera",
        default=None,
        help="intrinsics of the input images in pixels, 'fx,fy,cx,cy' (default: centred, JTA field of view)",
    )
    parser.add_argument("--batch-size", type=int, default=1, help="frames per network batch (default %(default)s)")
    parser.add_argument("--every", type=int, default=1, help="videos: predict every N-th frame (default 1)")
    parser.add_argument(
        "--paper-compat", action="store_true", help="the paper's settings: integer peaks, paper association"
    )
    parser.add_argument("--no-refiner", action="store_true", help="skip the Pose Refiner")
    parser.add_argument("--threshold", type=float, default=None, help="peak threshold (default: the pipeline's)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")


def _is_animated(path: Path) -> bool:
    if path.suffix.lower() not in ANIMATED_EXTENSIONS:
        return False
    from PIL import Image

    try:
        with Image.open(path) as img:
            return int(getattr(img, "n_frames", 1)) > 1
    except Exception:  # not readable: let load_image give the error
        return False


def _pil_frames(path: Path, every: int) -> Iterator[tuple[int, object]]:
    import numpy as np
    from PIL import Image, ImageSequence

    try:
        with Image.open(path) as img:
            for i, frame in enumerate(ImageSequence.Iterator(img)):
                if i % every == 0:
                    yield i, np.asarray(frame.convert("RGB"))
    except OSError as exc:
        raise ValueError(f"cannot read frames of {path}: {exc}") from None


def _video_frames(path: Path, every: int) -> Iterator[tuple[int, object]]:
    try:
        import imageio.v3 as iio
    except ImportError:
        raise RuntimeError(
            f"reading the video {path} needs imageio: pip install 'imageio[ffmpeg]' (animated GIF/WebP/PNG/TIFF "
            f"work without it), or extract the frames to a folder and pass the folder"
        ) from None
    try:
        for i, frame in enumerate(iio.imiter(path)):
            if i % every == 0:
                yield i, frame
    except (OSError, ValueError) as exc:
        raise ValueError(f"cannot read the video {path}: {exc}") from None


def expand_inputs(inputs: list[str], every: int = 1) -> tuple[list[tuple[str, Path, bool]], bool]:
    """``([(kind, path, multi)], several)``: ``kind`` "image" or "frames" (a video / animated file), and whether the
    run has more than one frame. Raises for a missing path or a folder without images."""
    from loco.pipeline import IMAGE_EXTENSIONS

    items: list[tuple[str, Path]] = []
    for raw in inputs:
        path = Path(raw)
        if not path.exists():
            raise FileNotFoundError(f"input not found: {path}")
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                raise ValueError(f"no image files ({', '.join(IMAGE_EXTENSIONS)}) in the folder {path}")
            items.extend(("image", p) for p in files)
        elif path.suffix.lower() in VIDEO_EXTENSIONS or _is_animated(path):
            items.append(("frames", path))
        else:
            items.append(("image", path))
    several = len(items) > 1 or any(kind == "frames" for kind, _ in items)
    return items, several


def _frames(items, every: int) -> Iterator[tuple[str, str, int, object]]:
    """``(label, source, frame index, image)`` for every frame of every input."""
    for kind, path in items:
        if kind == "image":
            yield path.stem, str(path), 0, path
            continue
        reader = _pil_frames if path.suffix.lower() not in VIDEO_EXTENSIONS else _video_frames
        for i, frame in reader(path, every):
            yield f"{path.stem}_{i:06d}", f"{path}#{i}", i, frame


def _numbered(path: Path, label: str, several: bool) -> Path:
    """Where a picture goes: ``.png`` when ``path`` has no extension, one file per frame when there are several."""
    suffix = path.suffix or ".png"
    return path.with_name(f"{path.stem}_{label}{suffix}") if several else path.with_suffix(suffix)


def _frame_count(items, every: int) -> int | None:
    total = 0
    for kind, path in items:
        if kind == "image":
            total += 1
        elif path.suffix.lower() in VIDEO_EXTENSIONS:
            return None
        else:
            from PIL import Image

            with Image.open(path) as img:
                total += -(-int(getattr(img, "n_frames", 1)) // every)
    return total


def run(args: argparse.Namespace) -> int:
    from loco.pipeline import LoCO, as_camera

    if args.batch_size < 1:
        raise ValueError(f"--batch-size must be >= 1, got {args.batch_size}")
    if args.every < 1:
        raise ValueError(f"--every must be >= 1, got {args.every}")
    camera = as_camera(args.camera, 1, 1) if args.camera is not None else None
    items, several = expand_inputs(args.inputs, args.every)
    from loco.viz import check_picture_path

    for option, plot in (("overlay", "2d"), ("plot3d", "3d")):  # before the model loads or a frame is read
        if getattr(args, option) is not None:
            try:
                check_picture_path(_numbered(getattr(args, option), "0", several), plot)
            except ValueError as exc:
                raise ValueError(f"--{option}: {exc}") from None
    settings = {}
    if args.no_refiner:
        settings["use_refiner"] = False
    if args.threshold is not None:
        settings["threshold"] = args.threshold
    model = LoCO.from_pretrained(args.weights, device=args.device)

    from tqdm.auto import tqdm

    out = None
    if args.out == "-":
        out = sys.stdout
    elif args.out:
        Path(args.out).parent.mkdir(parents=True, exist_ok=True)
        out = open(args.out, "w")  # noqa: SIM115 (closed in finally, written frame by frame)
    bar = tqdm(
        total=_frame_count(items, args.every),
        unit="frame",
        disable=args.no_progress,
        desc="loco predict",
        dynamic_ncols=True,
        file=sys.stderr,
    )
    frames = people = 0

    def emit(batch):
        nonlocal frames, people
        preds = model.predict([im for *_, im in batch], camera, paper_compat=args.paper_compat, **settings)
        for (label, source, index, _), pred in zip(batch, preds):
            pred.source = source
            if out is not None:
                out.write(pred.to_json(frame=index) + "\n")
                out.flush()
            if args.overlay is not None:
                from PIL import Image

                from loco.viz import draw_2d

                path = _numbered(args.overlay, label, several)
                path.parent.mkdir(parents=True, exist_ok=True)
                Image.fromarray(draw_2d(pred.image, pred.poses2d, pred.confidence)).save(path)
            if args.plot3d is not None:
                pred.plot_3d(path=_numbered(args.plot3d, label, several), title=f"{label}: {len(pred)} people")
            if out is not sys.stdout:
                bar.write(f"{source}: {len(pred)} people")
            frames += 1
            people += len(pred)
            bar.update(1)

    try:
        batch = []
        for frame in _frames(items, args.every):
            batch.append(frame)
            if len(batch) == args.batch_size:
                emit(batch)
                batch = []
        if batch:
            emit(batch)
    finally:
        bar.close()
        if out is not None and out is not sys.stdout:
            out.close()
    if frames == 0:
        raise ValueError("no frames were read from the inputs")
    if out is not sys.stdout:
        where = f", poses in {args.out}" if args.out else ""
        print(f"{frames} frame(s), {people} people{where}")
    return 0
