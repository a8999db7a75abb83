"""Training one DCGAN on a set of images, through Accelerate (devices, processes, mixed precision)."""

from __future__ import annotations

import copy
import math
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from accelerate import Accelerator
from datasets import Dataset
from tqdm.auto import tqdm

from ..data import to_model_mode
from ..distributed import restore_batchnorm, shard_of_global
from ..distributed import sync_batchnorm as sync_batchnorm_layers
from ..errors import GANTrainingError
from .discriminator import DCGANDiscriminator
from .generator import DCGANGenerator
from .settings import GANSettings


def default_gan_resolution(image_size: tuple[int, int], cap: int = 64) -> int:
    """The data's larger side rounded up to a power of two, between 8 and `cap`."""
    side = max(image_size)
    return int(min(cap, max(8, 2 ** math.ceil(math.log2(side)))))


def gan_array(img: Any, resolution: int, mode: str) -> np.ndarray:
    """One image as the GAN sees it: converted to `mode` ("L" or "RGB", by `to_model_mode`: 16-bit and float
    images scaled to 8 bits), resized to `resolution` x `resolution` (bicubic) when it is not, (C, R, R) uint8."""
    from PIL import Image as PILImage

    img = to_model_mode(img, mode)
    if img.size != (resolution, resolution):
        img = img.resize((resolution, resolution), PILImage.BICUBIC)
    arr = np.asarray(img, dtype=np.uint8)
    return np.array(arr[None] if arr.ndim == 2 else arr.transpose(2, 0, 1), order="C")  # a writable copy


class GANImages(torch.utils.data.Dataset):
    """The images of a `datasets.Dataset` as GAN training data, read when a batch is: item i is image i decoded,
    converted (`gan_array`) and scaled to a (C, R, R) float tensor in [-1, 1].

    `train_gan` reads it through a `torch.utils.data.DataLoader`, so memory holds a batch of images, not the
    data set (45,000 CIFAR-10 images at 64 px were 2.2 GB as one tensor); a batch is fetched in one read of
    the dataset (`__getitems__`). The numbers are those of the whole-set tensor (`gan_pixels`) row for row.
    """

    def __init__(self, dataset: Dataset, resolution: int, num_channels: int, image_column: str = "image"):
        self.images = dataset.select_columns([image_column])
        self.image_column = image_column
        self.resolution = int(resolution)
        self.num_channels = int(num_channels)
        self.mode = "L" if num_channels == 1 else "RGB"

    def __len__(self) -> int:
        return len(self.images)

    def _tensor(self, img: Any) -> torch.Tensor:
        return torch.from_numpy(gan_array(img, self.resolution, self.mode)).float().div(127.5).sub(1.0)

    def __getitem__(self, index: int) -> torch.Tensor:
        return self._tensor(self.images[int(index)][self.image_column])

    def __getitems__(self, indices: list[int]) -> list[torch.Tensor]:
        return [self._tensor(img) for img in self.images[[int(i) for i in indices]][self.image_column]]


def gan_pixels(dataset: Dataset, resolution: int, num_channels: int) -> torch.Tensor:
    """All images of `dataset` (`image` column) as one float tensor (N, C, R, R) in [-1, 1].

    It materialises the whole set (N x C x R x R float32): for small sets, inspection and tests. Training
    reads `GANImages` instead, batch by batch; both give the same numbers."""
    images = GANImages(dataset, resolution, num_channels)
    if len(images) == 0:
        return torch.empty(0, images.num_channels, images.resolution, images.resolution)
    return torch.stack(images.__getitems__(list(range(len(images)))))


def _image_shape(images: torch.utils.data.Dataset) -> tuple[int, int, int]:
    """(channels, height, width) of the items of a map-style dataset of image tensors (or 1-tuples of one)."""
    if isinstance(images, GANImages):
        return images.num_channels, images.resolution, images.resolution
    first = images[0]
    first = first[0] if isinstance(first, (list, tuple)) else first
    return tuple(first.shape) if first.ndim == 3 else (-1, -1, -1)


def train_gan(images: GANImages | torch.utils.data.Dataset | torch.Tensor, settings: GANSettings, *, seed: int = 0,
              mixed_precision: str = "no", cpu: bool = False, description: str = "GAN",
              disable_progress: bool = False, num_workers: int = 0, sync_batchnorm: bool = True,
              start: tuple[DCGANGenerator, DCGANDiscriminator] | None = None, steps: int | None = None,
              with_discriminator: bool = False) -> Any:
    """Train a DCGAN on `images` and return the generator (in eval mode, on CPU); with `with_discriminator`,
    the pair (generator, discriminator).

    `start` warm-starts training from copies of a trained pair (e.g. a prepared generator adapted to a forget
    set; the pair given is not changed, the Adam states start afresh) instead of freshly initialised networks;
    `steps` sets the number of optimizer steps exactly (default: `settings.epochs` passes, at least
    `settings.min_steps`).

    `images` is a `GANImages` (a `datasets.Dataset`'s images, decoded batch by batch by a DataLoader: memory
    does not grow with the number of rows), any map-style torch dataset of (C, R, R) tensors in [-1, 1], or
    one tensor (N, C, R, R) in [-1, 1] (materialised, e.g. `gan_pixels`). The batches are drawn by the same
    seeded sampler whatever the form, so the same images give the same generator. `num_workers` decodes in
    worker processes (default 0: in the training process); it does not change the numbers.

    Under several processes each one sees a shard of every batch and gradients are averaged. With
    `sync_batchnorm` (default) every process also normalises with the global batch's BatchNorm statistics and
    keeps its slice of the global batch's latent vectors, drawn from the single-process seed: N processes then
    train the generator one process of the same global batch trains. Without it, each process normalises its
    shard and draws its own noise. Either way the main process's generator is broadcast at the end, so every
    rank samples the same images from the same seed.
    """
    if isinstance(images, torch.Tensor):
        if images.ndim != 4 or images.shape[2] != images.shape[3]:
            raise ValueError(f"GAN images must be square (N, C, R, R), got shape {tuple(images.shape)}.")
        dataset: torch.utils.data.Dataset = torch.utils.data.TensorDataset(images)
        num_images, channels, resolution = images.shape[0], images.shape[1], images.shape[2]
    else:
        dataset, num_images = images, len(images)
        if num_images == 0:
            raise ValueError(f"{description}: no images to train on.")
        channels, height, width = _image_shape(images)
        if height != width or height < 1:
            raise ValueError(f"GAN images must be square (C, R, R), got items of shape {(channels, height, width)}.")
        resolution = height
    accelerator = Accelerator(mixed_precision=mixed_precision, cpu=cpu)
    torch.manual_seed(seed)
    if start is None:
        generator = DCGANGenerator(settings.latent_dim, channels, resolution, settings.generator_channels)
        discriminator = DCGANDiscriminator(channels, resolution, settings.discriminator_channels)
    else:
        generator, discriminator = (copy.deepcopy(net).float().train() for net in start)
        made = (generator.config.num_channels, generator.config.resolution)
        if made != (channels, resolution) or (discriminator.config.num_channels,
                                              discriminator.config.resolution) != made:
            raise ValueError(f"{description}: the starting GAN makes {made[0]}-channel {made[1]}px images, the data "
                             f"is {channels}-channel {resolution}px: prepare the GAN on this data.")
    betas = (settings.beta1, settings.beta2)
    opt_g = torch.optim.Adam(generator.parameters(), lr=settings.learning_rate, betas=betas)
    opt_d = torch.optim.Adam(discriminator.parameters(), lr=settings.learning_rate, betas=betas)

    batch_size = max(2, min(settings.batch_size, num_images // accelerator.num_processes))
    # workers are not persistent: each epoch's iterator then draws from `generator` as with num_workers=0
    loader = torch.utils.data.DataLoader(
        dataset, batch_size=batch_size, shuffle=True, drop_last=True, num_workers=num_workers,
        generator=torch.Generator().manual_seed(seed),
    )
    steps_per_epoch = max(1, num_images // (batch_size * accelerator.num_processes))
    total_steps = steps if steps is not None else max(settings.min_steps, math.ceil(settings.epochs * steps_per_epoch))
    if total_steps < 1:
        raise ValueError(f"{description}: steps must be >= 1, got {total_steps}.")
    processes, rank = accelerator.num_processes, accelerator.process_index
    synced = processes > 1 and sync_batchnorm
    restore = sync_batchnorm_layers(generator) + sync_batchnorm_layers(discriminator) if synced else []
    generator, discriminator, opt_g, opt_d, loader = accelerator.prepare(generator, discriminator, opt_g, opt_d, loader)

    noise = torch.Generator(device="cpu").manual_seed(seed * 1000 + (0 if synced else rank) + 1)
    progress = tqdm(total=total_steps, desc=description, disable=disable_progress or not accelerator.is_main_process)
    step = 0
    while step < total_steps:
        batches = 0
        for batch in loader:
            if step >= total_steps:
                break
            batches += 1
            real = batch[0] if isinstance(batch, (list, tuple)) else batch
            real = real.to(accelerator.device).contiguous(memory_format=torch.channels_last)
            n = real.shape[0]
            if synced:  # the single process's latent vectors for the global batch, this rank's slice
                z = shard_of_global(lambda size: torch.randn(size, settings.latent_dim, generator=noise),
                                    n * processes, rank, n).to(accelerator.device)
            else:
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
                    "Lower method_args.gan.learning_rate or run without bf16, then run the same command again."
                )
            step += 1
            progress.update(1)
            if step % 50 == 0 or step == total_steps:
                progress.set_postfix(loss_d=f"{loss_d.item():.3f}", loss_g=f"{loss_g.item():.3f}")
        if batches == 0:  # fewer images than one batch per process: stop instead of looping forever
            progress.close()
            raise GANTrainingError(
                f"{description}: {num_images} image(s) are too few to train a GAN on {accelerator.num_processes} "
                f"process(es) (at least {2 * accelerator.num_processes} are needed)."
            )
    progress.close()
    trained = accelerator.unwrap_model(generator)
    adversary = accelerator.unwrap_model(discriminator)
    if accelerator.num_processes > 1:
        from accelerate.utils import broadcast

        with torch.no_grad():
            for net in (trained, adversary) if with_discriminator else (trained,):
                for tensor in net.state_dict().values():
                    tensor.copy_(broadcast(tensor.contiguous(), from_process=0))
    restore_batchnorm(restore)
    trained = trained.to("cpu").float().eval()
    accelerator.free_memory()
    if with_discriminator:
        return trained, adversary.to("cpu").float().eval()
    return trained
