"""The metrics of a re-bundled VHA's model card: the bundled card's metrics, with the new run's Table 2 in place of
the old one and the old Table 2 and the new run's validations appended to ``validation_during_training``.

    python scripts/vha_cpu/card_metrics.py NAME RUN RUN_metrics.json "DESCRIPTION" > RUN_card_metrics.json

NAME is the bundle being replaced (``loco/weights/NAME/config.json``), RUN the new run folder (its ``log.jsonl``),
RUN_metrics.json the output of ``scripts/vha_cpu/table2.py RUN 16 64`` and DESCRIPTION how the run was made
(e.g. "init loco/weights/coarse_cpu/vha2.safetensors, run seed 5, amp none").
"""

import json
import re
import sys
from pathlib import Path

from loco.models._hub import WEIGHTS_DIR

name, run, new_path, description = sys.argv[1], Path(sys.argv[2]), Path(sys.argv[3]), sys.argv[4]
old = json.loads((WEIGHTS_DIR / name / "config.json").read_text())["metadata"]["card"]["metrics"]
new = {k: v for k, v in json.loads(new_path.read_text()).items() if not k.endswith("_values")}
if "table2_1080x1920" not in new:
    raise SystemExit(f"{new_path} has no 1080x1920 Table 2 (run table2.py with FRAMES_FULL_HD > 0)")
metrics = dict(old)
history = metrics.get("validation_during_training", "")
previous = re.search(r"F1 ([\d.]+ / [\d.]+ / [\d.]+)", old.get("table2_1080x1920", ""))
if previous:
    history += f"; before {run} Table 2 was {previous.group(1)}"
vals = []
for line in (run / "log.jsonl").read_text().splitlines():
    rec = json.loads(line)
    if "val" in rec:
        v = rec["val"]
        vals.append(f"step {rec['step']} {v['f1@0']:.2f}/{v['f1@1']:.2f}/{v['f1@2']:.2f}")
history += f"; {run} ({description}): " + (", ".join(vals) if vals else "no validation logged")
metrics["validation_during_training"] = history
metrics.update(new)
print(json.dumps(metrics, indent=1))
