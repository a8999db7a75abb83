"""The GAN synthesizer, in diffusers' shape: one model per file (`generator.py`, `discriminator.py`), their
training through Accelerate (`train.py`), a sampling pipeline that takes `generator=` (`pipeline.py`) and the
training hyperparameters (`settings.py`). Loaded lazily: the settings never import torch."""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..lazy import lazy_names

_LAZY = {"DCGANDiscriminator": "discriminator", "DCGANGenerator": "generator", "GANSamplingPipeline": "pipeline",
         "GANSettings": "settings", "GANImages": "train", "GANTrainingError": "train",
         "default_gan_resolution": "train", "gan_array": "train", "gan_pixels": "train", "train_gan": "train"}

__all__ = ["DCGANDiscriminator", "DCGANGenerator", "GANImages", "GANSamplingPipeline", "GANSettings", "GANTrainingError",
           "default_gan_resolution", "gan_array", "gan_pixels", "train_gan"]

if TYPE_CHECKING:
    from .discriminator import DCGANDiscriminator
    from .generator import DCGANGenerator
    from .pipeline import GANSamplingPipeline
    from .settings import GANSettings
    from .train import GANImages, GANTrainingError, default_gan_resolution, gan_array, gan_pixels, train_gan

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals(), __all__)
