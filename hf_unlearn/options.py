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


def as_mapping(name: str, value: Any, example: str) -> dict[str, Any]:
    """A mapping option given in YAML (a dict) or on the command line (JSON text), as a fresh dict (None: empty);
    anything else is refused, naming the option and showing `example` (its JSON spelling)."""
    import copy
    import json

    try:
        values = json.loads(value) if isinstance(value, str) else copy.deepcopy(dict(value or {}))
    except (TypeError, ValueError):
        raise OptionError(f"{name} = {value!r} is not a mapping of option: value; write it as '{example}' (JSON) on "
                          "the command line or a mapping in YAML.") from None
    if not isinstance(values, dict):
        raise OptionError(f"{name} = {value!r} is not a mapping of option: value (e.g. {example}).")
    return values


def coerce_dataclass(instance: Any, names: Any = None, label: str = "") -> None:
    """Coerce the fields `names` (default: all) of a dataclass instance in place, each field's default as the
    example in messages; `label` prefixes the option names in messages (e.g. `method_args.`)."""
    hints = typing.get_type_hints(type(instance))
    for f in dataclasses.fields(instance):
        if names is not None and f.name not in names:
            continue
        example = f.default if f.default is not dataclasses.MISSING else None
        setattr(instance, f.name, coerce(label + f.name, getattr(instance, f.name), hints[f.name], example))


def option(default: Any = dataclasses.MISSING, *, help: str, range: tuple[Callable[[Any], bool], str] | None = None,
           example: Any = None, choices: Any = None, default_factory: Any = dataclasses.MISSING) -> Any:
    """A dataclass field declared once: its default (or `default_factory`, for a list), `help`, allowed `range`
    (rule, in words), an `example` for messages and its `choices` (a collection, or a callable giving one), read by
    validation (`check_fields`), `--help`, `hf-unlearn methods` and the messages."""
    metadata: dict[str, Any] = {"help": help}
    if range is not None:
        metadata["range"] = range
    if example is not None:
        metadata["example"] = example
    if choices is not None:
        metadata["choices"] = choices
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


def field_example(f: dataclasses.Field) -> Any:
    """A field's example value: its declared example, else its default."""
    if "example" in f.metadata:
        return f.metadata["example"]
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default if f.default is not dataclasses.MISSING else None


def field_choices(f: dataclasses.Field) -> tuple[Any, ...] | None:
    """A field's allowed values (a callable's answer now: e.g. the registered inversions), or None."""
    choices = f.metadata.get("choices")
    if choices is None:
        return None
    return tuple(choices() if callable(choices) else choices)


def check_choices(name: str, value: Any, choices: tuple[Any, ...] | None, example: Any) -> None:
    """Refuse `value` unless it is one of `choices` (None: any value; a None value is left to the type check)."""
    if choices is not None and value is not None and value not in choices:
        raise OptionError(f"{name} = {value!r} is not one of {', '.join(map(str, choices))} (e.g. {name}: {example!r}).")


def check_fields(instance: Any, label: str = "") -> None:
    """Check every field of a dataclass instance (and of the dataclasses nested in it) against the range and
    choices of its metadata; `label` prefixes the names in messages (e.g. `method_args.gan.`)."""
    for f in dataclasses.fields(instance):
        value = getattr(instance, f.name)
        if dataclasses.is_dataclass(value) and not isinstance(value, type):
            check_fields(value, f"{label}{f.name}.")
            continue
        if "range" in f.metadata:
            check_range(label + f.name, value, *f.metadata["range"], field_example(f))
        check_choices(label + f.name, value, field_choices(f), field_example(f))


def build_dataclass(cls: type, values: dict[str, Any], label: str = "") -> Any:
    """An instance of dataclass `cls` from a mapping: unknown names refused (naming the known ones), each value
    brought to its declared type, nested dataclass fields built from nested mappings; then `check_fields`."""
    if not isinstance(values, dict):
        raise OptionError(f"{label.rstrip('.') or cls.__name__} = {values!r} is not a mapping of option: value.")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(set(values) - set(known))
    if unknown:
        raise OptionError(f"{', '.join(label + u for u in unknown)}: not an option here; the options are "
                          f"{', '.join(label + k for k in sorted(known)) or 'none'}.")
    kwargs = {}
    for name, value in values.items():
        hint = hints[name]
        if dataclasses.is_dataclass(hint):
            kwargs[name] = value if isinstance(value, hint) else build_dataclass(hint, value or {}, f"{label}{name}.")
        else:
            kwargs[name] = coerce(label + name, value, hint, field_example(known[name]))
    instance = cls(**kwargs)
    check_fields(instance, label)
    return instance
