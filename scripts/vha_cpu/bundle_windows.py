"""Bundle a ``loco train vha --recipe windows`` run as ``loco/weights/<NAME>`` (the VHA its CoarseVHA equals, fp16,
config.json + MODEL_CARD.md) and keep the CoarseVHA itself as ``loco/weights/coarse_cpu/<NAME>.safetensors`` (the
checkpoint the bundled VHA is exported from, ~70-300 KB, to resume or fine-tune from).

    python scripts/vha_cpu/bundle_windows.py RUN NAME CARD.json [METRICS.json]

CARD.json holds the model-card facts (:func:`loco.training.export.model_card`); METRICS.json (optional) is merged
into the card's ``metrics`` (e.g. the output of ``scripts/vha_cpu/table2.py``). config.json's ``trained_steps`` counts
every windows stage, found by following each run's ``--init`` back while it names a run folder (``stages``, earliest
first), and, where the earliest starts from a bundled ``loco/weights/coarse_cpu/<NAME>.safetensors``, that bundle's
stages before them (also through a file ``widen.py`` wrote, whose ``widened_from`` names its source);
``train_config`` is the last stage's. The card's ``training.steps`` and ``training.train_time_h``
default to those stages' steps (their sum and each) and hours.
"""

import json
import shutil
import sys
from pathlib import Path

from loco.models._hub import WEIGHTS_DIR
from loco.training.coarse import load_coarse, resolve_coarse
from loco.training.export import write_bundle
from loco.training.trainer import load_checkpoint


def widened_from(path: Path) -> str | None:
    from safetensors import safe_open

    with safe_open(str(path), "pt") as f:
        return (f.metadata() or {}).get("widened_from")


run, name, card_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
card = json.loads(card_path.read_text())
if len(sys.argv) > 4:
    card["metrics"] = card.get("metrics", {}) | json.loads(Path(sys.argv[4]).read_text())
ckpt = load_checkpoint(run)
stages, folder, c = [], run, ckpt
while True:
    stages.insert(
        0,
        {
            "run": str(folder),
            "steps": c["step"],
            "init": c["config"].init,
            "hours": round(c.get("elapsed_s", 0) / 3600, 2),
        },
    )
    folder = Path(c["config"].init)
    if not (folder / "last.pt").is_file():
        break
    c = load_checkpoint(folder)
dest = WEIGHTS_DIR / "coarse_cpu"
# a stage started from a bundled CoarseVHA (loco/weights/coarse_cpu/NAME.safetensors, e.g. after runs/ was lost)
# continues that bundle's stages
try:  # the file --init named (a bundled name included), as the run resolved it
    init = resolve_coarse(stages[0]["init"])
except FileNotFoundError:  # a tied checkpoint (e.g. C4_900)
    init = Path(stages[0]["init"])
# a file scripts/vha_cpu/widen.py wrote is its source with wider kernels: continue the source's stages
while init.suffix == ".safetensors" and (source := widened_from(init)):
    init = resolve_coarse(source)
if init.suffix == ".safetensors" and init.resolve().parent == dest.resolve():
    prior = WEIGHTS_DIR / init.stem / "config.json"
    if prior.is_file():
        # that bundle may already list these runs (an earlier bundle of one of them): keep its stages before them
        before = json.loads(prior.read_text())["metadata"].get("stages", [])
        # a stage is its folder and its init: a folder name used twice (runs/v3X was) is two stages
        ours = {(st["run"], st["init"]) for st in stages}
        cut = next((i for i, st in enumerate(before) if (st["run"], st["init"]) in ours), len(before))
        stages = before[:cut] + stages
coarse = load_coarse(run / "coarse.safetensors")
if ckpt["step"] != ckpt["config"].steps:
    print(f"warning: {run} stopped at step {ckpt['step']} of {ckpt['config'].steps}")
dest.mkdir(exist_ok=True)
shutil.copyfile(run / "coarse.safetensors", dest / f"{name}.safetensors")
total = sum(st["steps"] for st in stages)
breakdown = " + ".join(f"{st['steps']:,}" for st in stages)
# defaults for the card, from the stages (the card's own values win)
card["training"] = {
    "steps": f"{total:,} windows steps in {len(stages)} stages ({breakdown})",
    "train_time_h": round(sum(st["hours"] for st in stages), 2),
} | card.get("training", {})
meta = {
    "dtype": "float16",
    "trained_as": "loco.training.coarse.CoarseVHA",
    "coarse_checkpoint": name,
    "trained_steps": total,
    "stages": stages,
    "train_config": ckpt["config"].to_dict(),
}
print(write_bundle(coarse.to_vha().half(), name, card, meta))
