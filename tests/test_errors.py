"""Bad input to the ops raises a ValueError/TypeError/RuntimeError that names the argument."""

from __future__ import annotations

import pytest
import torch

from loco import Camera, VoxelGrid, ops
from loco.kernels import _backend

C = torch.zeros(2, 3)
J = torch.zeros(2, dtype=torch.long)
SHAPE = (2, 4, 5, 6)


@pytest.mark.parametrize(
    "args, kwargs, error, match",
    [
        ((C.numpy(), J, SHAPE), {}, TypeError, "centers"),
        ((torch.zeros(2, 2), J, SHAPE), {}, ValueError, "centers"),
        ((torch.zeros(2, 3, 1), J, SHAPE), {}, ValueError, "centers"),
        ((C.long(), J, SHAPE), {}, TypeError, "centers"),
        ((C, J.float(), SHAPE), {}, TypeError, "joint_types"),
        ((C, J[:1], SHAPE), {}, ValueError, "joint_types"),
        ((C, torch.tensor([0, 2]), SHAPE), {}, ValueError, "joint_types"),
        ((C, torch.tensor([0, -1]), SHAPE), {}, ValueError, "joint_types"),
        ((C, J, SHAPE), {"sigma": 0.0}, ValueError, "sigma"),
        ((C, J, SHAPE), {"sigma": -1.0}, ValueError, "sigma"),
        ((C, J, SHAPE), {"sigma": float("inf")}, ValueError, "sigma"),
        ((C, J, SHAPE), {"sigma": "2"}, TypeError, "sigma"),
        ((C, J, SHAPE), {"radius": -1}, ValueError, "radius"),
        ((C, J, SHAPE), {"radius": 1.5}, TypeError, "radius"),
        ((C, J, SHAPE), {"num_joints": 2.0}, TypeError, "num_joints"),
        ((C, J, SHAPE), {"batch_size": 1.0}, TypeError, "batch_size"),
        ((C, J, (4, 5)), {}, TypeError, "grid_or_shape"),
        ((C, J, (2, 0, 5, 6)), {}, ValueError, "grid_or_shape"),
        ((C, J, SHAPE), {"batch_index": torch.tensor([0, 3]), "batch_size": 2}, ValueError, "batch_index"),
        ((C, J, SHAPE), {"batch_index": torch.tensor([0])}, ValueError, "batch_index"),
        ((C, J, SHAPE), {"batch_index": torch.tensor([0.0, 1.0])}, TypeError, "batch_index"),
        ((C, J, SHAPE), {"batch_size": 0}, ValueError, "batch_size"),
        ((C, J, SHAPE), {"out": torch.zeros(1, 2, 4, 5, 6, dtype=torch.float64)}, TypeError, "out"),
        ((C, J, SHAPE), {"out": torch.zeros(1, 2, 4, 5, 7)}, ValueError, "out"),
        ((C, J, SHAPE), {"out": torch.zeros(1, 2, 4, 5, 12)[..., ::2]}, ValueError, "out"),
        ((C, J, SHAPE), {"out": torch.zeros(1, 2, 4, 5, 6), "batch_size": 2}, ValueError, "batch_size"),
        ((C, J, SHAPE), {"backend": "cuda"}, ValueError, "backend"),
    ],
)
def test_render_heatmaps_bad_input(args, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.render_heatmaps(*args, **kwargs)


V = torch.rand(2, 3, 4, 5)


@pytest.mark.parametrize(
    "volume, kwargs, error, match",
    [
        (V.numpy(), {}, TypeError, "volume"),
        (torch.rand(3, 4, 5), {}, ValueError, "volume"),
        (torch.rand(1, 1, 1, 3, 4, 5), {}, ValueError, "volume"),
        ((V * 10).long(), {}, TypeError, "volume"),
        (V > 0.5, {}, TypeError, "volume"),
        (V, {"threshold": float("nan")}, ValueError, "threshold"),
        (V, {"threshold": "0.1"}, TypeError, "threshold"),
        (V, {"threshold": True}, TypeError, "threshold"),
        (V, {"connectivity": 18}, ValueError, "connectivity"),
        (V, {"ties": "loose"}, ValueError, "ties"),
        (V, {"refine": "cubic"}, ValueError, "refine"),
        (V, {"backend": "numpy"}, ValueError, "backend"),
    ],
)
def test_find_peaks_bad_input(volume, kwargs, error, match):
    with pytest.raises(error, match=match):
        ops.find_peaks(volume, **kwargs)


@pytest.mark.parametrize("op, name", [(ops.project, "xyz"), (ops.backproject, "positions")])
def test_geometry_bad_input(op, name):
    grid, cam = VoxelGrid.jta(), Camera.jta()
    with pytest.raises(ValueError, match=name):
        op(torch.zeros(4, 2), grid, cam)
    with pytest.raises(TypeError, match=name):
        op(torch.zeros(4, 3, dtype=torch.long), grid, cam)
    with pytest.raises(TypeError, match="grid"):
        op(torch.zeros(4, 3), (316, 136, 240), cam)
    with pytest.raises(TypeError, match="camera"):
        op(torch.zeros(4, 3), grid, (1158, 1158, 960, 540))


def test_tensors_on_different_devices():
    meta = torch.zeros(2, dtype=torch.long, device="meta")
    with pytest.raises(ValueError, match="joint_types"):
        ops.render_heatmaps(C, meta, SHAPE, backend="torch")
    with pytest.raises(ValueError, match="batch_index"):
        ops.render_heatmaps(C, J, SHAPE, batch_index=meta, backend="torch")


def test_missing_backend_raises_with_hint(monkeypatch):
    monkeypatch.setattr(_backend, "HAS_NUMBA", False)
    monkeypatch.setattr(_backend, "HAS_TRITON", False)
    with pytest.raises(RuntimeError, match="pip install numba"):
        ops.find_peaks(V, backend="numba")
    with pytest.raises(RuntimeError, match="triton"):
        ops.find_peaks(V, backend="triton")
    assert _backend.resolve_backend("auto", torch.device("cpu")) == "torch"  # auto falls back quietly


def test_triton_on_cpu_needs_the_interpreter(monkeypatch):
    monkeypatch.setattr(_backend, "HAS_TRITON", True)
    monkeypatch.setenv("TRITON_INTERPRET", "0")
    with pytest.raises(RuntimeError, match="CUDA"):
        ops.render_heatmaps(C, J, SHAPE, backend="triton")


def test_numba_refuses_non_cpu_tensors():
    with pytest.raises(RuntimeError, match="CPU"):
        _backend.resolve_backend("numba", torch.device("cuda"))


def test_loco_backend_env_overrides_auto(monkeypatch):
    monkeypatch.setenv("LOCO_BACKEND", "torch")
    assert _backend.resolve_backend("auto", torch.device("cpu")) == "torch"
    monkeypatch.setenv("LOCO_BACKEND", "fortran")
    with pytest.raises(ValueError, match="LOCO_BACKEND"):
        _backend.resolve_backend("auto", torch.device("cpu"))
    monkeypatch.delenv("LOCO_BACKEND")
    assert _backend.resolve_backend("auto", torch.device("cpu")) == ("numba" if _backend.HAS_NUMBA else "torch")
    assert _backend.resolve_backend("auto", torch.device("cuda")) == ("triton" if _backend.HAS_TRITON else "torch")


def test_numpy_scalars_are_accepted():
    import numpy as np

    vol = ops.render_heatmaps(C, J, SHAPE, sigma=np.float32(1.5), backend="torch")
    assert len(ops.find_peaks(vol, threshold=np.float32(0.5), backend="torch")) == 1


@pytest.mark.parametrize(
    "value, error",
    [(True, TypeError), (1.0, TypeError), ("3", TypeError), (-1, ValueError)],
)
def test_report_seed_is_checked_before_any_work(value, error):
    from loco.training import report

    with pytest.raises(error, match="seed"):
        report.vha_table(["vha1"], 1, progress=False, seed=value)


def test_int_arguments_accept_numpy_ints():
    import numpy as np

    from loco._checks import check_int
    from loco.models import VHA

    assert check_int("seed", np.int64(3), 0) == 3 and type(check_int("seed", np.int64(3), 0)) is int
    vha = VHA(version=2, joints=np.int64(14), depth_bins=np.int32(16))
    assert (vha.joints, vha.depth_bins) == (14, 16) and type(vha.joints) is int and type(vha.depth_bins) is int


def test_every_int_argument_goes_through_check_int():
    """The ops, models, data and association take numpy ints (``rng.integers`` returns them) and refuse other types
    with a TypeError naming the argument; below the minimum is a ValueError, as before."""
    import numpy as np

    from loco.association import associate_indices
    from loco.data.synthetic import sample_scene
    from loco.models import VHA, CodePredictor, PoseRefiner, decode_peaks

    i = np.int64
    a = ops.render_heatmaps(C, J, SHAPE, radius=i(2), num_joints=i(2), batch_size=i(1), backend="torch")
    assert torch.equal(a, ops.render_heatmaps(C, J, SHAPE, radius=2, num_joints=2, batch_size=1, backend="torch"))
    assert PoseRefiner(hidden=i(8)).hidden == 8 and type(PoseRefiner(hidden=i(8)).hidden) is int
    assert type(CodePredictor("light", 2, i(16)).depth_bins) is int
    cp = CodePredictor("light", i(2), 16, head_widths=(i(8), i(4)))
    assert cp.head_widths == (8, 4) and type(cp.vha_version) is int and type(cp.head_widths[0]) is int
    vha = VHA(2, depth_bins=16)
    code = torch.rand(1, 1, 4, 3, 3)
    peaks = decode_peaks(vha, code, joints_per_chunk=i(2), tile_rows=i(8))
    assert torch.equal(peaks.position, decode_peaks(vha, code).position)
    rng = np.random.default_rng
    assert len(sample_scene("jta", rng(0), n_people=i(3)).people) == 3
    xyz, joint, score = np.zeros((2, 3)), np.array([0, 1]), np.ones(2)
    kw = {"min_joints": i(1), "solitary_score": np.float32(0.5), "duplicate_radius": np.float32(0.1)}
    np.testing.assert_array_equal(associate_indices(xyz, joint, score, **kw), associate_indices(xyz, joint, score))
    bad = [
        (lambda: PoseRefiner(hidden=8.0), TypeError, "hidden"),
        (lambda: CodePredictor("light", 2, 16.0), TypeError, "depth_bins"),
        (lambda: CodePredictor("light", 2, 4), ValueError, "depth_bins"),
        (lambda: CodePredictor("light", 2, 16, head_widths=8), ValueError, "head_widths"),
        (lambda: CodePredictor("light", 2, 16, head_widths=(8, True)), TypeError, "head_widths"),
        (lambda: CodePredictor("light", 2, 16, head_widths=(8, 0)), ValueError, "head_widths"),
        (lambda: decode_peaks(vha, code, joints_per_chunk=1.0), TypeError, "joints_per_chunk"),
        (lambda: decode_peaks(vha, code, tile_rows="8"), TypeError, "tile_rows"),
        (lambda: sample_scene("jta", rng(0), n_people=2.0), TypeError, "n_people"),
        (lambda: sample_scene("jta", rng(0), n_people=-1), ValueError, "n_people"),
        (lambda: associate_indices(xyz, joint, score, min_joints=True), TypeError, "min_joints"),
        (lambda: associate_indices(xyz, joint, score, solitary_score="0.6"), TypeError, "solitary_score"),
        (lambda: associate_indices(xyz, joint, score, solitary_score=float("nan")), ValueError, "solitary_score"),
        (lambda: associate_indices(xyz, joint, score, duplicate_radius=float("nan")), ValueError, "duplicate_radius"),
        (lambda: associate_indices(xyz, joint, score, duplicate_radius=-0.1), ValueError, "duplicate_radius"),
    ]
    for call, error, name in bad:
        with pytest.raises(error, match=name):
            call()


def test_devices_are_checked_with_one_message():
    """LoCO, from_pretrained and the trainers resolve ``device`` through ``check_device``: a name torch does not know
    is a ValueError, a GPU this machine lacks a RuntimeError, both naming the argument (torch raised its own list
    of device types, or an AssertionError 'Torch not compiled with CUDA enabled')."""
    from loco import LoCO
    from loco._checks import check_device
    from loco.models import VHA
    from loco.training.trainer import resolve_device

    assert check_device(None) == check_device("auto") == torch.device("cuda" if torch.cuda.is_available() else "cpu")
    assert check_device("cpu") == check_device(torch.device("cpu")) == resolve_device("cpu") == torch.device("cpu")
    for call in (lambda: check_device("tpu"), lambda: LoCO.from_pretrained("vha2", device="gpu0")):
        with pytest.raises(ValueError, match="device must be 'cpu', 'cuda'"):
            call()
    with pytest.raises(TypeError, match="device"):
        check_device(0)
    missing = "cuda:99" if torch.cuda.is_available() else "cuda"
    for call in (
        lambda: check_device(missing),
        lambda: VHA.from_pretrained("vha1", device=missing),
        lambda: LoCO.from_pretrained("vha2", device=missing),
        lambda: resolve_device(missing),
    ):
        with pytest.raises(RuntimeError, match=f"device '{missing}' requested"):
            call()


def test_a_corrupt_model_config_is_a_value_error(tmp_path):
    from loco.models import VHA

    VHA(2, depth_bins=16).save_pretrained(tmp_path / "w")
    (tmp_path / "w" / "config.json").write_text("{not json")
    with pytest.raises(ValueError, match="not a loco model config: not JSON"):
        VHA.from_pretrained(tmp_path / "w")


def test_shapes_take_numpy_ints_and_name_the_element():
    import numpy as np

    from loco.data.synthetic import SyntheticScenes

    i = np.int64
    a = ops.render_heatmaps(C, J, (i(2), i(4), 5, 6), backend="torch")
    assert a.shape == (1, 2, 4, 5, 6)
    assert SyntheticScenes("jta", seed=i(1), length=i(2), image_size=(i(64), 96)).image_size == (64, 96)
    with pytest.raises(ValueError, match=r"grid_or_shape\[1\] must be >= 1, got 0"):
        ops.render_heatmaps(C, J, (2, 0, 5, 6))
    with pytest.raises(TypeError, match=r"image_size\[1\] must be an int"):
        SyntheticScenes("jta", image_size=(64, 96.0))
    with pytest.raises(ValueError, match=r"image_size\[0\] must be >= 8"):
        SyntheticScenes("jta", image_size=(4, 96))
    with pytest.raises(TypeError, match="seed"):
        SyntheticScenes("jta", seed=1.5)
    from loco.data.synthetic import sample_scene

    with pytest.raises(TypeError, match="rng must be a numpy Generator"):  # was an AttributeError inside
        sample_scene("jta", 5)


def test_choices_take_numpy_numbers_and_refuse_bools():
    import numpy as np

    from loco._checks import check_choice
    from loco.evaluate import OracleConfig
    from loco.pipeline import Settings
    from loco.training import VHAConfig

    assert check_choice("connectivity", np.int64(26), (6, 26)) == 26
    assert type(Settings(connectivity=np.int64(26)).connectivity) is int
    assert type(OracleConfig(connectivity=np.int32(6)).connectivity) is int
    assert type(VHAConfig(version=np.int64(3)).version) is int
    from loco.models import VHA

    assert type(VHA(version=np.int64(3), depth_bins=16).version) is int  # was kept as np.int64
    with pytest.raises(ValueError, match="version must be one of"):
        VHA(version=True)
    vol = torch.rand(2, 3, 4, 5)
    assert torch.equal(ops.find_peaks(vol, connectivity=np.int64(26), backend="torch").position,
                       ops.find_peaks(vol, connectivity=26, backend="torch").position)  # fmt: skip
    for bad in (True, 8, "6", np.array([6, 26]), None):
        with pytest.raises(ValueError, match="connectivity must be 6 or 26"):
            check_choice("connectivity", bad, (6, 26))
    with pytest.raises(ValueError, match="recipe must be 'plain' or 'windows', got 'window'"):
        VHAConfig(recipe="window")
    with pytest.raises(ValueError, match=r"version must be one of \(1, 2, 3\), got 4"):
        VHAConfig(version=4)


def test_every_choice_argument_names_itself_for_arrays_and_lists():
    # An array made `x not in choices` raise numpy's "truth value ... is ambiguous", and a list made
    # `x not in PRESETS` (a dict) raise "unhashable type": every choice now goes through check_choice.
    import numpy as np

    from loco import association, metrics
    from loco.data.body import sample_person
    from loco.data.synthetic import SyntheticScenes, sample_scene
    from loco.evaluate import OracleConfig
    from loco.models import CodePredictor
    from loco.pipeline import Settings
    from loco.training.sampler import HeatmapSampler

    rng = np.random.default_rng(0)
    vol = torch.zeros(2, 3, 4, 5)
    cases = [
        ("ties", lambda v: ops.find_peaks(vol, ties=v)),
        ("refine", lambda v: ops.find_peaks(vol, refine=v)),
        ("association", lambda v: Settings(association=v)),
        ("refine", lambda v: Settings(refine=v)),
        ("method", lambda v: association.associate(np.zeros((0, 3)), np.zeros(0, int), np.zeros(0), method=v)),
        ("matching", lambda v: OracleConfig(matching=v)),
        ("peaks", lambda v: OracleConfig(peaks=(v,))),
        ("associations", lambda v: OracleConfig(associations=(v,))),
        ("matching", lambda v: metrics._check_matching(v)),
        ("preset", lambda v: sample_scene(v, rng)),
        ("preset", lambda v: SyntheticScenes(preset=v)),
        ("preset", lambda v: HeatmapSampler(preset=v)),
        ("preset", lambda v: VoxelGrid.for_image(1080, 1920, preset=v)),
        ("VoxelGrid.depth_mode", lambda v: VoxelGrid(min_depth=1.0, max_depth=2.0, depth_mode=v)),
        ("activity", lambda v: sample_person(rng, activity=v)),
        ("backbone", lambda v: CodePredictor(backbone=v)),
    ]
    for name, make in cases:
        for bad in (np.array(["a", "b"]), ["jta"], "nope"):
            with pytest.raises(ValueError, match=f"^{name} must be "):
                make(bad)
    assert Settings(association=np.str_("paper")).association == "paper"
    assert type(Settings(association=np.str_("paper")).association) is str


def test_post_processing_arguments_are_checked():
    import numpy as np

    from loco import Camera, association, metrics
    from loco._checks import check_device
    from loco.pipeline import Settings, peaks_to_poses, volume_to_poses

    grid, camera = VoxelGrid.for_image(48, 48), Camera.from_fov(48, 48)
    vol = torch.zeros(3, 14, grid.depth_bins, grid.height, grid.width)
    vol[:, 0, 50, 3, 3] = vol[:, 1, 52, 4, 3] = 1.0
    peaks = ops.find_peaks(vol, threshold=0.5, backend="torch")
    assert len(peaks_to_poses(peaks, grid, camera)) == 3
    assert len(peaks_to_poses(peaks, grid, [camera] * 4)) == 4  # a fourth element without peaks
    # one camera in a list for three batch elements dropped the peaks of the other two without a word
    with pytest.raises(ValueError, match="cameras has 1 camera"):
        peaks_to_poses(peaks, grid, [camera])
    for bad, match in ((None, "cameras must be"), (3, "cameras must be"), ([camera, "x", camera], r"cameras\[1\]")):
        with pytest.raises(TypeError, match=match):
            peaks_to_poses(peaks, grid, bad)
    with pytest.raises(TypeError, match="peaks must be a loco.ops.Peaks"):
        peaks_to_poses(peaks.position, grid, camera)
    for bad in ("paper", np.zeros(2), torch.zeros(2)):  # an array or tensor was numpy's / torch's "ambiguous"
        with pytest.raises(TypeError, match="settings must be"):
            peaks_to_poses(peaks, grid, camera, bad)
    assert len(peaks_to_poses(peaks, grid, camera, Settings(association="paper"))) == 3
    with pytest.raises(TypeError, match="settings must be"):
        volume_to_poses(vol, grid, camera, np.zeros(2))
    with pytest.raises(TypeError, match="device must be a str"):
        check_device(np.zeros(2))  # was numpy's "truth value ... is ambiguous"

    xyz = np.array([[0.0, 0.0, 10.0]])
    with pytest.raises(TypeError, match="grid must be"):
        association.voxel_tolerance(xyz, None, camera)  # was an AttributeError
    with pytest.raises(TypeError, match="camera must be"):
        association.voxel_tolerance(xyz, grid, (1158, 1158, 24, 24))
    with pytest.raises(ValueError, match=r"xyz must have shape \(K, 3\)"):
        association.voxel_tolerance([1.0, 2.0], grid, camera)
    assert association.voxel_tolerance([], grid, camera).shape == (0,)  # no joints, no tolerances
    assert np.array_equal(association.graph_bounds(None), association.graph_bounds())  # None: the default
    for bad in ("x", 0.5, [0.5]):
        with pytest.raises(TypeError, match="max_limb must be a dict"):
            association.graph_bounds(bad)  # was an AttributeError
    with pytest.raises(ValueError, match="max_limb keys"):
        association.graph_bounds({(0, 5): 1.0})
    with pytest.raises(TypeError, match="ths must be"):
        association.associate(np.zeros((0, 3)), np.zeros(0, int), np.zeros(0), ths="x")
    two = np.array([[0.0, 0.0, 10.0], [0.0, 0.3, 10.0]])
    for bad, exc, msg in (
        ([[1], [1, 2]], TypeError, "joint must be array-like"),  # ragged: was numpy's "inhomogeneous shape"
        (["a", "b"], TypeError, "joint must hold integer joint types"),
        ([1.5, 2.0], TypeError, "joint must hold integer joint types"),
        (torch.tensor([0.5, 1.0]), TypeError, "joint must hold integer joint types"),
        ([0, 14], ValueError, r"joint must lie in \[0, 14\)"),
        ([0, 1, 2], ValueError, r"joint must have shape \(2,\)"),
    ):
        with pytest.raises(exc, match=msg):
            association.associate(two, bad, np.ones(2))
    # integral floats and tensors are joint types
    assert association.associate(two, torch.tensor([0.0, 1.0]), np.ones(2)).poses.shape == (1, 14, 3)
    with pytest.raises(TypeError, match="joint_types"):
        metrics.poses_to_rows(np.zeros((1, 14, 3)), joint_types="x")
    a = ops.render_heatmaps(torch.full((1, 3), 1.4), torch.zeros(1, dtype=torch.long), (14, 4, 4, 4), snap=np.True_)
    b = ops.render_heatmaps(torch.full((1, 3), 1.4), torch.zeros(1, dtype=torch.long), (14, 4, 4, 4), snap=True)
    assert torch.equal(a, b)  # numpy bools are bools
    assert type(Settings(tf32=np.False_).tf32) is bool
    from loco.training import VHAConfig

    assert type(VHAConfig(grid_jitter=np.True_).grid_jitter) is bool  # stored as Python bools: the configs stay JSON
    with pytest.raises(TypeError, match="snap must be a bool"):
        ops.render_heatmaps(torch.zeros(1, 3), torch.zeros(1, dtype=torch.long), (14, 4, 4, 4), snap=np.zeros(2))
    with pytest.raises(ValueError, match="connectivity must be 6 or 26"):
        ops.find_peaks(vol, connectivity=torch.tensor([6, 26]))  # was torch's RuntimeError
