"""`neggrad` (Golatkar et al. 2020; "GA" in SalUn, Fan et al. 2024): gradient ascent on the forget set,
maximising its cross-entropy. Unbounded: a few steps at a small learning rate, or the model collapses.
`neggrad_plus.py` balances it with descent on the retain set."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from datasets import Dataset

from .base import UnlearningMethod
from .registry import register_method


@register_method
class NegGrad(UnlearningMethod):
    """Gradient ascent on the forget set only."""

    name = "neggrad"
    paper = 'Golatkar et al., CVPR 2020 ("GA")'

    def build_train_dataset(self) -> Dataset:
        return self.real_rows(retain=False, forget=True)

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        outputs = model(pixel_values=inputs["pixel_values"])
        loss = -F.cross_entropy(outputs.logits, inputs["labels"])
        return (loss, outputs) if return_outputs else loss
