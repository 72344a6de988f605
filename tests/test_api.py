"""The public API other code relies on (../shared/DESIGN.md, "Public names")."""

import loco
from loco import ops


def test_top_level_all_is_pinned():
    assert sorted(loco.__all__) == sorted(
        [
            "Camera",
            "VoxelGrid",
            "Peaks",
            "render_heatmaps",
            "find_peaks",
            "project",
            "backproject",
            "LoCO",
            "Prediction",
            "__version__",
        ]
    )
    for name in loco.__all__:
        assert hasattr(loco, name)


def test_ops_all_is_pinned():
    assert sorted(ops.__all__) == ["Peaks", "backproject", "find_peaks", "project", "render_heatmaps"]
    assert ops.Peaks._fields == ("batch", "joint", "index", "position", "score")


def test_presets_exist():
    assert loco.VoxelGrid.jta().shape == (316, 136, 240)
    assert loco.Camera.jta().fx == 1158


def test_pipeline_exported():
    from loco.pipeline import LoCO, Prediction

    assert loco.LoCO is LoCO and loco.Prediction is Prediction
    assert callable(LoCO.from_pretrained) and callable(LoCO.predict)
