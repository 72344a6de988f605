"""loco.models: shapes and parameter counts (figures of the README), key names, the authors' refiner weights,
safetensors round trips, checkpoint conversion and the exactness of the memory-lean decoder."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from loco.geometry import VoxelGrid
from loco.models import (
    VHA,
    CodePredictor,
    Inception3,
    PoseRefiner,
    decode_peaks,
    from_root_relative,
    load_original_checkpoint,
    load_pretrained,
    save_pretrained,
    to_root_relative,
)
from loco.models.inception import inception_output_size
from loco.models.original import model_from_state_dict
from loco.ops import find_peaks
from loco.skeleton import MAX_LS

JTA = VoxelGrid.jta()
HD = VoxelGrid.for_image(1080, 1920)  # H' = 135: padded to 136 inside the VHA, cropped back


def n_params(model: torch.nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


# ---------------------------------------------------------------------------------------------------------------- VHA


@pytest.mark.parametrize(
    "version, params, code",
    [(1, 8_753_845, (1, 158, 68, 120)), (2, 3_448_442, (1, 79, 34, 60)), (3, 3_290_402, (1, 39, 17, 30))],
    ids=["v1", "v2", "v3"],
)
def test_vha_figures(version, params, code):
    vha = VHA(version)
    assert n_params(vha) == params
    assert vha.code_shape(JTA) == code
    assert vha.code_shape(HD) == code
    with torch.device("meta"):  # full 1920x1080 shapes at no compute cost
        meta = VHA(version)
        volumes = torch.empty(1, 14, 316, HD.height, HD.width)
        assert tuple(meta.encode(volumes).shape) == (1, *code)
        assert tuple(meta(volumes).shape) == tuple(volumes.shape)


def test_vha_v2_is_the_original_layer_for_layer():
    expected = {
        "encoder.0": (158, 316, 5, 5),
        "encoder.2": (79, 158, 5, 5),
        "encoder.4": (79, 79, 5, 5),
        "fuser.0": (4, 14, 5, 5, 5),
        "fuser.2": (1, 4, 5, 5, 5),
        "defuser.0": (4, 1, 5, 5, 5),
        "defuser.2": (14, 4, 5, 5, 5),
        "decoder.0": (79, 79, 5, 5),
        "decoder.3": (158, 79, 5, 5),
        "decoder.6": (316, 158, 5, 5),
    }
    sd = VHA(2).state_dict()
    assert set(sd) == {f"{k}.{p}" for k in expected for p in ("weight", "bias")}
    for k, shape in expected.items():
        assert tuple(sd[f"{k}.weight"].shape) == shape
    vha = VHA(2)
    assert vha.strides == (2, 2, 1) and vha.stride == 4
    assert isinstance(vha.decoder[1], torch.nn.Upsample) and isinstance(vha.decoder[4], torch.nn.Upsample)
    assert vha.decoder[1].mode == "bilinear" and vha.decoder[1].align_corners is False
    assert isinstance(vha.decoder[7], torch.nn.Identity)  # no upsampling after the last convolution


@pytest.mark.parametrize("version", [1, 2, 3], ids=["v1", "v2", "v3"])
def test_vha_odd_sizes_pad_and_crop(version):
    torch.manual_seed(version)
    vha = VHA(version, depth_bins=16).eval()
    x = torch.rand(2, 14, 16, 13, 10)
    s = vha.stride
    with torch.no_grad():
        code = vha.encode(x)
        assert tuple(code.shape[1:]) == vha.code_shape((13, 10))
        padded = torch.nn.functional.pad(x, (0, -10 % s, 0, -13 % s))
        assert torch.equal(code, vha.encode(padded))  # explicit zero padding, nothing resized
        out = vha(x)
        assert out.shape == x.shape
        full = vha.decode(code)
        assert full.shape[-2:] == (code.shape[-2] * s, code.shape[-1] * s)
        assert torch.equal(out, full[..., :13, :10])


def test_vha_rejects_bad_inputs():
    vha = VHA(2, depth_bins=16)
    with pytest.raises(ValueError, match="version"):
        VHA(4)
    with pytest.raises(TypeError, match="joints"):
        VHA(2, joints=1.5)
    with pytest.raises(ValueError, match="volumes"):
        vha.encode(torch.rand(1, 13, 16, 8, 8))
    with pytest.raises(TypeError, match="volumes"):
        vha.encode(np.zeros((1, 14, 16, 8, 8)))
    with pytest.raises(TypeError, match="volumes"):
        vha.encode(torch.zeros(1, 14, 16, 8, 8, dtype=torch.int64))
    with pytest.raises(ValueError, match="code"):
        vha.decode(torch.rand(1, 1, 5, 2, 2))
    with pytest.raises(ValueError, match="size"):
        vha.decode(torch.rand(1, 1, 4, 2, 2), size=(3, 8))
    with pytest.raises(ValueError, match="depth_bins"):
        vha.code_shape(JTA)


def test_vha_channels_last_cpu():
    torch.manual_seed(0)
    vha = VHA(2, depth_bins=16).eval()
    x = torch.rand(1, 14, 16, 12, 8)
    with torch.no_grad():
        ref = vha(x)
        vha_cl = vha.to_channels_last()
        assert vha_cl.decoder[6].weight.is_contiguous(memory_format=torch.channels_last)
        out = vha_cl(x)
    torch.testing.assert_close(out, ref, rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------------------------------------------- Inception v3


def torchvision_inception_v3_shapes() -> dict[str, tuple[int, ...]]:
    """torchvision.models.inception_v3(aux_logits=True, init_weights=False).state_dict() shapes, written out."""
    convs: dict[str, tuple[int, int, int, int]] = {
        "Conv2d_1a_3x3": (32, 3, 3, 3),
        "Conv2d_2a_3x3": (32, 32, 3, 3),
        "Conv2d_2b_3x3": (64, 32, 3, 3),
        "Conv2d_3b_1x1": (80, 64, 1, 1),
        "Conv2d_4a_3x3": (192, 80, 3, 3),
    }
    for name, cin, pool in (("Mixed_5b", 192, 32), ("Mixed_5c", 256, 64), ("Mixed_5d", 288, 64)):
        convs |= {
            f"{name}.branch1x1": (64, cin, 1, 1),
            f"{name}.branch5x5_1": (48, cin, 1, 1),
            f"{name}.branch5x5_2": (64, 48, 5, 5),
            f"{name}.branch3x3dbl_1": (64, cin, 1, 1),
            f"{name}.branch3x3dbl_2": (96, 64, 3, 3),
            f"{name}.branch3x3dbl_3": (96, 96, 3, 3),
            f"{name}.branch_pool": (pool, cin, 1, 1),
        }
    convs |= {
        "Mixed_6a.branch3x3": (384, 288, 3, 3),
        "Mixed_6a.branch3x3dbl_1": (64, 288, 1, 1),
        "Mixed_6a.branch3x3dbl_2": (96, 64, 3, 3),
        "Mixed_6a.branch3x3dbl_3": (96, 96, 3, 3),
    }
    for name, c7 in (("Mixed_6b", 128), ("Mixed_6c", 160), ("Mixed_6d", 160), ("Mixed_6e", 192)):
        convs |= {
            f"{name}.branch1x1": (192, 768, 1, 1),
            f"{name}.branch7x7_1": (c7, 768, 1, 1),
            f"{name}.branch7x7_2": (c7, c7, 1, 7),
            f"{name}.branch7x7_3": (192, c7, 7, 1),
            f"{name}.branch7x7dbl_1": (c7, 768, 1, 1),
            f"{name}.branch7x7dbl_2": (c7, c7, 7, 1),
            f"{name}.branch7x7dbl_3": (c7, c7, 1, 7),
            f"{name}.branch7x7dbl_4": (c7, c7, 7, 1),
            f"{name}.branch7x7dbl_5": (192, c7, 1, 7),
            f"{name}.branch_pool": (192, 768, 1, 1),
        }
    convs |= {"AuxLogits.conv0": (128, 768, 1, 1), "AuxLogits.conv1": (768, 128, 5, 5)}
    convs |= {
        "Mixed_7a.branch3x3_1": (192, 768, 1, 1),
        "Mixed_7a.branch3x3_2": (320, 192, 3, 3),
        "Mixed_7a.branch7x7x3_1": (192, 768, 1, 1),
        "Mixed_7a.branch7x7x3_2": (192, 192, 1, 7),
        "Mixed_7a.branch7x7x3_3": (192, 192, 7, 1),
        "Mixed_7a.branch7x7x3_4": (192, 192, 3, 3),
    }
    for name, cin in (("Mixed_7b", 1280), ("Mixed_7c", 2048)):
        convs |= {
            f"{name}.branch1x1": (320, cin, 1, 1),
            f"{name}.branch3x3_1": (384, cin, 1, 1),
            f"{name}.branch3x3_2a": (384, 384, 1, 3),
            f"{name}.branch3x3_2b": (384, 384, 3, 1),
            f"{name}.branch3x3dbl_1": (448, cin, 1, 1),
            f"{name}.branch3x3dbl_2": (384, 448, 3, 3),
            f"{name}.branch3x3dbl_3a": (384, 384, 1, 3),
            f"{name}.branch3x3dbl_3b": (384, 384, 3, 1),
            f"{name}.branch_pool": (192, cin, 1, 1),
        }
    shapes: dict[str, tuple[int, ...]] = {}
    for name, shape in convs.items():
        shapes[f"{name}.conv.weight"] = shape
        for p in ("weight", "bias", "running_mean", "running_var"):
            shapes[f"{name}.bn.{p}"] = (shape[0],)
        shapes[f"{name}.bn.num_batches_tracked"] = ()
    shapes |= {"AuxLogits.fc.weight": (1000, 768), "AuxLogits.fc.bias": (1000,)}
    shapes |= {"fc.weight": (1000, 2048), "fc.bias": (1000,)}
    return shapes


def torchvision_state_dict() -> dict[str, torch.Tensor]:
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, shape in torchvision_inception_v3_shapes().items():
        if k.endswith("num_batches_tracked"):
            sd[k] = torch.tensor(7)
        elif k.endswith("running_var"):
            sd[k] = torch.rand(shape, generator=g) + 0.5
        else:
            sd[k] = torch.randn(shape, generator=g) * 0.05
    return sd


def test_inception_loads_a_torchvision_state_dict_strictly():
    sd = torchvision_state_dict()
    classifier = Inception3(num_classes=1000, aux_logits=True)
    classifier.load_state_dict(sd, strict=True)
    assert n_params(classifier) == 27_161_264  # torchvision's inception_v3
    features = Inception3(transform_input=True)
    features.load_torchvision_state_dict(sd)  # fc.* and AuxLogits.* dropped, everything else strict
    assert n_params(features) == 21_785_568
    assert torch.equal(features.Mixed_7c.branch_pool.conv.weight, sd["Mixed_7c.branch_pool.conv.weight"])
    assert int(features.Conv2d_1a_3x3.bn.num_batches_tracked) == 7
    del sd["Mixed_6e.branch7x7dbl_5.bn.running_var"]
    with pytest.raises(ValueError, match="missing"):
        features.load_torchvision_state_dict(sd)


def test_inception_output_size_formula():
    with torch.device("meta"):
        net = Inception3().eval()
        for h, w in [(1080, 1920), (299, 299), (139, 141), (1056, 1000)]:
            out = net(torch.empty(1, 3, h, w))
            assert tuple(out.shape) == (1, 2048, inception_output_size(h), inception_output_size(w))
    net = Inception3(transform_input=True).eval()
    with torch.no_grad():  # one real forward at the smallest input
        assert tuple(net.features(torch.rand(1, 3, 75, 75)).shape) == (1, 2048, 1, 1)


# -------------------------------------------------------------------------------------------------- Code Predictor


@pytest.mark.parametrize(
    "backbone, params, backbone_params",
    [("inception_v3", 65_847_855, 21_785_568), ("light", 4_382_319, 2_798_880)],
)
def test_code_predictor_figures(backbone, params, backbone_params):
    model = CodePredictor(backbone)
    assert n_params(model) == params
    assert n_params(model.f_extractor) == backbone_params
    with torch.device("meta"):
        for version, code in [(1, (1, 158, 68, 120)), (2, (1, 79, 34, 60)), (3, (1, 39, 17, 30))]:
            out = CodePredictor(backbone, vha_version=version)(torch.empty(1, 3, 1080, 1920))
            assert tuple(out.shape) == (1, *code) == (1, *VHA(version).code_shape(HD))


def test_code_predictor_inception_head_is_the_original():
    sd = CodePredictor("inception_v3").state_dict()
    head = {k: tuple(v.shape) for k, v in sd.items() if k.startswith("main.")}
    assert head == {
        "main.0.main.0.weight": (2048, 1024, 4, 4),
        "main.0.main.0.bias": (1024,),
        "main.1.main.1.weight": (512, 1024, 4, 4),
        "main.1.main.1.bias": (512,),
        "main.2.main.1.weight": (256, 512, 4, 4),
        "main.2.main.1.bias": (256,),
        "main.3.weight": (79, 256, 1, 1),
        "main.3.bias": (79,),
    }
    assert set(sd) - set(head) == {f"f_extractor.{k}" for k in torchvision_inception_v3_shapes()} - {
        f"f_extractor.{k}" for k in torchvision_inception_v3_shapes() if k.startswith(("fc.", "AuxLogits."))
    }


@pytest.mark.parametrize("backbone", ["inception_v3", "light"])
@pytest.mark.parametrize("version", [1, 2, 3], ids=["v1", "v2", "v3"])
def test_code_predictor_matches_the_code_shape_for_any_size(backbone, version):
    sizes = [(20, 31), (75, 75), (100, 333), (257, 130), (1056, 1000), (720, 1280), (479, 641)]
    with torch.device("meta"):
        model = CodePredictor(backbone, vha_version=version)
        vha = VHA(version)
        for h, w in sizes:
            out = model(torch.empty(2, 3, h, w))
            assert tuple(out.shape) == (2, *vha.code_shape(VoxelGrid.for_image(h, w)))


def test_light_code_predictor_runs_and_trains_on_cpu():
    torch.manual_seed(0)
    model = CodePredictor("light")
    x = torch.randn(2, 3, 70, 90)
    out = model(x)
    assert tuple(out.shape) == (2, *VHA(2).code_shape(VoxelGrid.for_image(70, 90)))
    out.square().mean().backward()
    assert all(p.grad is not None and torch.isfinite(p.grad).all() for p in model.parameters())


def test_code_predictor_rejects_bad_inputs():
    with pytest.raises(ValueError, match="backbone"):
        CodePredictor("resnet50")
    with pytest.raises(ValueError, match="vha_version"):
        CodePredictor("light", vha_version=0)
    model = CodePredictor("light")
    with pytest.raises(ValueError, match="images"):
        model(torch.rand(3, 64, 64))
    with pytest.raises(TypeError, match="images"):
        model(torch.zeros(1, 3, 64, 64, dtype=torch.uint8))


# ----------------------------------------------------------------------------------------------------- Pose Refiner


def test_root_relative_round_trip_and_holes():
    g = torch.Generator().manual_seed(0)
    poses = torch.randn(5, 14, 3, generator=g, dtype=torch.float64) + torch.tensor(
        [0.0, 0.0, 10.0], dtype=torch.float64
    )
    rr = to_root_relative(poses)
    max_ls = torch.tensor(MAX_LS, dtype=torch.float64)
    expected = 0.5 + (poses[:, 1:] - poses[:, :1]) / (2 * max_ls[:, None])
    torch.testing.assert_close(rr, expected, rtol=0, atol=1e-15)
    torch.testing.assert_close(from_root_relative(rr, poses[:, 0]), poses, rtol=0, atol=1e-12)
    poses[1, 4] = float("nan")
    poses[2, 0] = float("nan")
    missing = torch.zeros(5, 14, dtype=torch.bool)
    missing[3, 7] = True
    rr = to_root_relative(poses, missing=missing)
    assert (rr[1, 3] == -1).all() and (rr[2] == -1).all() and (rr[3, 6] == -1).all()
    assert (rr[4] != -1).all()
    with pytest.raises(ValueError, match="poses"):
        to_root_relative(torch.zeros(5, 13, 3))
    with pytest.raises(ValueError, match="missing"):
        to_root_relative(torch.zeros(5, 14, 3), missing=torch.zeros(5, 13, dtype=torch.bool))


def refiner_by_hand(sd: dict[str, torch.Tensor], x: np.ndarray) -> np.ndarray:
    """The original forward written out in float64 NumPy: fc3(relu(fc2(relu(fc1(x))))) + relu(x)."""
    w = {k: v.double().numpy() for k, v in sd.items()}
    flat = x.reshape(len(x), 39)
    h = np.maximum(flat @ w["fc1.0.weight"].T + w["fc1.0.bias"], 0)
    h = np.maximum(h @ w["fc2.0.weight"].T + w["fc2.0.bias"], 0)
    return (h @ w["fc3.0.weight"].T + w["fc3.0.bias"] + np.maximum(flat, 0)).reshape(len(x), 13, 3)


def test_authors_refiner_weights(authors_dir):
    path = authors_dir / "pose_refiner.pth"
    sd = torch.load(path, map_location="cpu", weights_only=True)
    model = load_original_checkpoint(path)
    assert isinstance(model, PoseRefiner)
    g = torch.Generator().manual_seed(0)
    x = torch.rand(64, 13, 3, generator=g)
    x[torch.rand(64, 13, generator=g) < 0.3] = -1.0  # holes
    with torch.no_grad():
        out = model(x).double().numpy()
    diff = np.abs(out - refiner_by_hand(sd, x.double().numpy())).max()
    assert diff < 1e-6, diff


def refine_one_by_hand(sd, pose: np.ndarray, conf: np.ndarray, hole_th: float, replace_th: float) -> np.ndarray:
    """The original ``Refiner.refine`` for one person, as a loop over joints (float64)."""
    max_ls = np.array(MAX_LS)
    rr = (pose[1:] - pose[0]) / (2 * max_ls[:, None]) + 0.5
    for j in range(1, 14):
        if conf[j] <= hole_th:
            rr[j - 1] = -1
    ref = refiner_by_hand(sd, rr[None])[0]
    joints = [pose[0]] + [pose[0] + (ref[j] - 0.5) * 2 * max_ls[j] for j in range(13)]
    return np.stack([pose[j] if conf[j] > replace_th else joints[j] for j in range(14)])


@pytest.mark.parametrize("hole_th, replace_th", [(0.2, 1.0), (0.3, 0.4), (0.0, 0.0)])
def test_refine_matches_the_original_loop(authors_dir, hole_th, replace_th):
    sd = torch.load(authors_dir / "pose_refiner.pth", map_location="cpu", weights_only=True)
    model = PoseRefiner()
    model.load_state_dict(sd)
    rng = np.random.default_rng(0)
    poses = rng.normal(size=(7, 14, 3)) * 0.3 + np.array([1.0, 0.5, 12.0])
    conf = rng.uniform(size=(7, 14))
    out = model.refine(torch.from_numpy(poses), torch.from_numpy(conf), hole_th, replace_th)
    assert out.dtype == torch.float64 and out.shape == (7, 14, 3)
    expected = np.stack([refine_one_by_hand(sd, p, c, hole_th, replace_th) for p, c in zip(poses, conf)])
    np.testing.assert_allclose(out.numpy(), expected, rtol=0, atol=1e-5)  # float32 network, metres


def test_refine_missing_joints_and_people():
    torch.manual_seed(0)
    model = PoseRefiner().eval()
    poses = torch.randn(3, 14, 3)
    poses[0, 5] = float("nan")  # a missing joint is filled in
    poses[1, 0] = float("nan")  # no head_top: returned as is
    conf = torch.full((3, 14), 0.9)
    out = model.refine(poses, conf, hole_threshold=0.2, replace_threshold=0.5)
    assert torch.isfinite(out[0]).all()
    assert torch.equal(out[0, [i for i in range(14) if i != 5]], poses[0, [i for i in range(14) if i != 5]])
    assert torch.equal(out[1].nan_to_num(7.0), poses[1].nan_to_num(7.0))
    assert torch.equal(out[2], poses[2])
    assert model.refine(torch.zeros(0, 14, 3), torch.zeros(0, 14)).shape == (0, 14, 3)
    with pytest.raises(ValueError, match="confidence"):
        model.refine(poses, conf[:, :13])


def test_refine_thresholds_are_checked_numpy_numbers_accepted():
    torch.manual_seed(0)
    model = PoseRefiner().eval()
    poses, conf = torch.randn(2, 14, 3), torch.rand(2, 14)
    expected = model.refine(poses, conf, 0.25, 0.5)
    assert torch.equal(model.refine(poses, conf, np.float32(0.25), np.float64(0.5)), expected)
    for name in ("hole_threshold", "replace_threshold"):
        with pytest.raises(TypeError, match=name):
            model.refine(poses, conf, **{name: "0.2"})
        with pytest.raises(TypeError, match=name):
            model.refine(poses, conf, **{name: True})
        with pytest.raises(ValueError, match=name):  # NaN would silently make no holes / replace nothing
            model.refine(poses, conf, **{name: float("nan")})


# ----------------------------------------------------------------------------------------- weights: save, load, convert


@pytest.mark.parametrize(
    "make",
    [lambda: VHA(3, depth_bins=16), lambda: CodePredictor("light", 2, 32), lambda: PoseRefiner()],
    ids=["vha", "code_predictor", "refiner"],
)
def test_save_load_round_trip(tmp_path, make):
    torch.manual_seed(0)
    model = make()
    save_pretrained(model, tmp_path / "w")
    assert {p.name for p in (tmp_path / "w").iterdir()} == {"config.json", "model.safetensors"}
    loaded = type(model).from_pretrained(tmp_path / "w")
    assert loaded.config == model.config and not loaded.training
    for (k, a), (k2, b) in zip(model.state_dict().items(), loaded.state_dict().items()):
        assert k == k2 and torch.equal(a, b)
    assert type(load_pretrained(tmp_path / "w" / "config.json")) is type(model)
    other = VHA if not isinstance(model, VHA) else PoseRefiner
    with pytest.raises(ValueError, match="not a"):
        other.from_pretrained(tmp_path / "w")


def test_pretrained_names():
    with pytest.raises(ValueError, match="vha1"):
        VHA.from_pretrained("vha9")
    try:
        VHA.from_pretrained("vha2")
    except FileNotFoundError as exc:  # not bundled (yet): the message says where it looked
        assert "vha2" in str(exc)


@pytest.mark.parametrize("legacy", [False, True], ids=["zip", "legacy"])
def test_load_original_vha_and_code_predictor(tmp_path, legacy):
    torch.manual_seed(0)
    for model in (VHA(2), VHA(3), CodePredictor("light", 2)):
        path = tmp_path / "m.pth"
        torch.save(model.state_dict(), path, _use_new_zipfile_serialization=not legacy)
        loaded = load_original_checkpoint(path)
        assert type(loaded) is type(model) and loaded.config == model.config
        assert all(torch.equal(a, b) for a, b in zip(model.state_dict().values(), loaded.state_dict().values()))
    sd = VHA(2).state_dict()
    sd["decoder.6.weight"] = sd["decoder.6.weight"][:, :-1]
    torch.save(sd, tmp_path / "bad.pth")
    with pytest.raises(ValueError, match="decoder.6.weight"):
        load_original_checkpoint(tmp_path / "bad.pth")
    torch.save({"foo.weight": torch.zeros(1)}, tmp_path / "unknown.pth")
    with pytest.raises(ValueError, match="unrecognised"):
        load_original_checkpoint(tmp_path / "unknown.pth")
    with pytest.raises(FileNotFoundError):
        load_original_checkpoint(tmp_path / "absent.pth")


def test_load_original_code_predictor(tmp_path):
    torch.manual_seed(0)
    model = CodePredictor("inception_v3", 2)  # the authors' best.pth layout: f_extractor.* + main.*
    loaded = model_from_state_dict(model.state_dict())
    assert loaded.config == model.config
    assert torch.equal(loaded.main[3].weight, model.main[3].weight)
    light = CodePredictor("light", 3)
    torch.save({"epoch": 3, "model": light.state_dict(), "optimizer": {}}, tmp_path / "training.ck")
    assert load_original_checkpoint(tmp_path / "training.ck").config == light.config


def test_convert_command(tmp_path, authors_dir):
    from loco.cli import main

    assert main(["convert", str(authors_dir / "pose_refiner.pth"), str(tmp_path / "refiner")]) == 0
    converted = PoseRefiner.from_pretrained(tmp_path / "refiner")
    sd = torch.load(authors_dir / "pose_refiner.pth", map_location="cpu", weights_only=True)
    assert all(torch.equal(converted.state_dict()[k], v) for k, v in sd.items())
    torch.save({"x": torch.zeros(1)}, tmp_path / "junk.pth")
    assert main(["convert", str(tmp_path / "junk.pth"), str(tmp_path / "junk")]) == 2


# --------------------------------------------------------------------------------------------------- decode_peaks


def reference_peaks(vha, code, size, **kw):
    with torch.no_grad():
        return find_peaks(vha.decode(code, size), **kw)


@pytest.fixture
def one_thread():
    """Many tiny convolutions: one thread avoids OpenMP hand-offs that dominate on a busy 2-core machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.parametrize("version", [1, 2, 3], ids=["v1", "v2", "v3"])
def test_decode_peaks_equals_whole_decode(version, one_thread):
    torch.manual_seed(version)
    vha = VHA(version, depth_bins=16).eval()
    size = (21, 11)  # odd: padded, then cropped
    code = torch.rand(2, *vha.code_shape(size))
    with torch.no_grad():
        threshold = float(vha.decode(code, size).quantile(0.5))
    for refine in (None, "gaussian"):
        ref = reference_peaks(vha, code, size, threshold=threshold, refine=refine, backend="torch")
        assert len(ref) > 50
        for jpc, rows in [(1, None), (3, None), (14, None), (14, 1), (5, 2), (3, 3)]:
            kw = dict(joints_per_chunk=jpc, tile_rows=rows, threshold=threshold, refine=refine, backend="torch")
            got = decode_peaks(vha, code, size, **kw)
            for name in ("batch", "joint", "index", "score"):
                assert torch.equal(getattr(got, name), getattr(ref, name)), (jpc, rows, name)
            if jpc == 3 and rows is None:
                assert all(torch.equal(a, b) for a, b in zip(vha.decode_peaks(code, size, **kw), got))
            if rows is None or refine is None:
                assert torch.equal(got.position, ref.position)
            else:  # the offset is added to a tile-local row, then shifted: one float32 rounding
                torch.testing.assert_close(got.position, ref.position, rtol=0, atol=1e-5)


def test_decode_peaks_rejects_bad_inputs():
    vha = VHA(2, depth_bins=16)
    code = torch.rand(1, 1, 4, 3, 3)
    with pytest.raises(TypeError, match="vha"):
        decode_peaks(code, vha)
    with pytest.raises(ValueError, match="joints_per_chunk"):
        decode_peaks(vha, code, joints_per_chunk=0)
    with pytest.raises(ValueError, match="tile_rows"):
        decode_peaks(vha, code, tile_rows=0)
    with pytest.raises(ValueError, match="code"):
        decode_peaks(vha, torch.rand(1, 4, 3, 3))


# ------------------------------------------------------------------------------------------------------------ CUDA


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_models_on_cuda_channels_last_bf16():
    torch.manual_seed(0)
    vha = VHA(2, depth_bins=32).cuda().eval().to_channels_last()
    cp = CodePredictor("light", 2, 32).cuda().eval().to(memory_format=torch.channels_last)
    ref = PoseRefiner().cuda().eval()
    images = torch.randn(2, 3, 128, 160, device="cuda").to(memory_format=torch.channels_last)
    with torch.no_grad(), torch.autocast("cuda", dtype=torch.bfloat16):
        code = cp(images)
        assert tuple(code.shape[1:]) == vha.code_shape((16, 20))
        volumes = vha.decode(code.float(), (16, 20))
        assert volumes.shape == (2, 14, 32, 16, 20) and torch.isfinite(volumes.float()).all()
        peaks = decode_peaks(vha, code.float(), (16, 20), threshold=0.0)
        assert peaks.index.is_cuda and ((peaks.index >= 0) & (peaks.index < torch.tensor([32, 16, 20]).cuda())).all()
        assert ref(torch.rand(4, 13, 3, device="cuda")).shape == (4, 13, 3)
