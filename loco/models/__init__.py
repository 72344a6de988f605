"""The LoCO networks: the Volumetric Heatmap Autoencoder, the Code Predictor and the Pose Refiner.

Weights are stored as safetensors + ``config.json`` (:func:`save_pretrained`, :func:`load_pretrained`,
``Model.from_pretrained``); the authors' ``.pth`` files are read with ``weights_only=True`` by
:func:`load_original_checkpoint` (and converted by ``loco convert``).
"""

from __future__ import annotations

from loco.models._hub import PRETRAINED_NAMES, load_pretrained, save_pretrained
from loco.models.code_predictor import CodePredictor, LightBackbone
from loco.models.decode import decode_peaks, decoder_halo
from loco.models.inception import Inception3
from loco.models.original import load_original_checkpoint
from loco.models.refiner import PoseRefiner, from_root_relative, to_root_relative
from loco.models.vha import VHA

__all__ = [
    "VHA",
    "CodePredictor",
    "LightBackbone",
    "Inception3",
    "PoseRefiner",
    "to_root_relative",
    "from_root_relative",
    "decode_peaks",
    "decoder_halo",
    "load_original_checkpoint",
    "save_pretrained",
    "load_pretrained",
    "PRETRAINED_NAMES",
]
