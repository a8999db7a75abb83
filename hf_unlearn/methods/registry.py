"""The registry that finds unlearning methods by name.

Each built-in method lives in the file named after it (`methods/<name>.py`) and is imported the first time
it is asked for, so looking one method up never loads another's dependencies (Multi-GAN's diffusers, say).
A user's own method registers itself with `@register_method` when its module is imported.
"""

from __future__ import annotations

import dataclasses
import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .base import UnlearningMethod

#: Built-in methods: registry name == module name under `hf_unlearn.methods`.
BUILTIN_METHODS = ("amun", "bad_teacher", "coun", "finetune", "l1_sparse", "multigan", "negate_layers", "neggrad",
                   "neggrad_plus", "random_label", "retrain", "salun", "scrub")

_METHODS: dict[str, type[UnlearningMethod]] = {}


def register_method(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
    """Class decorator: make a method available under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a `name`.")
    _METHODS[cls.name] = cls
    return cls


def available_methods() -> list[str]:
    """Names of every method: the built-in ones and those registered since."""
    return sorted(set(BUILTIN_METHODS) | set(_METHODS))


def get_method(name: str) -> type[UnlearningMethod]:
    """The method class registered as `name` (a built-in one is imported on first use)."""
    if name not in _METHODS and name in BUILTIN_METHODS:
        importlib.import_module(f"{__package__}.{name}")
    if name not in _METHODS:
        raise ValueError(f"Unknown unlearning method {name!r}: choose one of {', '.join(available_methods())}.")
    return _METHODS[name]


def describe_options(options_class: type) -> list[tuple[str, Any, str]]:
    """(name, default, help) of each option of a method."""
    return [(f.name, f.default_factory() if f.default is dataclasses.MISSING else f.default,  # type: ignore[misc]
             f.metadata.get("help", "")) for f in dataclasses.fields(options_class)]


def describe_methods() -> str:
    """Every method, its summary and its options with defaults (what `hf-unlearn methods` prints)."""
    lines = []
    for name in available_methods():
        cls = get_method(name)
        lines.append(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        for option, default, help_text in describe_options(cls.Options):
            lines.append(f"    method_args.{option} = {default!r}: {help_text}")
    return "\n".join(lines)
