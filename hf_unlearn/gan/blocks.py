"""What the DCGAN generator and discriminator share: their depth from the resolution, and the DCGAN weight
initialisation (Radford et al. 2016)."""

from __future__ import annotations

import math

from torch import nn


def num_blocks(resolution: int) -> int:
    if resolution < 8 or resolution & (resolution - 1):
        raise ValueError(f"DCGAN resolution must be a power of two >= 8, got {resolution}.")
    return int(math.log2(resolution)) - 2  # 4x4 -> resolution doubles once per block


def init_dcgan_weights(module: nn.Module) -> None:
    """The DCGAN initialisation: N(0, 0.02) convolutions, N(1, 0.02) batch-norm scales."""
    if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(module.weight, 0.0, 0.02)
    elif isinstance(module, nn.BatchNorm2d):
        nn.init.normal_(module.weight, 1.0, 0.02)
        nn.init.zeros_(module.bias)
