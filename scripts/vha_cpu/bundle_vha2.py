"""Bundle the CPU-trained "vha2" pipeline: loco/weights/vha2 (the tied VHA exported as a plain VHA) and
loco/weights/code_predictor_light (a predictor_replay.py checkpoint), fp16 safetensors + config.json + MODEL_CARD.md.

    python scripts/vha_cpu/bundle_vha2.py TIED PREDICTOR.safetensors VHA_CARD.json PREDICTOR_CARD.json

The cards are model-card facts (:func:`loco.training.export.model_card`: summary, architecture, data, training,
hardware, metrics, limitations, reproduce); they are stored in each config.json's metadata too.
"""

import json
import sys
from pathlib import Path

from safetensors.torch import load_file

from loco.models import CodePredictor
from loco.models._hub import WEIGHTS_DIR, save_pretrained
from loco.training.export import model_card
from loco.training.tied import load_tied

tied_name, pred_path, vha_card, pred_card = sys.argv[1:5]
vha_info = json.loads(Path(vha_card).read_text())
pred_info = json.loads(Path(pred_card).read_text())

vha = load_tied(tied_name).to_vha().half()
d = save_pretrained(
    vha,
    WEIGHTS_DIR / "vha2",
    metadata={"dtype": "float16", "trained_as": "loco.training.tied.TiedVHA", "tied_checkpoint": tied_name}
    | {"card": {k: v for k, v in vha_info.items() if k != "summary"}},
)
(d / "MODEL_CARD.md").write_text(model_card("vha2", vha_info))
print(d)

pred = CodePredictor(backbone="light", vha_version=2, depth_bins=316)
pred.load_state_dict(load_file(pred_path))
d = save_pretrained(
    pred.half(),
    WEIGHTS_DIR / "code_predictor_light",
    metadata={"dtype": "float16", "image_size": [270, 480], "vha": "vha2"}
    | {"card": {k: v for k, v in pred_info.items() if k != "summary"}},
)
(d / "MODEL_CARD.md").write_text(model_card("code_predictor_light", pred_info))
print(d)
