"""The weights shipped in ``loco/weights``: sizes, model cards, the ``vha2`` pipeline end to end.

Every bundled VHA is the training checkpoint named in its config (a CoarseVHA in ``loco/weights/coarse_cpu`` or a
TiedVHA in ``loco/weights/tied_vha2_cpu``) exported to a plain VHA in float16; the test checks the two agree. Skipped
where a copy of loco has no bundled weights.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from loco.models._hub import WEIGHTS_DIR
from loco.pipeline import BUNDLED_PIPELINES

HAS_VHA2 = all((WEIGHTS_DIR / BUNDLED_PIPELINES["vha2"][k] / "config.json").is_file() for k in ("predictor", "vha"))
#: F1@0.4 m of the bundled pipeline on the demo frame was 29.7 when it was bundled (`loco demo`).
BUNDLED_DEMO_F1_FLOOR = 15.0
needs_vha2 = pytest.mark.skipif(not HAS_VHA2, reason="the bundled vha2 pipeline is not installed")


def test_bundled_weights_total_under_60_mb():
    total = sum(p.stat().st_size for p in WEIGHTS_DIR.rglob("*") if p.is_file())
    assert total < 60 * 2**20, f"loco/weights holds {total / 2**20:.1f} MB"


def test_every_bundled_network_has_a_model_card():
    for config in WEIGHTS_DIR.glob("*/config.json"):
        card = config.parent / "MODEL_CARD.md"
        assert card.is_file(), f"{config.parent.name} has no MODEL_CARD.md"
        text = card.read_text()
        for section in ("## Data", "## Training", "## Hardware", "## Metrics"):
            assert section in text, f"{card} lacks {section}"


#: The three of paper Table 1, ``vha2_c3`` (the VHA v2 whose code the ``vha2`` pipeline's Code Predictor regresses) and
#: ``vha2_c3p`` (that code, with a decoder fine-tuned on predicted codes: the pipeline's).
BUNDLED_VHAS = [
    n for n in ("vha1", "vha2", "vha3", "vha2_c3", "vha2_c3p") if (WEIGHTS_DIR / n / "config.json").is_file()
]


@pytest.mark.parametrize("name", BUNDLED_VHAS or ["none"])
def test_bundled_vha_is_the_checkpoint_it_names(name):
    from loco.models import VHA
    from loco.training.coarse import load_coarse
    from loco.training.tied import load_tied

    if name == "none":
        pytest.skip("no bundled VHA in this copy")
    vha = VHA.from_pretrained(name).float().eval()
    meta = json.loads((WEIGHTS_DIR / name / "config.json").read_text())["metadata"]
    if "coarse_checkpoint" in meta:
        ref = load_coarse(WEIGHTS_DIR / "coarse_cpu" / f"{meta['coarse_checkpoint']}.safetensors").to_vha().eval()
    else:
        ref = load_tied(meta["tied_checkpoint"]).to_vha().eval()
    assert vha.version == ref.version == int(name[3])
    for (key, a), (_, b) in zip(vha.state_dict().items(), ref.state_dict().items()):
        torch.testing.assert_close(a, b.half().float(), rtol=0, atol=0, msg=key)  # exactly the fp16 rounding
    g = torch.Generator().manual_seed(0)
    x = torch.zeros(1, 14, 316, 16, 24)
    x[0, 3, 100:103, 7:10, 11:14] = torch.rand(3, 3, 3, generator=g)
    with torch.no_grad():
        torch.testing.assert_close(vha(x), ref(x), rtol=0.02, atol=0.01)


@pytest.mark.parametrize("name", BUNDLED_VHAS or ["none"])
def test_bundled_vha_decodes_an_empty_frame_to_no_peak(name):
    """A frame without people (held-out frame 28 of Table 2's 32 is one) must decode to no peak: the output there is
    the network's biases alone. A v2 stage (Z2) that put a peak above 0.1 near depth bin 311 there scored F1 0 on that
    frame, 3.1 points of a 32-frame mean, and was not bundled (``scripts/vha_cpu/README.md``). Its spurious peaks lie
    at the bottom corners of a 68 x 120 grid (and of 136 x 240), not of the pipeline's 34 x 60: this grid catches it."""
    from loco import ops
    from loco.models import VHA

    if name == "none":
        pytest.skip("no bundled VHA in this copy")
    vha = VHA.from_pretrained(name).float().eval()
    with torch.no_grad():
        out = vha(torch.zeros(1, 14, 316, 68, 120))  # a 540x960 frame's grid
    peaks = ops.find_peaks(out.contiguous(), threshold=0.1)
    top = float(out.max())
    assert len(peaks.joint) == 0, f"{name}: {len(peaks.joint)} peaks on an empty frame, output max {top:.3f}"


@needs_vha2
def test_bundled_pipeline_decodes_with_the_vha_its_predictor_was_trained_for():
    """A Code Predictor regresses one VHA's code: the pipeline must decode with that VHA, or with one whose encoder
    and fuser are that VHA's (``code_of``), so that every volume has the same code."""
    from loco.models import VHA

    spec = BUNDLED_PIPELINES["vha2"]
    target = json.loads((WEIGHTS_DIR / spec["predictor"] / "config.json").read_text())["metadata"]["vha"]
    vha_meta = json.loads((WEIGHTS_DIR / spec["vha"] / "config.json").read_text())["metadata"]
    assert vha_meta.get("code_of", spec["vha"]) == target
    if spec["vha"] == target:
        return
    ours, theirs = VHA.from_pretrained(spec["vha"]).state_dict(), VHA.from_pretrained(target).state_dict()
    encoder = [k for k in ours if k.startswith(("encoder.", "fuser."))]
    assert encoder and all(torch.equal(ours[k], theirs[k]) for k in encoder)
    assert any(not torch.equal(ours[k], theirs[k]) for k in ours if k not in encoder)  # the decoder is its own
    x = torch.zeros(1, 14, 316, 12, 16)
    x[0, 5, 140:143, 4:7, 8:11] = 1.0
    with torch.no_grad():
        assert torch.equal(VHA.from_pretrained(spec["vha"]).encode(x), VHA.from_pretrained(target).encode(x))


@needs_vha2
def test_bundled_pipeline_finds_people_in_the_demo_frame():
    """The bundled pipeline on the bundled demo frame against its ground truth (JTA protocol, F1 at 0.4 m).
    The floor is below the figures measured when the weights were bundled (README), so the test catches a broken
    export, a wrong input size or a wrong camera scaling, not a small change of quality."""
    from loco.commands.demo import DEMO_IMAGE, DEMO_META, demo_score
    from loco.pipeline import LoCO, as_camera

    meta = json.loads(DEMO_META.read_text())
    model = LoCO.from_pretrained("vha2", device="cpu")
    assert model.input_size == (270, 480)
    pred = model.predict(str(DEMO_IMAGE), as_camera(meta["camera"], 0, 0))
    assert len(pred) >= 5
    f1, _ = demo_score(pred, meta)
    assert 100 * f1 >= BUNDLED_DEMO_F1_FLOOR, f1


@needs_vha2
def test_bundled_pipeline_on_the_authors_real_frames(authors_dir, tmp_path):
    """The three real JTA frames: the bundled pipeline (trained on synthetic frames only) runs on them as one batch
    and writes both pictures; its poses are finite where present and inside the frame's field of view."""
    pytest.importorskip("matplotlib")
    from loco.geometry import Camera
    from loco.pipeline import LoCO

    model = LoCO.from_pretrained("vha2", device="cpu")
    preds = model.predict([authors_dir / f"{k}_rgb.jpg" for k in (1, 2, 3)], Camera.jta())
    assert [p.image_size for p in preds] == [(1080, 1920)] * 3
    for k, p in enumerate(preds, 1):
        assert len(p) > 0
        xy = p.poses2d[~np.isnan(p.poses2d).any(-1)]
        assert np.isfinite(xy).all() and (xy > -0.5 * 1920).all() and (xy < 1.5 * 1920).all()
        p.plot_2d(path=tmp_path / f"overlay_{k}.png")
        p.plot_3d(path=tmp_path / f"3d_{k}.png")
        assert (tmp_path / f"overlay_{k}.png").stat().st_size > 10_000 and (tmp_path / f"3d_{k}.png").is_file()


@needs_vha2
def test_pipeline_report_decodes_with_the_vha_it_is_given(monkeypatch):
    """``report pipeline --vha`` swaps the decoder: the pipeline VHA's own checkpoint (float32) scores the frame as the
    bundled fp16 export does, and ``C3_300`` (the same code, the decoder before its fine-tune on predicted codes)
    scores differently."""
    from loco.training import report
    from loco.training.tied import CPU_CHECKPOINTS

    meta = json.loads((WEIGHTS_DIR / BUNDLED_PIPELINES["vha2"]["vha"] / "config.json").read_text())["metadata"]
    if not (CPU_CHECKPOINTS / "C3_300.safetensors").is_file() or "coarse_checkpoint" not in meta:
        pytest.skip("no tied or coarse checkpoints in this copy")
    monkeypatch.setattr(report, "occluded_recall", lambda *a, **k: {})
    keys = ("f1@0.4", "f1@0.8", "f1@1.2")

    def f1(**kw):
        table = report.pipeline_table(1, progress=False, refiner=False, **kw)
        assert set(table) == {"without_refiner"}  # refiner=False evaluates that row only
        return [table["without_refiner"][k] for k in keys]

    bundled = f1()
    assert bundled == f1(vha=meta["coarse_checkpoint"])
    with pytest.raises(TypeError, match="refiner"):
        report.pipeline_table(1, refiner="yes")
    assert bundled != f1(vha="C3_300")


def test_report_seed_picks_the_held_out_frames(monkeypatch):
    """``--seed`` reaches the frames of every table (default 10000), and a bad seed is refused before any work."""
    from loco.training import report

    seen = []
    monkeypatch.setattr(report, "evaluate_vha", lambda model, frames, seed, progress: seen.append(seed) or {})
    report.vha_table(["vha1"], 1, progress=False)
    report.vha_table(["vha1"], 1, progress=False, seed=50_000)
    assert seen == [report.EVAL_SEED, 50_000]
    for table in (report.vha_table, report.pipeline_table, report.refiner_table):
        args = (["vha1"], 1) if table is report.vha_table else (1,)
        with pytest.raises(TypeError, match="seed"):
            table(*args, seed=1.5)
        with pytest.raises(ValueError, match="seed"):
            table(*args, seed=-1)
    report.main(["vha", "--names", "vha1", "--frames", "1", "--seed", "7"])
    assert seen[-1] == 7
