"""`UnlearningConfig`: every option of an unlearning run, on top of `transformers.TrainingArguments`."""

from __future__ import annotations

import functools
import json
import typing
from dataclasses import dataclass
from typing import Any

from transformers import TrainingArguments

from .config_options import CHOICES, EXAMPLES, LIMITS, UnlearningOptions, check_declared
from .constants import STOP_RULES
from .forget import FORGET_OPTIONS, ForgetSet
from .gate import parse_gate
from .methods.base import parse_method_args
from .methods.multigan_options import LEGACY_OPTIONS, migrate_legacy
from .methods.registry import get_method
from .mia.equivalence import VerdictOptions
from .options import (
    OptionError,
    coerce,
    coerce_dataclass,
)
from .safety import is_secret_key


@dataclass
class UnlearningConfig(UnlearningOptions, TrainingArguments):
    """Configuration of an unlearning run.

    The fine-tuning defaults follow Hatua, Nguyen & Sung (2024): SGD with momentum 0.9, weight decay 5e-4
    and a cosine schedule. The learning rate and epoch count are the ones measured
    in BENCHMARKS.md; every field can be set from a YAML recipe or the command line.
    """

    # Every option is declared in `UnlearningOptions` (config_options.py); this class adds the checks.

    def resolve_request_budget(self) -> None:
        """No budget given: the method's measured default for its options (Multi-GAN on a prepared generator: 8 real
        retain rows per forget row), written into the config, so that results and keys show it."""
        if self.retain_samples_per_forget is None and self.num_retain_samples is None:
            self.retain_samples_per_forget = get_method(self.method).default_retain_per_forget(self.method_options)

    @property
    def method_options(self) -> Any:
        """The method's options (`method_args` as its `Options` dataclass, checked)."""
        return parse_method_args(get_method(self.method).Options, self.method_args, self.method)

    def __post_init__(self) -> None:
        hints = typing.get_type_hints(type(self))
        for name in CHECKED_FIELDS:  # types first: TrainingArguments' own checks expect them
            setattr(self, name, coerce(name, getattr(self, name), hints[name], EXAMPLES.get(name)))
        if self.optim_args is None and str(getattr(self.optim, "value", self.optim)) == "sgd":
            self.optim_args = "momentum=0.9"  # the paper's SGD; other optimizers get no SGD-only argument
        super().__post_init__()
        for name in LIMITS:
            check_declared(name, getattr(self, name))
        if self.max_steps <= 0 and self.num_train_epochs <= 0:
            raise OptionError(f"num_train_epochs = {self.num_train_epochs} fine-tunes for no step: nothing would be "
                              "unlearned. Give num_train_epochs > 0 (e.g. num_train_epochs: 2) or max_steps > 0.")
        chosen = [name for name in FORGET_OPTIONS if getattr(self, name) is not None]
        if len(chosen) > 1:
            raise ValueError(
                f"Give exactly one of {', '.join(FORGET_OPTIONS)}; got {len(chosen)} ({', '.join(chosen)}). Remove the "
                "others from the config or command line."
            )
        if self.forget_file_column is not None and self.forget_file is None:
            raise OptionError(f"forget_file_column = {self.forget_file_column!r} is set without forget_file: give the "
                              "file (--forget_file ids.csv), or drop forget_file_column.")
        if chosen and chosen[0] not in ("forget_images", "forget_file"):  # files are read when the request is
            ForgetSet.from_config(self)  # resolved (still before any work); a malformed one says so now
        if self.num_retain_samples is not None and self.retain_samples_per_forget is not None:
            raise OptionError(f"num_retain_samples = {self.num_retain_samples} and retain_samples_per_forget = "
                              f"{self.retain_samples_per_forget} are both set: give one (a count, or a multiple of "
                              "the forget set's size).")
        self.method_options  # the method's options are checked now, before any work  # noqa: B018
        self.resolve_request_budget()
        if isinstance(self.stop_when, str) and self.stop_when.strip().lower() in ("", "none", "off", "no"):
            self.stop_when = None  # `--stop_when none` on a command line turns a recipe's rule off
        if self.stop_when is not None and self.stop_when not in STOP_RULES:
            raise OptionError(f"stop_when = {self.stop_when!r} is not a stopping rule: use {', '.join(STOP_RULES)} "
                              "(or leave it unset for the fixed budget).")
        for name in CHOICES:  # the method's and stop_when's own messages came first, above
            check_declared(name, getattr(self, name))
        parse_gate(self.push_gate)  # a malformed gate fails now, not after the run
        parse_verdict(self.verdict)  # and the verdict's options
        if self.stop_confidence != 0.95:
            import warnings

            warnings.warn(f"stop_confidence = {self.stop_confidence} is ignored: the stopping rule stops when the verdict "
                          "certifies the forget set, at verdict.alpha split over its checks (e.g. verdict: {alpha: "
                          f"{round(1 - self.stop_confidence, 4)}}}).", UserWarning, stacklevel=2)



_fields_init = UnlearningConfig.__init__


@functools.wraps(_fields_init)
def _init_accepting_old_names(self: UnlearningConfig, *args: Any, **kwargs: Any) -> None:
    """Multi-GAN's old top-level options (`gan_epochs=...`) still work for one release: moved into method_args
    with a FutureWarning naming the new spelling."""
    if any(name in LEGACY_OPTIONS for name in kwargs):
        kwargs = migrate_legacy(kwargs, kwargs.get("method", "multigan"), "UnlearningConfig(...)")
    _fields_init(self, *args, **kwargs)


UnlearningConfig.__init__ = _init_accepting_old_names  # type: ignore[method-assign]

def check_option(name: str, value: Any) -> Any:
    """One option's value, brought to its declared type and checked against its range (for overrides set on
    an existing config, e.g. a benchmark's per-method settings)."""
    hint = typing.get_type_hints(UnlearningConfig).get(name)
    if hint is None:
        raise OptionError(f"Unknown option {name!r}: see `hf-unlearn run --help` for the options.")
    return check_declared(name, value, hint if name in CHECKED_FIELDS else None)


#: Fields brought to their declared type (numbers written as text become numbers): every field of this class
#: and the inherited ones a recipe commonly sets.
CHECKED_FIELDS = tuple(UnlearningOptions.__annotations__) + (
    "max_steps", "gradient_accumulation_steps", "max_grad_norm", "seed", "warmup_steps", "adam_beta1", "adam_beta2",
    "adam_epsilon", "save_total_limit", "dataloader_num_workers", "bf16", "fp16", "use_cpu", "disable_tqdm")

def public_config(args: UnlearningConfig) -> dict[str, Any]:
    """The run's config as JSON-safe values, without secrets."""
    return {k: v for k, v in args.to_dict().items() if not is_secret_key(k)}


def parse_verdict(value: dict | str | None) -> VerdictOptions:
    """`verdict` of a config (a mapping, or JSON on the command line) as `VerdictOptions`, checked."""
    try:
        values = json.loads(value) if isinstance(value, str) else dict(value or {})
    except (json.JSONDecodeError, TypeError, ValueError):
        raise OptionError(f"verdict = {value!r} is not a mapping; write it as '{{\"margin\": 0.1}}' (JSON) on the "
                          "command line or a mapping in YAML.") from None
    known = set(VerdictOptions.__dataclass_fields__)
    unknown = sorted(set(values) - known)
    if unknown:
        raise OptionError(f"verdict {unknown} are not verdict options; they are {sorted(known)}.")
    try:
        options = VerdictOptions(**values)
        coerce_dataclass(options, names=set(values), label="verdict.")
        options.check()
    except OptionError:
        raise
    except ValueError as err:
        raise OptionError(str(err)) from None
    return options
