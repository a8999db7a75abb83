"""Unlearning methods, registered by name."""

from . import finetune, multigan, retrain  # noqa: F401  (registration)
from .base import UnlearningMethod, available_methods, get_method, register_method

__all__ = ["UnlearningMethod", "available_methods", "get_method", "register_method"]
