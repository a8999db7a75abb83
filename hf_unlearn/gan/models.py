"""DCGAN generator and discriminator (Radford et al. 2016) as diffusers models: save, load and push like any HF model.

Both are sized from the data: `resolution` (a power of two >= 8) sets the number of (de)convolution blocks,
`num_channels` is 1 for grayscale and 3 for RGB data. At resolution 64 they are exactly the DCGAN of the
paper's code (z=100, ngf=ndf=64).
"""

from __future__ import annotations

import math

import torch
from diffusers import ConfigMixin, ModelMixin
from diffusers.configuration_utils import register_to_config
from torch import nn


def _num_blocks(resolution: int) -> int:
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"DCGAN resolution must be a power of two >= 8, got {resolution}.")
    return int(math.log2(resolution)) - 2  # 4x4 -> resolution doubles once per block


def _init_dcgan_weights(module: nn.Module) -> None:
    """The DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)


class DCGANGenerator(ModelMixin, ConfigMixin):
    """Maps latent vectors `z ~ N(0, I)` of size `latent_dim` to images in [-1, 1]."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, latent_dim: int = 100, num_channels: int = 3, resolution: int = 32, base_channels: int = 64):
        super().__init__()
        blocks = _num_blocks(resolution)
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
        self.apply(_init_dcgan_weights)

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        """`latents` of shape (B, latent_dim) or (B, latent_dim, 1, 1) -> images (B, C, R, R) in [-1, 1]."""
        if latents.dim() == 2:
            latents = latents[:, :, None, None]
        return self.net(latents)


class DCGANDiscriminator(ModelMixin, ConfigMixin):
    """Scores images in [-1, 1]: one real-vs-fake logit per image."""

    config_name = "config.json"

    @register_to_config
    def __init__(self, num_channels: int = 3, resolution: int = 32, base_channels: int = 64):
        super().__init__()
        blocks = _num_blocks(resolution)
        width = base_channels
        layers: list[nn.Module] = [nn.Conv2d(num_channels, width, 4, 2, 1, bias=False), nn.LeakyReLU(0.2, True)]
        for _ in range(blocks - 1):
            layers += [nn.Conv2d(width, width * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(width * 2), nn.LeakyReLU(0.2, True)]
            width *= 2
        layers += [nn.Conv2d(width, 1, 4, 1, 0, bias=False)]
        self.net = nn.Sequential(*layers)
        self.apply(_init_dcgan_weights)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Images (B, C, R, R) -> logits (B,)."""
        return self.net(images).flatten()
