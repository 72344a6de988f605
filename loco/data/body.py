"""A kinematic 14-joint human body (JTA joint order) with anthropometric proportions, joint limits and activities.

World frame used here and by :mod:`loco.data.synthetic`: metres, ``z`` up, the ground is ``z = 0``. A person is built
in a local frame (``x`` forward, ``y`` left, ``z`` up) and then turned by its heading and moved to its place.

Proportions are fractions of the stature ``H`` after Drillis & Contini / Winter ("Biomechanics and Motor Control of
Human Movement", 2009, Fig. 4.1): upper arm 0.186 H, forearm (elbow to wrist) 0.146 H, thigh 0.245 H, shank 0.246 H,
ankle height 0.039 H, hip joint centres 0.095 H apart; the 14-joint skeleton's head_top is the vertex and its neck
sits at chin level (0.870 H), as in JTA. Children (below 1.55 m) get a larger head and shorter legs and arms, linear
in height down to a 40 % larger head fraction, 12 % shorter legs and 8 % shorter arms at 1.0 m. Every segment of
a person is scaled by its own log-normal factor (3 % s.d., left and right alike), then the vertical chain is
renormalised to the stature.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from loco._checks import check_choice

__all__ = [
    "ACTIVITIES",
    "ANTHROPOMETRY",
    "Person",
    "limb_length_table",
    "pose_joints",
    "sample_height",
    "sample_person",
    "segment_lengths",
]

ACTIVITIES: tuple[str, ...] = ("standing", "walking", "running", "sitting", "waving", "bending")

#: Segment lengths of an adult as fractions of stature (see the module docstring).
ANTHROPOMETRY: dict[str, float] = {
    "head": 0.130,  # head_top -> neck (vertex to chin level)
    "trunk": 0.340,  # neck -> pelvis centre, along the spine
    "shoulder_lateral": 0.100,  # neck -> shoulder joint, sideways
    "shoulder_drop": 0.045,  # neck -> shoulder joint, downwards along the spine
    "upper_arm": 0.186,
    "forearm": 0.146,
    "hip_half": 0.0475,  # pelvis centre -> hip joint centre
    "thigh": 0.245,
    "shank": 0.246,
    "ankle": 0.039,  # ankle height above the ground when standing
    "foot": 0.130,  # ankle -> toe, only drawn
}

_VERTICAL = ("head", "trunk", "thigh", "shank", "ankle")

# Joint limits in degrees, (min, max): clipped after sampling.
_LIMITS: dict[str, tuple[float, float]] = {
    "trunk_flex": (-20.0, 95.0),
    "trunk_lean": (-25.0, 25.0),
    "trunk_twist": (-40.0, 40.0),
    "neck_flex": (-40.0, 60.0),
    "neck_yaw": (-70.0, 70.0),
    "shoulder_flex": (-50.0, 180.0),
    "shoulder_abd": (0.0, 170.0),
    "shoulder_rot": (-80.0, 90.0),
    "elbow": (0.0, 150.0),
    "hip_flex": (-30.0, 120.0),
    "hip_abd": (-10.0, 45.0),
    "knee": (0.0, 150.0),
}


@dataclass
class Person:
    """One sampled person: body, pose and appearance.

    Attributes:
        height: stature in metres.
        lengths: segment lengths in metres, keys of :data:`ANTHROPOMETRY`.
        build: girth factor for the drawn body (0.85 slim .. 1.3 heavy).
        activity: one of :data:`ACTIVITIES`.
        angles: joint angles in degrees (keys like ``"r_elbow"``), within the joint limits.
        heading: radians, direction the person faces in the world ``xy`` plane.
        position: (2,) ground position of the pelvis centre projection, metres.
        joints: (14, 3) float64 world coordinates, JTA order.
        toes: (2, 3) float64 world coordinates of the right and left toe tips (drawing only).
        head_axes: (3, 3) float64, columns: the head's forward, left and up unit vectors in the world.
        colors: RGB floats in [0, 1]: ``skin``, ``hair``, ``shirt``, ``trousers``, ``shoes``.
        long_sleeves, long_trousers: which segments are clothed.
    """

    height: float
    lengths: dict[str, float]
    build: float
    activity: str
    angles: dict[str, float]
    heading: float = 0.0
    position: np.ndarray = field(default_factory=lambda: np.zeros(2))
    joints: np.ndarray = field(default_factory=lambda: np.zeros((14, 3)))
    toes: np.ndarray = field(default_factory=lambda: np.zeros((2, 3)))
    head_axes: np.ndarray = field(default_factory=lambda: np.eye(3))
    colors: dict[str, np.ndarray] = field(default_factory=dict)
    long_sleeves: bool = True
    long_trousers: bool = True

    def footprint(self) -> tuple[np.ndarray, float]:
        """Centre (2,) and radius (metres) of a ground disc holding the whole drawn body."""
        pts = np.concatenate([self.joints, self.toes])[:, :2]
        centre = 0.5 * (pts.min(0) + pts.max(0))
        radius = float(np.max(np.linalg.norm(pts - centre, axis=1))) + 0.07 * self.height * self.build
        return centre, radius


def _child_factor(height: float) -> float:
    return float(np.clip((1.55 - height) / 0.55, 0.0, 1.0))


def segment_lengths(height: float, rng: np.random.Generator | None = None) -> dict[str, float]:
    """Segment lengths in metres for a person of ``height`` metres.

    Args:
        height: stature in metres, in [0.8, 2.3].
        rng: adds the per-person variation (3 % log-normal per segment) when given; the table values otherwise.

    Returns:
        dict with the keys of :data:`ANTHROPOMETRY`; the vertical chain (head, trunk, thigh, shank, ankle) sums
        to ``height``.
    """
    if not 0.8 <= height <= 2.3:
        raise ValueError(f"height must be in [0.8, 2.3] metres, got {height}")
    c = _child_factor(height)
    frac = dict(ANTHROPOMETRY)
    frac["head"] *= 1.0 + 0.4 * c
    for key in ("thigh", "shank"):
        frac[key] *= 1.0 - 0.12 * c
    for key in ("upper_arm", "forearm"):
        frac[key] *= 1.0 - 0.08 * c
    if rng is not None:
        # left and right share one factor per segment, so a person is symmetric
        for key in frac:
            frac[key] *= float(np.exp(rng.normal(0.0, 0.03)))
    vertical = sum(frac[k] for k in _VERTICAL)
    for key in _VERTICAL:
        frac[key] /= vertical
    return {k: v * height for k, v in frac.items()}


def limb_length_table(height: float) -> np.ndarray:
    """Expected length in metres of each limb of :data:`loco.skeleton.LIMBS` standing upright, at ``height``.

    Returns:
        (14,) float64, in the order of ``LIMBS``.
    """
    s = segment_lengths(height)
    neck_shoulder = np.hypot(s["shoulder_lateral"], s["shoulder_drop"])
    neck_hip = np.hypot(s["trunk"], s["hip_half"])
    return np.array(
        [
            s["head"],
            neck_shoulder,
            s["upper_arm"],
            s["forearm"],
            neck_shoulder,
            s["upper_arm"],
            s["forearm"],
            neck_hip,
            s["thigh"],
            s["shank"],
            neck_hip,
            s["thigh"],
            s["shank"],
            2 * s["hip_half"],
        ]
    )


def sample_height(rng: np.random.Generator) -> float:
    """A stature in metres: 15 % children (1.0-1.55 m), otherwise adult women N(1.63, 0.07) or men N(1.76, 0.07)."""
    r = rng.random()
    if r < 0.15:
        h = rng.uniform(1.0, 1.55)
    elif r < 0.575:
        h = rng.normal(1.63, 0.07)
    else:
        h = rng.normal(1.76, 0.07)
    return float(np.clip(h, 0.95, 2.1))


def _rx(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[1.0, 0.0, 0.0], [0.0, c, -s], [0.0, s, c]])


def _ry(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, 0.0, s], [0.0, 1.0, 0.0], [-s, 0.0, c]])


def _rz(a: float) -> np.ndarray:
    c, s = np.cos(a), np.sin(a)
    return np.array([[c, -s, 0.0], [s, c, 0.0], [0.0, 0.0, 1.0]])


def _sample_angles(activity: str, rng: np.random.Generator) -> dict[str, float]:
    """Joint angles in degrees for an activity (before clipping to the joint limits)."""
    n = rng.normal
    u = rng.uniform
    a = {
        "trunk_flex": n(3, 4),
        "trunk_lean": n(0, 3),
        "trunk_twist": n(0, 6),
        "neck_flex": n(5, 10),
        "neck_yaw": n(0, 20),
        "pelvis_twist": n(0, 4),
    }
    for side in ("r", "l"):
        a[f"{side}_shoulder_flex"] = n(0, 8)
        a[f"{side}_shoulder_abd"] = abs(n(8, 4))
        a[f"{side}_shoulder_rot"] = n(0, 10)
        a[f"{side}_elbow"] = abs(n(12, 8))
        a[f"{side}_hip_flex"] = n(0, 4)
        a[f"{side}_hip_abd"] = abs(n(4, 2))
        a[f"{side}_knee"] = abs(n(3, 3))
    if activity in ("walking", "running"):
        run = activity == "running"
        phase = u(0, 2 * np.pi)
        hip_amp = u(35, 50) if run else u(18, 28)
        knee_amp = u(70, 110) if run else u(25, 50)
        arm_amp = u(30, 50) if run else u(12, 28)
        for side, ph in (("r", phase), ("l", phase + np.pi)):
            swing = np.sin(ph)
            a[f"{side}_hip_flex"] = hip_amp * swing + (10 if run else 3)
            # knee bends most while the leg swings forward
            a[f"{side}_knee"] = 5 + knee_amp * max(0.0, np.sin(ph + 0.9)) ** 2 + (15 if run else 0)
            a[f"{side}_shoulder_flex"] = -arm_amp * swing + (10 if run else 0)
            a[f"{side}_elbow"] = u(75, 100) if run else u(10, 35)
        a["trunk_flex"] = u(8, 18) if run else n(4, 3)
        a["trunk_twist"] = 6 * np.sin(phase) + n(0, 2)
    elif activity == "sitting":
        a["trunk_flex"] = n(0, 8)
        for side in ("r", "l"):
            a[f"{side}_hip_flex"] = u(80, 100)
            a[f"{side}_hip_abd"] = u(2, 15)
            a[f"{side}_knee"] = a[f"{side}_hip_flex"] + n(0, 10)
            a[f"{side}_shoulder_flex"] = u(10, 40)
            a[f"{side}_elbow"] = u(40, 90)
    elif activity == "waving":
        side = "r" if rng.random() < 0.7 else "l"
        a[f"{side}_shoulder_abd"] = u(70, 130)
        a[f"{side}_shoulder_flex"] = u(0, 40)
        a[f"{side}_shoulder_rot"] = u(60, 90)
        a[f"{side}_elbow"] = u(30, 100)
    elif activity == "bending":
        bend = u(35, 90)
        a["trunk_flex"] = bend
        a["neck_flex"] = n(-15, 10)
        for side in ("r", "l"):
            # arms hang towards the ground: flexion relative to the trunk follows the bend
            a[f"{side}_shoulder_flex"] = bend + n(0, 12)
            a[f"{side}_elbow"] = abs(n(15, 10))
            a[f"{side}_knee"] = u(0, 35)
            a[f"{side}_hip_flex"] = a[f"{side}_knee"] * 0.4
    for key in list(a):
        base = key[2:] if key[:2] in ("r_", "l_") else key
        if base in _LIMITS:
            lo, hi = _LIMITS[base]
            a[key] = float(np.clip(a[key], lo, hi))
        else:
            a[key] = float(a[key])
    return a


def pose_joints(lengths: dict[str, float], angles: dict[str, float]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Forward kinematics in the person's local frame (``x`` forward, ``y`` left, ``z`` up), feet on ``z = 0``.

    Args:
        lengths: segment lengths in metres (see :func:`segment_lengths`).
        angles: joint angles in degrees (see :func:`sample_person`).

    Returns:
        joints (14, 3) float64 in JTA order, toes (2, 3) float64 (right, left), and the head's axes (3, 3)
        (columns forward, left, up).
    """
    d = {k: np.radians(v) for k, v in angles.items()}
    s = lengths
    torso = _ry(d["trunk_flex"]) @ _rx(d["trunk_lean"]) @ _rz(d["trunk_twist"])
    spine = torso[:, 2]
    pelvis = np.zeros(3)
    neck = pelvis + s["trunk"] * spine
    head = torso @ _ry(d["neck_flex"]) @ _rz(d["neck_yaw"])
    head_top = neck + s["head"] * head[:, 2]
    joints = np.zeros((14, 3))
    joints[0], joints[1] = head_top, neck
    pelvis_rot = _rz(d["pelvis_twist"])
    toes = np.zeros((2, 3))
    down = np.array([0.0, 0.0, -1.0])
    fwd = np.array([1.0, 0.0, 0.0])
    for k, (side, sign) in enumerate((("r", -1.0), ("l", 1.0))):
        shoulder = neck + torso @ np.array([0.0, sign * s["shoulder_lateral"], -s["shoulder_drop"]])
        # external humeral rotation turns the forearm up when the arm is abducted (waving)
        arm = torso @ _rx(sign * d[f"{side}_shoulder_abd"]) @ _ry(-d[f"{side}_shoulder_flex"])
        arm = arm @ _rz(sign * d[f"{side}_shoulder_rot"])
        upper, ant = arm @ down, arm @ fwd
        elbow = shoulder + s["upper_arm"] * upper
        e = d[f"{side}_elbow"]
        wrist = elbow + s["forearm"] * (np.cos(e) * upper + np.sin(e) * ant)
        hip = pelvis + pelvis_rot @ np.array([0.0, sign * s["hip_half"], 0.0])
        leg = pelvis_rot @ _rx(sign * d[f"{side}_hip_abd"]) @ _ry(-d[f"{side}_hip_flex"])
        thigh, lant = leg @ down, leg @ fwd
        knee = hip + s["thigh"] * thigh
        kn = d[f"{side}_knee"]
        shank = np.cos(kn) * thigh - np.sin(kn) * lant
        ankle = knee + s["shank"] * shank
        foot_dir = np.cos(kn) * lant + np.sin(kn) * thigh + 0.3 * shank
        toes[k] = ankle + s["foot"] * foot_dir / np.linalg.norm(foot_dir)
        base = 2 if side == "r" else 5
        joints[base], joints[base + 1], joints[base + 2] = shoulder, elbow, wrist
        base = 8 if side == "r" else 11
        joints[base], joints[base + 1], joints[base + 2] = hip, knee, ankle
    # stand the lowest ankle on the ground
    lift = s["ankle"] - min(joints[10, 2], joints[13, 2])
    joints[:, 2] += lift
    toes[:, 2] += lift
    return joints, toes, head


_SKIN = (
    np.array(
        [[255, 224, 196], [241, 194, 160], [224, 172, 128], [198, 134, 96], [160, 102, 70], [111, 72, 50], [80, 52, 38]]
    )
    / 255.0
)
_HAIR = np.array([[20, 16, 14], [60, 40, 28], [110, 75, 45], [170, 130, 80], [200, 170, 120], [120, 120, 120]]) / 255.0
_CLOTH = (
    np.array(
        [
            [30, 30, 35],
            [230, 230, 225],
            [40, 60, 120],
            [140, 30, 35],
            [60, 90, 60],
            [200, 170, 60],
            [90, 90, 95],
            [150, 110, 80],
            [70, 110, 170],
            [200, 90, 120],
            [240, 130, 40],
            [120, 60, 140],
            [20, 80, 90],
            [160, 160, 150],
        ]
    )
    / 255.0
)
_TROUSERS = np.array([[35, 45, 75], [30, 30, 32], [70, 70, 75], [120, 100, 80], [60, 80, 110], [180, 170, 150]]) / 255.0


def _jitter_color(c: np.ndarray, rng: np.random.Generator, amount: float = 0.06) -> np.ndarray:
    return np.clip(c * rng.uniform(0.85, 1.15) + rng.normal(0, amount, 3), 0.02, 0.98)


def sample_person(rng: np.random.Generator, activity: str | None = None, height: float | None = None) -> Person:
    """Sample a person: stature, proportions, build, activity, pose and clothing, at the origin facing ``+x``.

    Args:
        rng: the random generator (the only source of randomness, so a seed fixes the person).
        activity: one of :data:`ACTIVITIES`; sampled when ``None`` (walking 35 %, standing 25 %, others 10 %).
        height: stature in metres; sampled with :func:`sample_height` when ``None``.

    Returns:
        a :class:`Person` with ``joints`` (14, 3) in world metres (``z`` up, feet on the ground).
    """
    if activity is None:
        activity = str(rng.choice(ACTIVITIES, p=[0.25, 0.35, 0.1, 0.1, 0.1, 0.1]))
    else:
        activity = check_choice("activity", activity, ACTIVITIES)
    if height is None:
        height = sample_height(rng)
    lengths = segment_lengths(height, rng)
    angles = _sample_angles(activity, rng)
    joints, toes, head_axes = pose_joints(lengths, angles)
    colors = {
        "skin": _jitter_color(_SKIN[rng.integers(len(_SKIN))], rng, 0.02),
        "hair": _jitter_color(_HAIR[rng.integers(len(_HAIR))], rng, 0.02),
        "shirt": _jitter_color(_CLOTH[rng.integers(len(_CLOTH))], rng),
        "trousers": _jitter_color(_TROUSERS[rng.integers(len(_TROUSERS))], rng),
        "shoes": _jitter_color(np.array([0.12, 0.1, 0.1]) * rng.uniform(0.5, 3.0), rng, 0.02),
    }
    return Person(
        height=height,
        lengths=lengths,
        build=float(np.clip(rng.normal(1.0, 0.1), 0.85, 1.3)),
        activity=activity,
        angles=angles,
        joints=joints,
        toes=toes,
        head_axes=head_axes,
        colors=colors,
        long_sleeves=bool(rng.random() < 0.6),
        long_trousers=bool(rng.random() < 0.8),
    )


def place(person: Person, position: np.ndarray, heading: float) -> Person:
    """Turn ``person`` (built at the origin facing ``+x``) by ``heading`` radians and move it to ``position`` (2,)."""
    rot = _rz(heading)
    offset = np.array([position[0], position[1], 0.0])
    person.joints = person.joints @ rot.T + offset
    person.toes = person.toes @ rot.T + offset
    person.head_axes = rot @ person.head_axes
    person.heading = float(heading)
    person.position = np.asarray(position, dtype=np.float64)
    return person
