"""`coun` (Khalil, Setayesh & Li, "CoUn: Empowering Machine Unlearning via Contrastive Learning", arXiv 2509.16391,
NeurIPS 2025): fine-tune on the retain set with cross-entropy plus a contrastive loss between two augmented
views of each retain image. The forget data is never used: contrastive learning with the retain data pulls each
forget image's representation towards retain images it resembles (often of other classes), so the model forgets
it as a retrained model would, through semantic similarity, rather than by being pushed away from it.

As the paper's Algorithm 1 and its Appendix B.2 code run it (the authors' repository is not public yet; the
paper's code listing is the reference):

* each retain batch I gives two views X = t(I), X' = t'(I): one transform pair drawn for the batch (Algorithm 1;
  `transform_draw`), of the augmentation the model was trained with (`views: original`, the config's
  `training_augmentation`: their Sec. 4.3 / Fig. 9 find the views work best when they follow the retrained model's
  augmentation; their CIFAR views are random crops with padding and horizontal flips); Z, Z' are the
  representations the classifier head reads (the penultimate layer: a hook on the last linear layer's input; no
  projection head);
* S_ij = cos(z_i, z'_j) / temperature over the N x N pairs of the batch; the contrastive loss is the sum of the
  two directions' cross-entropies with the diagonal as targets, -(mean_i log softmax_j S_ij at j = i) -
  (mean_j log softmax_i S_ij at i = j) (only cross-view negatives, unlike SimCLR's 2N - 2);
* the loss is CE(h(Z), Y) on the first view's logits + contrastive_weight * that contrastive loss.

They fine-tune 50 epochs, SGD (momentum 0.9, weight decay 5e-4), lr tuned in [0.01, 0.1] with a cosine
schedule, batch 256 (the batch their retrained model was trained with), contrastive_weight tuned in [0.1, 6] and
temperature in (0, 0.3] (0.1 best in their ablation). Deliberate differences: the views are made from the model's
input (the image processor's output; e.g. CIFAR-10 at 64 px) with padding scaled to it (`crop_padding` 0.125 of
the side: their 4 px at 32 px), padding with black pixels; the epoch budget, learning rate and weight are tuned to
this benchmark like every method's; the batch is the shared `per_device_train_batch_size` (this benchmark's
retrained model's batch, as their rule asks).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..constants import TRAINING_AUGMENTATIONS
from ..options import non_negative, option, positive
from ..quality import head_linear
from .base import UnlearningMethod
from .registry import register_method


@dataclass
class CoUnOptions:
    contrastive_weight: float = option(
        1.0, help="Weight of the contrastive loss beside cross-entropy (their lambda, tuned in [0.1, 6]).",
        range=(non_negative, ">= 0"))
    temperature: float = option(
        0.1, help="Temperature of the cosine similarities (their tau, tuned in (0, 0.3]; 0.1 best in their "
                  "ablation).", range=(positive, "> 0"))
    views: str = option(
        "original", help="How the two views of each image are made: \"original\" as the model was trained (the "
                         "config's training_augmentation: the paper finds the views work best when they follow "
                         "the retrained model's augmentation, its Sec. 4.3; unset: crop_flip, the paper's CIFAR "
                         "views), or one of crop_flip, flip, none.", choices=("original",) + TRAINING_AUGMENTATIONS)
    crop_padding: float = option(
        0.125, help="Random-crop padding of crop_flip views, as a fraction of the input's side (their 4 px at "
                    "32 px).", range=(lambda x: 0 <= x < 0.5, "in [0, 0.5)"))
    transform_draw: str = option(
        "per_batch", help="\"per_batch\": one transform pair drawn for the whole batch, as the paper's Algorithm 1 "
                          "(X = t(I), X' = t'(I)); \"per_image\": each image its own pair (this port before issue 30).",
        choices=("per_batch", "per_image"))


def contrastive_loss(z: torch.Tensor, z_other: torch.Tensor, temperature: float) -> torch.Tensor:
    """CoUn's loss between the representations of two views (rows paired by index): the cross-entropy of the
    cosine similarities / temperature with the diagonal as targets, in both directions, summed."""
    similarity = F.normalize(z.flatten(1), dim=1) @ F.normalize(z_other.flatten(1), dim=1).T / temperature
    targets = torch.arange(len(z), device=z.device)
    return F.cross_entropy(similarity, targets) + F.cross_entropy(similarity.T, targets)


def augment(pixel_values: torch.Tensor, padding: int, to_input: Any, to_pixels: Any, flip: bool = True,
            per_batch: bool = False) -> torch.Tensor:
    """A random view of each image of a batch (N, C, H, W, the model's input): a crop of the image padded with
    `padding` black pixels on every side (none when 0), then mirrored left-right with probability 1/2 (when
    `flip`); one crop offset and one flip for the whole batch when `per_batch`, else one per image (torch's global
    RNG)."""
    n, _, height, width = pixel_values.shape
    draws = 1 if per_batch else n
    view = pixel_values
    if padding:
        padded = F.pad(to_pixels(pixel_values), (padding,) * 4)  # black in pixel units, as torchvision pads
        top = torch.randint(0, 2 * padding + 1, (draws,)).expand(n).tolist()
        left = torch.randint(0, 2 * padding + 1, (draws,)).expand(n).tolist()
        crops = [padded[i, :, t:t + height, s:s + width] for i, (t, s) in enumerate(zip(top, left, strict=True))]
        view = to_input(torch.stack(crops))
    if not flip:
        return view
    mirrored = (torch.rand(draws) < 0.5).expand(n)
    return torch.where(mirrored.view(-1, 1, 1, 1).to(view.device), view.flip(-1), view)


def head_input_hook(model: torch.nn.Module) -> torch.nn.Module:
    """The layer whose input is the representation the classifier reads: the model's last linear layer."""
    found = head_linear(model)
    if found is None:
        raise ValueError("coun needs a classifier whose head is a linear layer (its input is the representation "
                         "the contrastive loss compares); this model has none.")
    return found[1]


@register_method
class CoUn(UnlearningMethod):
    """Fine-tune on the retain set with cross-entropy plus a contrastive loss between two views of each image."""

    name = "coun"
    paper = 'Khalil, Setayesh & Li, NeurIPS 2025 (arXiv 2509.16391)'
    Options = CoUnOptions
    reads_training_augmentation = True  # its views follow the model's (`views: original`)

    def validate(self) -> None:
        head_input_hook(self.trainer.model)

    def views(self) -> str:
        """The views this run makes (one of `TRAINING_AUGMENTATIONS`): the option's, or with "original" the model's
        training augmentation (the config's `training_augmentation`; unset: crop_flip, the paper's)."""
        if self.options.views != "original":
            return self.options.views
        return self.trainer.args.training_augmentation or "crop_flip"

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        pixels, labels = inputs["pixel_values"], inputs["labels"]
        to_input, to_pixels = self.trainer.transform.pixel_maps()
        views = self.views()
        padding = int(round(self.options.crop_padding * pixels.shape[-1])) if views == "crop_flip" else 0
        flip, per_batch = views != "none", self.options.transform_draw == "per_batch"
        captured: list[torch.Tensor] = []
        hook = head_input_hook(model).register_forward_pre_hook(lambda _, args: captured.append(args[0]))
        try:
            outputs = model(pixel_values=augment(pixels, padding, to_input, to_pixels, flip, per_batch))
            model(pixel_values=augment(pixels, padding, to_input, to_pixels, flip, per_batch))
        finally:
            hook.remove()
        loss = F.cross_entropy(outputs.logits, labels)
        if self.options.contrastive_weight:
            loss = loss + self.options.contrastive_weight * contrastive_loss(captured[0], captured[1],
                                                                             self.options.temperature)
        return (loss, outputs) if return_outputs else loss
