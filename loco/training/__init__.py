"""Training the LoCO networks with heatmaps rendered on the fly: ``loco train vha|predictor|refiner``.

:mod:`loco.training.trainer` holds the loop shared by the three (devices, seeds, bf16 autocast, DDP through
``torchrun``, checkpoints and bit-for-bit ``--resume``); :mod:`loco.training.config` the config dataclasses saved with
every checkpoint; :mod:`loco.training.sampler` the heatmap crops; one module per network. VHA recipes:
:mod:`loco.training.vha` (``plain``: the whole VHA on crops) and :mod:`loco.training.windows` (``windows``: the
depth-tied :class:`~loco.training.coarse.CoarseVHA` on depth windows with losses on the peaks, which trained the
bundled VHAs).
"""

from __future__ import annotations

from loco.training.config import CONFIGS, PredictorConfig, RefinerConfig, TrainConfig, VHAConfig, config_from_dict
from loco.training.trainer import Trainer, load_checkpoint, lr_at, save_checkpoint, seed_everything

__all__ = [
    "TrainConfig",
    "VHAConfig",
    "PredictorConfig",
    "RefinerConfig",
    "CONFIGS",
    "config_from_dict",
    "Trainer",
    "load_checkpoint",
    "save_checkpoint",
    "lr_at",
    "seed_everything",
]
