"""Training one DCGAN on a set of images, through Accelerate (devices, processes, mixed precision)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from datasets import Dataset
from tqdm.auto import tqdm

from ..errors import GANTrainingError
from .discriminator import DCGANDiscriminator
from .generator import DCGANGenerator


@dataclass
class GANSettings:
    """Hyperparameters of one DCGAN training run (the authors' defaults)."""

    latent_dim: int = 100
    generator_channels: int = 64
    discriminator_channels: int = 64
    epochs: float = 20.0
    min_steps: int = 300
    batch_size: int = 128
    learning_rate: float = 2e-4
    beta1: float = 0.5
    beta2: float = 0.999

    @classmethod
    def from_config(cls, config: Any) -> GANSettings:
        """Read the `gan_*` fields of an `UnlearningConfig`."""
        return cls(
            latent_dim=config.gan_latent_dim,
            generator_channels=config.gan_generator_channels,
            discriminator_channels=config.gan_discriminator_channels,
            epochs=config.gan_epochs,
            min_steps=config.gan_min_steps,
            batch_size=config.gan_batch_size,
            learning_rate=config.gan_learning_rate,
            beta1=config.gan_beta1,
            beta2=config.gan_beta2,
        )


def default_gan_resolution(image_size: tuple[int, int], cap: int = 64) -> int:
    """The data's larger side rounded up to a power of two, between 8 and `cap`."""
    side = max(image_size)
    return int(min(cap, max(8, 2 ** math.ceil(math.log2(side)))))


def gan_pixels(dataset: Dataset, resolution: int, num_channels: int) -> torch.Tensor:
    """All images of `dataset` (`image` column) as one float tensor (N, C, R, R) in [-1, 1]."""
    from PIL import Image as PILImage

    mode = "L" if num_channels == 1 else "RGB"

    def to_array(batch: dict[str, list[Any]]) -> dict[str, list[np.ndarray]]:
        arrays = []
        for img in batch["image"]:
            img = img.convert(mode)
            if img.size != (resolution, resolution):
                img = img.resize((resolution, resolution), PILImage.BICUBIC)
            arr = np.asarray(img, dtype=np.uint8)
            arrays.append(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1))
        return {"pixels": arrays}

    pixels = dataset.map(to_array, batched=True, remove_columns=dataset.column_names, keep_in_memory=True,
                         desc="Preparing GAN images").with_format("torch")[:]["pixels"]
    return pixels.float().div(127.5).sub(1.0)


def train_gan(pixels: torch.Tensor, settings: GANSettings, *, seed: int = 0, mixed_precision: str = "no",
              cpu: bool = False, description: str = "GAN", disable_progress: bool = False) -> DCGANGenerator:
    """Train a DCGAN on `pixels` (N, C, R, R) in [-1, 1] and return the generator (in eval mode, on CPU).

    Under several processes each one sees a shard of the data and gradients are averaged; the weights stay
    in step but BatchNorm running statistics are each rank's own, so the main process's generator is
    broadcast at the end: every rank then samples the same images from the same seed.
    """
    if pixels.ndim != 4 or pixels.shape[2] != pixels.shape[3]:
        raise ValueError(f"GAN images must be square (N, C, R, R), got shape {tuple(pixels.shape)}.")
    num_images, channels, resolution = pixels.shape[0], pixels.shape[1], pixels.shape[2]
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    torch.manual_seed(seed)
    generator = DCGANGenerator(settings.latent_dim, channels, resolution, settings.generator_channels)
    discriminator = DCGANDiscriminator(channels, resolution, settings.discriminator_channels)
    betas = (settings.beta1, settings.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=settings.learning_rate, betas=betas)

    batch_size = max(2, min(settings.batch_size, num_images // accelerator.num_processes))
    loader = torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(pixels), batch_size=batch_size, shuffle=True, drop_last=True,
        generator=torch.Generator().manual_seed(seed),
    )
    steps_per_epoch = max(1, num_images // (batch_size * accelerator.num_processes))
    total_steps = max(settings.min_steps, math.ceil(settings.epochs * steps_per_epoch))
    generator, discriminator, opt_g, opt_d, loader = accelerator.prepare(generator, discriminator, opt_g, opt_d, loader)

    noise = torch.Generator(device="cpu").manual_seed(seed * 1000 + accelerator.process_index + 1)
    progress = tqdm(total=total_steps, desc=description, disable=disable_progress or not accelerator.is_main_process)
    step = 0
    while step < total_steps:
        for (real,) in loader:
            if step >= total_steps:
                break
            real = real.to(accelerator.device).contiguous(memory_format=torch.channels_last)
            n = real.shape[0]
            z = torch.randn(n, settings.latent_dim, generator=noise).to(accelerator.device)
            ones = torch.ones(n, device=accelerator.device)
            zeros = torch.zeros(n, device=accelerator.device)
            with accelerator.autocast():
                fake = generator(z)
                loss_d = F.binary_cross_entropy_with_logits(discriminator(real).float(), ones) + \
                    F.binary_cross_entropy_with_logits(discriminator(fake.detach()).float(), zeros)
            opt_d.zero_grad(set_to_none=True)
            accelerator.backward(loss_d)
            opt_d.step()
            with accelerator.autocast():
                loss_g = F.binary_cross_entropy_with_logits(discriminator(fake).float(), ones)
            opt_g.zero_grad(set_to_none=True)
            accelerator.backward(loss_g)
            opt_g.step()
            if not (torch.isfinite(loss_d) and torch.isfinite(loss_g)):
                raise GANTrainingError(
                    f"{description} training diverged at step {step} (loss_D={loss_d.item()}, loss_G={loss_g.item()}). "
                    "Lower --gan_learning_rate or run without bf16, then run the same command again."
                )
            step += 1
            progress.update(1)
            if step % 50 == 0 or step == total_steps:
                progress.set_postfix(loss_d=f"{loss_d.item():.3f}", loss_g=f"{loss_g.item():.3f}")
    progress.close()
    trained = accelerator.unwrap_model(generator)
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast

        with torch.no_grad():
            for tensor in trained.state_dict().values():
                tensor.copy_(broadcast(tensor.contiguous(), from_process=0))
    trained = trained.to("cpu").float().eval()
    accelerator.free_memory()
    return trained
