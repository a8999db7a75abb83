"""Unlearning methods, one file each, named after the method (`methods/<name>.py`), registered by name.

A method changes only the data the Trainer loop sees, the loss, or the optimizer step (`base.py`); loss
pieces shared by several methods are in `losses.py`; `registry.py` finds a method by name and imports its
file on first use.
"""

from .base import UnlearningContext, UnlearningMethod, parse_method_args
from .registry import available_methods, describe_methods, describe_options, get_method, register_method

__all__ = ["UnlearningContext", "UnlearningMethod", "available_methods", "describe_methods", "describe_options",
           "get_method", "parse_method_args", "register_method"]
