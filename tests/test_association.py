"""loco.association: both methods on single people, crowds, missing heads, duplicates and touching people."""

import json

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from loco import association as A
from loco.geometry import Camera, VoxelGrid
from loco.metrics import match_people
from loco.skeleton import LIMBS, NUM_JOINTS, THS
from loco.testing import STANDING_TEMPLATE

TEMPLATE = STANDING_TEMPLATE


def crowd(n, seed=0, spacing=1.2):
    """``n`` people on a jittered lattice at least ``spacing`` metres apart, turned and scaled at random."""
    rng = np.random.default_rng(seed)
    side = int(np.ceil(np.sqrt(n)))
    cells = rng.permutation(side * side)[:n]
    people = []
    for c in cells:
        foot = np.array([(c % side - side / 2) * spacing, 0.0, 6.0 + (c // side) * spacing])
        foot[[0, 2]] += rng.uniform(-0.1, 0.1, 2) * spacing
        yaw = rng.uniform(-np.pi, np.pi)
        rot = np.array([[np.cos(yaw), 0, np.sin(yaw)], [0, 1, 0], [-np.sin(yaw), 0, np.cos(yaw)]])
        people.append(TEMPLATE * rng.uniform(0.85, 1.1) @ rot.T + rng.normal(0, 0.02, (14, 3)) + foot)
    return np.stack(people)


def flatten(poses, seed=0, scores=None):
    """Detection inputs (xyz, joint, score) of the non-missing joints, shuffled."""
    keep = np.isfinite(poses).all(-1)
    xyz = poses[keep]
    joint = np.broadcast_to(np.arange(NUM_JOINTS), poses.shape[:2])[keep]
    score = np.random.default_rng(seed).uniform(0.2, 1.0, len(xyz)) if scores is None else scores[keep]
    perm = np.random.default_rng(seed + 1).permutation(len(xyz))
    return xyz[perm], joint[perm].astype(np.int64), score[perm]


def assert_same_people(found, truth, atol=1e-9):
    """Every true person is found with exactly its joints (NaN where missing), whatever the order."""
    assert found.shape == truth.shape
    pi, gi, _ = match_people(found, truth)
    assert len(gi) == len(truth)
    np.testing.assert_allclose(found[pi], truth[gi], atol=atol)


@pytest.mark.parametrize("method", A.METHODS)
def test_one_person_and_empty(method):
    person = crowd(1)
    poses, conf = A.associate(*flatten(person), method)
    assert poses.dtype == np.float32 and conf.shape == (1, 14)
    assert_same_people(poses, person, atol=1e-6)
    poses, conf = A.associate(np.zeros((0, 3)), np.zeros(0, np.int64), np.zeros(0), method)
    assert poses.shape == (0, 14, 3) and conf.shape == (0, 14)


@pytest.mark.parametrize("method", A.METHODS)
def test_crowd_of_sixty_is_recovered_exactly(method):
    people = crowd(60, seed=1)
    xyz, joint, score = flatten(people, seed=2)
    poses, conf = A.associate(xyz, joint, score, method)
    assert_same_people(poses.astype(np.float64), people, atol=1e-6)
    assert set(np.round(conf[conf > 0], 6)) <= set(np.round(score.astype(np.float32), 6))


def test_paper_orders_people_by_head_confidence_and_reports_scores():
    people = crowd(3, seed=4)
    scores = np.tile(np.linspace(0.9, 0.5, 14), (3, 1)) * np.array([[0.5], [1.0], [0.8]])
    xyz, joint, score = flatten(people, scores=scores)
    poses, conf = A.associate(xyz, joint, score, "paper")
    np.testing.assert_allclose(poses[:, 0], people[[1, 2, 0], 0], atol=1e-6)
    np.testing.assert_allclose(conf, scores[[1, 2, 0]], atol=1e-6)


def test_a_contested_joint_goes_once_to_the_more_confident_head():
    # The original gave the one neck to both heads; ours gives it to the more confident head only.
    head_a, head_b, neck = [0.0, -1.75, 5.0], [0.3, -1.75, 5.0], [0.2, -1.5, 5.0]
    xyz = np.array([head_a, head_b, neck])
    for method in A.METHODS:
        idx = A.associate_indices(xyz, [0, 0, 1], [0.6, 0.9, 0.8], method)
        assert idx.shape == (2, 14)
        assert idx[0].tolist()[:2] == [1, 2] and idx[1].tolist()[:2] == [0, -1]


def test_paper_limits_head_distance_and_limb_length():
    person = crowd(1, seed=5)[0]
    xyz, joint = person.copy(), np.arange(14)
    xyz[4] = xyz[3] + (xyz[3] - xyz[2]) / np.linalg.norm(xyz[3] - xyz[2]) * 0.9  # a 0.9 m forearm
    assert np.linalg.norm(xyz[4] - xyz[0]) < THS[4]
    idx = A.associate_indices(xyz, joint, np.ones(14), "paper")
    assert idx[0, 4] == -1 and (idx[0, :4] >= 0).all()
    assert A.associate_indices(xyz, joint, np.ones(14), "paper", max_limb={})[0, 4] == 4  # the original's rule
    assert A.associate_indices(xyz, joint, np.ones(14), "paper", tolerance=0.2)[0, 4] == 4
    far = person.copy()
    far[13] = far[0] + [0.0, 3.1, 0.0]  # beyond THS[13] = 3 m from the head
    assert A.associate_indices(far, joint, np.ones(14), "paper", max_limb={})[0, 13] == -1


def test_missing_heads_lose_people_in_paper_but_not_in_hungarian():
    people = crowd(12, seed=6)
    missing = people.copy()
    missing[[2, 5, 9], 0] = np.nan  # three heads not detected
    missing[5, 1] = np.nan  # and one of them lost its neck too
    inputs = flatten(missing, seed=7)
    paper, _ = A.associate(*inputs, "paper")
    assert paper.shape[0] == 9
    assert_same_people(paper.astype(np.float64), missing[[i for i in range(12) if i not in (2, 5, 9)]], atol=1e-6)
    hung, _ = A.associate(*inputs, "hungarian")
    assert_same_people(hung.astype(np.float64), missing, atol=1e-6)


def test_duplicates_are_used_once_and_do_not_make_people():
    people = crowd(8, seed=8)
    xyz, joint, score = flatten(people, seed=9)
    rng = np.random.default_rng(10)
    dup = rng.choice(len(xyz), size=20, replace=False)
    xyz2 = np.concatenate([xyz, xyz[dup] + rng.normal(0, 0.03, (20, 3))])
    joint2 = np.concatenate([joint, joint[dup]])
    score2 = np.concatenate([score, score[dup] * 0.5])  # weaker echoes of true peaks
    for method in A.METHODS:
        idx = A.associate_indices(xyz2, joint2, score2, method)
        used = idx[idx >= 0]
        assert len(used) == len(set(used.tolist())), method
        assert idx.shape[0] == 8, method  # no phantom person from a lone duplicate
        poses, _ = A.associate(xyz2, joint2, score2, method)
        _, _, dist = match_people(poses, people)
        assert len(dist) == 8 and dist.max() < 0.05, method


def test_touching_people_hungarian_untangles_what_the_paper_rule_mixes():
    # Two people facing the camera 0.4 m apart: B's right wrist is nearer A's head than A's own right wrist.
    a = TEMPLATE + [0.0, 0.0, 5.0]
    b = TEMPLATE + [0.4, 0.0, 5.0]
    people = np.stack([a, b])
    xyz, joint = people.reshape(-1, 3), np.tile(np.arange(14), 2)
    score = np.r_[np.full(14, 0.9), np.full(14, 0.8)]
    hung, _ = A.associate(xyz, joint, score, "hungarian")
    assert_same_people(hung.astype(np.float64), people, atol=1e-6)
    paper_idx = A.associate_indices(xyz, joint, score, "paper")
    used = paper_idx[paper_idx >= 0]
    assert len(used) == len(set(used.tolist()))  # mixed, perhaps, but never duplicated
    assert paper_idx[0, 4] == 18  # the paper's rule: A (more confident) takes B's right wrist


@settings(deadline=None, max_examples=40)
@given(
    n=st.integers(0, 40),
    seed=st.integers(0, 2**16),
    method=st.sampled_from(A.METHODS),
    box=st.sampled_from([1.0, 3.0, 10.0]),
)
def test_random_peaks_every_peak_at_most_once_and_types_respected(n, seed, method, box):
    rng = np.random.default_rng(seed)
    xyz = rng.uniform(-box, box, (n, 3)) + [0, 0, 10]
    joint = rng.integers(0, 14, n)
    score = rng.choice([0.3, 0.5, 0.9], n)  # ties on purpose
    idx = A.associate_indices(xyz, joint, score, method)
    used = idx[idx >= 0]
    assert len(used) == len(set(used.tolist()))
    slot = np.broadcast_to(np.arange(14), idx.shape)[idx >= 0]
    assert (joint[used] == slot).all()
    heads = (idx[:, 0] >= 0) if len(idx) else np.zeros(0, bool)
    if method == "paper":
        assert heads.all() and heads.sum() == (joint == 0).sum()
    for p in idx[heads]:
        for t in range(1, 14):
            if p[t] >= 0:
                assert np.linalg.norm(xyz[p[t]] - xyz[p[0]]) < THS[t]
    for p in idx:
        for a, b in LIMBS:
            if p[a] >= 0 and p[b] >= 0:
                assert np.linalg.norm(xyz[p[a]] - xyz[p[b]]) <= A.MAX_LIMB[(a, b)] + 1e-12


def test_torch_in_torch_out():
    people = crowd(3, seed=11)
    xyz, joint, score = flatten(people)
    poses, conf = A.associate(torch.from_numpy(xyz), torch.from_numpy(joint), torch.from_numpy(score), "hungarian")
    assert isinstance(poses, torch.Tensor) and poses.dtype == torch.float32 and conf.shape == (3, 14)
    assert torch.isfinite(poses).all()


def test_graph_bounds_and_voxel_tolerance():
    bound = A.graph_bounds()
    assert bound[0, 1] == A.MAX_LIMB[(0, 1)]
    assert bound[9, 12] == pytest.approx(A.MAX_LIMB[(8, 9)] + A.MAX_LIMB[(8, 11)] + A.MAX_LIMB[(11, 12)])
    np.testing.assert_allclose(bound, bound.T)
    tol = A.voxel_tolerance(np.array([[0.0, 0.0, 10.0], [0.0, 0.0, 50.0]]), VoxelGrid.jta(), Camera.jta())
    assert tol[0] < tol[1]
    assert tol[0] >= 0.5 * VoxelGrid.jta().bin_size


@pytest.mark.parametrize(
    "kwargs, exc, word",
    [
        ({"xyz": np.zeros((2, 2))}, ValueError, "xyz"),
        ({"joint": np.zeros(3, np.int64)}, ValueError, "joint"),
        ({"joint": np.array([0, 14])}, ValueError, "joint"),
        ({"joint": np.array([0.5, 1.0])}, TypeError, "joint"),
        ({"score": np.zeros(1)}, ValueError, "score"),
        ({"xyz": np.full((2, 3), np.nan)}, ValueError, "xyz"),
        ({"method": "greedy"}, ValueError, "method"),
        ({"tolerance": np.zeros(3)}, ValueError, "tolerance"),
        ({"min_joints": 0}, ValueError, "min_joints"),
        ({"max_limb": {(0, 5): 1.0}}, ValueError, "max_limb"),
        ({"ths": (1.0,) * 13}, ValueError, "ths"),
        ({"ths": (float("nan"),) * 14}, ValueError, "ths"),  # silently joined nothing
        ({"ths": (-1.0,) * 14}, ValueError, "ths"),
        ({"max_limb": {(0, 1): -1.0}}, ValueError, "max_limb"),  # silently rejected every such limb
        ({"max_limb": {(0, 1): "1"}}, TypeError, "max_limb"),
        ({"tolerance": "1"}, TypeError, "tolerance"),  # was parsed as 1.0
    ],
)
def test_bad_inputs_name_the_argument(kwargs, exc, word):
    args = {"xyz": np.zeros((2, 3)) + [0, 0, 5], "joint": np.array([0, 1]), "score": np.ones(2), "method": "paper"}
    args.update(kwargs)
    with pytest.raises(exc, match=word):
        A.associate(**args)


def test_authors_frames(authors_dir):
    for k, n in ((1, 26), (2, 28), (3, 14)):
        raw = np.asarray(json.loads((authors_dir / f"{k}_res.json").read_text())["poses"], dtype=np.float64)
        people = raw[..., 1:]
        xyz, joint, score = flatten(people, seed=k)
        for method in A.METHODS:
            poses, _ = A.associate(xyz, joint, score, method)
            assert poses.shape[0] == n
            pi, gi, _ = match_people(poses.astype(np.float64), people)
            same = np.isclose(poses[pi], people[gi], atol=1e-5).all(-1)
            assert same.mean() > 0.98, (k, method, same.mean())  # frame 3: two ankles of neighbours swap
