"""`finetune`: keep training on the retain set only (catastrophic forgetting; a baseline)."""

from __future__ import annotations

from .base import UnlearningMethod
from .registry import register_method


@register_method
class FineTune(UnlearningMethod):
    """Fine-tune the original model on the retain set."""

    name = "finetune"
    paper = 'Warnecke et al., NDSS 2023 ("FT")'

