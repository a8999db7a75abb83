"""`salun` (Fan et al. 2024, "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency"):
random labelling (`random_label.py`, with its passes and per-batch labels), but only the most salient weights
move: those whose |forget-loss gradient| is in the top `mask_ratio`, computed once on the original model.

As the authors' code computes it (OPTML-Group/Unlearn-Saliency, `Classification/generate_mask.py`): the
gradient of the batch-mean cross-entropy is summed over the forget set's batches (model in eval mode) and its
absolute value ranked, one global threshold over all weights; during unlearning the gradients outside the mask
are zeroed, and the masked-out weights are held at their original values with their momentum zeroed
(`unlearn/RL.py::_restore_masked_params`). Deliberate differences, each kept because it follows the paper where
the released code departs from it: the released `generate_mask.py` takes an SGD step after every batch while
summing (so later batches see a moved model) and its rank test (`ranks < threshold_index` on an ascending
`argsort`) keeps the smallest gradients; here the model stays the original and the largest |sum| are kept, as
the paper defines saliency. Weights that get no gradient at all (e.g. kernel taps that only ever see padding)
are left out of the ranking, or "the 50% most salient" could mean every live weight."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import TrainerCallback

from ..data import collate_images
from ..options import option
from .random_label import RandomLabel, RandomLabelOptions
from .registry import register_method


@dataclass
class SalUnOptions(RandomLabelOptions):
    mask_ratio: float = option(
        0.5, help="Share of weights allowed to change: those with the largest forget-loss gradient.",
        range=(lambda x: 0 < x <= 1, "in (0, 1]"))


class GradientMask(TrainerCallback):
    """Zero the gradient of every weight outside the saliency mask before each optimizer step; after it, put the
    masked-out weights back at their original values (weight decay moved them) and zero their momentum."""

    def __init__(self, masks: list[tuple[torch.nn.Parameter, torch.Tensor]]):
        self.masks = masks
        self.originals = [param.detach().clone() for param, _ in masks]

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for param, mask in self.masks:
            if param.grad is not None:
                param.grad.mul_(mask.to(param.grad.device, param.grad.dtype))

    @torch.no_grad()
    def on_optimizer_step(self, args: Any, state: Any, control: Any, optimizer: Any = None, **kwargs: Any) -> None:
        optimizer_state = getattr(getattr(optimizer, "optimizer", optimizer), "state", {})
        for (param, mask), original in zip(self.masks, self.originals, strict=True):
            mask = mask.to(param.device, param.dtype)
            param.mul_(mask).add_(original.to(param.device) * (1 - mask))
            buffer = optimizer_state.get(param, {}).get("momentum_buffer")
            if buffer is not None:
                buffer.mul_(mask)


def top_share_mask(summed_gradients: list[torch.Tensor], share: float) -> list[torch.Tensor]:
    """Masks (1 = free to move) of the `share` of weights with the largest |summed gradient|, one threshold over
    all tensors; weights whose summed gradient is exactly 0 are never free."""
    magnitudes = [g.abs() for g in summed_gradients]
    # Rank only weights that influence the output at all: e.g. a 3x3 kernel on a 1x1 feature map (an
    # ImageNet-stem ResNet at 32 px) has 8 taps that only ever see padding, and such dead weights can be
    # most of the model; counting them would turn "the 50% most salient" into "every live weight".
    flat = torch.cat([m.flatten() for m in magnitudes])
    live = flat[flat > 0]
    if live.numel() == 0:
        raise ValueError("salun: the forget loss has no gradient at all on this model; nothing to mask.")
    keep = max(1, int(round(share * live.numel())))
    threshold = torch.topk(live, keep, sorted=True).values[-1]
    return [((m >= threshold) & (m > 0)).float() for m in magnitudes]


@register_method
class SalUn(RandomLabel):
    """Random labelling restricted to the weights most salient for the forget set."""

    name = "salun"
    paper = 'Fan et al., ICLR 2024'
    Options = SalUnOptions

    def saliency_masks(self) -> list[tuple[torch.nn.Parameter, torch.Tensor]]:
        """1 for the `mask_ratio` share of weights with the largest |summed gradient of the forget loss|, else 0."""
        trainer = self.trainer
        model = trainer.model
        params = [p for p in model.parameters() if p.requires_grad]
        grads = [torch.zeros_like(p) for p in params]
        device = next(model.parameters()).device
        loader = DataLoader(trainer.forget_dataset.with_transform(trainer.transform),
                            batch_size=trainer.args.per_device_train_batch_size, collate_fn=collate_images)
        was_training = model.training
        model.eval()  # as SalUn: gradients of the original model's forget loss, without batch-norm updates
        for batch in loader:
            model.zero_grad(set_to_none=True)
            logits = model(pixel_values=batch["pixel_values"].to(device)).logits
            # float64, so that samples predicted with near-certainty still contribute (in fp32 a true-class
            # probability within 6e-8 of 1 rounds to 1 and its gradient to exactly 0)
            F.cross_entropy(logits.double(), batch["labels"].to(device)).backward()  # the batch mean, as theirs
            for g, p in zip(grads, params, strict=True):
                if p.grad is not None:
                    g += p.grad  # summed with its sign; the magnitude is taken of the sum
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        return list(zip(params, top_share_mask(grads, self.options.mask_ratio), strict=True))

    def callbacks(self) -> list[TrainerCallback]:
        start = time.perf_counter()
        masks = self.saliency_masks()
        kept = sum(int(m.sum()) for _, m in masks) / sum(m.numel() for _, m in masks)
        self.trainer.log_phase("saliency_mask", time.perf_counter() - start, share_of_all_weights_free=f"{kept:.3f}")
        return [GradientMask(masks)]
