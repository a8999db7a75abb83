"""Unlearning methods, registered by name."""

from . import finetune, l1_sparse, multigan, neggrad, random_label, retrain, teachers  # noqa: F401  (registration)
from .base import UnlearningMethod, available_methods, describe_options, get_method, register_method

__all__ = ["UnlearningMethod", "available_methods", "describe_options", "get_method", "register_method"]
