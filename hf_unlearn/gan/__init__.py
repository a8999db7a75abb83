"""The GAN synthesizer: DCGAN models, their training and a sampling pipeline."""

from .models import DCGANDiscriminator, DCGANGenerator
from .pipeline import GANSamplingPipeline
from .train import GANSettings, GANTrainingError, default_gan_resolution, gan_pixels, train_gan

__all__ = [
    "DCGANDiscriminator",
    "DCGANGenerator",
    "GANSamplingPipeline",
    "GANSettings",
    "GANTrainingError",
    "default_gan_resolution",
    "gan_pixels",
    "train_gan",
]
