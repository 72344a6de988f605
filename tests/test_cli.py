"""``loco predict`` and ``loco demo`` on a tiny randomly initialised pipeline saved to tmp_path."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from loco.cli import main


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    from test_pipeline import tiny_pipeline

    path = tmp_path_factory.mktemp("cli") / "tiny"
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    folder = tmp_path_factory.mktemp("images")
    rng = np.random.default_rng(1)
    for name in ("a.png", "b.jpg"):
        Image.fromarray(rng.integers(0, 256, (72, 128, 3), dtype=np.uint8)).save(folder / name)
    (folder / "notes.txt").write_text("not an image")
    return folder


def _lines(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_predict_one_image(weights, images, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    out, overlay, plot = tmp_path / "poses.json", tmp_path / "over.png", tmp_path / "3d.png"
    argv = ["predict", str(images / "a.png"), "--weights", str(weights), "--out", str(out)]
    argv += ["--overlay", str(overlay), "--plot3d", str(plot), "--no-progress", "--camera", "100,100,64,36"]
    assert main(argv) == 0
    (d,) = _lines(out)
    assert d["camera"] == {"fx": 100.0, "fy": 100.0, "cx": 64.0, "cy": 36.0}
    assert d["people"] == len(d["poses3d"]) and d["frame"] == 0
    assert Image.open(overlay).size == (128, 72) and plot.is_file()
    assert "people" in capsys.readouterr().out
    # without an extension the pictures are PNGs at PATH.png, as with several inputs (PIL refused "over" before)
    argv = ["predict", str(images / "a.png"), "--weights", str(weights), "--out", str(out), "--no-progress"]
    assert main([*argv, "--overlay", str(tmp_path / "over"), "--plot3d", str(tmp_path / "p3")]) == 0
    assert Image.open(tmp_path / "over.png").format == "PNG" and (tmp_path / "p3.png").is_file()


def test_predict_folder_writes_a_line_per_image(weights, images, tmp_path):
    out, overlay = tmp_path / "poses.jsonl", tmp_path / "o.png"
    argv = ["predict", str(images), "--weights", str(weights), "--out", str(out), "--overlay", str(overlay)]
    assert main([*argv, "--no-progress", "--batch-size", "2"]) == 0
    lines = _lines(out)
    assert [line["source"].rsplit("/", 1)[-1] for line in lines] == ["a.png", "b.jpg"]
    assert (tmp_path / "o_a.png").is_file() and (tmp_path / "o_b.png").is_file()


def test_predict_animated_gif_frame_by_frame(weights, tmp_path):
    rng = np.random.default_rng(2)
    frames = [Image.fromarray(rng.integers(0, 256, (48, 80, 3), dtype=np.uint8)) for _ in range(3)]
    gif = tmp_path / "clip.gif"
    frames[0].save(gif, save_all=True, append_images=frames[1:], duration=40)
    out = tmp_path / "poses.jsonl"
    assert main(["predict", str(gif), "--weights", str(weights), "--out", str(out), "--no-progress"]) == 0
    lines = _lines(out)
    assert [line["frame"] for line in lines] == [0, 1, 2]
    assert lines[1]["source"].endswith("clip.gif#1")


def test_predict_video_through_imageio(weights, tmp_path, monkeypatch):
    """Videos go through ``imageio.v3.imiter`` (stubbed here: imageio is optional), every ``--every``-th frame."""
    import sys
    import types

    rng = np.random.default_rng(3)
    frames = [rng.integers(0, 256, (40, 64, 3), dtype=np.uint8) for _ in range(5)]
    v3 = types.ModuleType("imageio.v3")
    v3.imiter = lambda path: iter(frames)
    package = types.ModuleType("imageio")
    package.v3 = v3
    monkeypatch.setitem(sys.modules, "imageio", package)
    monkeypatch.setitem(sys.modules, "imageio.v3", v3)
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00")
    out = tmp_path / "poses.jsonl"
    argv = ["predict", str(video), "--weights", str(weights), "--out", str(out), "--every", "2", "--no-progress"]
    assert main(argv) == 0
    assert [line["frame"] for line in _lines(out)] == [0, 2, 4]


def test_predict_video_without_imageio_is_clear(weights, tmp_path, capsys):
    video = tmp_path / "clip.mp4"
    video.write_bytes(b"\x00" * 64)
    try:
        import imageio  # noqa: F401
    except ImportError:
        assert main(["predict", str(video), "--weights", str(weights), "--no-progress"]) == 2
        assert "imageio" in capsys.readouterr().err
    else:
        assert main(["predict", str(video), "--weights", str(weights), "--no-progress"]) == 2


@pytest.mark.parametrize(
    "extra, words",
    [
        (["/no/such.jpg"], "not found"),
        (["IMG", "--camera", "1,2,3"], "four numbers"),
        (["IMG", "--weights", "no_such_weights"], "unknown weights 'no_such_weights'"),
        (["CORRUPT"], "corrupt"),
        (["TINY"], "pixels per side"),
        (["EMPTY"], "no image files"),
        (["IMG", "--overlay", "OUT/o.xyz"], "--overlay: path has the extension '.xyz'"),
        (["IMG", "--plot3d", "OUT/p.bmp"], "--plot3d: path has the extension '.bmp'"),
    ],
    ids=["missing-file", "camera", "weights-name", "corrupt-image", "one-pixel", "empty-folder", "overlay", "plot3d"],
)
def test_predict_bad_inputs_give_one_clear_error(weights, images, tmp_path, capsys, extra, words):
    (tmp_path / "bad.jpg").write_bytes(b"garbage, not a jpeg")
    Image.fromarray(np.zeros((1, 1, 3), np.uint8)).save(tmp_path / "tiny.png")
    (tmp_path / "empty").mkdir()
    subst = {
        "IMG": str(images / "a.png"),
        "CORRUPT": str(tmp_path / "bad.jpg"),
        "TINY": str(tmp_path / "tiny.png"),
        "EMPTY": str(tmp_path / "empty"),
    }
    argv = ["predict", *[subst.get(a, a).replace("OUT", str(tmp_path / "out")) for a in extra], "--no-progress"]
    if "--weights" not in argv:
        argv += ["--weights", str(weights)]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("loco predict: error:") and words in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()  # refused before anything was written


def test_predict_corrupt_weights(weights, images, tmp_path, capsys):
    import shutil

    bad = tmp_path / "w"
    shutil.copytree(weights, bad)
    (bad / "predictor" / "model.safetensors").write_bytes(b"broken")
    assert main(["predict", str(images / "a.png"), "--weights", str(bad), "--no-progress"]) == 2
    assert "corrupt" in capsys.readouterr().err


def test_demo_writes_json_and_pictures(weights, tmp_path, capsys):
    pytest.importorskip("matplotlib")
    assert main(["demo", "--weights", str(weights), "--out", str(tmp_path / "demo")]) == 0
    for name in ("demo_poses.json", "demo_overlay.png", "demo_3d.png"):
        assert (tmp_path / "demo" / name).is_file()
    d = json.loads((tmp_path / "demo" / "demo_poses.json").read_text())
    assert d["image_size"] == [1080, 1920]
    assert "F1@0.4" in capsys.readouterr().out


def test_demo_without_bundled_weights_is_clear(tmp_path, capsys):
    from loco.models._hub import WEIGHTS_DIR

    if (WEIGHTS_DIR / "vha2" / "pipeline.json").is_file() or (WEIGHTS_DIR / "code_predictor_light").is_dir():
        pytest.skip("bundled weights are installed")
    assert main(["demo", "--out", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert "loco demo: error:" in err and "vha2" in err and "Traceback" not in err


def test_demo_asset_is_small_and_has_a_camera():
    from loco.commands.demo import DEMO_IMAGE, DEMO_META

    assert DEMO_IMAGE.stat().st_size < 400_000
    meta = json.loads(DEMO_META.read_text())
    assert set(meta["camera"]) == {"fx", "fy", "cx", "cy"}
    assert 20 <= len(meta["poses3d"]) <= 40
    with Image.open(DEMO_IMAGE) as img:
        assert img.size == (1920, 1080)
