"""`random_label` (Golatkar et al. 2020; "RL" in SalUn, Fan et al. 2024): fine-tune on the forget set with
random labels and on the retain set with its own. `salun.py` restricts it to the salient weights.

As SalUn's code runs it for CIFAR-10 (OPTML-Group/Unlearn-Saliency, `Classification/unlearn/RL.py`): each epoch,
a pass over the forget set whose labels are drawn afresh for every batch, uniformly over all classes
(`torch.randint(0, num_classes)`, so a row may draw its own label), then a pass over the retain set, both in
batches of `per_device_train_batch_size`; no gradient clipping. Options keep the earlier variants: labels drawn
once (`label_draw: once`), wrong labels only (`wrong_labels_only`), and one shuffled mix of both sets per epoch
(`passes: mixed`, their CIFAR-100 branch).
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..options import option
from ..synthesis import combine_sources, invert_labels, with_source
from .base import UnlearningMethod
from .registry import register_method
from .schedule import cut_to_epochs, epoch_count, rows_of, shuffled_batches

PASSES = ("sequential", "mixed")
LABEL_DRAWS = ("per_batch", "once")


@dataclass
class RandomLabelOptions:
    passes: str = option(
        "sequential", help="\"sequential\": each epoch a pass over the forget set, then one over the retain set "
                           "(SalUn's CIFAR-10 code); \"mixed\": one shuffled mix of both sets.", choices=PASSES)
    label_draw: str = option(
        "per_batch", help="\"per_batch\": the forget rows' random labels are drawn afresh for every batch (SalUn's "
                          "code); \"once\": drawn once, before training.", choices=LABEL_DRAWS)
    wrong_labels_only: bool = option(
        False, help="Draw only labels other than the true one (default: uniformly over all classes, as the "
                    "reference code does).")


def random_labels(true_labels: torch.Tensor, num_labels: int, wrong_only: bool, generator: torch.Generator) -> torch.Tensor:
    """Uniform random labels (a different class from each true label when `wrong_only`)."""
    if wrong_only:
        shift = torch.randint(1, num_labels, true_labels.shape, generator=generator)
        return (true_labels.cpu() + shift) % num_labels
    return torch.randint(0, num_labels, true_labels.shape, generator=generator)


@register_method
class RandomLabel(UnlearningMethod):
    """Fine-tune on the forget set with random labels (redrawn every batch) and on the retain set."""

    name = "random_label"
    paper = 'Golatkar et al., CVPR 2020 ("RL")'
    Options = RandomLabelOptions

    def build_train_dataset(self) -> Dataset:
        trainer = self.trainer
        forget = trainer.forget_dataset
        labels = None
        if self.options.label_draw == "once":
            true = np.asarray(forget["label"])
            if self.options.wrong_labels_only:
                labels = invert_labels(true, trainer.num_labels, "random_other", seed=trainer.args.seed)
            else:
                labels = np.random.default_rng(trainer.args.seed).integers(0, trainer.num_labels, len(true))
        self._draws = (-1, 0)  # (step, batches drawn in it): seeds the per-batch labels, resumable
        return combine_sources({"retain": with_source(trainer.retain_train_dataset(), "retain"),
                                "forget": with_source(forget, "forget", labels)})

    def batch_plan(self, dataset: Dataset) -> list[list[int]] | None:
        if self.options.passes == "mixed":
            return None
        args = self.trainer.args
        rng = np.random.default_rng(args.seed)
        batch = args.per_device_train_batch_size * args.world_size
        forget, retain = rows_of(dataset, "forget"), rows_of(dataset, "retain")
        epochs = [shuffled_batches(forget, batch, rng) + shuffled_batches(retain, batch, rng)
                  for _ in range(epoch_count(args.num_train_epochs))]
        return cut_to_epochs(epochs, args.num_train_epochs)

    def batch_generator(self) -> torch.Generator:
        """A generator for this batch's labels, seeded by (seed, step, batch within the step, process): the same
        labels when a run is repeated or resumed."""
        step = self.trainer.state.global_step
        count = self._draws[1] + 1 if self._draws[0] == step else 0
        self._draws = (step, count)
        key = f"{self.trainer.args.seed}/{step}/{count}/{self.trainer.args.process_index}".encode()
        return torch.Generator().manual_seed(zlib.crc32(key))

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        if self.options.label_draw == "per_batch" and bool(forget_mask.any()):
            labels = inputs["labels"].clone()
            drawn = random_labels(labels[forget_mask], self.trainer.num_labels, self.options.wrong_labels_only,
                                  self.batch_generator())
            labels[forget_mask] = drawn.to(labels.device)
            inputs["labels"] = labels
        return None  # the Trainer's cross-entropy on the relabelled batch
