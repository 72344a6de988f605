"""loco.evaluate and ``loco eval``: the oracle upper bound on a small grid, the pipeline loop, JSON and the CLI."""

import json
import math

import numpy as np
import pytest
import torch

from loco import evaluate as E
from loco import ops
from loco.cli import main as cli_main
from loco.geometry import Camera, VoxelGrid
from loco.testing import STANDING_TEMPLATE

# A coarse grid (stride 32, 80 depth bins over 25 m) keeps the oracle fast on the torch backend.
GRID = VoxelGrid(depth_bins=80, min_depth=0.0, max_depth=25.0, height=34, width=60, stride=32)
CAMERA = Camera.jta()

TEMPLATE = STANDING_TEMPLATE


def frame(seed, n=4):
    """``n`` people 3 m apart, 8-14 m from a level camera 1.5 m above their feet."""
    rng = np.random.default_rng(seed)
    xs = (np.arange(n) - (n - 1) / 2) * 3.0 + rng.uniform(-0.3, 0.3, n)
    zs = rng.uniform(8.0, 14.0, n)
    poses = np.stack([TEMPLATE * rng.uniform(0.9, 1.1) + [x, 1.5, z] for x, z in zip(xs, zs)])
    return {"camera": CAMERA, "poses3d": torch.from_numpy(poses + rng.normal(0, 0.02, poses.shape))}


class GroundTruthPipeline:
    """A stand-in for loco.LoCO: returns the sample's own poses, found through a lookup on the image."""

    def __init__(self, samples, drop=0):
        self.samples, self.drop = samples, drop

    def predict(self, image, camera):
        poses = self.samples[int(image)]["poses3d"]
        return {"poses3d": poses[self.drop :]}


def test_ground_truth_mask():
    poses = frame(0)["poses3d"].clone()
    poses[0, 0, 2] = -1.0  # behind the camera
    poses[1, 3] = torch.nan  # missing
    poses[2, 4, 0] = 100.0  # far off to the side, off screen
    mask = E.ground_truth_mask(poses, GRID, CAMERA)
    assert mask.shape == (4, 14) and mask.sum() == 53
    assert not mask[0, 0] and not mask[1, 3] and not mask[2, 4]
    assert E.ground_truth_mask(torch.zeros(0, 14, 3), GRID, CAMERA).shape == (0, 14)


def test_oracle_upper_bound_on_a_small_grid(tmp_path):
    dataset = [frame(i) for i in range(2)]
    config = E.OracleConfig(peaks=("original", "gaussian"), backend="torch")
    results = E.evaluate_oracle(dataset, config=config, grid=GRID, progress=False)
    rows = results["rows"]
    assert results["frames"] == 2 and results["people_per_frame"] == {"min": 4, "max": 4, "mean": 4.0}
    assert set(rows) == {f"{m}/{a}" for m in ("original", "gaussian") for a in ("peaks", "paper", "hungarian")}
    for name, row in rows.items():
        assert row["images"] == 2
        assert row["f1@0.4"] == row["f1@0.8"] == row["f1@1.2"] == 100.0, name
    for method in ("peaks", "paper", "hungarian"):
        assert rows[f"gaussian/{method}"]["mean_error_mm"] < 5.0
        assert rows[f"original/{method}"]["mean_error_mm"] > 20.0  # half a 0.32 m depth bin and 0.3 m pixels
    assert rows["gaussian/hungarian"]["person_f1"] == 100.0 and rows["gaussian/hungarian"]["person_mpjpe_mm"] < 5.0
    table = E.format_table(results)
    assert table.count("\n") == 2 + 5 and "gaussian/hungarian" in table
    path = E.save_results(results, tmp_path / "r.json", dataset="test")
    loaded = json.loads(path.read_text())
    assert loaded["rows"]["gaussian/paper"]["f1@0.4"] == 100.0 and loaded["dataset"] == "test"
    assert loaded["config"]["grid"]["stride"] == 32 and "torch" in loaded["environment"]


def test_oracle_loses_a_person_without_a_head_only_with_the_paper_rule():
    sample = frame(5)
    sample["poses3d"][1, 0] = torch.nan  # head not annotated: never rendered
    config = E.OracleConfig(peaks=("gaussian",), backend="torch")
    rows = E.evaluate_oracle([sample], config=config, grid=GRID, progress=False)["rows"]
    assert rows["gaussian/peaks"]["f1@0.4"] == 100.0
    assert rows["gaussian/hungarian"]["f1@0.4"] == 100.0
    assert rows["gaussian/paper"]["recall@0.4"] == pytest.approx(100 * 42 / 55)
    assert rows["gaussian/paper"]["person_f1"] == pytest.approx(100 * 6 / 7)


def test_evaluate_pipeline():
    samples = [dict(frame(i), image=torch.tensor(i)) for i in range(2)]
    perfect = E.evaluate_pipeline(samples, GroundTruthPipeline(samples), grid=GRID, progress=False)
    row = perfect["rows"]["pipeline"]
    assert row["f1@0.4"] == 100.0 and row["mean_error_mm"] == 0.0 and row["person_f1"] == 100.0
    partial = E.evaluate_pipeline(samples, GroundTruthPipeline(samples, drop=1), frames=[1], grid=GRID, progress=False)
    assert partial["frames"] == 1 and partial["rows"]["pipeline"]["recall@0.4"] == 75.0
    with pytest.raises(TypeError, match="pipeline"):
        E.evaluate_pipeline(samples, object(), progress=False)
    with pytest.raises(TypeError, match="image"):
        E.evaluate_pipeline([frame(0)], GroundTruthPipeline(samples), progress=False)


def test_bad_configs_and_samples():
    with pytest.raises(ValueError, match="peaks"):
        E.OracleConfig(peaks=("cubic",))
    with pytest.raises(ValueError, match="associations"):
        E.OracleConfig(associations=("nearest",))
    with pytest.raises(ValueError, match="matching"):
        E.OracleConfig(matching="best")
    with pytest.raises(TypeError, match="poses3d"):
        E.evaluate_oracle([{"camera": CAMERA}], grid=GRID, progress=False)
    with pytest.raises(ValueError, match="poses3d"):
        E.evaluate_oracle([{"camera": CAMERA, "poses3d": np.zeros((2, 13, 3))}], grid=GRID, progress=False)
    with pytest.raises(ValueError, match="frames"):
        E.evaluate_oracle([frame(0)], frames=0, grid=GRID, progress=False)
    for bad, error in ((5, ValueError), ([-1], ValueError), ([0.5], TypeError), ("0", TypeError)):
        with pytest.raises(error, match="frames"):  # [5] on a 1-frame dataset was an IndexError mid-run
            E.evaluate_oracle([frame(0)], frames=[bad] if bad == 5 else bad, grid=GRID, progress=False)
    one = E.evaluate_oracle([frame(0)], frames=np.int64(1), grid=GRID, progress=False)  # numpy counts are counts
    assert one["rows"] == E.evaluate_oracle([frame(0)], frames=1, grid=GRID, progress=False)["rows"]
    for kwargs, error, match in (
        ({"sigma": 0}, ValueError, "sigma"),
        ({"threshold": "0.1"}, TypeError, "threshold"),
        ({"connectivity": 8}, ValueError, "connectivity"),
        ({"person_distance": -1}, ValueError, "person_distance"),
        ({"thresholds": (0.4, -1.0)}, ValueError, "threshold must be finite and >= 0, got -1"),
        ({"backend": "gpu"}, ValueError, "backend"),
    ):
        with pytest.raises(error, match=match):
            E.OracleConfig(**kwargs)


def test_synthetic_ground_truth_frames():
    pytest.importorskip("loco.data.synthetic")
    ds = E.SyntheticGroundTruth("jta", seed=3, people=(5, 8), length=4)
    a, b = ds[2], ds[2]
    np.testing.assert_array_equal(a["poses3d"], b["poses3d"])
    assert a["poses3d"].shape[1:] == (14, 3) and isinstance(a["camera"], Camera)
    assert 0 < a["poses3d"].shape[0] <= 8
    with pytest.raises(IndexError):
        ds[4]
    with pytest.raises(ValueError, match="people"):
        E.SyntheticGroundTruth(people=(5, 2))


def test_cli_oracle_writes_json(tmp_path, monkeypatch, capsys):
    import loco.commands.evaluate as command

    monkeypatch.setattr(command, "_dataset", lambda *args: [frame(1, n=3)])
    monkeypatch.setattr(VoxelGrid, "jta", classmethod(lambda cls, **kw: GRID))  # the small grid, for speed
    out = tmp_path / "eval.json"
    argv = ["eval", "--oracle", "--frames", "1", "--peaks", "gaussian", "--backend", "torch", "--no-progress"]
    rc = cli_main([*argv, "--out", str(out)])
    assert rc == 0
    printed = capsys.readouterr().out
    assert "| gaussian/hungarian | 100.00 | 100.00 | 100.00 |" in printed
    result = json.loads(out.read_text())
    assert result["frames"] == 1 and result["command"] == "loco eval"
    assert result["rows"]["gaussian/paper"]["mean_error_mm"] < 5.0
    assert not math.isnan(result["seconds_per_frame"])


def test_cli_errors(capsys):
    with pytest.raises(SystemExit):
        cli_main(["eval", "--oracle", "--peaks", "cubic"])
    with pytest.raises(SystemExit):
        cli_main(["eval"])  # --oracle or --weights is required
    pytest.importorskip("loco.data.synthetic")
    assert cli_main(["eval", "--weights", "no-such-pipeline", "--frames", "1"]) == 2
    assert "loco eval: error:" in capsys.readouterr().err


def test_vha_compression_f1_at_0_1_2_voxels():
    centers = torch.tensor([[10.0, 8.0, 9.0], [20.0, 15.0, 30.0], [40.0, 20.0, 50.0]])
    joints = torch.tensor([0, 3, 3])
    volume = ops.render_heatmaps(centers, joints, GRID, snap=True, backend="torch")
    shifted = ops.render_heatmaps(centers + torch.tensor([1.0, 0.0, 0.0]), joints, GRID, snap=True, backend="torch")
    same = E.vha_compression(volume, volume.clone(), backend="torch")
    assert same["f1@0"] == same["f1@1"] == same["f1@2"] == 100.0 and same["tp@0"] == 3
    off = E.vha_compression(volume, shifted, backend="torch")
    assert off["f1@0"] == 0.0 and off["f1@1"] == 100.0 and off["f1@2"] == 100.0
    with pytest.raises(ValueError, match="decoded"):
        E.vha_compression(volume, volume[:, :3])
