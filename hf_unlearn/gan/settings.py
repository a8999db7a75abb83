"""`GANSettings`: the hyperparameters of one DCGAN training run, each declared once (default, help, range), read
by `train_gan`, by Multi-GAN's options (`method_args.gan`), by `hf-unlearn methods` and by the messages.

Light on purpose (no torch): the config checks these options before anything heavy is imported."""

from __future__ import annotations

from dataclasses import dataclass

from ..options import at_least, option, positive, unit_interval


@dataclass
class GANSettings:
    """Hyperparameters of one DCGAN training run (the authors' defaults)."""

    latent_dim: int = option(100, help="Size of the DCGAN latent vector z.", range=(at_least(1), ">= 1"))
    generator_channels: int = option(64, help="DCGAN generator width (ngf).", range=(at_least(1), ">= 1"))
    discriminator_channels: int = option(64, help="DCGAN discriminator width (ndf).", range=(at_least(1), ">= 1"))
    epochs: float = option(20.0, help="Passes over the retain (resp. forget) set for each GAN.",
                           range=(positive, "> 0"))
    min_steps: int = option(300, help="Lower bound on GAN optimizer steps, so a tiny forget set still trains its GAN.",
                            range=(lambda x: x >= 0, ">= 0"))
    batch_size: int = option(128, help="GAN batch size per process.", range=(at_least(2), ">= 2"))
    learning_rate: float = option(2e-4, help="Adam learning rate of both GAN networks.", range=(positive, "> 0"))
    beta1: float = option(0.5, help="Adam beta1 of both GAN networks.", range=(unit_interval(True), "in [0, 1)"))
    beta2: float = option(0.999, help="Adam beta2 of both GAN networks.", range=(unit_interval(True), "in [0, 1)"))
