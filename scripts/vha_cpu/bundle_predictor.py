"""Bundle a predictor_replay.py checkpoint as loco/weights/code_predictor_light, the Code Predictor of the "vha2"
pipeline, trained against the code of the bundled VHA ``VHA_NAME`` (fp16 safetensors + config.json + MODEL_CARD.md).

    python scripts/vha_cpu/bundle_predictor.py PREDICTOR.safetensors VHA_NAME CARD.json

CARD.json holds the model-card facts (:func:`loco.training.export.model_card`); the pipeline reads the VHA name from
``loco.pipeline.BUNDLED_PIPELINES``, which must name the same VHA (``tests/test_bundled.py`` checks it).
"""

import json
import sys
from pathlib import Path

from safetensors.torch import load_file

from loco.models import CodePredictor
from loco.training.export import write_bundle

pred_path, vha_name, card_path = sys.argv[1:4]
pred = CodePredictor(backbone="light", vha_version=2, depth_bins=316)
pred.load_state_dict(load_file(pred_path))
meta = {"dtype": "float16", "image_size": [270, 480], "vha": vha_name}
print(write_bundle(pred.half(), "code_predictor_light", json.loads(Path(card_path).read_text()), meta))
