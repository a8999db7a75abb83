"""`salun` (Fan et al. 2024, "SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency"):
random labelling (`random_label.py`), but only the most salient weights move: those whose forget-loss
gradient is in the top `mask_ratio` by magnitude (one global threshold over the weights with any gradient at
all), computed once on the original model."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch.utils.data import DataLoader
from transformers import TrainerCallback

from ..data import collate_images
from .random_label import RandomLabel
from .registry import register_method


@dataclass
class SalUnOptions:
    mask_ratio: float = field(
        default=0.5, metadata={"help": "Share of weights allowed to change: those with the largest forget-loss gradient."}
    )

    def check(self) -> None:
        if not 0.0 < self.mask_ratio <= 1.0:
            raise ValueError(f"salun mask_ratio must be in (0, 1], got {self.mask_ratio}.")


class GradientMask(TrainerCallback):
    """Zero the gradient of every weight outside the saliency mask before each optimizer step."""

    def __init__(self, masks: list[tuple[torch.nn.Parameter, torch.Tensor]]):
        self.masks = masks

    def on_pre_optimizer_step(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        for param, mask in self.masks:
            if param.grad is not None:
                param.grad.mul_(mask.to(param.grad.device, param.grad.dtype))


@register_method
class SalUn(RandomLabel):
    """Random labelling restricted to the weights most salient for the forget set."""

    name = "salun"
    Options = SalUnOptions

    def saliency_masks(self) -> list[tuple[torch.nn.Parameter, torch.Tensor]]:
        """1 for the `mask_ratio` share of weights with the largest |gradient of the forget loss|, else 0."""
        trainer = self.trainer
        model = trainer.model
        params = [p for p in model.parameters() if p.requires_grad]
        grads = [torch.zeros_like(p) for p in params]
        device = next(model.parameters()).device
        loader = DataLoader(trainer.forget_dataset.with_transform(trainer.transform),
                            batch_size=trainer.args.per_device_eval_batch_size, collate_fn=collate_images)
        was_training = model.training
        model.eval()  # as SalUn: gradients of the original model's forget loss, without batch-norm updates
        for batch in loader:
            model.zero_grad(set_to_none=True)
            logits = model(pixel_values=batch["pixel_values"].to(device)).logits
            # float64, so that samples predicted with near-certainty still contribute (in fp32 a true-class
            # probability within 6e-8 of 1 rounds to 1 and its gradient to exactly 0)
            F.cross_entropy(logits.double(), batch["labels"].to(device), reduction="sum").backward()
            for g, p in zip(grads, params, strict=True):
                if p.grad is not None:
                    g += p.grad.abs()
        model.zero_grad(set_to_none=True)
        model.train(was_training)
        # Rank only weights that influence the output at all: e.g. a 3x3 kernel on a 1x1 feature map (an
        # ImageNet-stem ResNet at 32 px) has 8 taps that only ever see padding, and such dead weights can be
        # most of the model; counting them would turn "the 50% most salient" into "every live weight".
        flat = torch.cat([g.flatten() for g in grads])
        live = flat[flat > 0]
        if live.numel() == 0:
            raise ValueError("salun: the forget loss has no gradient at all on this model; nothing to mask.")
        keep = max(1, int(round(self.options.mask_ratio * live.numel())))
        threshold = torch.topk(live, keep, sorted=True).values[-1]
        return [(p, ((g >= threshold) & (g > 0)).float()) for p, g in zip(params, grads, strict=True)]

    def callbacks(self) -> list[TrainerCallback]:
        start = time.perf_counter()
        masks = self.saliency_masks()
        kept = sum(int(m.sum()) for _, m in masks) / sum(m.numel() for _, m in masks)
        self.trainer.log_phase("saliency_mask", time.perf_counter() - start, share_of_all_weights_free=f"{kept:.3f}")
        return [GradientMask(masks)]
