"""Bundle a ``decoder_on_predicted.py`` run as ``loco/weights/<NAME>``: the VHA its CoarseVHA equals (fp16,
config.json + MODEL_CARD.md), keeping the CoarseVHA as ``loco/weights/coarse_cpu/<NAME>.safetensors``.

    python scripts/vha_cpu/bundle_decoder.py RUN NAME CARD.json [METRICS.json]

The encoder and fuser are ``C3_300``'s, untouched, so the code of every volume is the bundled ``vha2_c3``'s: the
config's ``code_of`` names that VHA, the one the Code Predictor regresses (``tests/test_bundled.py`` checks both).
CARD.json holds the model-card facts (:func:`loco.training.export.model_card`); METRICS.json (optional) is merged into
the card's ``metrics``.
"""

import json
import shutil
import sys
from pathlib import Path

from safetensors import safe_open

from loco.models._hub import WEIGHTS_DIR
from loco.training.coarse import load_coarse
from loco.training.export import write_bundle

run, name, card_path = Path(sys.argv[1]), sys.argv[2], Path(sys.argv[3])
card = json.loads(card_path.read_text())
if len(sys.argv) > 4:
    card["metrics"] = card.get("metrics", {}) | json.loads(Path(sys.argv[4]).read_text())
src = run / "coarse.safetensors"
with safe_open(str(src), "pt") as f:
    step = int(f.metadata()["step"])
coarse = load_coarse(src)
dest = WEIGHTS_DIR / "coarse_cpu"
shutil.copyfile(src, dest / f"{name}.safetensors")
meta = {
    "dtype": "float16",
    "trained_as": "loco.training.coarse.CoarseVHA",
    "coarse_checkpoint": name,
    "code_of": "vha2_c3",
    "init": "C3_300",
    "trained_steps": step,
    "train_config": {"script": "scripts/vha_cpu/decoder_on_predicted.py", "run": str(run)},
}
print(write_bundle(coarse.to_vha().half(), name, card, meta))
