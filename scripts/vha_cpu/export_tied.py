"""Write a depth-tied VHA checkpoint as a bundled VHA folder (fp16 safetensors + config.json)."""
import json, sys, torch
from pathlib import Path
from loco.models._hub import save_pretrained
from loco.training.tied import load_tied
pt, out = sys.argv[1], sys.argv[2]
meta = json.loads(sys.argv[3]) if len(sys.argv) > 3 else {}
tied = load_tied(pt)
vha = tied.to_vha().half()
save_pretrained(vha, out, metadata=meta | {"dtype": "float16", "trained_as": "loco.training.tied.TiedVHA"})
print(out)
