"""Bundle the CPU-trained "vha2" pipeline: loco/weights/vha2_c3 (the tied VHA exported as a plain VHA; it was
loco/weights/vha2 until the windows-trained VHA v2 took that name) and
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
from loco.training.export import write_bundle
from loco.training.tied import load_tied

tied_name, pred_path, vha_card, pred_card = sys.argv[1:5]
vha = load_tied(tied_name).to_vha().half()
meta = {"dtype": "float16", "trained_as": "loco.training.tied.TiedVHA", "tied_checkpoint": tied_name}
print(write_bundle(vha, "vha2_c3", json.loads(Path(vha_card).read_text()), meta))

pred = CodePredictor(backbone="light", vha_version=2, depth_bins=316)
pred.load_state_dict(load_file(pred_path))
meta = {"dtype": "float16", "image_size": [270, 480], "vha": "vha2_c3"}
print(write_bundle(pred.half(), "code_predictor_light", json.loads(Path(pred_card).read_text()), meta))
