"""`finetune`: keep training on the retain set only (catastrophic forgetting; a baseline)."""

from __future__ import annotations

from datasets import Dataset

from ..synthesis import combine_sources, with_source
from .base import UnlearningMethod
from .registry import register_method


@register_method
class FineTune(UnlearningMethod):
    """Fine-tune the original model on the retain set."""

    name = "finetune"
    paper = 'Warnecke et al., NDSS 2023 ("FT")'

    def build_train_dataset(self) -> Dataset:
        return combine_sources({"retain": with_source(self.trainer.retain_train_dataset(), "retain")})
