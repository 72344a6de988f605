"""The synthetic world: body model, scenes, rendering, visibility, Dataset, CLI. Small images keep it fast."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from loco.data import body
from loco.data.synthetic import PRESETS, SyntheticScenes, collate, limb_lengths, render, sample_scene
from loco.geometry import Camera, VoxelGrid
from loco.skeleton import LIMBS

SMALL = {"jta": (108, 192), "panoptic": (108, 192), "h36m": (100, 100)}


@pytest.fixture(scope="module", params=sorted(PRESETS))
def preset(request) -> str:
    return request.param


def test_segment_lengths_match_table_and_stature():
    s = body.segment_lengths(1.75)
    assert s["upper_arm"] == pytest.approx(0.186 * 1.75)
    assert sum(s[k] for k in ("head", "trunk", "thigh", "shank", "ankle")) == pytest.approx(1.75)
    child = body.segment_lengths(1.0)
    assert child["head"] / 1.0 > s["head"] / 1.75 * 1.3  # children have relatively bigger heads
    with pytest.raises(ValueError, match="height"):
        body.segment_lengths(3.0)


def test_standing_pose_has_the_stature_and_table_limbs():
    angles = {k: 0.0 for k in ("trunk_flex", "trunk_lean", "trunk_twist", "neck_flex", "neck_yaw", "pelvis_twist")}
    for side in "rl":
        for k in ("shoulder_flex", "shoulder_abd", "shoulder_rot", "elbow", "hip_flex", "hip_abd", "knee"):
            angles[f"{side}_{k}"] = 0.0
    lengths = body.segment_lengths(1.8)
    joints, toes, _ = body.pose_joints(lengths, angles)
    assert joints[0, 2] == pytest.approx(1.8)  # head_top at the stature, ankles at ankle height
    assert joints[10, 2] == pytest.approx(lengths["ankle"])
    np.testing.assert_allclose(limb_lengths(joints[None])[0], body.limb_length_table(1.8), rtol=1e-9)
    assert joints[2, 1] < 0 < joints[5, 1]  # facing +x, the right shoulder is on -y


@pytest.mark.parametrize("activity", body.ACTIVITIES)
def test_activities_respect_limits_and_keep_limb_lengths(activity):
    rng = np.random.default_rng(1)
    for _ in range(20):
        p = body.sample_person(rng, activity)
        # every limb keeps its table length up to the per-person variation (3 % per segment, 4 s.d.)
        ratio = limb_lengths(p.joints[None])[0] / body.limb_length_table(p.height)
        assert np.all(np.abs(ratio - 1) < 0.25), (activity, ratio)
        assert min(p.joints[10, 2], p.joints[13, 2]) == pytest.approx(p.lengths["ankle"])
        assert np.all(p.joints[:, 2] > 0)
        for key, value in p.angles.items():
            base = key[2:] if key[:2] in ("r_", "l_") else key
            if base in body._LIMITS:
                lo, hi = body._LIMITS[base]
                assert lo <= value <= hi
        if activity == "waving":
            assert max(p.joints[4, 2] - p.joints[3, 2], p.joints[7, 2] - p.joints[6, 2]) > 0  # a forearm points up
        if activity == "sitting":
            hips = 0.5 * (p.joints[8, 2] + p.joints[11, 2])
            assert hips < 0.75 * p.height * 0.53 + 0.2


def test_heights_span_children_to_tall_adults():
    rng = np.random.default_rng(0)
    h = np.array([body.sample_height(rng) for _ in range(2000)])
    assert h.min() < 1.2 and h.max() > 1.9
    assert 1.55 < np.median(h) < 1.75


def test_sample_person_rejects_unknown_activity():
    with pytest.raises(ValueError, match="activity"):
        body.sample_person(np.random.default_rng(0), "dancing")


def _pairwise_min_distance(poses: np.ndarray) -> float:
    best = np.inf
    for i in range(len(poses)):
        for j in range(i + 1, len(poses)):
            best = min(best, np.min(np.linalg.norm(poses[i][:, None] - poses[j][None], axis=-1)))
    return best


def test_scene_geometry_per_preset(preset):
    ds = SyntheticScenes(preset, SMALL[preset], seed=3)
    counts = []
    for i in range(12):
        scene = ds.scene(i)
        poses = scene.poses3d()
        counts.append(len(poses))
        if preset == "jta":
            assert np.all(np.linalg.norm(poses, axis=-1) <= 100.0)
            assert 3.0 <= scene.position[2] <= 15.0
            tilt = np.degrees(np.arcsin(-scene.rotation[2, 2]))
            assert 10 < tilt < 47
        elif preset == "panoptic":
            assert 1 <= len(poses) <= 8 and np.all(poses[..., 2] < 7.0)
        else:
            assert len(poses) == 1 and np.all((poses[..., 2] >= 1.8) & (poses[..., 2] <= 8.1))
        # nobody inside anybody: footprints are disjoint, so joints of two people stay apart
        if len(poses) > 1:
            assert _pairwise_min_distance(poses) > 0.15
        # people stand on the ground plane z = 0: ankles near it in the world frame
        world = np.stack([p.joints for p in scene.people]) if scene.people else np.zeros((0, 14, 3))
        if len(world):
            assert np.all(np.min(world[:, [10, 13], 2], axis=1) < 0.1)
    if preset == "jta":
        assert max(counts) >= 20


def test_jta_many_people_and_empty_scenes():
    rng = np.random.default_rng(5)
    full = sample_scene("jta", rng, n_people=60)
    assert len(full.people) >= 45
    assert _pairwise_min_distance(full.poses3d()) > 0.15
    assert len(sample_scene("jta", rng, n_people=0).people) == 0


def test_sample_is_deterministic_and_well_formed(preset):
    ds = SyntheticScenes(preset, SMALL[preset], seed=7, length=5, grid="auto")
    a, b = ds[2], ds[2]
    h, w = SMALL[preset]
    assert a["image"].shape == (3, h, w) and a["image"].dtype == torch.uint8
    assert torch.equal(a["image"], b["image"]) and torch.equal(a["poses3d"], b["poses3d"])
    p = a["poses3d"].shape[0]
    assert a["poses3d"].shape == (p, 14, 3) and a["poses3d"].dtype == torch.float32
    assert a["visibility"].shape == (p, 14) and a["visibility"].dtype == torch.bool
    assert a["centers"].shape == (p, 14, 3)
    assert isinstance(a["camera"], Camera)
    # the image is not flat: background texture, people and noise
    assert a["image"].float().std() > 5
    # another seed, another frame
    assert not torch.equal(SyntheticScenes(preset, SMALL[preset], seed=8)[2]["image"], a["image"])
    # centres are the projection of the joints on the grid
    grid = VoxelGrid.for_image(h, w, preset=preset)
    from loco.geometry import project

    torch.testing.assert_close(a["centers"], project(a["poses3d"], grid, a["camera"]))
    assert ds[-1]["index"] == 4


def test_resolution_changes_only_the_intrinsics():
    small = SyntheticScenes("jta", (54, 96), seed=1)[0]
    large = SyntheticScenes("jta", (108, 192), seed=1)[0]
    torch.testing.assert_close(small["poses3d"], large["poses3d"])
    assert large["camera"].fx == pytest.approx(2 * small["camera"].fx)
    torch.testing.assert_close(large["poses2d"], 2 * small["poses2d"], rtol=1e-5, atol=1e-3)


def test_poses2d_follow_the_pinhole_and_visibility_needs_the_screen(preset):
    s = SyntheticScenes(preset, SMALL[preset], seed=11)[1]
    c, x = s["camera"], s["poses3d"].double()
    u = c.fx * x[..., 0] / x[..., 2] + c.cx
    torch.testing.assert_close(s["poses2d"][..., 0].double(), u, rtol=1e-5, atol=1e-3)
    assert not torch.any(s["visibility"] & ~s["on_screen"])
    assert not torch.any(s["self_occluded"] & s["visibility"])


def test_visibility_comes_from_the_depth_buffer():
    ds = SyntheticScenes("jta", (216, 384), seed=2)
    scene = ds.scene(0)
    out = render(scene, (216, 384))
    vis, on = out["visibility"], out["on_screen"]
    assert on.any() and vis.any()
    # a visible joint's pixel shows a surface no nearer than the joint minus its body radius
    u = np.rint(out["poses2d"][..., 0]).astype(int)
    v = np.rint(out["poses2d"][..., 1]).astype(int)
    pv, jv = np.nonzero(vis)
    z = out["poses3d"][pv, jv, 2]
    assert np.all(out["depth"][v[pv, jv], u[pv, jv]] >= z - 0.3)
    # a hidden on-screen joint has something clearly in front of it
    ph, jh = np.nonzero(on & ~vis)
    assert np.all(out["depth"][v[ph, jh], u[ph, jh]] < out["poses3d"][ph, jh, 2])


def test_a_wall_in_front_hides_the_person():
    rng = np.random.default_rng(0)
    scene = sample_scene("h36m", rng)
    assert render(scene, (100, 100))["visibility"].any()
    # put a pillar between the camera and the person
    target = scene.people[0].joints.mean(0)
    mid = scene.position + 0.5 * (target - scene.position)
    scene.props = np.array([[mid[0], mid[1], 3.0, mid[0], mid[1], 0.0, 0.9]])
    scene.prop_colors = np.array([[0.5, 0.5, 0.5]])
    assert not render(scene, (100, 100))["visibility"].any()


def test_dataloader_collate():
    ds = SyntheticScenes("panoptic", (64, 96), seed=0, length=4)
    batch = next(iter(torch.utils.data.DataLoader(ds, batch_size=2, collate_fn=collate)))
    assert batch["image"].shape == (2, 3, 64, 96)
    assert len(batch["poses3d"]) == 2
    with pytest.raises(ValueError, match="batch"):
        collate([])


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"preset": "coco"}, ValueError, "preset"),
        ({"image_size": (100,)}, TypeError, "image_size"),
        ({"image_size": (4, 4)}, ValueError, "image_size"),
        ({"seed": -1}, ValueError, "seed"),
        ({"length": 0}, ValueError, "length"),
        ({"grid": "big"}, ValueError, "grid"),
        ({"grid": 3}, TypeError, "grid"),
        ({"n_people": -2}, ValueError, "n_people"),
    ],
)
def test_bad_arguments(kwargs, error, match):
    with pytest.raises(error, match=match):
        SyntheticScenes(**kwargs)


def test_bad_index():
    ds = SyntheticScenes("h36m", (32, 32), length=3)
    with pytest.raises(IndexError):
        ds[3]
    with pytest.raises(TypeError, match="index"):
        ds["0"]


def test_limb_statistics_match_the_table():
    ds = SyntheticScenes("jta", (32, 32), seed=0)
    got, ref = [], []
    for i in range(15):
        scene = ds.scene(i)
        if scene.people:
            got.append(limb_lengths(scene.poses3d()))
            ref.append(np.stack([body.limb_length_table(p.height) for p in scene.people]))
    got, ref = np.concatenate(got), np.concatenate(ref)
    np.testing.assert_allclose(got.mean(0), ref.mean(0), rtol=0.03)
    assert len(LIMBS) == got.shape[1]


def test_cli_write(tmp_path):
    from loco.cli import main

    rc = main(["data", "write", "--preset", "h36m", "-n", "2", "--size", "40x40", "--out", str(tmp_path), "--overlay"])
    assert rc == 0
    meta = json.loads((tmp_path / "h36m_00001.json").read_text())
    assert np.array(meta["poses3d"]).shape == (1, 14, 3)
    assert (tmp_path / "h36m_00001.png").is_file() and (tmp_path / "h36m_00001_overlay.png").is_file()
    assert main(["data", "write", "-n", "0", "--out", str(tmp_path)]) == 2
