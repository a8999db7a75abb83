"""Sampling pipeline: a trained DCGAN generator -> PIL images shaped like the training data."""

from __future__ import annotations

import torch
from diffusers import DiffusionPipeline, ImagePipelineOutput
from PIL import Image

from .generator import DCGANGenerator


class GANSamplingPipeline(DiffusionPipeline):
    """Draw images from a `DCGANGenerator`.

    >>> pipe = GANSamplingPipeline(DCGANGenerator.from_pretrained("out/generators/retain"))
    >>> images = pipe(num_images=16, generator=torch.Generator().manual_seed(0), image_size=(32, 32), mode="RGB").images

    Like every diffusers pipeline it draws its noise from `generator` (a CPU `torch.Generator`); `seed=` is a
    shortcut for `generator=torch.Generator().manual_seed(seed)` and gives the same images.
    """

    def __init__(self, gan_generator: DCGANGenerator):
        super().__init__()
        self.register_modules(gan_generator=gan_generator)

    @torch.no_grad()
    def __call__(self, num_images: int, seed: int = 0, batch_size: int = 256, image_size: tuple[int, int] | None = None,
                 mode: str | None = None, output_type: str = "pil",
                 generator: torch.Generator | None = None) -> ImagePipelineOutput:
        """Sample `num_images` images; the same `generator` state (or seed) always gives the same images.

        `image_size` (width, height) and `mode` ("L" or "RGB") convert samples to the data's format;
        `output_type="pt"` returns the raw tensor in [-1, 1] instead of PIL images.
        """
        gen = self.gan_generator.eval()
        device = next(gen.parameters()).device
        noise = generator if generator is not None else torch.Generator(device="cpu").manual_seed(seed)
        chunks = []
        for start in self.progress_bar(range(0, num_images, batch_size)):  # set_progress_bar_config to hide
            n = min(batch_size, num_images - start)
            z = torch.randn(n, gen.config.latent_dim, generator=noise).to(device)
            chunks.append(gen(z).float().cpu())
        samples = torch.cat(chunks) if chunks else torch.empty(0, gen.config.num_channels, gen.config.resolution,
                                                              gen.config.resolution)
        if output_type == "pt":
            return ImagePipelineOutput(images=samples)
        arrays = samples.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).permute(0, 2, 3, 1).numpy()
        images = [Image.fromarray(a[:, :, 0], mode="L") if a.shape[2] == 1 else Image.fromarray(a, mode="RGB")
                  for a in arrays]
        if mode is not None:
            images = [img.convert(mode) for img in images]
        if images and image_size is not None and tuple(image_size) != images[0].size:
            images = [img.resize(tuple(image_size), Image.BICUBIC) for img in images]
        return ImagePipelineOutput(images=images)
