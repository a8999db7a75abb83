"""`l1_sparse` (Jia et al. 2023, "Model Sparsity Can Simplify Machine Unlearning"): fine-tune on the retain
set with an L1 penalty on the weights whose strength decays linearly over the epochs.

As the authors' code runs it (OPTML-Group/Unlearn-Sparse, also in Unlearn-Saliency `unlearn/FT.py::FT_l1`): the
loss is CE + alpha_e * ||theta||_1 over every parameter, with alpha_e = l1_weight * (1 - e / E) held for the
whole of epoch e = 0 .. E-1 (no_l1_epochs = 0); no gradient clipping."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from ..options import non_negative, option
from .base import UnlearningMethod
from .registry import register_method


@dataclass
class L1SparseOptions:
    l1_weight: float = option(5e-4, help="Initial L1 strength gamma (the paper's 5e-4).", range=(non_negative, ">= 0"))


def l1_strength(l1_weight: float, epoch: float, epochs: float) -> float:
    """The L1 weight during (fractional) epoch `epoch` of `epochs`: held for each whole epoch, as theirs."""
    return l1_weight * max(0.0, 1.0 - int(epoch) / max(epochs, 1e-12))


@register_method
class L1Sparse(UnlearningMethod):
    """Retain-set fine-tuning + alpha_e * ||theta||_1, alpha_e = l1_weight * (1 - epoch / epochs)."""

    name = "l1_sparse"
    paper = 'Jia et al., NeurIPS 2023 ("Model Sparsity Can Simplify Machine Unlearning")'
    Options = L1SparseOptions

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        outputs = model(pixel_values=inputs["pixel_values"])
        alpha = l1_strength(self.options.l1_weight, self.trainer.state.epoch or 0.0, self.trainer.args.num_train_epochs)
        l1 = sum(p.abs().sum() for p in model.parameters() if p.requires_grad)
        loss = F.cross_entropy(outputs.logits, inputs["labels"]) + alpha * l1
        return (loss, outputs) if return_outputs else loss
