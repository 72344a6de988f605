"""Bundling trained weights: fp16 safetensors + ``config.json`` + ``MODEL_CARD.md`` in ``loco/weights/<name>/``.

``python -m loco.training.export RUN NAME --card card.json`` (or :func:`export_run`) takes a run folder's ``last.pt``
and writes the bundled folder that ``VHA.from_pretrained(NAME)`` (``CodePredictor``, ``PoseRefiner``) and
``LoCO.from_pretrained("vha2")`` resolve. The model card records the data, steps, hardware, training time and
metrics; the ``config.json`` metadata holds the same facts plus the full training config.
"""

from __future__ import annotations

import argparse
import json
import platform
from pathlib import Path

import torch

from loco.models._hub import WEIGHTS_DIR, save_pretrained
from loco.training.trainer import load_checkpoint

__all__ = ["export_run", "model_card", "write_bundle"]

_CLASSES = {"vha": "VHA", "predictor": "CodePredictor", "refiner": "PoseRefiner"}


def _hardware() -> str:
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"{cpu}, {torch.get_num_threads()} torch threads (torch {torch.__version__})"


def model_card(name: str, info: dict) -> str:
    """A Markdown model card from ``info`` (keys: summary, data, training, hardware, metrics, limitations, ...)."""
    lines = [f"# {name}", "", info.get("summary", ""), ""]
    for key in ("architecture", "data", "training", "hardware", "metrics", "limitations", "license", "reproduce"):
        value = info.get(key)
        if not value:
            continue
        lines += [f"## {key.capitalize()}", ""]
        if isinstance(value, dict):
            lines += [f"- {k}: {v}" for k, v in value.items()]
        elif isinstance(value, (list, tuple)):
            lines += [f"- {v}" for v in value]
        else:
            lines.append(str(value))
        lines.append("")
    return "\n".join(lines).rstrip() + "\n"


def export_run(
    run: str | Path, name: str, info: dict | None = None, out_dir: str | Path | None = None, fp16: bool = True
) -> Path:
    """Write the run's weights to ``out_dir/name`` (default ``loco/weights/name``) with a model card.

    Args:
        run: a run folder or its ``last.pt``.
        name: folder name, e.g. ``"vha2"``, ``"code_predictor_light"``, ``"pose_refiner"``.
        info: model-card facts (see :func:`model_card`); stored also in the config metadata.
        fp16: store the tensors in float16 (half the size; they load into float32 models).
    """
    from loco.models import VHA, CodePredictor, PoseRefiner
    from loco.training.coarse import CoarseVHA

    ckpt = load_checkpoint(run)
    config = ckpt["config"]
    classes = {"VHA": VHA, "CodePredictor": CodePredictor, "PoseRefiner": PoseRefiner, "CoarseVHA": CoarseVHA}
    model = classes[ckpt["model_class"]](**ckpt["model_config"])
    model.load_state_dict(ckpt["model"])
    trained_as = type(model).__name__
    if isinstance(model, CoarseVHA):  # the windows recipe: bundle the VHA it equals
        model = model.to_vha()
    if fp16:
        model = model.half()
    info = dict(info or {})
    info.setdefault("training", {})
    if isinstance(info["training"], dict):
        info["training"] = {"steps": ckpt["step"], "train_time_h": round(ckpt.get("elapsed_s", 0) / 3600, 2)} | info[
            "training"
        ]
    info.setdefault("hardware", _hardware())
    meta = {
        "trained_as": trained_as,
        "trained_steps": ckpt["step"],
        "train_seconds": round(ckpt.get("elapsed_s", 0.0)),
        "train_config": config.to_dict(),
        "dtype": "float16" if fp16 else "float32",
    }
    if config.kind == "predictor":
        meta["image_size"] = list(config.image_size)
    return write_bundle(model, name, info, meta, out_dir)


def write_bundle(
    model: torch.nn.Module, name: str, info: dict, metadata: dict | None = None, out_dir: str | Path | None = None
) -> Path:
    """Write ``out_dir/name`` (default ``loco/weights/name``): the model's safetensors + ``config.json`` (``metadata``
    plus the model-card facts under ``"card"``) + ``MODEL_CARD.md`` (:func:`model_card`). Returns the folder."""
    directory = Path(out_dir or WEIGHTS_DIR) / name
    meta = dict(metadata or {}) | {"card": {k: v for k, v in info.items() if k != "summary"}}
    save_pretrained(model, directory, metadata=meta)
    (directory / "MODEL_CARD.md").write_text(model_card(name, info))
    return directory


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description="bundle a run's weights as fp16 safetensors + config + model card")
    p.add_argument("run")
    p.add_argument("name")
    p.add_argument("--card", default=None, help="JSON file of model-card facts")
    p.add_argument("--out-dir", default=None, help="default loco/weights")
    p.add_argument("--fp32", action="store_true")
    a = p.parse_args(argv)
    info = json.loads(Path(a.card).read_text()) if a.card else {}
    print(export_run(a.run, a.name, info, a.out_dir, fp16=not a.fp32))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
