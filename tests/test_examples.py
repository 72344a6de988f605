"""The example scripts run end to end and write what they say (so they cannot rot unnoticed).

``train_tiny_vha.py`` is left out: its training is what ``tests/test_training.py`` already covers, at a fraction of
its minute.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def run(script: str, *args: str, cwd: Path) -> str:
    env = os.environ | {"OMP_NUM_THREADS": "1"}
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / script), *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_predict_image(tmp_path):
    pytest.importorskip("matplotlib")
    out = run("predict_image.py", "--out", str(tmp_path / "o"), cwd=tmp_path)
    files = {p.name for p in (tmp_path / "o").iterdir()}
    assert {"poses.json", "overlay.png", "poses3d.png"} <= files, out
    poses = json.loads((tmp_path / "o" / "poses.json").read_text())
    assert poses["people"] == len(poses["poses3d"])


def test_volumetric_core(tmp_path):
    pytest.importorskip("matplotlib")
    out = run("volumetric_core.py", "--people", "10", "--out", str(tmp_path / "o"), cwd=tmp_path)
    assert "140 peaks for 140 joints" in out  # 10 people x 14 joints, all recovered
    assert (tmp_path / "o" / "peaks.json").is_file() and (tmp_path / "o" / "heatmap.png").is_file()


def test_upper_bound(tmp_path):
    run("upper_bound.py", "--frames", "2", "--no-progress", "--out", str(tmp_path / "ub.json"), cwd=tmp_path)
    results = json.loads((tmp_path / "ub.json").read_text())
    assert results


def test_synthetic_contact_sheet(tmp_path):
    pytest.importorskip("matplotlib")
    run("synthetic_contact_sheet.py", "--out", str(tmp_path / "sheet.png"), cwd=tmp_path)
    assert (tmp_path / "sheet.png").stat().st_size > 10_000
