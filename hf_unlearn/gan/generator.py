"""DCGAN generator (Radford et al. 2016) as a diffusers model: save, load and push like any HF model.

Sized from the data: `resolution` (a power of two >= 8) sets the number of transposed-convolution blocks,
`num_channels` is 1 for grayscale and 3 for RGB data. At resolution 64 it is exactly the generator of the
paper's code (z=100, ngf=64).
"""

from __future__ import annotations

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn

from .blocks import init_dcgan_weights, num_blocks


class DCGANGenerator(ModelMixin, ConfigMixin):
    """Maps latent vectors `z ~ N(0, I)` of size `latent_dim` to images in [-1, 1]."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, latent_dim: int = 100, num_channels: int = 3, resolution: int = 32, base_channels: int = 64):
        super().__init__()
        blocks = num_blocks(resolution)
        width = base_channels * 2 ** (blocks - 1)
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(latent_dim, width, 4, 1, 0, bias=False),
            nn.BatchNorm2d(width),
            nn.ReLU(True),
        ]
        for _ in range(blocks - 1):
            layers += [nn.ConvTranspose2d(width, width // 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width // 2), nn.ReLU(True)]
            width //= 2
        layers += [nn.ConvTranspose2d(width, num_channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)
        self.apply(init_dcgan_weights)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """`latents` of shape (B, latent_dim) or (B, latent_dim, 1, 1) -> images (B, C, R, R) in [-1, 1]."""
        if latents.dim() == 2:
            latents = latents[:, :, None, None]
        return self.net(latents)
