"""`retrain`: train a fresh model from scratch on the retain set: the gold-standard reference."""

from __future__ import annotations

from .finetune import FineTune
from .registry import register_method


@register_method
class Retrain(FineTune):
    """Same data as `finetune`, but from freshly initialised weights (seeded by `--seed`)."""

    name = "retrain"
    reinitialize_model = True
