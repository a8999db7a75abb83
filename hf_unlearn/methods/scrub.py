"""`scrub` (Kurmanji et al. 2023, "Towards Unbounded Machine Unlearning"): the original model, frozen, teaches
the unlearned one: move away from it on the forget set (maximised KL) and stay close to it on the retain set
(KL + cross-entropy), in alternating passes.

As the authors' code runs it (meghdadk/SCRUB, `large_scale_unlearning.ipynb` with
`thirdparty/repdistiller/helper/loops.py::train_distill`): each epoch, while the epoch number is at most
`msteps`, one "max" pass over the whole forget set (batches of `forget_batch_size`, loss -KL), then one "min"
pass over the whole retain set (batches of `per_device_train_batch_size`, loss gamma CE + alpha KL). KL is
KL(teacher || student) of the temperature-softened outputs, averaged over the batch and scaled by T^2 (their
`DistillKL`). Their CIFAR settings: 3 epochs, msteps 2, batches 128 / 32, SGD lr 5e-4 momentum 0.9 wd 5e-4,
constant learning rate, no gradient clipping (the `clip` argument is never applied). The loss and the passes are
theirs; the learning rate, epochs and schedule come from the config like every method's (the benchmark recipe sets
their constant schedule).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from datasets import Dataset

from ..options import at_least, non_negative, option, positive
from .base import UnlearningMethod
from .losses import FrozenModel, distillation_kl
from .registry import register_method
from .schedule import cut_to_epochs, epoch_count, rows_of, shuffled_batches


@dataclass
class ScrubOptions:
    temperature: float = option(4.0, help="Distillation temperature (the authors' kd_T = 4).", range=(positive, "> 0"))
    kl_weight: float = option(0.001, help="Weight of the retain KL term (the authors' alpha).")
    ce_weight: float = option(0.99, help="Weight of the retain cross-entropy (the authors' gamma).")
    msteps: int = option(
        2, help="Epochs that start with a max pass over the forget set (the authors' msteps = 2); later epochs run "
                "the min pass over the retain set only.", range=(non_negative, ">= 0"))
    forget_batch_size: int = option(
        32, help="Batch size of the max passes (the authors' del_batch_size = 32); the min passes use "
                 "per_device_train_batch_size (theirs: 128) x processes.", range=(at_least(1), ">= 1"))


@register_method
class Scrub(UnlearningMethod):
    """SCRUB: alternating max passes (KL away from the teacher, forget set) and min passes (KL + CE, retain set)."""

    name = "scrub"
    paper = 'Kurmanji et al., NeurIPS 2023'
    Options = ScrubOptions

    def build_train_dataset(self) -> Dataset:
        self.teacher = FrozenModel(self.trainer.model)
        return self.real_rows(forget=True)

    def batch_plan(self, dataset: Dataset) -> list[list[int]]:
        args = self.trainer.args
        rng = np.random.default_rng(args.seed)
        forget, retain = rows_of(dataset, "forget"), rows_of(dataset, "retain")
        retain_batch = args.per_device_train_batch_size * args.world_size
        epochs = []
        for epoch in range(1, epoch_count(args.num_train_epochs) + 1):  # the authors count epochs from 1
            batches = shuffled_batches(forget, self.options.forget_batch_size, rng) if epoch <= self.options.msteps else []
            epochs.append(batches + shuffled_batches(retain, retain_batch, rng))
        return cut_to_epochs(epochs, args.num_train_epochs)

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        o = self.options
        outputs = model(pixel_values=inputs["pixel_values"])
        kl = distillation_kl(outputs.logits, self.teacher.logits(inputs["pixel_values"]), o.temperature).mean()
        if bool(forget_mask.all()):  # a max pass: every batch of the plan is all forget or all retain rows
            loss = -kl
        else:
            loss = o.ce_weight * F.cross_entropy(outputs.logits, inputs["labels"]) + o.kl_weight * kl
        return (loss, outputs) if return_outputs else loss
