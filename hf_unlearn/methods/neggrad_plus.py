"""`neggrad_plus` (Kurmanji et al. 2023, "Towards Unbounded Machine Unlearning"): minimise
`retain_weight * CE(retain) - (1 - retain_weight) * CE(forget)` over mixed batches."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from datasets import Dataset

from ..synthesis import combine_sources, with_source
from .base import UnlearningMethod
from .losses import masked_mean
from .registry import register_method


@dataclass
class NegGradPlusOptions:
    retain_weight: float = field(
        default=0.99,
        metadata={"help": "Weight of the retain loss; the forget loss gets 1 - retain_weight (Kurmanji et al.'s alpha)."},
    )

    def check(self) -> None:
        if not 0.0 < self.retain_weight < 1.0:
            raise ValueError(f"neggrad_plus retain_weight must be in (0, 1), got {self.retain_weight}.")


@register_method
class NegGradPlus(UnlearningMethod):
    """Descent on retain rows and ascent on forget rows, in the same batches."""

    name = "neggrad_plus"
    Options = NegGradPlusOptions

    def build_train_dataset(self) -> Dataset:
        return combine_sources({"retain": with_source(self.trainer.retain_train_dataset(), "retain"),
                                "forget": with_source(self.trainer.forget_dataset, "forget")})

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        outputs = model(pixel_values=inputs["pixel_values"])
        losses = F.cross_entropy(outputs.logits, inputs["labels"], reduction="none")
        weight = self.options.retain_weight
        loss = weight * masked_mean(losses, ~forget_mask) - (1.0 - weight) * masked_mean(losses, forget_mask)
        return (loss, outputs) if return_outputs else loss
