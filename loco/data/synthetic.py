"""A synthetic 3D people world: scenes sampled per preset, rendered images and ground truth, as a torch Dataset.

``SyntheticScenes(preset="jta", image_size=(1080, 1920), seed=0)[i]`` is a dict::

    image        (3, H, W) uint8 tensor
    camera       loco.Camera, the intrinsics of this image (native intrinsics scaled to ``image_size``)
    poses3d      (P, 14, 3) float32 tensor, camera frame (x right, y down, z forward), metres, JTA joint order
    poses2d      (P, 14, 2) float32 tensor, pixels (pinhole, no half-pixel offset)
    visibility   (P, 14) bool tensor: on screen and not hidden behind any surface (people, props or the person itself)
    on_screen    (P, 14) bool tensor: in front of the camera and inside the image
    self_occluded (P, 14) bool tensor: on screen but hidden by the person's own body
    activity     list of P strings, ``height`` (P,) float32 statures in metres, ``index`` the sample index
    centers      (P, 14, 3) float32 tensor of voxel coordinates (d, v, u), only when a ``grid`` is given

Presets (the paper's datasets):

* ``"jta"``: a plaza seen from a surveillance camera 3-15 m high, tilted down 12-45 degrees, 0-70 people on the
  ground up to 100 m away (Euclidean distance of every joint), a few pillars and bollards; native 1080x1920,
  ``fx = fy = 1158 (+-2 %)``.
* ``"panoptic"``: the CMU Panoptic dome (a sphere of radius 2.75 m), 1-8 people within 1.7 m of its centre seen by a
  camera on the dome wall, so every joint has ``Z`` < 7 m; native 1080x1920, ``f = 1400 (+-4 %)``.
* ``"h36m"``: one person in a curtained lab seen from a corner camera 3.5-5.5 m away, every joint's ``Z`` in
  [1.8, 8.1] m; native 1000x1000, ``f = 1146 (+-1 %)``.

Everything is a function of ``(seed, index)`` (``numpy.random.default_rng([seed, index])``), and the scene does not
depend on ``image_size``: a smaller image is the same frame at a lower resolution.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import torch

from loco._checks import check_choice, check_int, check_shape
from loco.data import raster
from loco.data.body import ACTIVITIES, Person, place, sample_person
from loco.geometry import Camera, VoxelGrid
from loco.skeleton import LIMBS, NUM_JOINTS

__all__ = ["PRESETS", "Scene", "SyntheticScenes", "collate", "render", "sample_scene"]

#: Native image size (H, W), focal length in pixels and its relative jitter, principal point jitter (fraction of
#: the size) per preset.
PRESETS: dict[str, dict] = {
    "jta": {"size": (1080, 1920), "f": 1158.0, "f_jitter": 0.02, "c_jitter": 0.005},
    "panoptic": {"size": (1080, 1920), "f": 1400.0, "f_jitter": 0.04, "c_jitter": 0.015},
    "h36m": {"size": (1000, 1000), "f": 1146.0, "f_jitter": 0.01, "c_jitter": 0.01},
}

# Per-joint visibility tolerance, fraction of stature x build: how far in front of a joint its own body surface can
# be (roughly the radius of the body around it), so a joint is not hidden by the flesh it sits in.
_JOINT_TOL = np.array([0.02, 0.09, 0.06, 0.04, 0.04, 0.06, 0.04, 0.04, 0.07, 0.06, 0.045, 0.07, 0.06, 0.045])

_PROP_OWNER = -2


@dataclass
class Scene:
    """A sampled scene, everything needed to render it at any resolution.

    Attributes:
        preset: the preset name.
        camera: intrinsics at the preset's native size.
        native_size: (H, W) of the native image.
        rotation: (3, 3) camera-to-world rotation (columns: camera x, y, z axes in the world, ``z`` up).
        position: (3,) camera centre in the world, metres.
        people: the people, joints in world coordinates.
        props: (K, 7) capsules ``a (3), b (3), radius`` in world coordinates (pillars, bollards).
        prop_colors: (K, 3) albedo of the props (sRGB).
        room: raster.ROOM_* background kind; room_params (32,) its parameters (colours in sRGB).
        light: (3,) unit vector towards the sun, world frame; ambient in [0, 1].
        gain, tint, noise, vignette: tone mapping and sensor noise.
        texture_seed: seed of the procedural textures and noise.
    """

    preset: str
    camera: Camera
    native_size: tuple[int, int]
    rotation: np.ndarray
    position: np.ndarray
    people: list[Person] = field(default_factory=list)
    props: np.ndarray = field(default_factory=lambda: np.zeros((0, 7)))
    prop_colors: np.ndarray = field(default_factory=lambda: np.zeros((0, 3)))
    room: int = raster.ROOM_OUTDOOR
    room_params: np.ndarray = field(default_factory=lambda: np.zeros(32))
    light: np.ndarray = field(default_factory=lambda: np.array([0.0, 0.0, 1.0]))
    ambient: float = 0.5
    gain: float = 1.0
    tint: np.ndarray = field(default_factory=lambda: np.ones(3))
    noise: float = 2.0
    vignette: float = 0.2
    texture_seed: int = 0

    def to_camera(self, points: np.ndarray) -> np.ndarray:
        """World points (..., 3) to the camera frame (x right, y down, z forward)."""
        return (np.asarray(points) - self.position) @ self.rotation

    def poses3d(self) -> np.ndarray:
        """(P, 14, 3) float64 joints in the camera frame, metres."""
        if not self.people:
            return np.zeros((0, NUM_JOINTS, 3))
        return self.to_camera(np.stack([p.joints for p in self.people]))


def _look_rotation(yaw: float, pitch: float, roll: float = 0.0) -> np.ndarray:
    """Camera-to-world rotation of a camera looking along azimuth ``yaw``, tilted down by ``pitch`` radians."""
    f = np.array([math.cos(pitch) * math.cos(yaw), math.cos(pitch) * math.sin(yaw), -math.sin(pitch)])
    r = np.array([math.sin(yaw), -math.cos(yaw), 0.0])
    d = np.cross(f, r)
    c, s = math.cos(roll), math.sin(roll)
    r, d = c * r + s * d, -s * r + c * d
    return np.stack([r, d, f], axis=1)


def _look_at(position: np.ndarray, target: np.ndarray, roll: float = 0.0) -> np.ndarray:
    v = target - position
    yaw = math.atan2(v[1], v[0])
    pitch = math.atan2(-v[2], math.hypot(v[0], v[1]))
    return _look_rotation(yaw, pitch, roll)


def _sample_camera(rng: np.random.Generator, preset: str) -> Camera:
    cfg = PRESETS[preset]
    h, w = cfg["size"]
    f = cfg["f"] * (1.0 + rng.uniform(-1, 1) * cfg["f_jitter"])
    cx = w / 2 + rng.uniform(-1, 1) * cfg["c_jitter"] * w
    cy = h / 2 + rng.uniform(-1, 1) * cfg["c_jitter"] * h
    return Camera(float(f), float(f), float(cx), float(cy))


def _ground_hit(scene: Scene, x: float, y: float) -> np.ndarray | None:
    """World point where the ray through native pixel (x, y) meets the ground, or None."""
    cam = scene.camera
    d = scene.rotation @ np.array([(x - cam.cx) / cam.fx, (y - cam.cy) / cam.fy, 1.0])
    if d[2] >= -1e-6:
        return None
    return scene.position + (-scene.position[2] / d[2]) * d


def _fits(centre: np.ndarray, radius: float, taken: list[tuple[np.ndarray, float]]) -> bool:
    return all(np.hypot(*(centre - c)) >= radius + r for c, r in taken)


def _try_place(
    scene: Scene,
    rng: np.random.Generator,
    taken: list[tuple[np.ndarray, float]],
    position: np.ndarray,
    heading: float,
    check,
    activity: str | None = None,
) -> bool:
    person = place(sample_person(rng, activity), position, heading)
    centre, radius = person.footprint()
    if not _fits(centre, radius, taken):
        return False
    cam_joints = scene.to_camera(person.joints)
    if not check(cam_joints):
        return False
    taken.append((centre, radius))
    scene.people.append(person)
    return True


def _jta_room(rng: np.random.Generator) -> np.ndarray:
    p = np.zeros(32)
    palettes = [
        ([0.42, 0.42, 0.42], [0.25, 0.25, 0.25]),  # concrete slabs
        ([0.30, 0.30, 0.31], [0.18, 0.18, 0.18]),  # dark paving
        ([0.55, 0.50, 0.42], [0.35, 0.32, 0.28]),  # sandstone
        ([0.50, 0.30, 0.24], [0.40, 0.36, 0.32]),  # bricks
        ([0.22, 0.22, 0.23], [0.50, 0.50, 0.48]),  # asphalt with markings
    ]
    floor, joint = palettes[rng.integers(len(palettes))]
    p[0] = rng.uniform(0.4, 1.6)
    p[1] = rng.uniform(0.01, 0.035)
    p[2] = rng.uniform(0.05, 0.25)
    p[3:6] = np.array(floor) * rng.uniform(0.8, 1.2)
    p[6:9] = joint
    p[12] = rng.uniform(300, 900)
    p[13:16] = np.array([0.70, 0.74, 0.78]) * rng.uniform(0.8, 1.1)
    p[16] = rng.uniform(4, 12)
    p[17:20] = np.array([0.35, 0.55, 0.85]) * rng.uniform(0.8, 1.1)
    p[20:23] = np.array([0.55, 0.52, 0.50]) * rng.uniform(0.7, 1.2)
    return p


def _sample_jta(rng: np.random.Generator, scene: Scene, n_people: int | None) -> None:
    h_cam = rng.uniform(3.0, 15.0)
    scene.position = np.array([0.0, 0.0, h_cam])
    scene.rotation = _look_rotation(rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(12, 45)), rng.normal(0, 0.02))
    scene.room = raster.ROOM_OUTDOOR
    scene.room_params = _jta_room(rng)
    h, w = scene.native_size
    taken: list[tuple[np.ndarray, float]] = []
    # props: pillars and bollards, drawn as capsules
    props, colors = [], []
    for _ in range(rng.integers(0, 7)):
        hit = _ground_hit(scene, rng.uniform(0, w), rng.uniform(0.2 * h, h))
        if hit is None or np.linalg.norm(hit - scene.position) > 60:
            continue
        if rng.random() < 0.5:
            r, top = rng.uniform(0.25, 0.7), rng.uniform(3.0, 8.0)
        else:
            r, top = rng.uniform(0.08, 0.15), rng.uniform(0.6, 1.1)
        if not _fits(hit[:2], r + 0.1, taken):
            continue
        taken.append((hit[:2], r + 0.1))
        props.append([hit[0], hit[1], max(top - r, 0.0), hit[0], hit[1], 0.0, r])
        colors.append(np.array([0.55, 0.54, 0.52]) * rng.uniform(0.6, 1.2))
    scene.props = np.array(props, dtype=np.float64).reshape(-1, 7)
    scene.prop_colors = np.array(colors, dtype=np.float64).reshape(-1, 3)

    def check(cam_joints: np.ndarray) -> bool:
        return bool(np.all(np.linalg.norm(cam_joints, axis=-1) <= 100.0) and np.all(cam_joints[:, 2] > 0.5))

    if n_people is None:
        n_people = 0 if rng.random() < 0.04 else int(rng.integers(1, 71))
    main_dirs = rng.uniform(0, 2 * np.pi, 2)
    for _ in range(n_people):
        for _attempt in range(20):
            if scene.people and rng.random() < 0.3:
                # a small group: next to someone, facing about the same way
                mate = scene.people[rng.integers(len(scene.people))]
                ang = rng.uniform(0, 2 * np.pi)
                pos = mate.position + rng.uniform(0.6, 2.0) * np.array([np.cos(ang), np.sin(ang)])
                heading = mate.heading + rng.normal(0, 0.3)
            else:
                hit = _ground_hit(scene, rng.uniform(-0.05 * w, 1.05 * w), rng.uniform(0.0, 1.15 * h))
                if hit is None:
                    continue
                pos = hit[:2]
                heading = main_dirs[rng.integers(2)] + (np.pi if rng.random() < 0.5 else 0.0) + rng.normal(0, 0.3)
                if rng.random() < 0.3:
                    heading = rng.uniform(0, 2 * np.pi)
            if _try_place(scene, rng, taken, pos, heading, check):
                break


def _sample_panoptic(rng: np.random.Generator, scene: Scene, n_people: int | None) -> None:
    radius, centre_h = 2.75, 1.4
    az, el = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(-20, 35))
    pos = np.array([2.6 * np.cos(el) * np.cos(az), 2.6 * np.cos(el) * np.sin(az), centre_h + 2.6 * np.sin(el)])
    target = np.array([rng.normal(0, 0.3), rng.normal(0, 0.3), rng.uniform(0.7, 1.1)])
    scene.position = pos
    scene.rotation = _look_at(pos, target, rng.normal(0, 0.01))
    scene.room = raster.ROOM_DOME
    p = np.zeros(32)
    p[0], p[1], p[2] = rng.uniform(0.5, 1.2), 0.006, rng.uniform(0.02, 0.06)
    p[3:6] = np.array([0.62, 0.62, 0.60]) * rng.uniform(0.8, 1.1)
    p[6:9] = [0.45, 0.45, 0.45]
    p[9], p[10] = radius, centre_h
    p[12] = 1e9
    p[20:23] = np.array([0.80, 0.80, 0.78]) * rng.uniform(0.85, 1.05)
    scene.room_params = p
    taken: list[tuple[np.ndarray, float]] = []

    def check(cam_joints: np.ndarray) -> bool:
        return bool(np.all(cam_joints[:, 2] > 0.3) and np.all(cam_joints[:, 2] < 7.0))

    n_people = int(rng.integers(1, 9)) if n_people is None else n_people
    for _ in range(n_people):
        for _attempt in range(30):
            r, a = 1.7 * math.sqrt(rng.random()), rng.uniform(0, 2 * np.pi)
            spot = np.array([r * np.cos(a), r * np.sin(a)])
            # people in the dome mostly face its centre or the camera
            heading = math.atan2(-spot[1], -spot[0]) + rng.normal(0, 1.2)
            if _try_place(scene, rng, taken, spot, heading, check):
                break


def _sample_h36m(rng: np.random.Generator, scene: Scene, n_people: int | None) -> None:
    spot = rng.normal(0, 0.4, 2)
    az = rng.choice([0.25, 0.75, 1.25, 1.75]) * np.pi + rng.normal(0, 0.15)
    dist = rng.uniform(3.5, 5.5)
    pos = np.array([spot[0] + dist * np.cos(az), spot[1] + dist * np.sin(az), rng.uniform(1.2, 1.9)])
    pos[:2] = np.clip(pos[:2], [-4.3, -3.8], [4.3, 3.8])
    target = np.array([spot[0], spot[1], rng.uniform(0.8, 1.1)])
    scene.position = pos
    scene.rotation = _look_at(pos, target, rng.normal(0, 0.01))
    scene.room = raster.ROOM_LAB
    p = np.zeros(32)
    p[0], p[1], p[2] = rng.uniform(1.0, 2.0), 0.02, rng.uniform(0.03, 0.08)
    p[3:6] = np.array([0.40, 0.40, 0.42]) * rng.uniform(0.8, 1.2)
    p[6:9] = [0.6, 0.6, 0.6]
    p[9], p[10], p[11] = 4.6, 4.0, 3.6
    p[12] = 1e9
    p[20:23] = np.array([0.22, 0.22, 0.24]) * rng.uniform(0.7, 1.3)
    scene.room_params = p

    def check(cam_joints: np.ndarray) -> bool:
        return bool(np.all(cam_joints[:, 2] > 1.8) and np.all(cam_joints[:, 2] < 8.1))

    n_people = 1 if n_people is None else n_people
    for _ in range(n_people):
        for _attempt in range(30):
            heading = rng.uniform(0, 2 * np.pi)
            if _try_place(scene, rng, [], spot + rng.normal(0, 0.05, 2), heading, check):
                break


_SAMPLERS = {"jta": _sample_jta, "panoptic": _sample_panoptic, "h36m": _sample_h36m}


def sample_scene(preset: str, rng: np.random.Generator, n_people: int | None = None) -> Scene:
    """Sample a scene of a preset (camera, people, props, room, lighting).

    Args:
        preset: ``"jta"``, ``"panoptic"`` or ``"h36m"``.
        rng: the random generator.
        n_people: how many people to try to place (the preset's distribution when ``None``); fewer may fit.

    Returns:
        the :class:`Scene`.
    """
    preset = check_choice("preset", preset, tuple(sorted(PRESETS)))
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"rng must be a numpy Generator (np.random.default_rng(seed)), got {type(rng).__name__}")
    if n_people is not None:
        n_people = check_int("n_people", n_people, 0)
    scene = Scene(
        preset=preset,
        camera=_sample_camera(rng, preset),
        native_size=PRESETS[preset]["size"],
        rotation=np.eye(3),
        position=np.zeros(3),
    )
    _SAMPLERS[preset](rng, scene, n_people)
    sun_az, sun_el = rng.uniform(0, 2 * np.pi), np.radians(rng.uniform(25, 75))
    scene.light = np.array([np.cos(sun_el) * np.cos(sun_az), np.cos(sun_el) * np.sin(sun_az), np.sin(sun_el)])
    scene.ambient = float(rng.uniform(0.35, 0.6))
    scene.gain = float(rng.uniform(0.85, 1.25))
    scene.tint = np.clip(rng.normal(1.0, 0.04, 3), 0.88, 1.12)
    scene.noise = float(rng.uniform(1.0, 5.0))
    scene.vignette = float(rng.uniform(0.0, 0.4))
    scene.texture_seed = int(rng.integers(0, 2**20))
    return scene


def _capsule(a, b, r) -> np.ndarray:
    q = np.zeros(16)
    q[0:3], q[3:6], q[6] = a, b, r
    return q


def _person_primitives(person: Person) -> tuple[list[int], list[np.ndarray], list[np.ndarray]]:
    """World-frame primitives of one person: kinds, (16,) parameters, (6,) sRGB colours."""
    j = person.joints
    hgt, b = person.height, person.build
    c = person.colors
    skin, hair, shirt, trousers, shoes = c["skin"], c["hair"], c["shirt"], c["trousers"], c["shoes"]
    kinds, params, cols = [], [], []

    def cap(a, bb, r, col):
        kinds.append(raster.KIND_CAPSULE)
        params.append(_capsule(a, bb, r))
        cols.append(np.concatenate([col, col]))

    neck, pelvis = j[1], 0.5 * (j[8] + j[11])
    spine = (neck - pelvis) / (np.linalg.norm(neck - pelvis) + 1e-9)
    lat_chest = (j[2] - j[5]) / (np.linalg.norm(j[2] - j[5]) + 1e-9)
    lat_pelvis = (j[8] - j[11]) / (np.linalg.norm(j[8] - j[11]) + 1e-9)
    # torso: one ellipsoid from just below the neck to just above the hips
    top, bottom = neck - 0.06 * hgt * spine, pelvis + 0.04 * hgt * spine
    left = -(lat_chest + lat_pelvis)
    left -= spine * (left @ spine)
    left /= np.linalg.norm(left) + 1e-9
    q = np.zeros(16)
    q[0:3] = 0.5 * (top + bottom)
    q[3:12] = np.stack([np.cross(left, spine), left, spine], axis=1).reshape(-1)
    q[12:15] = (0.062 * hgt * b, 0.098 * hgt * b, 0.5 * np.linalg.norm(top - bottom) + 0.045 * hgt)
    kinds.append(raster.KIND_ELLIPSOID)
    params.append(q)
    cols.append(np.concatenate([shirt, shirt]))
    cap(j[2], j[5], 0.034 * hgt * b, shirt)
    cap(j[8], j[11], 0.056 * hgt * b, trousers)
    # head: an ellipsoid from the vertex down to about the chin, axes from the head's own frame
    head_len = np.linalg.norm(j[0] - neck)
    axes = person.head_axes
    centre = j[0] - 0.46 * head_len * axes[:, 2]
    cap(neck, centre, 0.026 * hgt, skin)
    q = np.zeros(16)
    q[0:3] = centre
    q[3:12] = axes.reshape(-1)
    q[12:15] = (0.41 * head_len, 0.33 * head_len, 0.46 * head_len)
    kinds.append(raster.KIND_ELLIPSOID)
    params.append(q)
    cols.append(np.concatenate([skin, hair]))
    for sh, el, wr in ((2, 3, 4), (5, 6, 7)):
        cap(j[sh], j[el], 0.028 * hgt * b, shirt)
        cap(j[el], j[wr], 0.021 * hgt * math.sqrt(b), shirt if person.long_sleeves else skin)
        fore = (j[wr] - j[el]) / (np.linalg.norm(j[wr] - j[el]) + 1e-9)
        hand = j[wr] + 0.035 * hgt * fore
        cap(hand, hand, 0.024 * hgt, skin)
    for k, (hip, knee, ankle) in enumerate(((8, 9, 10), (11, 12, 13))):
        cap(j[hip], j[knee], 0.046 * hgt * b, trousers)
        cap(j[knee], j[ankle], 0.032 * hgt * math.sqrt(b), trousers if person.long_trousers else skin)
        toe = person.toes[k]
        foot = (toe - j[ankle]) / (np.linalg.norm(toe - j[ankle]) + 1e-9)
        cap(j[ankle] - 0.02 * hgt * foot, toe, 0.02 * hgt, shoes)
    return kinds, params, cols


def _linear(c: np.ndarray) -> np.ndarray:
    return np.clip(c, 0.0, 1.0) ** 2.2


def render(scene: Scene, image_size: tuple[int, int] | None = None) -> dict[str, np.ndarray]:
    """Draw a scene and compute per-joint visibility from the drawing.

    Args:
        scene: the scene.
        image_size: (H, W) in pixels; the preset's native size when ``None``.

    Returns:
        dict of numpy arrays: ``image`` (3, H, W) uint8, ``depth`` (H, W) float32 camera ``Z`` of people and props
        (``inf`` elsewhere), ``owner`` (H, W) int32 person index (-2 props, -1 background), ``poses3d``
        (P, 14, 3) float64, ``poses2d`` (P, 14, 2) float64, ``visibility``, ``on_screen``, ``self_occluded``
        (P, 14) bool, and ``camera`` (the intrinsics at ``image_size``).
    """
    nh, nw = scene.native_size
    h, w = (nh, nw) if image_size is None else _check_size(image_size)
    camera = scene.camera.scaled(w / nw, h / nh)
    fx, fy, cx, cy = camera.fx, camera.fy, camera.cx, camera.cy
    rot, pos = np.ascontiguousarray(scene.rotation), np.ascontiguousarray(scene.position)
    room = scene.room_params.copy()
    for sl in (slice(3, 6), slice(6, 9), slice(13, 16), slice(17, 20), slice(20, 23)):
        room[sl] = _linear(room[sl])
    color = np.empty((h, w, 3), dtype=np.float32)
    raster.draw_background(
        color, scene.room, rot, pos, fx, fy, cx, cy, room, scene.texture_seed, scene.light, scene.ambient
    )

    # soft contact shadows, pushed a little away from the sun
    away = -scene.light[:2] / (np.linalg.norm(scene.light[:2]) + 1e-9) * 0.12
    blobs = [[*(p.footprint()[0] + away * p.height / 1.7), 0.35 * p.height + 0.1, 0.45] for p in scene.people]
    blobs += [[*p.joints[a, :2], 0.09 * p.height, 0.5] for p in scene.people for a in (10, 13)]
    blobs += [[pr[0], pr[1], pr[6] * 1.6 + 0.1, 0.5] for pr in scene.props]
    if blobs:
        raster.draw_shadows(color, rot, pos, fx, fy, cx, cy, np.array(blobs, dtype=np.float64))

    kinds, params, cols, owners = [], [], [], []
    for i, person in enumerate(scene.people):
        k, p, c = _person_primitives(person)
        kinds += k
        params += p
        cols += c
        owners += [i] * len(k)
    for person in scene.people:
        if person.activity == "sitting":
            # a stool under the sitter, so nobody sits on air
            hip = 0.5 * (person.joints[8] + person.joints[11])
            top = hip[2] - 0.05 * person.height * person.build - 0.18
            if top > 0.05:
                kinds.append(raster.KIND_CAPSULE)
                params.append(_capsule([hip[0], hip[1], top], [hip[0], hip[1], 0.0], 0.18))
                cols.append(np.array([0.45, 0.33, 0.22, 0.45, 0.33, 0.22]))
                owners.append(_PROP_OWNER)
    for pr, pc in zip(scene.props, scene.prop_colors):
        kinds.append(raster.KIND_CAPSULE)
        params.append(_capsule(pr[0:3], pr[3:6], pr[6]))
        cols.append(np.concatenate([pc, pc]))
        owners.append(_PROP_OWNER)
    depth = np.full((h, w), np.inf, dtype=np.float32)
    owner = np.full((h, w), -1, dtype=np.int32)
    if kinds:
        q = np.array(params, dtype=np.float64)
        # to the camera frame: points by (x - C) R, ellipsoid axes by R^T A
        q[:, 0:3] = (q[:, 0:3] - pos) @ rot
        cap = np.array(kinds) == raster.KIND_CAPSULE
        q[cap, 3:6] = (q[cap, 3:6] - pos) @ rot
        ell = ~cap
        if ell.any():
            axes = q[ell, 3:12].reshape(-1, 3, 3)
            q[ell, 3:12] = np.einsum("ji,njk->nik", rot, axes).reshape(-1, 9)
        sky = _linear(scene.room_params[17:20] if scene.room == raster.ROOM_OUTDOOR else scene.room_params[20:23])
        raster.draw_primitives(
            color,
            depth,
            owner,
            np.array(kinds, dtype=np.int32),
            q,
            _linear(np.array(cols, dtype=np.float64)).astype(np.float32),
            np.array(owners, dtype=np.int32),
            fx,
            fy,
            cx,
            cy,
            scene.light @ rot,
            scene.ambient,
            sky,
        )
    image = np.empty((3, h, w), dtype=np.uint8)
    raster.finish(color, image, scene.gain, scene.tint, scene.noise, scene.texture_seed, scene.vignette)

    poses3d = scene.poses3d()
    vis = _visibility(scene, poses3d, camera, depth, owner)
    return {"image": image, "depth": depth, "owner": owner, "poses3d": poses3d, "camera": camera, **vis}


def _visibility(scene: Scene, poses3d: np.ndarray, camera: Camera, depth: np.ndarray, owner: np.ndarray) -> dict:
    h, w = depth.shape
    p = poses3d.shape[0]
    z = poses3d[..., 2]
    with np.errstate(divide="ignore", invalid="ignore"):
        u = camera.fx * poses3d[..., 0] / z + camera.cx
        v = camera.fy * poses3d[..., 1] / z + camera.cy
    poses2d = np.stack([u, v], axis=-1)
    # pixel i covers [i - 0.5, i + 0.5): integer coordinates are pixel centres
    on_screen = (z > 0) & (u >= -0.5) & (u < w - 0.5) & (v >= -0.5) & (v < h - 0.5)
    ui = np.clip(np.rint(np.nan_to_num(u)), 0, w - 1).astype(np.int64)
    vi = np.clip(np.rint(np.nan_to_num(v)), 0, h - 1).astype(np.int64)
    if p:
        scale = np.array([pp.height * pp.build for pp in scene.people])[:, None]
        tol = _JOINT_TOL[None, :] * scale + 0.02
        hidden = depth[vi, ui] < z - tol
        by_self = owner[vi, ui] == np.arange(p)[:, None]
    else:
        hidden = by_self = np.zeros((0, NUM_JOINTS), dtype=bool)
    return {
        "poses2d": poses2d,
        "on_screen": on_screen,
        "visibility": on_screen & ~hidden,
        "self_occluded": on_screen & hidden & by_self,
    }


def _check_size(image_size) -> tuple[int, int]:
    h, w = check_shape("image_size", image_size, 8)
    if h > 8192 or w > 8192:
        raise ValueError(f"image_size must be within [8, 8192] pixels per side, got {(h, w)}")
    return h, w


class SyntheticScenes(torch.utils.data.Dataset):
    """Synthetic frames of a preset world, deterministic by ``(seed, index)``.

    Args:
        preset: ``"jta"``, ``"panoptic"`` or ``"h36m"`` (see the module docstring).
        image_size: (H, W) of the rendered images; the native intrinsics are scaled to it.
        seed: the dataset seed.
        length: the number of samples (``len``); any index in ``[-length, length)`` is valid.
        grid: ``None``, a :class:`~loco.geometry.VoxelGrid`, or ``"auto"`` for the preset's grid at ``image_size``
            (:meth:`VoxelGrid.for_image`); when given, samples carry ``centers`` (P, 14, 3) float32 voxel
            coordinates ``(d, v, u)`` of the joints (round them for the voxel centres).
        n_people: fixed number of people to try to place, or ``None`` for the preset's distribution.

    A sample is the dict described in :mod:`loco.data.synthetic`.
    """

    def __init__(
        self,
        preset: str = "jta",
        image_size: tuple[int, int] = (1080, 1920),
        seed: int = 0,
        length: int = 10_000,
        grid: VoxelGrid | str | None = None,
        n_people: int | None = None,
    ) -> None:
        preset = check_choice("preset", preset, tuple(sorted(PRESETS)))
        self.image_size = _check_size(image_size)
        seed, length = check_int("seed", seed, 0), check_int("length", length, 1)
        if n_people is not None:
            n_people = check_int("n_people", n_people, 0)
        if isinstance(grid, str):
            if grid != "auto":
                raise ValueError(f"grid must be a VoxelGrid, 'auto' or None, got {grid!r}")
            grid = VoxelGrid.for_image(*self.image_size, preset=preset)
        elif grid is not None and not isinstance(grid, VoxelGrid):
            raise TypeError(f"grid must be a VoxelGrid, 'auto' or None, got {type(grid).__name__}")
        self.preset, self.seed, self.length, self.grid, self.n_people = preset, int(seed), int(length), grid, n_people

    def __len__(self) -> int:
        return self.length

    def _index(self, index) -> int:
        if isinstance(index, bool) or not isinstance(index, (int, np.integer)):
            raise TypeError(f"index must be an int, got {type(index).__name__}")
        if not -self.length <= index < self.length:
            raise IndexError(f"index {index} out of range for SyntheticScenes of length {self.length}")
        return int(index) % self.length

    def scene(self, index: int) -> Scene:
        """The :class:`Scene` of sample ``index``, without rendering it (cheap: poses only)."""
        i = self._index(index)
        return sample_scene(self.preset, np.random.default_rng([self.seed, i]), self.n_people)

    def __getitem__(self, index: int) -> dict:
        i = self._index(index)
        scene = self.scene(i)
        out = render(scene, self.image_size)
        sample = {
            "image": torch.from_numpy(out["image"]),
            "camera": out["camera"],
            "poses3d": torch.from_numpy(out["poses3d"].astype(np.float32)),
            "poses2d": torch.from_numpy(out["poses2d"].astype(np.float32)),
            "visibility": torch.from_numpy(out["visibility"]),
            "on_screen": torch.from_numpy(out["on_screen"]),
            "self_occluded": torch.from_numpy(out["self_occluded"]),
            "activity": [p.activity for p in scene.people],
            "height": torch.tensor([p.height for p in scene.people], dtype=torch.float32),
            "index": i,
        }
        if self.grid is not None:
            from loco.geometry import project

            sample["centers"] = project(sample["poses3d"], self.grid, out["camera"])
        return sample

    def __repr__(self) -> str:
        return (
            f"SyntheticScenes(preset={self.preset!r}, image_size={self.image_size}, seed={self.seed}, "
            f"length={self.length})"
        )


def collate(batch: list[dict]) -> dict:
    """Collate samples for a DataLoader: images stacked to (B, 3, H, W); per-person fields kept as lists.

    Args:
        batch: samples of :class:`SyntheticScenes` (all of one image size).

    Returns:
        dict with ``image`` (B, 3, H, W) uint8 and, for every other key, the list of the samples' values.
    """
    if not batch:
        raise ValueError("batch must not be empty")
    out = {"image": torch.stack([b["image"] for b in batch])}
    for key in batch[0]:
        if key != "image":
            out[key] = [b[key] for b in batch]
    return out


def limb_lengths(poses3d: np.ndarray) -> np.ndarray:
    """(P, 14, 3) joints -> (P, 14) lengths of the limbs of :data:`loco.skeleton.LIMBS`, metres."""
    a = np.asarray(poses3d)
    return np.stack([np.linalg.norm(a[:, i] - a[:, j], axis=-1) for i, j in LIMBS], axis=1)


__all__ += ["limb_lengths", "ACTIVITIES"]
