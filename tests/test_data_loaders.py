"""JTA, CMU Panoptic and Human3.6M loaders on small fixtures written here in each dataset's exact format."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from loco.data import DataFormatError
from loco.data.h36m import H36M, load_positions
from loco.data.jta import JTA, USEFUL_JOINTS
from loco.data.panoptic import Panoptic

# ---------------------------------------------------------------- JTA


def _jta_rows(frame: int, person: int, offset: float) -> list[list[float]]:
    rows = []
    for jt in range(22):
        x3, y3, z3 = offset + 0.01 * jt, -1.0 + 0.08 * jt, 10.0 + offset
        x2, y2 = 1158 * x3 / z3 + 960, 1158 * y3 / z3 + 540
        rows.append([frame, person, jt, x2, y2, x3, y3, z3, int(jt == 6), int(jt == 10)])
    return rows


@pytest.fixture
def jta_root(tmp_path):
    root = tmp_path / "JTA"
    for split, seqs in (("train", (0, 1)), ("test", (256,))):
        (root / "annotations" / split).mkdir(parents=True)
        for seq in seqs:
            rows = []
            for frame in (1, 6, 123):
                rows += _jta_rows(frame, 7, 0.0) + _jta_rows(frame, 3, 2.0)
            (root / "annotations" / split / f"seq_{seq}.json").write_text(json.dumps(rows))
            frames = root / "frames" / split / f"seq_{seq}"
            frames.mkdir(parents=True)
            Image.new("RGB", (32, 18), (10, 20, 30)).save(frames / "123.jpg")
    return root


def test_jta_test_split_paper_sampling(jta_root):
    ds = JTA(jta_root, "test")
    assert len(ds) == 1 and ds.items == [(256, 123)]
    s = ds[0]
    assert s["poses3d"].shape == (2, 14, 3) and s["image"].shape == (3, 18, 32)
    assert s["person_ids"].tolist() == [3, 7]
    # joint k of LoCO is JTA joint USEFUL_JOINTS[k]: y3d = -1 + 0.08 * jt
    expected_y = torch.tensor([-1.0 + 0.08 * jt for jt in USEFUL_JOINTS])
    torch.testing.assert_close(s["poses3d"][1, :, 1], expected_y)
    assert s["occluded"][0, 4] and s["self_occluded"][0, 7]  # JTA 6 = right_wrist, 10 = left_wrist
    assert not s["visibility"][0, 4] and s["visibility"][0, 0]
    assert s["camera"].fx == 1158


def test_jta_train_paper_sampling_and_frame_choices(jta_root):
    ds = JTA(jta_root, "train", load_images=False)
    assert len(ds) == 2 * 180 and ds.items[1] == (0, 6)
    assert ds[1]["poses3d"].shape == (2, 14, 3)
    assert ds[2]["poses3d"].shape == (0, 14, 3)  # frame 11 has no annotation: nobody
    assert JTA(jta_root, "train", frames="all", load_images=False).items[:3] == [(0, 1), (0, 6), (0, 123)]
    assert len(JTA(jta_root, "train", frames=[123], load_images=False)) == 2
    with pytest.raises(ValueError, match="frames"):
        JTA(jta_root, "train", frames="most")
    with pytest.raises(ValueError, match="split"):
        JTA(jta_root, "training")


def test_jta_missing_and_malformed_files(jta_root, tmp_path):
    with pytest.raises(FileNotFoundError, match="annotations"):
        JTA(tmp_path / "nowhere", "test")
    (jta_root / "frames" / "test" / "seq_256" / "123.jpg").unlink()
    with pytest.raises(FileNotFoundError, match=r"123\.jpg.*JTA frame"):
        JTA(jta_root, "test")[0]
    bad = jta_root / "annotations" / "test" / "seq_256.json"
    bad.write_text("[[1, 2, 3]]")
    with pytest.raises(DataFormatError, match=r"seq_256\.json.*shape \(N, 10\)"):
        JTA(jta_root, "test", load_images=False)[0]
    bad.write_text("{not json")
    with pytest.raises(DataFormatError, match=r"seq_256\.json.*not valid JSON"):
        JTA(jta_root, "test", load_images=False)[0]
    bad.write_text(json.dumps([[1, 0, 30, 0, 0, 0, 0, 1, 0, 0]]))
    with pytest.raises(DataFormatError, match="joint types"):
        JTA(jta_root, "test", load_images=False)[0]


# ---------------------------------------------------------------- Panoptic


def _rot_z(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


@pytest.fixture
def panoptic_seq(tmp_path):
    seq = tmp_path / "160422_ultimatum1"
    (seq / "hdPose3d_stage1_coco19").mkdir(parents=True)
    rot = _rot_z(0.3)
    calib = {
        "calibDataSource": "160422_calib",
        "cameras": [
            {"name": "00_00", "type": "hd", "resolution": [1920, 1080], "K": np.eye(3).tolist(),
             "distCoef": [0, 0, 0, 0, 0], "R": np.eye(3).tolist(), "t": [[0], [0], [0]]},
            {"name": "00_16", "type": "hd", "resolution": [1920, 1080],
             "K": [[1400.0, 0, 950.0], [0, 1401.0, 545.0], [0, 0, 1]], "distCoef": [-0.2, 0.1, 0, 0, 0],
             "R": rot.tolist(), "t": [[10.0], [-20.0], [300.0]]},
        ],
    }  # fmt: skip
    (seq / "calibration_160422_ultimatum1.json").write_text(json.dumps(calib))
    rng = np.random.default_rng(0)
    for frame in (100, 101, 102):
        bodies = []
        for pid in (0, 4):
            j = np.concatenate([rng.normal(0, 50, (19, 3)), np.full((19, 1), 0.9)], axis=1)
            j[2, 3] = -1.0  # a missing joint (BodyCenter, unused anyway)
            j[14, 3] = 0.05  # right ankle below confidence
            bodies.append({"id": pid, "joints19": j.reshape(-1).tolist()})
        doc = {"version": 0.7, "univTime": 1000.0 + frame, "fpsType": "hd_29_97", "bodies": bodies}
        (seq / "hdPose3d_stage1_coco19" / f"body3DScene_{frame:08d}.json").write_text(json.dumps(doc))
    (seq / "hdImgs" / "00_16").mkdir(parents=True)
    Image.new("RGB", (24, 16)).save(seq / "hdImgs" / "00_16" / "00_16_00000100.jpg")
    return seq, rot


def test_panoptic_projects_to_the_camera(panoptic_seq):
    seq, rot = panoptic_seq
    ds = Panoptic(seq, camera="00_16", load_images=False)
    assert len(ds) == 3 and len(Panoptic(seq.parent, step=2, load_images=False)) == 2
    assert len(Panoptic(seq.parent, step=np.int64(2), load_images=False)) == 2  # numpy ints are ints
    with pytest.raises(TypeError, match="step"):
        Panoptic(seq.parent, step=2.0, load_images=False)
    s = ds[0]
    assert s["poses3d"].shape == (2, 14, 3) and s["person_ids"].tolist() == [0, 4]
    doc = json.loads((seq / "hdPose3d_stage1_coco19" / "body3DScene_00000100.json").read_text())
    j19 = np.array(doc["bodies"][0]["joints19"]).reshape(19, 4)
    neck_cam = (rot @ j19[0, :3] + np.array([10.0, -20.0, 300.0])) / 100.0
    torch.testing.assert_close(s["poses3d"][0, 1].double(), torch.from_numpy(neck_cam), rtol=1e-5, atol=1e-5)
    # left shoulder is COCO-19 joint 3
    lsh = (rot @ j19[3, :3] + np.array([10.0, -20.0, 300.0])) / 100.0
    torch.testing.assert_close(s["poses3d"][0, 5].double(), torch.from_numpy(lsh), rtol=1e-5, atol=1e-5)
    assert torch.isnan(s["poses3d"][0, 10]).all() and not s["visibility"][0, 10]
    assert torch.isfinite(s["poses3d"][0, 0]).all()  # head top estimated from ears and neck
    assert s["camera"].fx == 1400.0 and s["camera"].cy == 545.0
    assert Panoptic(seq)[0]["image"].shape == (3, 16, 24)


def test_panoptic_errors(panoptic_seq, tmp_path):
    seq, _ = panoptic_seq
    with pytest.raises(DataFormatError, match=r"calibration_160422_ultimatum1\.json.*no camera named '00_30'"):
        Panoptic(seq, camera="00_30")
    with pytest.raises(ValueError, match="camera"):
        Panoptic(seq, camera="cam16")
    with pytest.raises(FileNotFoundError, match=r"00_16_00000101\.jpg"):
        Panoptic(seq)[1]
    (seq / "hdPose3d_stage1_coco19" / "body3DScene_00000102.json").write_text(json.dumps({"bodies": [{"id": 1}]}))
    with pytest.raises(DataFormatError, match=r"body3DScene_00000102\.json.*joints19"):
        Panoptic(seq, load_images=False)[2]
    (seq / "hdPose3d_stage1_coco19" / "body3DScene_00000102.json").write_text(
        json.dumps({"bodies": [{"id": 1, "joints19": [0.0] * 57}]})
    )
    with pytest.raises(DataFormatError, match=r"joints19 must have shape \(76\)"):
        Panoptic(seq, load_images=False)[2]
    (seq / "calibration_160422_ultimatum1.json").unlink()
    with pytest.raises(FileNotFoundError, match=r"calibration_160422_ultimatum1\.json.*calibration"):
        Panoptic(seq)
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(FileNotFoundError, match="hdPose3d_stage1_coco19"):
        Panoptic(empty)


# ---------------------------------------------------------------- Human3.6M


def _quat(axis, angle):
    axis = np.asarray(axis, float) / np.linalg.norm(axis)
    return [np.cos(angle / 2), *(np.sin(angle / 2) * axis)]


@pytest.fixture
def h36m_files(tmp_path):
    rng = np.random.default_rng(0)
    positions = {
        subject: {"Walking": rng.normal(0, 0.5, (10, 32, 3)) + [0, 0, 1], "Sitting 1": rng.normal(0, 0.5, (4, 32, 3))}
        for subject in ("S1", "S9", "S11")
    }
    npz = tmp_path / "data_3d_h36m.npz"
    np.savez_compressed(npz, positions_3d=positions)
    cams = {
        "intrinsic": [
            {"id": cid, "center": [512.5, 515.4], "focal_length": [1145.0, 1143.8], "res_w": 1000, "res_h": 1002}
            for cid in ("54138969", "55011271", "58860488", "60457274")
        ],
        "extrinsic": {
            s: [{"orientation": _quat([1, 0.2, 0.1], 1.2 + k), "translation": [1800.0, 3500.0, 1500.0]}
                for k in range(4)]
            for s in ("S1", "S9", "S11")
        },
    }  # fmt: skip
    cam_path = tmp_path / "h36m_cameras.json"
    cam_path.write_text(json.dumps(cams))
    return npz, cam_path, positions, cams


def test_h36m_protocol_subjects_and_camera_frame(h36m_files):
    npz, cam_path, positions, cams = h36m_files
    test = H36M(npz, cam_path, split="test", protocol="p1")
    assert {s for s, *_ in test.items} == {"S9", "S11"}
    assert len(test) == 2 * (10 + 4) * 4
    train = H36M(npz, cam_path, split="train", step=3, cameras_used=(0,))
    assert {s for s, *_ in train.items} == {"S1"} and len(train) == 4 + 2
    assert len(H36M(npz, cam_path, split="train", step=np.int64(3), cameras_used=(0,))) == 4 + 2
    with pytest.raises(TypeError, match="step"):
        H36M(npz, cam_path, split="train", step="3")
    s = test[0]
    subject, action, cam, frame = test.items[0]
    q = np.array(cams["extrinsic"][subject][cam]["orientation"])
    w, x, y, z = q / np.linalg.norm(q)
    rot = np.array([
        [1 - 2 * (y * y + z * z), 2 * (x * y - z * w), 2 * (x * z + y * w)],
        [2 * (x * y + z * w), 1 - 2 * (x * x + z * z), 2 * (y * z - x * w)],
        [2 * (x * z - y * w), 2 * (y * z + x * w), 1 - 2 * (x * x + y * y)],
    ])  # fmt: skip
    t = np.array(cams["extrinsic"][subject][cam]["translation"]) / 1000.0
    head_top = rot.T @ (positions[subject][action][frame][15] - t)
    torch.testing.assert_close(s["poses3d"][0, 0].double(), torch.from_numpy(head_top), rtol=1e-5, atol=1e-5)
    assert s["poses3d"].shape == (1, 14, 3) and s["camera_id"] == "54138969"
    with pytest.raises(ValueError, match="protocol"):
        H36M(npz, cam_path, protocol="p3")


def test_h36m_refuses_code_and_bad_files(h36m_files, tmp_path):
    npz, cam_path, *_ = h36m_files
    assert set(load_positions(npz)) == {"S1", "S9", "S11"}

    class Evil:
        def __reduce__(self):
            return (print, ("owned",))

    evil = tmp_path / "evil.npz"
    np.savez(evil, positions_3d=np.array([Evil()], dtype=object))
    with pytest.raises(DataFormatError, match=r"evil\.npz.*refusing to load builtins\.print"):
        load_positions(evil)
    (tmp_path / "plain.npz").write_bytes(b"not a zip")
    with pytest.raises(DataFormatError, match=r"plain\.npz.*not an \.npz"):
        load_positions(tmp_path / "plain.npz")
    np.savez(tmp_path / "other.npz", positions_2d=np.zeros(3))
    with pytest.raises(DataFormatError, match=r"other\.npz.*positions_3d"):
        load_positions(tmp_path / "other.npz")
    np.savez(tmp_path / "shape.npz", positions_3d={"S1": {"Walk": np.zeros((3, 5, 3))}})
    with pytest.raises(DataFormatError, match=r"shape\.npz.*\(N, 32, 3\)"):
        load_positions(tmp_path / "shape.npz")
    with pytest.raises(FileNotFoundError, match=r"missing\.npz.*data_3d_h36m"):
        load_positions(tmp_path / "missing.npz")
    cams = json.loads(cam_path.read_text())
    del cams["extrinsic"]["S9"][0]["orientation"]
    cam_path.write_text(json.dumps(cams))
    with pytest.raises(DataFormatError, match=r"h36m_cameras\.json.*orientation"):
        H36M(npz, cam_path)
