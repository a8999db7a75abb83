"""`retrain`: train a fresh model from scratch on the retain set: the gold-standard reference."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..data import AUGMENTATIONS, flip_half
from ..options import option
from .finetune import FineTune
from .registry import register_method


@dataclass
class RetrainOptions:
    augmentation: str = option(
        "none", help="\"flip\": mirror each training image left-right with probability 1/2, as the original was "
                     "trained (benchmark mode sets it from original_augmentation); \"none\": as stored.",
        choices=AUGMENTATIONS)


@register_method
class Retrain(FineTune):
    """Same data as `finetune`, but from freshly initialised weights (seeded by `--seed`)."""

    name = "retrain"
    paper = ""  # the gold standard every method is compared with, not a published unlearning method
    reinitialize_model = True
    Options = RetrainOptions

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        if self.options.augmentation == "flip":
            flip_half(inputs["pixel_values"])
        return None  # the Trainer's cross-entropy on the (augmented) batch
