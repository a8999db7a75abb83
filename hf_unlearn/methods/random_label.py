"""`random_label` (Golatkar et al. 2020; "RL" in SalUn): relabel the forget set at random (each row a random
wrong label) and fine-tune on it with the retain set. `salun.py` restricts it to the salient weights."""

from __future__ import annotations

import numpy as np
from datasets import Dataset

from ..synthesis import combine_sources, invert_labels, with_source
from .base import UnlearningMethod
from .registry import register_method


@register_method
class RandomLabel(UnlearningMethod):
    """Fine-tune on the retain set plus the forget set with uniformly random wrong labels."""

    name = "random_label"

    def build_train_dataset(self) -> Dataset:
        trainer = self.trainer
        forget = trainer.forget_dataset
        labels = invert_labels(np.asarray(forget["label"]), trainer.num_labels, "random_other", seed=trainer.args.seed)
        return combine_sources({"retain": with_source(trainer.retain_train_dataset(), "retain"),
                                "forget": with_source(forget, "forget", labels)})
