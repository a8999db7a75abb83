"""DCGAN discriminator (Radford et al. 2016) as a diffusers model, the generator's adversary during training.

Sized like the generator: `resolution` sets the number of convolution blocks; ndf = `base_channels`.
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .blocks import init_dcgan_weights, num_blocks


class DCGANDiscriminator(ModelMixin, ConfigMixin):
    """Scores images in [-1, 1]: one real-vs-fake logit per image."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, num_channels: int = 3, resolution: int = 32, base_channels: int = 64):
        super().__init__()
        blocks = num_blocks(resolution)
        width = base_channels
        layers: list[nn.Module] = [nn.Conv2d(num_channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(blocks - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, R, R) -> logits (B,)."""
        return self.net(images).flatten()
