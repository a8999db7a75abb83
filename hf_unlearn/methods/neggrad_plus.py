"""`neggrad_plus` (Kurmanji et al. 2023, "Towards Unbounded Machine Unlearning"): minimise
`retain_weight * CE(retain batch) - (1 - retain_weight) * CE(forget batch)`.

As the authors' code runs it (meghdadk/SCRUB, `thirdparty/repdistiller/helper/loops.py::train_negrad`): an epoch
is one pass over the retain set; each retain batch is paired with the next batch of the forget set, which is
cycled (`zip(retain_loader, cycle(forget_loader))`: within an epoch the forget batches repeat in one shuffled order),
and each step takes the mean cross-entropy of each batch. No gradient clipping.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset

from ..options import non_negative, option
from .base import UnlearningMethod
from .losses import masked_mean
from .registry import register_method
from .schedule import cut_to_epochs, epoch_count, rows_of, shuffled_batches


@dataclass
class NegGradPlusOptions:
    retain_weight: float = option(
        0.99, help="Weight of the retain loss; the forget loss gets 1 - retain_weight (Kurmanji et al.'s alpha).",
        range=(lambda x: 0 < x < 1, "in (0, 1)"))
    forget_batch_size: int = option(
        0, help="Rows of the forget batch paired with each retain batch; 0: the retain batch size "
                "(per_device_train_batch_size x processes), full paired batches as in the authors' code.",
        range=(non_negative, ">= 0"))


@register_method
class NegGradPlus(UnlearningMethod):
    """Descent on a retain batch and ascent on a forget batch at every step."""

    name = "neggrad_plus"
    paper = 'Kurmanji et al., NeurIPS 2023'
    Options = NegGradPlusOptions

    def build_train_dataset(self) -> Dataset:
        return self.real_rows(forget=True)

    def batch_plan(self, dataset: Dataset) -> list[list[int]]:
        args = self.trainer.args
        rng = np.random.default_rng(args.seed)
        retain_batch = args.per_device_train_batch_size * args.world_size
        forget_batch = self.options.forget_batch_size or retain_batch
        retain_rows, forget_rows = rows_of(dataset, "retain"), rows_of(dataset, "forget")
        epochs = []
        for _ in range(epoch_count(args.num_train_epochs)):
            retain = shuffled_batches(retain_rows, retain_batch, rng)
            forget = shuffled_batches(forget_rows, forget_batch, rng)  # a new order each epoch, cycled
            epochs.append([r + forget[i % len(forget)] for i, r in enumerate(retain)])
        return cut_to_epochs(epochs, args.num_train_epochs)

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        outputs = model(pixel_values=inputs["pixel_values"])
        losses = F.cross_entropy(outputs.logits, inputs["labels"], reduction="none")
        weight = self.options.retain_weight
        loss = weight * masked_mean(losses, ~forget_mask) - (1.0 - weight) * masked_mean(losses, forget_mask)
        return (loss, outputs) if return_outputs else loss
