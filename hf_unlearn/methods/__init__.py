"""Unlearning methods, one file each, named after the method (`methods/<name>.py`), registered by name.

A method changes only the data the Trainer loop sees, the loss, or the optimizer step (`base.py`); loss
pieces shared by several methods are in `losses.py`; `registry.py` finds a method by name and imports its
file on first use.
"""

from typing import TYPE_CHECKING

from ..lazy import lazy_names
from .registry import available_methods, describe_methods, describe_options, get_method, register_method

if TYPE_CHECKING:
    from .base import UnlearningContext, UnlearningMethod, parse_method_args

_LAZY = {"UnlearningContext": "base", "UnlearningMethod": "base", "parse_method_args": "base"}  # torch: on first use
__all__ = ["UnlearningContext", "UnlearningMethod", "available_methods", "describe_methods", "describe_options",
           "get_method", "parse_method_args", "register_method"]

__getattr__, __dir__ = lazy_names(__name__, _LAZY, globals(), __all__)
