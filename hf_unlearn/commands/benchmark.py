"""`hf-unlearn benchmark`: every method on the same work, several seeds and forget settings, in one command.

For each seed: train the original model once; for each forget setting, retrain from scratch on the retain
set (the reference and the time every method is compared with), then run each method from the original
model and score it alike. Each run's folder keeps its model and `unlearning_results.json`; a rerun of the
same command skips runs already finished, so an interrupted benchmark resumes. Optionally a second,
sequential deletion request is unlearned from each method's first result. Writes `benchmark.json`, a
Markdown report and a plot (Avg Gap vs per-request time as a share of retraining) to `report_dir`.
"""

from __future__ import annotations

import copy
import itertools
import json
import os
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForImageClassification

from ..card import redact_command
from ..config import UnlearningConfig, check_option
from ..constants import GENERATORS_DIR, RESULTS_FILE
from ..data import class_names, find_columns
from ..evaluation import avg_gap
from ..forget import ForgetSet
from ..methods import get_method
from ..scratch import ClassifierRecipe, train_classifier
from ..trainer import UnlearningTrainer
from .arguments import DataArguments, ScratchModelArguments, as_dict, load_splits
from .benchmark_report import REPORT_COLUMNS, aggregate, format_report, plot, update_markdown
from .experiment import request_seconds, scratch_setup

FORGET_KEYS = ("forget_fraction", "forget_classes", "forget_indices", "forget_seed")


@dataclass
class BenchmarkArguments(DataArguments, ScratchModelArguments):
    """What to compare: seeds, forget settings, methods (with their settings) and an optional tuning grid."""

    seeds: list[int] = field(default_factory=lambda: [0, 1, 2], metadata={"help": "Training seeds (one original each)."})
    forget_settings: dict | str | None = field(
        default=None,
        metadata={"help": "Name -> forget-set options, e.g. {random_10: {forget_fraction: 0.1}, "
                          "class_cat: {forget_classes: [cat]}}."},
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
    sequential: dict | str | None = field(
        default=None,
        metadata={"help": "A second deletion request after the first: {setting: name, fraction: 0.05, "
                          "methods: [..], reuse_retain_generator: true}. Its rows are drawn from the first "
                          "request's retain set; its reference is retrained without both forget sets."},
    )
    report_dir: str = field(default="benchmarks/results", metadata={"help": "Where benchmark.json, the report and plot go."})
    report_name: str = field(default="benchmark", metadata={"help": "File stem of the JSON, Markdown and PNG."})
    benchmarks_md: str | None = field(
        default=None, metadata={"help": "Also write the report into this Markdown file, between markers."}
    )
    command: str | None = field(default=None, metadata={"help": "Command line recorded in the report (default: argv)."})


# ---------------------------------------------------------------------------------------------- runs
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
                        if option.startswith("method_args."):
                            chosen["method_args"][option.split(".", 1)[1]] = value
                        else:
                            chosen[option] = value
                label = ",".join(f"{k.split('+')[0].split('.')[-1]}={v}" for k, v in zip(keys, values, strict=True))
                variants[f"{run_name}[{label}]"] = (method, chosen)
    return variants


def configure(base: UnlearningConfig, output_dir: str, seed: int, method: str, overrides: dict[str, Any]) -> UnlearningConfig:
    """A copy of `base` for one run: its folder, seed, method, and the method's overrides."""
    config = copy.deepcopy(base)
    config.output_dir = output_dir
    config.seed = seed
    config.method = method
    for key in FORGET_KEYS + ("previous_forget_sets", "retain_generator_path"):
        if key not in overrides:
            setattr(config, key, getattr(base, key) if key == "forget_seed" else None)
    for key, value in overrides.items():
        if not hasattr(config, key):
            raise ValueError(f"Unknown option {key!r} in the benchmark recipe (for {method}).")
        setattr(config, key, check_option(key, value))
    return config


def load_result(folder: str) -> dict[str, Any] | None:
    path = os.path.join(folder, RESULTS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


class Benchmark:
    """Runs (or resumes) every (seed, setting, method) of a benchmark recipe and collects the records."""

    def __init__(self, args: BenchmarkArguments, base: UnlearningConfig):
        self.args, self.base = args, base
        self.settings = as_dict(args.forget_settings) or {"random_10": {"forget_fraction": 0.1}}
        self.variants = method_variants(as_dict(args.methods) or {"multigan": {}}, as_dict(args.grid))
        self.sequential = as_dict(args.sequential)
        #: how the original and every retrained reference are trained from scratch
        self.recipe = ClassifierRecipe(args.original_epochs, args.original_learning_rate, args.original_batch_size)
        self.root = base.output_dir
        self.records: list[dict[str, Any]] = []
        self.started = time.perf_counter()

    def log(self, message: str) -> None:
        if self.base.should_log:
            print(f"[benchmark {time.perf_counter() - self.started:7.0f}s] {message}", flush=True)

    # -------------------------------------------------------------------------------------- data
    def load_data(self) -> tuple[Dataset, Dataset]:
        args = self.args
        train, test = load_splits(args)
        if args.validation_samples:
            full = load_splits(DataArguments(args.dataset_name, args.train_split, args.test_split))[0]
            start = len(train)
            stop = start + args.validation_samples
            if stop > len(full):
                raise ValueError(f"validation_samples={args.validation_samples}: only {len(full) - start} training "
                                 "rows lie beyond max_train_samples. Lower one of the two.")
            test = full.select(range(start, stop))
            self.log(f"scoring on validation rows {start}..{stop - 1} of the training split (not the test split)")
        return train, test

    # -------------------------------------------------------------------------------------- pieces
    def original(self, seed: int, make_model: Any, processor: Any, train: Dataset) -> tuple[torch.nn.Module, float]:
        folder = os.path.join(self.root, f"seed{seed}", "original")
        timing_file = os.path.join(folder, "train_seconds.json")
        if os.path.isfile(timing_file):
            with open(timing_file) as f:
                return AutoModelForImageClassification.from_pretrained(folder), json.load(f)["seconds"]
        torch.manual_seed(seed)
        start = time.perf_counter()
        model = train_classifier(make_model(), processor, train, self.recipe.training_args(folder, seed, self.base))
        seconds = time.perf_counter() - start
        if self.base.should_save:
            model.save_pretrained(folder)
            processor.save_pretrained(folder)
            with open(timing_file, "w") as f:
                json.dump({"seconds": seconds}, f)
        return model, seconds

    def run(self, folder: str, model: torch.nn.Module, config: UnlearningConfig, train: Dataset, test: Dataset,
            processor: Any, evaluate_original: bool = False) -> dict[str, Any]:
        """One unlearning run's result (read back when the run already finished). The retrained reference is
        scored once, by its own run; Avg Gap is computed here from the records."""
        done = load_result(folder)
        if done is not None:
            return done
        trainer = UnlearningTrainer(model=model, args=config, train_dataset=train, eval_dataset=test,
                                    processing_class=processor, dataset_name=self.args.dataset_name)
        return trainer.unlearn(evaluate_original=evaluate_original).to_dict()

    def retrained(self, folder: str, make_model: Any, config: UnlearningConfig, train: Dataset, test: Dataset,
                  processor: Any) -> dict[str, Any]:
        args = self.recipe.training_args(folder, config.seed, config)
        args.method = "retrain"
        return self.run(folder, make_model(), args, train, test, processor)

    def add_record(self, seed: int, setting: str, request: str, name: str, method: str, metrics: dict[str, float],
                   reference: dict[str, float], request_s: float, retrain_s: float, timings: dict[str, float],
                   counts: dict[str, int], method_args: Any = None, **extra: Any) -> dict[str, float]:
        """One row of the benchmark: `metrics` plus Avg Gap to `reference` and the time against retraining."""
        metrics = {**metrics, "avg_gap": avg_gap(metrics, reference), "request_s": request_s,
                   "time_ratio": request_s / retrain_s}
        self.records.append({"seed": seed, "setting": setting, "name": name, "method": method, "request": request,
                             "metrics": metrics, "timings": timings, "preparation_s": timings.get("gan_retain", 0.0),
                             "retrain_s": retrain_s, "counts": counts, "method_args": method_args, **extra})
        return metrics

    def record(self, seed: int, setting: str, name: str, result: dict[str, Any], retrain_s: float,
               reference: dict[str, float], request: str = "first") -> None:
        """The row of one method's run (and its log line)."""
        metrics = self.add_record(seed, setting, request, name, result["method"], result["metrics"]["unlearned"],
                                  reference, request_seconds(result["timings"]), retrain_s, result["timings"],
                                  result["counts"], result["config"].get("method_args"))
        self.log(f"seed {seed} {setting} {request:6s} {name}: " + ", ".join(
            f"{k} {metrics[k]:.3f}" for k, _, _ in REPORT_COLUMNS if k in metrics))

    def record_references(self, seed: int, setting: str, ref_result: dict[str, Any], retrain_s: float,
                          request: str = "first", original: dict[str, float] | None = None,
                          original_s: float = 0.0) -> None:
        """Rows for the retrained reference and (when scored) for doing nothing, the original model."""
        reference = ref_result["metrics"]["unlearned"]
        self.add_record(seed, setting, request, "retrained", "retrain", reference, reference, retrain_s, retrain_s,
                        ref_result["timings"], ref_result["counts"], train_s=retrain_s)
        if original is not None:
            self.add_record(seed, setting, request, "original", "original", original, reference, 0.0, retrain_s, {},
                            ref_result["counts"], train_s=original_s)

    # -------------------------------------------------------------------------------------- main loop
    def execute(self) -> dict[str, Any]:
        train, test = self.load_data()
        make_model, processor = scratch_setup(self.args, train, self.base)
        for seed in self.args.seeds:
            original, original_s = self.original(seed, make_model, processor, train)
            self.log(f"seed {seed}: original model ready ({original_s:.0f}s to train)")
            for setting, forget in self.settings.items():
                base_dir = os.path.join(self.root, f"seed{seed}", setting)
                ref_config = configure(self.base, os.path.join(base_dir, "retrain"), seed, "retrain", forget)
                ref_result = self.retrained(ref_config.output_dir, make_model, ref_config, train, test, processor)
                retrain_s = request_seconds(ref_result["timings"])
                reference = ref_result["metrics"]["unlearned"]
                retain_generator: str | None = None
                for index, (name, (method, overrides)) in enumerate(self.variants.items()):
                    config = configure(self.base, os.path.join(base_dir, name), seed, method, {**forget, **overrides})
                    if method == "multigan" and retain_generator and "retain_generator_path" not in overrides:
                        config.retain_generator_path = retain_generator  # same retain set: train its GAN once
                    result = self.run(config.output_dir, copy.deepcopy(original), config, train, test, processor,
                                      evaluate_original=index == 0)
                    if index == 0:  # every run scores the original alike: report it once
                        self.record_references(seed, setting, ref_result, retrain_s,
                                               original=result["metrics"].get("original"), original_s=original_s)
                    trained = os.path.join(config.output_dir, GENERATORS_DIR, "retain")
                    if method == "multigan" and retain_generator is None and os.path.isfile(
                            os.path.join(trained, "config.json")):
                        retain_generator = trained
                    self.record(seed, setting, name, result, retrain_s, reference)
                if self.sequential and self.sequential.get("setting", setting) == setting:
                    self.second_request(seed, setting, base_dir, make_model, train, test, processor)
        return self.summary()

    def second_request(self, seed: int, setting: str, base_dir: str, make_model: Any, train: Dataset, test: Dataset,
                       processor: Any) -> None:
        """A second deletion request, unlearned from each method's first result (sequential deletion)."""
        spec = self.sequential
        first = load_result(os.path.join(base_dir, "retrain"))
        first_forget = ForgetSet.from_dict(first["forget_set"])
        _, label_col = find_columns(train, self.base.image_column, self.base.label_column)
        labels = np.asarray(train.select_columns([label_col])[:][label_col])
        retain, _ = first_forget.split(len(train), labels, class_names(train, label_col))
        rng = np.random.default_rng(1000 + seed)
        count = int(round(float(spec.get("fraction", 0.05)) * len(train)))
        second = np.sort(rng.choice(retain, size=count, replace=False)).tolist()
        folder = os.path.join(base_dir, "second_request")
        previous = [os.path.join(base_dir, "retrain")]
        overrides = {"forget_indices": second, "previous_forget_sets": previous}
        ref_config = configure(self.base, os.path.join(folder, "retrain"), seed, "retrain", overrides)
        ref_result = self.retrained(ref_config.output_dir, make_model, ref_config, train, test, processor)
        retrain_s = request_seconds(ref_result["timings"])
        reference = ref_result["metrics"]["unlearned"]
        for index, name in enumerate(spec.get("methods", ["multigan"])):
            method, method_overrides = self.variants[name]
            first_dir = os.path.join(base_dir, name)
            extra = dict(overrides)
            if method == "multigan" and spec.get("reuse_retain_generator", True):
                first_config = (load_result(first_dir) or {}).get("config", {})
                extra["retain_generator_path"] = (first_config.get("retain_generator_path")
                                                  or os.path.join(first_dir, GENERATORS_DIR, "retain"))
            config = configure(self.base, os.path.join(folder, name), seed, method, {**method_overrides, **extra})
            model = AutoModelForImageClassification.from_pretrained(first_dir)
            result = self.run(config.output_dir, model, config, train, test, processor)
            if index == 0:
                self.record_references(seed, setting, ref_result, retrain_s, request="second")
            self.record(seed, setting, name, result, retrain_s, reference, request="second")

    # -------------------------------------------------------------------------------------- report
    def summary(self) -> dict[str, Any]:
        return {"command": redact_command(self.args.command or command_line()), "records": self.records,
                "aggregate": aggregate(self.records), "settings": self.settings,
                "methods": {name: {"method": m, **o} for name, (m, o) in self.variants.items()},
                "sequential": self.sequential, "seeds": list(self.args.seeds),
                "data": {"dataset": self.args.dataset_name, "max_train_samples": self.args.max_train_samples,
                         "max_test_samples": self.args.max_test_samples,
                         "validation_samples": self.args.validation_samples},
                "model_config": as_dict(self.args.model_config),
                "original_training": {"epochs": self.args.original_epochs,
                                      "learning_rate": self.args.original_learning_rate,
                                      "batch_size": self.args.original_batch_size},
                "wall_s": time.perf_counter() - self.started}


def command_line() -> str:
    return "hf-unlearn " + " ".join(sys.argv[1:]) if sys.argv and "hf-unlearn" in sys.argv[0] else " ".join(sys.argv)


def run_benchmark(args: BenchmarkArguments, base: UnlearningConfig) -> dict[str, Any]:
    """Run (or resume) the benchmark and write its JSON, Markdown report and plot."""
    benchmark = Benchmark(args, base)
    summary = benchmark.execute()
    if not base.should_save:
        return summary
    os.makedirs(args.report_dir, exist_ok=True)
    stem = os.path.join(args.report_dir, args.report_name)
    with open(stem + ".json", "w") as f:
        json.dump(summary, f, indent=2)
    report = format_report(summary, args.report_name)
    report += f"\n![Avg Gap vs time]({os.path.basename(stem)}.png)\n" if args.benchmarks_md is None else ""
    with open(stem + ".md", "w") as f:
        f.write(report)
    plot(summary, stem + ".png")
    if args.benchmarks_md:
        rel = os.path.relpath(stem + ".png", os.path.dirname(os.path.abspath(args.benchmarks_md)) or ".")
        update_markdown(args.benchmarks_md, args.report_name,
                        report + f"\nPlot: ![Avg Gap vs time ratio]({rel}) · JSON: `{stem}.json`\n")
    print("\n" + report)
    return summary
