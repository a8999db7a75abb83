"""The GAN synthesizer, in diffusers' shape: one model per file (`generator.py`, `discriminator.py`), their
training through Accelerate (`train.py`) and a sampling pipeline that takes `generator=` (`pipeline.py`)."""

from .discriminator import DCGANDiscriminator
from .generator import DCGANGenerator
from .pipeline import GANSamplingPipeline
from .train import (
    GANImages,
    GANSettings,
    GANTrainingError,
    default_gan_resolution,
    gan_array,
    gan_pixels,
    train_gan,
)

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANImages",
    "GANSamplingPipeline",
    "GANSettings",
    "GANTrainingError",
    "default_gan_resolution",
    "gan_array",
    "gan_pixels",
    "train_gan",
]
