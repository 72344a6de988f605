"""What ``predictor_replay.py`` and ``decoder_on_predicted.py`` share: resuming from ``OUT/state.pt`` and making a
new frame for the replay buffer. Imported as a sibling module (each script's folder is first on ``sys.path``)."""

import os

import numpy as np
import torch

import loco.training.predictor as P
from loco.training.sampler import frame_joints


def resume(out: str, model: torch.nn.Module, opt: torch.optim.Optimizer) -> int:
    """Load ``out/state.pt`` (model, optimiser, step) when present; the step to continue from (0 without one)."""
    if not os.path.exists(f"{out}/state.pt"):
        return 0
    st = torch.load(f"{out}/state.pt", weights_only=False)
    model.load_state_dict(st["model"])
    opt.load_state_dict(st["opt"])
    print("resumed at", st["step"], flush=True)
    return st["step"]


def save(out: str, model: torch.nn.Module, opt: torch.optim.Optimizer, step: int) -> None:
    """Write ``out/state.pt`` atomically."""
    torch.save({"model": model.state_dict(), "opt": opt.state_dict(), "step": step}, f"{out}/state.pt.tmp")
    os.replace(f"{out}/state.pt.tmp", f"{out}/state.pt")


def frame(src: P.FrameDataset, k: int, rng: np.random.Generator):
    """Frame ``src.order[k]`` (cyclic), mirrored when ``rng`` draws below 0.5: ``(image, centers, joints)`` with the
    rendered ground truth of ``src.grid`` (:func:`~loco.training.sampler.frame_joints`)."""
    s = src.scenes[int(src.order[k % len(src.order)])]
    image, poses, camera = s["image"], s["poses3d"], s["camera"]
    if rng.random() < 0.5:
        image, poses, camera = P.flip_sample(image, poses, camera)
    centers, joints = frame_joints(poses, camera, src.grid)
    return image, centers, joints


def step_picks(buffer: list, fresh, step: int, n_fresh: int, batch: int, cap: int, rng: np.random.Generator) -> list:
    """Add ``n_fresh`` new items ``fresh(step * n_fresh + f)`` to ``buffer`` (a random slot is replaced once it holds
    ``cap``) and return the step's buffer indices: the new items, then ``batch - n_fresh`` drawn from the buffer."""
    for f in range(n_fresh):
        item = fresh(step * n_fresh + f)
        if len(buffer) < cap:
            buffer.append(item)
        else:
            buffer[int(rng.integers(cap))] = item
    picks = list(range(len(buffer) - n_fresh, len(buffer)))
    return picks + [int(i) for i in rng.integers(len(buffer), size=batch - n_fresh)]
