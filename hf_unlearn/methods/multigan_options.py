"""Multi-GAN's options (`method_args` of `method: multigan`), each declared once, and the old top-level names they
replace (accepted for one release, with a `FutureWarning` naming the new spelling).

    method_args: {gan: {epochs: 10, generator_channels: 32}, prepared_path: prepared/, num_synthetic_forget: 500}

`gan` is `GANSettings` itself: the one source of the GAN's hyperparameters."""

from __future__ import annotations

import dataclasses
import warnings
from dataclasses import dataclass
from typing import Any

from ..gan.settings import GANSettings
from ..options import OptionError, as_mapping, at_least, option
from ..synthesis import available_inversions

#: Options a prepared generator depends on (besides the original model and the data), in the old top-level names
#: its benchmark key has held since before they moved into method_args.
PREPARATION_FIELDS = ("gan_latent_dim", "gan_generator_channels", "gan_discriminator_channels", "gan_resolution",
                      "gan_epochs", "gan_min_steps", "gan_batch_size", "gan_learning_rate", "gan_beta1", "gan_beta2",
                      "bf16", "fp16")
#: Real retain rows per forget row a request on a prepared generator fine-tunes on when no budget is given: the
#: best of 2, 4, 6 and 8 on CIFAR-10 validation, both forget settings (docs/benchmarks/prepared.md, issue 15).
PREPARED_RETAIN_PER_FORGET = 8.0
#: Where synthetic images come from: the generators, or a control (real held-out images, noise), issue 31.
SYNTHETIC_SOURCES = ("gan", "holdout", "noise")


def _power_of_two(x: int | None) -> bool:
    return x is None or (x >= 8 and not x & (x - 1))


@dataclass
class MultiGANOptions:
    gan: GANSettings = dataclasses.field(
        default_factory=GANSettings,
        metadata={"help": "The DCGANs' hyperparameters (the authors': z 100, ngf = ndf = 64, Adam 2e-4, betas 0.5 / "
                          "0.999), e.g. {epochs: 10, generator_channels: 32}."})
    resolution: int | None = option(
        None, help="Side of the square images the GANs model (a power of two >= 8). Default: the data's resolution "
                   "rounded up to a power of two; samples are resized back to the data's size.",
        range=(_power_of_two, "a power of two >= 8 (or unset: the data's size)"), example=32)
    prepared_path: str | None = option(
        None, help="Output folder of `hf-unlearn prepare` for this model and training set (the same name as AMUN's "
                   "prepared set): Multi-GAN then trains no GAN for the request. Synthetic retain images come from the "
                   "prepared generator; synthetic forget images from it too, by class for a class request, else from "
                   "a copy adapted to the forget set for `adapt_steps` steps. It must match the model's weights and "
                   "the training data (checked first).", example="prepared/")
    adapt_steps: int = option(
        25, help="With prepared_path: steps that adapt a copy of the prepared generator (and its discriminator) to "
                 "the forget set, for synthetic forget images of a non-class request. Default 25: as good as 100 on "
                 "CIFAR-10 validation and 6 s cheaper (docs/benchmarks/prepared.md).",
        range=(at_least(1), ">= 1"), example=100)
    retain_generator_path: str | None = option(
        None, help="Folder of a retain-set generator trained once beforehand (e.g. when the model was published). "
                   "When set, the retain GAN is loaded instead of trained: deletion requests get cheaper.",
        example="earlier-run/generators/retain")
    num_synthetic_retain: int | None = option(
        None, help="Synthetic images drawn from the retain GAN (default: as many as the forget set has images).",
        range=(lambda x: x >= 0, ">= 0"), example=500)
    num_synthetic_forget: int | None = option(
        None, help="Synthetic images drawn from the forget GAN (default: as many as the forget set has images).",
        range=(lambda x: x >= 0, ">= 0"), example=500)
    label_inversion: str = option(
        "complement", help="How forget labels are inverted: `complement` (y' = K-1-y, the paper's), `random_other` (a "
                           "random class other than y), `least_likely` (the class the original model finds least "
                           "likely), or one registered with hf_unlearn.synthesis.register_inversion.",
        choices=available_inversions)
    synthetic_source: str = option(
        "gan", help="Where the synthetic images come from: `gan` (the method's generators), or a control that measures "
                    "what they contribute: `holdout`, real images no model trained on (the run's holdout_dataset / "
                    "--holdout_split: what a perfect generator would give), or `noise` (uniform random pixels). Every "
                    "source's images are labelled by the original model alike; a control trains no GAN.",
        choices=SYNTHETIC_SOURCES)

    def check(self) -> None:
        given = [f"method_args.{name} = {value!r}" for name, value in (("prepared_path", self.prepared_path),
                 ("retain_generator_path", self.retain_generator_path)) if value]
        if self.synthetic_source != "gan" and given:
            raise OptionError(f"method_args.synthetic_source = {self.synthetic_source!r} takes no generator, but "
                              f"{' and '.join(given)} names one: drop it, or use synthetic_source: gan.")
        if self.prepared_path and self.retain_generator_path:
            raise OptionError(f"method_args.prepared_path = {self.prepared_path!r} and method_args."
                              f"retain_generator_path = {self.retain_generator_path!r} are both set: the prepared "
                              "generator already gives the synthetic retain images; drop retain_generator_path.")


#: The old top-level `UnlearningConfig` names of Multi-GAN's options -> their path in `method_args`.
LEGACY_OPTIONS: dict[str, tuple[str, ...]] = {
    **{f"gan_{f.name}": ("gan", f.name) for f in dataclasses.fields(GANSettings)},
    "gan_resolution": ("resolution",), "prepared_generator_path": ("prepared_path",),
    "gan_adapt_steps": ("adapt_steps",), "retain_generator_path": ("retain_generator_path",),
    "num_synthetic_retain": ("num_synthetic_retain",), "num_synthetic_forget": ("num_synthetic_forget",),
    "label_inversion": ("label_inversion",),
}


def new_spelling(legacy: str) -> str:
    return "method_args." + ".".join(LEGACY_OPTIONS[legacy])


def put(method_args: dict[str, Any], path: tuple[str, ...], value: Any) -> None:
    """Set `value` at `path` in a (nested) method_args mapping, in place."""
    for part in path[:-1]:
        method_args = method_args.setdefault(part, {})
    method_args[path[-1]] = value


def get(method_args: dict[str, Any] | None, path: tuple[str, ...]) -> Any:
    """The value at `path` in a (nested) method_args mapping; KeyError when absent."""
    value: Any = method_args or {}
    for part in path:
        if not isinstance(value, dict):
            raise KeyError(part)
        value = value[part]
    return value


def migrate_legacy(values: dict[str, Any], method: str, where: str = "the config") -> dict[str, Any]:
    """`values` (config options by name) with Multi-GAN's old top-level names moved into `method_args` (one
    FutureWarning naming each new spelling). For another method they are dropped: they never acted there."""
    legacy = [name for name in values if name in LEGACY_OPTIONS]
    if not legacy:
        return values
    out = {k: v for k, v in values.items() if k not in LEGACY_OPTIONS}
    spelled = ", ".join(f"{name} -> {new_spelling(name)}" for name in legacy)
    if method == "multigan":
        method_args = _as_mapping(out.get("method_args"))
        for name in legacy:
            path = LEGACY_OPTIONS[name]
            try:
                get(method_args, path)  # the new spelling, when given too, wins
            except KeyError:
                put(method_args, path, values[name])
        out["method_args"] = method_args
        warnings.warn(f"Multi-GAN's options moved into method_args; in {where}: {spelled}. The old names work "
                      "for one more release.", FutureWarning, stacklevel=3)
    else:
        warnings.warn(f"{', '.join(legacy)} in {where}: Multi-GAN's options ({spelled}); method {method!r} does "
                      "not use them: ignored.", FutureWarning, stacklevel=3)
    return out


def _as_mapping(method_args: Any) -> dict[str, Any]:
    return as_mapping("method_args", method_args, '{"gan": {"epochs": 10}}')


def legacy_values(options: MultiGANOptions) -> dict[str, Any]:
    """`options` in the old top-level names (what benchmark keys of earlier runs hold)."""
    out = {}
    for name, path in LEGACY_OPTIONS.items():
        value: Any = options
        for part in path:
            value = getattr(value, part)
        out[name] = value
    return out


def merge_method_args(base: Any, extra: Any) -> dict[str, Any]:
    """`extra` over `base` (method_args mappings or JSON), option by option, nested options (`gan`) too."""
    merged = _as_mapping(base)
    for name, value in _as_mapping(extra).items():
        if isinstance(value, dict) and isinstance(merged.get(name), dict):
            merged[name] = merge_method_args(merged[name], value)
        else:
            merged[name] = value
    return merged


def without_moved(method_args: Any) -> dict[str, Any]:
    """method_args without Multi-GAN's moved options (what an old-layout key held in method_args)."""
    out = _as_mapping(method_args)
    for path in LEGACY_OPTIONS.values():
        if path[0] in out:
            if len(path) == 1:
                out.pop(path[0])
            elif isinstance(out[path[0]], dict):
                out[path[0]].pop(path[1], None)
                if not out[path[0]]:
                    out.pop(path[0])
    return out


def multigan_options(config: Any) -> MultiGANOptions:
    """A config's Multi-GAN options: its method's when that is multigan, else the defaults."""
    return config.method_options if config.method == "multigan" else MultiGANOptions()


def recorded_options(config: dict[str, Any]) -> dict[str, Any]:
    """Multi-GAN's options as a run's recorded config holds them, in either spelling (results written before
    the options moved into method_args keep their old names): what the card renders."""
    try:
        written = _as_mapping(config.get("method_args"))
    except OptionError:
        written = {}
    out, defaults = {}, legacy_values(MultiGANOptions())
    for name, path in LEGACY_OPTIONS.items():
        try:
            out[".".join(path)] = get(written, path)
        except KeyError:
            out[".".join(path)] = config.get(name, defaults[name])
    return out


def old_layout(public: dict[str, Any], config: Any, base_gan: dict[str, Any] | None,
               overrides: dict[str, Any] | None) -> dict[str, Any]:
    """`public` (a config's public fields) as keys held it when Multi-GAN's options were top-level fields: the
    options back under their old names (a multigan run's own; any other run's, the benchmark base's), and out
    of method_args, which is then what the recipe's overrides gave (None when they gave none)."""
    out = dict(public)
    own = config.method_options if config.method == "multigan" else None
    out.update(legacy_values(own) if own is not None else (base_gan or legacy_values(MultiGANOptions())))
    if own is not None:
        rest = without_moved(out.get("method_args"))
        written = (overrides or {}).get("method_args", None)  # the recipe's own: {} from a grid, else its options
        given = overrides is not None and "method_args" in overrides and (not written or without_moved(written))
        out["method_args"] = rest if rest or given else None
    return out


def old_overrides(method: str, overrides: dict[str, Any], keep_empty: bool) -> dict[str, Any]:
    """A recipe's overrides of a run as the old layout wrote them: Multi-GAN's options given in method_args back
    under their old top-level names; the method_args left, when empty, kept as {} (a grid variant's) or dropped
    (`keep_empty`: both are tried, the recipe cannot say which it was)."""
    written = overrides.get("method_args")
    if method != "multigan" or not isinstance(written, dict) or written == without_moved(written):
        return overrides
    out = {k: v for k, v in overrides.items() if k != "method_args"}
    for name, path in LEGACY_OPTIONS.items():
        try:
            out[name] = get(written, path)
        except KeyError:
            continue
    rest = without_moved(written)
    if rest or keep_empty:
        out["method_args"] = rest
    return out

