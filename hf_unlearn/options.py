"""Typed option values: every option of `UnlearningConfig` and of a method's `Options` is brought to its
declared type (numbers written as text in YAML, like `5e-4`, become numbers) or refused, and checked against
its allowed range, with a message that names the option, the value, what is allowed and an example.

A leaf: the config and the methods both use it, before any work starts.
"""

from __future__ import annotations

import dataclasses
import math
import types
import typing
from collections.abc import Callable
from typing import Any

_TRUE, _FALSE = ("true", "yes", "1", "on"), ("false", "no", "0", "off")


class OptionError(ValueError):
    """An option whose value has the wrong type or lies outside its range."""


def _hint_parts(hint: Any) -> tuple[set[Any], bool]:
    """The non-None members of a (possibly optional, possibly union) type hint, and whether None is allowed."""
    origin = typing.get_origin(hint)
    members = typing.get_args(hint) if origin in (typing.Union, types.UnionType) else (hint,)
    return {typing.get_origin(m) or m for m in members if m is not type(None)}, type(None) in members


def _number(text: str, kind: type) -> Any:
    value = float(text.strip())
    if kind is int:
        if not value.is_integer():
            raise ValueError
        return int(value)
    return value


def coerce(name: str, value: Any, hint: Any, example: Any = None) -> Any:
    """`value` as the type `hint` declares (int, float, bool, str, list, dict, or an optional / union of those);
    other hints are left to their owner. Raises `OptionError` naming the option when it cannot be."""
    kinds, optional = _hint_parts(hint)
    if value is None:
        if optional or not kinds:
            return None
        raise OptionError(f"{name} cannot be empty (None); give a value, e.g. {name}: {example!r}.")
    wanted = " or ".join(sorted(getattr(k, "__name__", str(k)) for k in kinds))
    fail = OptionError(f"{name} = {value!r} ({type(value).__name__}) is not a valid {wanted}"
                       + (f"; e.g. {name}: {example!r}." if example is not None else "."))
    accepted = tuple(k for k in kinds if isinstance(k, type)) + ((int,) if float in kinds else ())
    if isinstance(value, accepted) and not (isinstance(value, bool) and bool not in kinds):
        return value  # already fits (an int is a valid float): kept as given
    if bool in kinds:
        if isinstance(value, str) and value.strip().lower() in _TRUE + _FALSE:
            return value.strip().lower() in _TRUE
        raise fail
    for kind in (int, float):
        if kind in kinds and not isinstance(value, bool):
            try:
                if isinstance(value, str):
                    return _number(value, kind)
                if isinstance(value, (int, float)) and kind is int and float(value).is_integer():
                    return int(value)
            except ValueError:
                pass
    if list in kinds and isinstance(value, (str, int, float)) and not isinstance(value, bool):
        return [value]  # a single value where a list belongs: a list of one
    if list in kinds and isinstance(value, (tuple, range)):
        return list(value)
    if list in kinds and hasattr(value, "tolist") and getattr(value, "ndim", 0) == 1:  # a numpy array of row numbers
        return value.tolist()
    raise fail


#: Range rules: predicate, what is allowed (in words).
def positive(x: float) -> bool:
    return x > 0


def non_negative(x: float) -> bool:
    return x >= 0


def at_least(low: float) -> Callable[[float], bool]:
    return lambda x: x >= low


def unit_interval(open_right: bool = False) -> Callable[[float], bool]:
    return (lambda x: 0 <= x < 1) if open_right else (lambda x: 0 <= x <= 1)


def check_range(name: str, value: Any, rule: Callable[[Any], bool], allowed: str, example: Any) -> None:
    """Refuse `value` unless `rule(value)` (None is left to the type check) or when it is NaN / infinite."""
    if value is None:
        return
    bad_number = isinstance(value, float) and not math.isfinite(value)
    if bad_number or not rule(value):
        raise OptionError(f"{name} = {value!r} is out of range: it must be {allowed} (e.g. {name}: {example!r}).")


def coerce_dataclass(instance: Any, names: Any = None, label: str = "") -> None:
    """Coerce the fields `names` (default: all) of a dataclass instance in place, each field's default as the
    example in messages; `label` prefixes the option names in messages (e.g. `method_args.`)."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        if names is not None and f.name not in names:
            continue
        example = f.default if f.default is not dataclasses.MISSING else None
        setattr(instance, f.name, coerce(label + f.name, getattr(instance, f.name), hints[f.name], example))
