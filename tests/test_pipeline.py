"""loco.pipeline: loading, inputs, resizing with scaled intrinsics, settings, Prediction, pictures, and the shared
post-processing on ground-truth heatmaps (the authors' frames: F1@0.4 = 100)."""

from __future__ import annotations

import json
from dataclasses import asdict, replace

import numpy as np
import pytest
import torch

from loco import ops
from loco.evaluate import ground_truth_mask
from loco.geometry import Camera, VoxelGrid
from loco.metrics import joint_detection, poses_to_rows
from loco.models import VHA, CodePredictor, PoseRefiner
from loco.pipeline import (
    PAPER_SETTINGS,
    LoCO,
    Prediction,
    Settings,
    _letterbox,
    _project_px,
    as_camera,
    available_pipelines,
    load_image,
    volume_to_poses,
)

INPUT = (64, 96)


def tiny_pipeline(**kwargs) -> LoCO:
    """A randomly initialised pipeline on a 16-bin grid; the VHA's last layer is scaled so that its noise has a few
    dozen peaks above the default threshold (people to associate, refine and draw)."""
    torch.manual_seed(0)
    vha = VHA(2, depth_bins=16)
    with torch.no_grad():
        vha.decoder[6].weight.mul_(3.0)
        vha.decoder[6].bias.mul_(3.0)
    return LoCO(
        CodePredictor("light", 2, depth_bins=16, head_widths=(16, 16)),
        vha,
        PoseRefiner(hidden=16),
        input_size=INPUT,
        device="cpu",
        **kwargs,
    )


@pytest.fixture(scope="module")
def weights(tmp_path_factory):
    path = tmp_path_factory.mktemp("weights") / "tiny"
    tiny_pipeline().save_pretrained(path)
    return path


@pytest.fixture(scope="module")
def model(weights):
    return LoCO.from_pretrained(weights, device="cpu")


@pytest.fixture(scope="module")
def picture():
    rng = np.random.default_rng(0)
    return rng.integers(0, 256, (128, 192, 3), dtype=np.uint8)


# --------------------------------------------------------------------------------------------- loading


def test_save_load_round_trip(weights, model, picture):
    fresh = tiny_pipeline()
    a, b = fresh.predict(picture), model.predict(picture)
    assert len(a) > 0
    np.testing.assert_array_equal(a.poses3d, b.poses3d)
    spec = json.loads((weights / "pipeline.json").read_text())
    assert spec["input_size"] == list(INPUT) and spec["refiner"] == "refiner"
    # a file inside the folder resolves to the folder
    assert LoCO.from_pretrained(weights / "pipeline.json").input_size == INPUT


def test_folder_without_pipeline_json(weights, tmp_path):
    import shutil

    for part in ("predictor", "vha"):
        shutil.copytree(weights / part, tmp_path / part)
    m = LoCO.from_pretrained(tmp_path, device="cpu")
    assert m.refiner is None
    assert m.input_size == INPUT  # read from the predictor's metadata


def test_unknown_name_lists_valid_ones():
    with pytest.raises(ValueError, match="unknown weights 'nope'.*vha2"):
        LoCO.from_pretrained("nope")
    assert "vha2" in available_pipelines()


def test_bundled_name_not_installed_is_clear():
    try:
        LoCO.from_pretrained("vha2", device="cpu")
    except FileNotFoundError as exc:
        assert "not installed" in str(exc)
    # when the bundled weights are installed the call succeeds, which is fine too


def test_corrupt_weights_file(weights, tmp_path):
    import shutil

    bad = tmp_path / "bad"
    shutil.copytree(weights, bad)
    (bad / "vha" / "model.safetensors").write_bytes(b"\x00garbage" * 10)
    with pytest.raises(ValueError, match="corrupt"):
        LoCO.from_pretrained(bad)
    (bad / "pipeline.json").write_text("{not json")
    with pytest.raises(ValueError, match="corrupt"):
        LoCO.from_pretrained(bad)


def test_not_a_pipeline_folder(tmp_path):
    with pytest.raises(ValueError, match="not a loco pipeline"):
        LoCO.from_pretrained(tmp_path)


def test_mismatched_networks():
    with pytest.raises(ValueError, match="VHA"):
        LoCO(CodePredictor("light", 3, depth_bins=16), VHA(2, depth_bins=16))


def test_settings_must_be_settings():
    for bad in (np.zeros(2), torch.zeros(2), {"threshold": 0.2}):  # arrays were numpy's / torch's "ambiguous"
        with pytest.raises(TypeError, match="settings must be a loco.pipeline.Settings"):
            LoCO(CodePredictor("light", 2, depth_bins=16), VHA(2, depth_bins=16), settings=bad)


# --------------------------------------------------------------------------------------------- inputs


def test_every_input_kind_gives_the_same_prediction(model, picture, tmp_path):
    from PIL import Image

    path = tmp_path / "img.png"
    Image.fromarray(picture).save(path)
    ref = model.predict(picture)
    for kind in (
        str(path),
        path,
        Image.fromarray(picture),
        torch.from_numpy(picture).permute(2, 0, 1),
        torch.from_numpy(picture).permute(2, 0, 1).float() / 255,
        np.dstack([picture, np.full(picture.shape[:2], 255, np.uint8)]),  # RGBA
    ):
        got = model.predict(kind)
        assert got.image_size == (128, 192)
        np.testing.assert_allclose(got.poses3d, ref.poses3d, atol=1e-5)
    assert model.predict(str(path)).source == str(path)


def test_out_of_range_values_are_refused_not_clipped():
    """A float copy of a 0..255 image, a normalised image or a 16-bit one would be clipped to a blank picture."""
    rng = np.random.default_rng(0)
    ok = rng.integers(0, 256, size=(20, 24, 3))
    np.testing.assert_array_equal(load_image(ok), ok.astype(np.uint8))  # int64 in range
    np.testing.assert_array_equal(load_image(ok / 255.0), ok.astype(np.uint8))
    np.testing.assert_array_equal(load_image(np.float32(1 + 0.4 / 255) * np.ones((20, 24))), np.full((20, 24, 3), 255))
    for bad, match in (
        (ok.astype(np.float32), r"\[0, 1\]; got \[0, 255\] \(a 0..255 image"),
        (ok / 255.0 - 0.5, r"\[0, 1\]; got \[-0.5"),
        (ok.astype(np.uint16) * 257, r"uint16.*\[0, 255\]; got \[0, 65535\]"),
        (-ok, r"\[0, 255\]"),
    ):
        with pytest.raises(ValueError, match=match):
            load_image(bad)
    with pytest.raises(ValueError, match="image tensor"):
        load_image(torch.from_numpy(ok.astype(np.float32)).permute(2, 0, 1))


def test_grayscale_is_converted(model, picture):
    gray = picture[..., 0]
    a = model.predict(gray)
    b = model.predict(np.repeat(gray[..., None], 3, axis=2))
    np.testing.assert_array_equal(a.poses3d, b.poses3d)


def test_batch_equals_single(model, picture):
    other = np.ascontiguousarray(picture[::-1])
    batch = model.predict([picture, other])
    assert isinstance(batch, list) and len(batch) == 2
    for got, image in zip(batch, (picture, other)):
        ref = model.predict(image)
        assert got.poses3d.shape == ref.poses3d.shape
        np.testing.assert_allclose(got.poses3d, ref.poses3d, atol=1e-3)


def test_shapes_and_types(model, picture):
    p = model.predict(picture)
    n = len(p)
    assert p.poses3d.shape == (n, 14, 3) and p.poses3d.dtype == np.float32
    assert p.poses2d.shape == (n, 14, 2) and p.confidence.shape == (n, 14)
    assert set(p.timings) >= {"backbone", "decode_peaks", "association", "refiner", "total"}
    # 2D is the 3D projected with the image's camera
    np.testing.assert_allclose(p.poses2d, _project_px(p.poses3d, p.camera), rtol=1e-5)


def test_default_camera_is_the_jta_field_of_view(model, picture):
    p = model.predict(picture)
    assert p.camera == Camera.from_fov(192, 128)
    assert Camera.from_fov(1920, 1080) == Camera.jta()


def test_resize_scales_the_intrinsics(model, picture, monkeypatch):
    """The pipeline resizes to its input size and hands the networks' grid the camera scaled alike: the same scene
    given at twice the size with twice the focal length gives the same 3D poses, and 2D poses twice as large."""
    import loco.pipeline as P

    seen = []
    real = P.peaks_to_poses
    monkeypatch.setattr(P, "peaks_to_poses", lambda pk, g, cams, s: seen.append(cams) or real(pk, g, cams, s))
    cam = Camera(150.0, 140.0, 100.0, 60.0)
    big = model.predict(picture, cam)  # 128x192 -> input 64x96: scale 0.5
    assert seen[-1] == [cam.scaled(0.5)]
    small_img, _ = _letterbox(picture, INPUT)
    small = model.predict(small_img, cam.scaled(0.5))
    assert seen[-1] == [cam.scaled(0.5)]
    assert len(big) > 0
    np.testing.assert_allclose(big.poses3d, small.poses3d, atol=1e-6)
    np.testing.assert_allclose(big.poses2d, 2 * small.poses2d, rtol=1e-4, atol=1e-3)


def test_letterbox_keeps_the_aspect_ratio():
    img = np.full((100, 100, 3), 200, np.uint8)
    out, scale = _letterbox(img, (64, 96))
    assert out.shape == (64, 96, 3) and scale == pytest.approx(0.64)
    assert (out[:, 64:] == (124, 116, 104)).all()  # padding: the ImageNet mean, zero after normalisation
    assert (out[:, :64] == 200).all()


@pytest.mark.parametrize(
    "bad, exc, words",
    [
        ("/no/such/file.jpg", FileNotFoundError, "not found"),
        (np.zeros((1, 1, 3), np.uint8), ValueError, "1x1 pixels"),
        (np.zeros((40, 40, 2), np.uint8), ValueError, "shape"),
        (torch.zeros(2, 40, 40), ValueError, "shape"),
        (42, TypeError, "image must be"),
    ],
    ids=["missing", "one-pixel", "two-channels", "tensor-channels", "int"],
)
def test_bad_images(model, bad, exc, words):
    with pytest.raises(exc, match=words):
        model.predict(bad)


def test_corrupt_image_file(model, tmp_path):
    bad = tmp_path / "broken.jpg"
    bad.write_bytes(b"\xff\xd8\xff\xe0 this is not really a jpeg")
    with pytest.raises(ValueError, match="corrupt"):
        model.predict(bad)
    from PIL import Image

    good = tmp_path / "cut.jpg"
    Image.fromarray(np.zeros((64, 64, 3), np.uint8)).save(good)
    cut = tmp_path / "truncated.jpg"
    cut.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ValueError, match="corrupt"):
        load_image(cut)


@pytest.mark.parametrize(
    "camera, words",
    [((1.0, 2.0, 3.0), "four numbers"), ("1,2,x,4", "fx,fy,cx,cy"), ((-1, 1, 1, 1), "positive"), ({"fx": 1}, "fy")],
    ids=["three", "text", "negative", "dict"],
)
def test_bad_cameras(model, picture, camera, words):
    with pytest.raises(ValueError, match=words):
        model.predict(picture, camera)


def test_camera_forms():
    ref = Camera(1.0, 2.0, 3.0, 4.0)
    for c in (ref, (1, 2, 3, 4), [1.0, 2.0, 3.0, 4.0], "1,2,3,4", {"fx": 1, "fy": 2, "cx": 3, "cy": 4}):
        assert as_camera(c, 10, 10) == ref


# --------------------------------------------------------------------------------------------- settings


def test_paper_compat_gives_integer_peaks_and_paper_association(model, picture, monkeypatch):
    import loco.pipeline as P

    seen = {}
    real = P.peaks_to_poses

    def spy(peaks, grid, cams, settings):
        seen["peaks"], seen["settings"] = peaks, settings
        return real(peaks, grid, cams, settings)

    monkeypatch.setattr(P, "peaks_to_poses", spy)
    model.predict(picture, paper_compat=True)
    assert seen["settings"].association == "paper" and seen["settings"].refine is None
    pos = seen["peaks"].position
    assert len(pos) and torch.equal(pos, pos.round())
    model.predict(picture)
    assert seen["settings"] == Settings()
    assert not torch.equal(seen["peaks"].position, seen["peaks"].position.round())  # sub-voxel by default
    with pytest.raises(TypeError, match="unknown settings"):
        model.predict(picture, thresold=0.2)
    with pytest.raises(TypeError, match="paper_compat"):  # a truthy string would have switched the paper's settings on
        model.predict(picture, paper_compat="no")


def test_refiner_can_be_skipped(model, picture):
    a = model.predict(picture, use_refiner=False)
    b = model.predict(picture)
    assert a.poses3d.shape == b.poses3d.shape
    assert not np.allclose(np.nan_to_num(a.poses3d), np.nan_to_num(b.poses3d))


def test_tf32_switches_are_set_for_the_networks_and_restored(model, picture, monkeypatch):
    """``Settings.tf32`` reaches PyTorch's switches while the networks run (CUDA reads them there) and the caller's
    global values come back after the call, whatever they were."""
    import torch

    seen = []
    forward = type(model.predictor).forward

    def spy(self, x):
        seen.append((torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32))
        return forward(self, x)

    monkeypatch.setattr(type(model.predictor), "forward", spy)
    before = (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32)
    a = model.predict(picture)
    b = model.predict(picture, tf32=True)
    assert seen == [(False, False), (True, True)]
    assert (torch.backends.cudnn.allow_tf32, torch.backends.cuda.matmul.allow_tf32) == before
    np.testing.assert_array_equal(a.poses3d, b.poses3d)  # no effect on CPU
    with pytest.raises(TypeError, match="tf32"):
        model.predict(picture, tf32="yes")


def test_settings_check_every_field_when_made():
    """A bad setting fails when the settings are made, naming the field (not later inside predict), and numpy numbers
    are stored as Python ones so the settings stay JSON-serialisable (``save_pretrained`` writes them)."""
    s = Settings(
        threshold=np.float32(0.25),
        connectivity=np.int64(26),
        joints_per_chunk=np.int64(3),
        decode_budget_mb=np.int32(8),
    )
    assert (s.threshold, s.connectivity, s.joints_per_chunk, s.decode_budget_mb) == (0.25, 26, 3, 8.0)
    assert type(s.threshold) is float and type(s.connectivity) is int and type(s.joints_per_chunk) is int
    json.dumps(asdict(s))
    bad = [
        (TypeError, "limb_check", "yes"),
        (TypeError, "use_refiner", 1),
        (TypeError, "tf32", None),
        (TypeError, "threshold", "0.1"),
        (ValueError, "threshold", float("nan")),
        (TypeError, "hole_threshold", [0.2]),
        (ValueError, "replace_threshold", float("nan")),
        (ValueError, "connectivity", True),
        (ValueError, "connectivity", 8),
        (TypeError, "joints_per_chunk", 2.0),
        (ValueError, "joints_per_chunk", 0),
        (ValueError, "decode_budget_mb", 0),
        (ValueError, "decode_budget_mb", float("inf")),
        (ValueError, "backend", "cuda"),
        (ValueError, "backend", None),
    ]
    for error, name, value in bad:
        with pytest.raises(error, match=name):
            Settings(**{name: value})
    assert replace(PAPER_SETTINGS, backend="torch").backend == "torch"


# --------------------------------------------------------------------------------------------- Prediction


def _prediction() -> Prediction:
    from loco.data.synthetic import render, sample_scene

    scene = sample_scene("jta", np.random.default_rng([3, 1]), 6)
    out = render(scene, (135, 240))
    poses = out["poses3d"].astype(np.float32)
    poses[0, 4] = np.nan
    conf = np.full(poses.shape[:2], 0.8, np.float32)
    conf[1, 2] = 0.0
    cam = out["camera"]
    image = out["image"].transpose(1, 2, 0)
    return Prediction(poses, _project_px(poses, cam), conf, cam, image.shape[:2], image=image)


def test_prediction_serialises(tmp_path):
    p = _prediction()
    d = json.loads(p.to_json())
    assert d["people"] == len(p) and d["poses3d"][0][4] == [None, None, None]
    assert d["joint_names"][0] == "head_top"
    back = Prediction.from_dict(json.loads(p.save(tmp_path / "p.json").read_text()))
    np.testing.assert_allclose(back.poses3d, p.poses3d, atol=1e-4)
    np.testing.assert_allclose(back.confidence, p.confidence)
    assert back.camera == p.camera
    loaded = Prediction.load(tmp_path / "p.json")
    np.testing.assert_array_equal(loaded.poses3d, back.poses3d)
    assert loaded.image_size == p.image_size and loaded.camera == p.camera and loaded.image is None
    # JSON lines, as `loco predict --out` writes them (one object per frame, with extra fields)
    (tmp_path / "p.jsonl").write_text(p.to_json(frame=0) + "\n" + p.to_json(frame=1) + "\n")
    both = Prediction.load_all(tmp_path / "p.jsonl")
    assert len(both) == 2 and all(np.array_equal(b.poses3d, back.poses3d, equal_nan=True) for b in both)
    with pytest.raises(ValueError, match="2 predictions"):
        Prediction.load(tmp_path / "p.jsonl")
    with pytest.raises(FileNotFoundError, match="prediction file"):
        Prediction.load(tmp_path / "none.json")
    (tmp_path / "bad.json").write_text("{not json")
    with pytest.raises(ValueError, match="not JSON"):
        Prediction.load(tmp_path / "bad.json")
    (tmp_path / "other.json").write_text('{"people": 3}')
    with pytest.raises(ValueError, match="missing"):
        Prediction.load(tmp_path / "other.json")
    (tmp_path / "list.json").write_text("[1, 2]")
    with pytest.raises(ValueError, match="prediction dict"):
        Prediction.load(tmp_path / "list.json")


def test_pictures(tmp_path):
    pytest.importorskip("matplotlib")
    from PIL import Image

    from loco.viz import check_picture_path, ground_plane

    p = _prediction()
    fig = p.plot_2d(path=tmp_path / "o.png")
    assert hasattr(fig, "savefig")
    assert Image.open(tmp_path / "o.png").size == (240, 135)
    fig = p.plot_3d(path=tmp_path / "d.png")
    assert hasattr(fig, "savefig") and (tmp_path / "d.png").stat().st_size > 1000
    point, normal = ground_plane(p.poses3d)
    assert normal[1] < 0  # up is -y in the camera frame
    # the ankles lie on the fitted plane within a few centimetres (flat synthetic ground)
    feet = p.poses3d[:, (10, 13)].reshape(-1, 3)
    feet = feet[np.isfinite(feet).all(1)]
    assert np.abs((feet - point) @ normal).max() < 0.2
    with pytest.raises(ValueError, match="no image"):
        Prediction(p.poses3d, p.poses2d, p.confidence, p.camera, p.image_size).plot_2d()
    # no extension: PIL's "unknown file extension" for the overlay, a silent "overlay.png" from matplotlib
    for plot in (p.plot_2d, p.plot_3d):
        with pytest.raises(ValueError, match="path must end in an image extension"):
            plot(path=tmp_path / "overlay")
        with pytest.raises(TypeError, match="path must be a str or Path"):
            plot(path=5)
        # an extension the writer (PIL for the overlay, matplotlib for 3D) does not know: refused before drawing
        with pytest.raises(ValueError, match=r"path has the extension '\.xyz', which this picture cannot be saved as"):
            plot(path=tmp_path / "sub" / "overlay.xyz")
    # extensions PIL registers a saver for that cannot write an RGB picture: a stub without its handler (.h5, .wmf)
    # and savers of other modes (.xbm: 1-bit, .msp, .blp); refused before drawing, not with PIL's error after mkdir
    for ext in (".h5", ".wmf", ".xbm", ".msp", ".blp"):
        with pytest.raises(ValueError, match=f"path has the extension '\\{ext}'"):
            p.plot_2d(path=tmp_path / "sub" / f"overlay{ext}")
    assert not (tmp_path / "overlay").exists() and not (tmp_path / "overlay.png").exists()
    assert not (tmp_path / "sub").exists()
    with pytest.raises(ValueError, match="plot must be '2d' or '3d'"):
        check_picture_path(tmp_path / "a.png", "4d")
    # other formats each writer knows, chosen by the extension (upper case too)
    p.plot_2d(path=tmp_path / "o.JPG")
    p.plot_3d(path=tmp_path / "d.pdf")
    assert Image.open(tmp_path / "o.JPG").format == "JPEG" and (tmp_path / "d.pdf").read_bytes()[:4] == b"%PDF"


# --------------------------------------------------------------------------------------------- post-processing


def _f1_through_postprocessing(poses3d: np.ndarray, grid: VoxelGrid, camera: Camera, settings: Settings) -> float:
    """Render ``poses3d`` (the ground truth) to heatmaps, read them back with the pipeline's post-processing,
    score against the joints inside the grid."""
    poses = torch.as_tensor(poses3d, dtype=torch.float64)
    mask = ground_truth_mask(poses, grid, camera)
    centers = ops.project(poses[mask], grid, camera).float()
    joints = torch.arange(14).expand(poses.shape[0], -1)[mask]
    snap = settings.refine is None  # integer peaks read the original (snapped) ground truth
    volume = ops.render_heatmaps(centers, joints, grid, snap=snap, batch_size=1)
    ((pred, _),) = volume_to_poses(volume, grid, camera, settings)
    gt = torch.where(mask[..., None], poses, torch.nan).numpy()
    return joint_detection(poses_to_rows(pred), poses_to_rows(gt), 0.4)["f1"]


def test_postprocessing_on_synthetic_ground_truth():
    """On the bundled pipeline's quarter-size grid (480 x 270 px, 60 x 34 voxels) sub-voxel peaks read the ground
    truth back almost perfectly, while the paper's integer peaks are off by up to half a voxel (0.3 m across the ray
    at 20 m) and lose about a third of the joints at 0.4 m: why sub-voxel refinement is the default."""
    from loco.data.synthetic import sample_scene

    scene = sample_scene("jta", np.random.default_rng([5, 0]), 12)
    cam = scene.camera.scaled(0.25)
    grid = VoxelGrid.for_image(270, 480, "jta")
    default = _f1_through_postprocessing(scene.poses3d(), grid, cam, Settings())
    paper = _f1_through_postprocessing(scene.poses3d(), grid, cam, PAPER_SETTINGS)
    assert default > 0.99
    assert paper < default - 0.1


@pytest.mark.slow
@pytest.mark.parametrize("settings", [Settings(), PAPER_SETTINGS], ids=["default", "paper"])
def test_authors_predictions_survive_the_postprocessing(authors_dir, settings):
    """The authors' own predictions as ground truth: rendered on the JTA grid, read back by find_peaks,
    back-projection and association, every joint inside the grid comes back (F1@0.4 = 100; frame 2 has 5 joints
    outside the 1920x1080 x 100 m grid, which no heatmap can hold)."""
    for k in (1, 2, 3):
        raw = np.asarray(json.loads((authors_dir / f"{k}_res.json").read_text())["poses"], dtype=np.float64)
        assert _f1_through_postprocessing(raw[..., 1:], VoxelGrid.jta(), Camera.jta(), settings) == 1.0, k


def test_predict_on_the_authors_frames(authors_dir, model, tmp_path):
    pytest.importorskip("matplotlib")
    preds = model.predict([authors_dir / f"{k}_rgb.jpg" for k in (1, 2, 3)], Camera.jta())
    assert [p.image_size for p in preds] == [(1080, 1920)] * 3
    preds[0].plot_2d(path=tmp_path / "overlay.png")
    preds[0].plot_3d(path=tmp_path / "3d.png")
    assert (tmp_path / "overlay.png").is_file() and (tmp_path / "3d.png").is_file()


def test_bundled_names_resolve_in_the_weights_folder(weights, tmp_path, monkeypatch, picture):
    """The bundled layout: ``vha2`` is assembled from the ``code_predictor_light``, VHA and ``pose_refiner`` network
    folders, and a ``<name>/pipeline.json`` there is a pipeline of its own, found by name."""
    import shutil

    import loco.pipeline as P

    root = tmp_path / "weights"
    shutil.copytree(weights / "predictor", root / "code_predictor_light")
    config = json.loads((root / "code_predictor_light" / "config.json").read_text())
    config["metadata"] = {"train": {"image_size": list(INPUT)}}  # nested, as a training config may store it
    (root / "code_predictor_light" / "config.json").write_text(json.dumps(config))
    vha_name = P.BUNDLED_PIPELINES["vha2"]["vha"]
    shutil.copytree(weights / "vha", root / vha_name)
    monkeypatch.setattr(P, "_weights_dir", lambda: root)
    with pytest.raises(FileNotFoundError, match="pose_refiner"):
        LoCO.from_pretrained("vha2")
    shutil.copytree(weights / "refiner", root / "pose_refiner")
    m = LoCO.from_pretrained("vha2", device="cpu")
    assert m.input_size == INPUT and m.refiner is not None
    spec = {"format": "loco-pipeline", "predictor": "code_predictor_light", "vha": vha_name, "refiner": None}
    (root / "mine").mkdir()
    (root / "mine" / "pipeline.json").write_text(json.dumps({**spec, "settings": {"threshold": 0.2}}))
    assert "mine" in available_pipelines()
    mine = LoCO.from_pretrained("mine", device="cpu")
    assert mine.refiner is None and mine.settings.threshold == 0.2
    np.testing.assert_array_equal(
        mine.predict(picture, use_refiner=False, threshold=0.1).poses3d, m.predict(picture, use_refiner=False).poses3d
    )


def test_the_evaluation_loop_takes_the_pipeline(model):
    from loco.data.synthetic import SyntheticScenes
    from loco.evaluate import evaluate_pipeline

    results = evaluate_pipeline(SyntheticScenes("jta", (72, 128), seed=1), model, 1, progress=False)
    assert results["frames"] == 1 and "f1@0.4" in results["rows"]["pipeline"]
