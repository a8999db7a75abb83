"""What a benchmark recipe asks to run: its options (`BenchmarkArguments`), the method variants (a tuning grid
expanded) and, per forget setting, its forget options, its seeds and its methods (tuned per setting), checked
before anything is trained; and the config of one run (`configure`)."""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass, field
from typing import Any

from ..config import UnlearningConfig, check_option
from ..methods import get_method
from ..methods.multigan_options import merge_method_args, migrate_legacy, put
from .arguments import DataArguments, ScratchModelArguments, as_dict


@dataclass
class BenchmarkArguments(DataArguments, ScratchModelArguments):
    """What to compare: seeds, forget settings, methods (with their settings) and an optional tuning grid."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2],
                             metadata={"help": "Training seeds (one original each); a forget setting may name its own."})
    forget_settings: dict | str | None = field(
        default=None,
        metadata={"help": "Name -> forget-set options, e.g. {random_10: {forget_fraction: 0.1}, "
                          "class_cat: {forget_classes: [cat]}}. A setting may also carry `seeds: [..]` (instead of "
                          "`seeds`) and `methods: {name: overrides}` (merged over that entry of `methods`)."},
    )
    methods: dict | str | None = field(
        default=None,
        metadata={"help": "Method name -> its config overrides (learning_rate, num_train_epochs, method_args, ...); "
                          "a key that is not a method name runs a named variant of the method given as `method`."},
    )
    grid: dict | str | None = field(
        default=None,
        metadata={"help": "Tuning: method -> {option: [values]} (or a list of such grids); every combination runs "
                          "as a variant named `method[option=value,...]`; `method_args.x` sets a method option and "
                          "`a+b` sets two options to one value. Use with validation_samples, never the test split."},
    )
    validation_samples: int = field(
        default=0,
        metadata={"help": "When > 0, score on this many training rows after max_train_samples (never trained on) "
                          "instead of the test split: the split to choose hyperparameters on."},
    )
    holdout_samples: int = field(
        default=0,
        metadata={"help": "Training rows after max_train_samples (and after the validation rows) held out as the "
                          "target of runs with stop_when: never trained on, never the test split."},
    )
    variants_with: dict | str | None = field(
        default=None,
        metadata={"help": "Suffix -> options: every method variant of every setting also runs as `<name>_<suffix>` "
                          "with these options on top, e.g. {stop: {stop_when: indistinguishable}} (the same methods "
                          "with and without a stopping rule, same seeds and budget)."},
    )
    persons: dict | str | None = field(
        default=None,
        metadata={"help": "Person-level requests instead of forget_settings: {count: 20, validation: 6, "
                          "images_per_person: 25, kinds: [clusters, random], run: report | validation, "
                          "second_retrain: true, verdict_folds: 4, per_person_retrain: 3, random_request: "
                          "{fraction: 0.1, chunks: 10}}; each person unlearned from the original on its own, scored "
                          "against one model retrained without every person of the seed (commands/benchmark_persons.py)."},
    )
    sequential: dict | str | None = field(
        default=None,
        metadata={"help": "A second deletion request after the first: {setting: name, fraction: 0.05, "
                          "methods: [..], seeds: [..], reuse_retain_generator: true} (seeds: a subset of the setting's; "
                          "default all). Its rows are drawn from the first "
                          "request's retain set; its reference is retrained without both forget sets."},
    )
    report_dir: str = field(default="benchmarks/results", metadata={"help": "Where benchmark.json, the report and plot go."})
    report_name: str = field(default="benchmark", metadata={"help": "File stem of the JSON, Markdown and PNG."})
    report_focus: list[str] = field(
        default_factory=list,
        metadata={"help": "Run names the report also compares with every other run (paired Avg Gap differences "
                          "over seeds, 95% intervals), e.g. [multigan]; the lowest run is always compared."},
    )
    benchmarks_md: str | None = field(
        default=None, metadata={"help": "Also write the report into this Markdown file, between markers."}
    )
    command: str | None = field(default=None, metadata={"help": "Command line recorded in the report (default: argv)."})
    redo: bool = field(
        default=False,
        metadata={"help": "Remake finished runs whose settings changed since they ran. Without it the benchmark stops "
                          "at the first such run, naming it and what changed, and removes nothing."},
    )
    dry_run: bool = field(
        default=False,
        metadata={"help": "List every run the benchmark would reuse and every run it would make (and why: not made "
                          "yet, interrupted, or made with other settings and what changed) without training, "
                          "writing or removing anything; then stop."},
    )


#: Forget-set options: each run has its own (none of the base config's).
FORGET_KEYS = ("forget_fraction", "forget_classes", "forget_indices", "forget_seed")
#: `forget_seed: per_seed` in a forget setting: each seed forgets its own random draw (forget_seed = the seed).
PER_SEED_FORGET = "per_seed"
#: Keys of a `forget_settings` entry that configure the benchmark, not the forget set.
SETTING_KEYS = ("seeds", "methods")
#: Run names the benchmark uses itself (folders `retrain`, `second_request`; rows `original`, `retrained`).
RESERVED_NAMES = ("original", "retrained", "retrain", "second_request")


def method_variants(methods: dict[str, Any], grid: dict[str, Any] | None) -> dict[str, tuple[str, dict[str, Any]]]:
    """Run name -> (method, overrides). A grid expands a method into one variant per combination."""
    variants: dict[str, tuple[str, dict[str, Any]]] = {}
    for run_name, overrides in methods.items():
        overrides = dict(overrides or {})
        method = overrides.pop("method", run_name)  # `name: {method: multigan, ...}` runs a named variant
        get_method(method)  # unknown names fail before any training
        grids = (grid or {}).get(run_name)
        if not grids:
            variants[run_name] = (method, overrides)
            continue
        for axes in grids if isinstance(grids, list) else [grids]:  # a list: several grids, expanded one by one
            keys = list(axes)
            for values in itertools.product(*(axes[k] for k in keys)):
                chosen = dict(overrides)
                chosen["method_args"] = dict(chosen.get("method_args") or {})
                for key, value in zip(keys, values, strict=True):
                    for option in key.split("+"):  # "a+b": one axis setting both options to the same value
                        if option.startswith("method_args."):  # a nested one too: method_args.gan.epochs
                            put(chosen["method_args"], tuple(option.split(".")[1:]), value)
                        else:
                            chosen[option] = value
                label = ",".join(f"{k.split('+')[0].split('.')[-1]}={v}" for k, v in zip(keys, values, strict=True))
                variants[f"{run_name}[{label}]"] = (method, chosen)
    return variants


def configure(base: UnlearningConfig, output_dir: str, seed: int, method: str, overrides: dict[str, Any]) -> UnlearningConfig:
    """A copy of `base` for one run: its folder, seed, method, and the method's overrides. The base's method_args
    reach the runs of the same method (Multi-GAN's GAN settings, say), under the overrides' own."""
    overrides = migrate_legacy(overrides, method, "the benchmark recipe")  # old names: one release more
    config = copy.deepcopy(base)
    config.output_dir = output_dir
    config.seed = seed
    config.method = method
    for key in FORGET_KEYS + ("previous_forget_sets",):
        if key not in overrides:
            setattr(config, key, getattr(base, key) if key == "forget_seed" else None)
    inherited = {k: v for k, v in (as_dict(base.method_args) or {}).items() if k != "retain_generator_path"} \
        if method == base.method else {}
    config.method_args = merge_method_args(inherited, overrides["method_args"]) if "method_args" in overrides \
        else (inherited or None)
    for key, value in overrides.items():
        if key == "method_args":
            continue
        if not hasattr(config, key):
            raise ValueError(f"Unknown option {key!r} in the benchmark recipe (for {method}).")
        setattr(config, key, check_option(key, value))
    config.resolve_request_budget()  # as a config made from these options resolves it (and checks method_args)
    return config


def merge_overrides(base: dict[str, Any] | None, extra: dict[str, Any] | None) -> dict[str, Any]:
    """`extra` over `base`, option by option; `method_args` are merged one method option at a time."""
    base, extra = dict(base or {}), dict(extra or {})
    merged = {**base, **extra}
    if base.get("method_args") and "method_args" in extra:
        merged["method_args"] = {**base["method_args"], **(extra["method_args"] or {})}
    return merged


@dataclass
class Setting:
    """One forget setting of the benchmark: what to forget, on which seeds, with which method variants."""

    forget: dict[str, Any]
    seeds: list[int]
    variants: dict[str, tuple[str, dict[str, Any]]]

    def forget_of(self, seed: int) -> dict[str, Any]:
        """The forget options of `seed`'s requests: `forget_seed: per_seed` draws seed i's own forget set (its
        forget_seed is i), so that conclusions hold over as many forget sets as seeds."""
        if self.forget.get("forget_seed") == PER_SEED_FORGET:
            return {**self.forget, "forget_seed": seed}
        return dict(self.forget)


def check_seeds(seeds: Any, where: str) -> list[int]:
    """`seeds` as a list of ints, or a ValueError naming `where` they were given."""
    if not isinstance(seeds, list | tuple) or not seeds or not all(isinstance(s, int) for s in seeds):
        raise ValueError(f"{where}: seeds must be a non-empty list of integers, got {seeds!r}.")
    return list(seeds)


def plan_settings(settings: dict[str, Any], methods: dict[str, Any], grid: dict[str, Any] | None,
                  seeds: list[int], variants_with: dict[str, Any] | None = None) -> dict[str, Setting]:
    """Name -> `Setting`. An entry of `forget_settings` may carry `seeds` (instead of the global ones) and
    `methods`: name -> overrides merged over the global `methods` entry of that name (`merge_overrides`), so each
    method can be tuned per setting; the grid expands every setting's methods alike. Everything else in the
    entry is a forget option. Unknown names fail here, before any training."""
    check_seeds(seeds, "seeds")
    plan: dict[str, Setting] = {}
    for name, spec in settings.items():
        if name == "original":
            raise ValueError("forget setting 'original': the name is taken by each seed's original model folder.")
        if not isinstance(spec, dict):
            raise ValueError(f"forget setting {name!r}: expected a mapping of forget options, got {spec!r}.")
        tuned = spec.get("methods") or {}
        unknown = [m for m in tuned if m not in methods]
        if unknown:
            raise ValueError(f"forget setting {name!r}: methods {unknown} are not in the benchmark's `methods` "
                             f"({', '.join(methods)}); a setting only retunes methods listed there.")
        merged = {m: merge_overrides(overrides, tuned.get(m)) for m, overrides in methods.items()}
        variants = method_variants(merged, grid)
        for suffix, extra in (variants_with or {}).items():
            if not isinstance(extra, dict):
                raise ValueError(f"variants_with.{suffix}: expected a mapping of options, got {extra!r}.")
            variants.update({f"{n}_{suffix}": (m, merge_overrides(o, extra)) for n, (m, o) in list(variants.items())})
        clash = sorted(set(variants) & set(RESERVED_NAMES))
        if clash:
            raise ValueError(f"method name(s) {clash}: reserved by the benchmark ({', '.join(RESERVED_NAMES)}).")
        own_seeds = check_seeds(spec["seeds"], f"forget setting {name!r}") if "seeds" in spec else list(seeds)
        forget = {k: v for k, v in spec.items() if k not in SETTING_KEYS}
        seed_option = forget.get("forget_seed", 0)
        if seed_option != PER_SEED_FORGET and (not isinstance(seed_option, int) or seed_option < 0):
            raise ValueError(f"forget setting {name!r}: forget_seed = {seed_option!r}; give an integer >= 0 (one "
                             f"forget set for every seed) or {PER_SEED_FORGET!r} (seed i forgets its own draw i).")
        plan[name] = Setting(forget, own_seeds, variants)
    return plan


def check_sequential(spec: dict[str, Any] | None, plan: dict[str, Setting]) -> None:
    """The second request's setting and methods exist (checked before any training)."""
    if not spec:
        return
    settings = [spec["setting"]] if "setting" in spec else list(plan)
    for setting in settings:
        if setting not in plan:
            raise ValueError(f"sequential.setting {setting!r} is not a forget setting ({', '.join(plan)}).")
        missing = [m for m in spec.get("methods", ["multigan"]) if m not in plan[setting].variants]
        if missing:
            raise ValueError(f"sequential.methods {missing} are not methods of forget setting {setting!r}.")
        if "seeds" in spec:
            seeds = check_seeds(spec["seeds"], "sequential")
            outside = [s for s in seeds if s not in plan[setting].seeds]
            if outside:
                raise ValueError(f"sequential.seeds {outside} are not seeds of forget setting {setting!r} "
                                 f"({plan[setting].seeds}); a second request starts from a first one.")
