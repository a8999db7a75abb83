"""`hf-unlearn benchmark`: every method on the same work, several seeds and forget settings, in one command.

For each seed: train the original model once; for each forget setting, retrain from scratch on the retain
set (the reference and the time every method is compared with), then run each method from the original
model and score it alike. A forget setting may name its own seeds and retune methods (`benchmark_plan.py`).
Each run's folder keeps its model, `unlearning_results.json` and the key of its recipe; a rerun of the same
command skips runs finished under the same key and redoes those whose recipe changed (`benchmark_keys.py`),
so an interrupted benchmark resumes. Optionally a second, sequential deletion request is unlearned from each
method's first result. Writes `benchmark.json`, a Markdown report (with paired differences between methods)
and a plot (Avg Gap vs per-request time as a share of retraining) to `report_dir`.
"""

from __future__ import annotations

import copy
import functools
import json
import os
import sys
import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForImageClassification

from ..card import redact_command
from ..config import UnlearningConfig
from ..constants import RESULTS_FILE
from ..data import class_names, find_columns
from ..evaluation import avg_gap
from ..forget import ForgetSet
from ..methods import get_method
from ..methods.multigan_options import legacy_values, merge_method_args, multigan_options
from ..scratch import train_classifier
from ..trainer import UnlearningTrainer
from .arguments import DataArguments, as_dict, load_splits
from .benchmark_keys import (
    ORIGINAL_TRAINING_FIELDS,
    ArtefactKeys,
    artefact_key,
    fingerprint,
    load_result,
    planned_result,
    run_payloads,
)
from .benchmark_plan import (  # noqa: F401  (BenchmarkArguments: re-exported, `hf-unlearn benchmark` reads it here)
    BenchmarkArguments,
    Setting,
    check_sequential,
    configure,
    method_variants,
    plan_settings,
)
from .benchmark_prepare import SeedPreparations
from .benchmark_report import (
    REPORT_COLUMNS,
    add_ratios,
    aggregate,
    format_report,
    paired_differences,
    plot,
    quality_metrics,
    update_markdown,
)
from .experiment import one_time_phases, request_seconds, scratch_setup

#: What a record keeps of a run's stopping rule (its trajectory stays in the run's results).
STOP_FIELDS = ("matched", "stopped_step", "kept_step", "budget_steps", "check_every_steps", "check_seconds")


# ---------------------------------------------------------------------------------------------- runs
class Benchmark(SeedPreparations):
    """Runs (or resumes) every (seed, setting, method) of a benchmark recipe and collects the records."""

    def __init__(self, args: BenchmarkArguments, base: UnlearningConfig):
        self.args, self.base = args, base
        if getattr(args, "holdout_split", None):
            raise ValueError(f"holdout_split = {args.holdout_split!r}: a benchmark holds out training rows it never "
                             "trains on instead; set holdout_samples (e.g. holdout_samples: 2000) and remove it.")
        #: the forget settings as given (forget options, and maybe their own `seeds` and `methods`)
        self.settings = as_dict(args.forget_settings) or {"random_10": {"forget_fraction": 0.1}}
        methods, grid = as_dict(args.methods) or {"multigan": {}}, as_dict(args.grid)
        self.variants = method_variants(methods, grid)  # as `methods` names them, before any setting retunes them
        self.plan = plan_settings(self.settings, methods, grid, list(args.seeds),  # checked before any training
                                  as_dict(args.variants_with))
        self.sequential = as_dict(args.sequential)
        check_sequential(self.sequential, self.plan)
        #: how the original and every retrained reference are trained from scratch
        self.recipe = args.classifier_recipe()
        if base.training_augmentation is None:  # every run's model was trained so (CoUn's views follow it)
            base.training_augmentation = self.recipe.augmentation
        self.root = base.output_dir
        self.keys = ArtefactKeys(self.root, base.should_save, self.log, redo=args.redo, dry_run=args.dry_run)
        self.keys.base_gan = legacy_values(multigan_options(base))
        #: set by `execute`: the data, the model factory and processor, what the runs are scored on
        self.train = self.test = self.holdout = self.make_model = self.processor = None
        self.evaluation: dict[str, Any] = {}
        self.train_digest: str | None = None  # the training split's content digest, in every key (`fingerprint`)
        self.holdout_digest: str | None = None  # the held-out rows' (`holdout_samples`), in keys of stop_when runs
        #: first-request run folder -> the retain generator it was given (None: it trained its own, if any)
        self.retain_generator_of: dict[str, str | None] = {}
        self.records: list[dict[str, Any]] = []
        #: seed -> its prepared generator (`prepared`), made once and shared by every setting and request
        self.preparations: dict[Any, Any] = {}
        self.started = time.perf_counter()

    def log(self, message: str) -> None:
        if self.base.should_log:
            print(f"[benchmark {time.perf_counter() - self.started:7.0f}s] {message}", flush=True)

    # -------------------------------------------------------------------------------------- data
    def load_data(self) -> tuple[Dataset, Dataset]:
        args = self.args
        train, test = load_splits(args)
        if args.validation_samples or args.holdout_samples:  # rows after the training rows: the whole split
            full = load_splits(DataArguments(args.dataset_name, args.train_split, args.test_split))[0]
        if args.validation_samples:
            start = len(train)
            stop = start + args.validation_samples
            if stop > len(full):
                raise ValueError(f"validation_samples={args.validation_samples}: only {len(full) - start} training "
                                 "rows lie beyond max_train_samples. Lower one of the two.")
            test = full.select(range(start, stop))
            self.log(f"scoring on validation rows {start}..{stop - 1} of the training split (not the test split)")
        if args.holdout_samples:  # the stopping rule's target: rows after the training (and validation) rows
            start = len(train) + (args.validation_samples or 0)
            if start + args.holdout_samples > len(full):
                raise ValueError(f"holdout_samples={args.holdout_samples}: only {len(full) - start} training rows lie "
                                 "beyond max_train_samples (and validation_samples). Lower one of them.")
            self.holdout = full.select(range(start, start + args.holdout_samples))
        return train, test

    # -------------------------------------------------------------------------------------- pieces
    def scratch_identity(self, seed: int) -> dict[str, Any]:
        """What determines the original model of `seed` (the key payload of its folder): the data, the model,
        the image processor and the training recipe. Each retrained reference is trained alike, on its retain set."""
        args = self.args
        return {"data": {"dataset_name": args.dataset_name, "train_split": args.train_split,
                         "max_train_samples": args.max_train_samples, "train": self.train_digest,
                         "image_column": self.base.image_column, "label_column": self.base.label_column},
                "model_config": as_dict(args.model_config), "pretrained_model": args.pretrained_model,
                "image_processor": as_dict(args.image_processor), "recipe": asdict(self.recipe),
                "training": {k: getattr(self.base, k, None) for k in ORIGINAL_TRAINING_FIELDS}, "seed": seed}

    def original(self, seed: int) -> tuple[torch.nn.Module, float]:
        """The original model of `seed` and the seconds it took to train; reused while its key holds."""
        folder = os.path.join(self.root, f"seed{seed}", "original")
        timing_file = os.path.join(folder, "train_seconds.json")

        def train() -> tuple[torch.nn.Module, float]:
            torch.manual_seed(seed)
            start = time.perf_counter()
            model = train_classifier(self.make_model(), self.processor, self.train,
                                     self.recipe.training_args(folder, seed, self.base), self.recipe.augmentation)
            seconds = time.perf_counter() - start
            if self.base.should_save:
                model.save_pretrained(folder)
                self.processor.save_pretrained(folder)
                with open(timing_file, "w") as f:
                    json.dump({"seconds": seconds}, f)
            return model, seconds

        def load() -> tuple[torch.nn.Module, float]:
            with open(timing_file) as f:
                return AutoModelForImageClassification.from_pretrained(folder), json.load(f)["seconds"]

        return self.keys.get_or_make(folder, self.scratch_identity(seed), os.path.basename(timing_file), train, load,
                                     planned=lambda: (None, 0.0))

    def run(self, config: UnlearningConfig, model: Callable[[], torch.nn.Module], start: dict[str, str],
            overrides: dict[str, Any], forget: dict[str, Any], evaluate_original: bool = False) -> dict[str, Any]:
        """One unlearning run's result, read back when it finished under the same key (else run, again). The
        retrained reference is scored once, by its own run; Avg Gap is computed here from the records.

        The key covers what the run starts from (`start`: the key of the original, of scratch, or of the first
        request's run; `model()` makes that model), the recipe's `overrides` of the method and `forget` options,
        the seed, the evaluation data and the resolved `config`."""
        def build(keyed: dict[str, Any]) -> dict[str, Any]:  # `keyed`: the overrides in the old layout
            payload = {"from": start, "method": config.method, "overrides": keyed, "forget": forget,
                       "seed": config.seed, "evaluation": self.evaluation, "evaluate_original": evaluate_original,
                       "config": self.keys.config_identity(config, keyed)}
            if config.stop_when or get_method(config.method).reads_holdout(config.method_options):  # rows it reads
                payload["holdout"] = self.holdout_digest
            return payload

        payload, aliases = run_payloads(config.method, overrides, build)

        def unlearn() -> dict[str, Any]:
            trainer = UnlearningTrainer(model=model(), args=config, train_dataset=self.train, eval_dataset=self.test,
                                        processing_class=self.processor, dataset_name=self.args.dataset_name,
                                        holdout_dataset=self.holdout)
            return trainer.unlearn(evaluate_original=evaluate_original).to_dict()

        return self.keys.get_or_make(config.output_dir, payload, RESULTS_FILE, unlearn,
                                     lambda: load_result(config.output_dir), aliases,
                                     planned=lambda: planned_result(config.method))

    def retrained(self, config: UnlearningConfig, forget: dict[str, Any]) -> dict[str, Any]:
        """The retrained reference of `config`'s forget set: trained from scratch as the original was."""
        args = self.recipe.training_args(config.output_dir, config.seed, config)
        args.method = "retrain"
        return self.run(args, self.make_model, {"scratch": artefact_key(self.scratch_identity(config.seed))}, {},
                        forget)

    def add_record(self, seed: int, setting: str, request: str, name: str, method: str, metrics: dict[str, float],
                   reference: dict[str, float], request_s: float, retrain_s: float, timings: dict[str, float],
                   counts: dict[str, int], method_args: Any = None, **extra: Any) -> dict[str, float]:
        """One row of the benchmark: `metrics` plus Avg Gap to `reference` and the time against retraining."""
        once = sum(timings.get(phase, 0.0) for phase in one_time_phases(method))  # made once, reused
        one_time = once + extra.get("prepared_s", 0.0)
        metrics = {**metrics, "avg_gap": avg_gap(metrics, reference), "request_s": request_s,
                   "time_ratio": request_s / retrain_s, "one_time_s": one_time}
        self.records.append({"seed": seed, "setting": setting, "name": name, "method": method, "request": request,
                             "metrics": metrics, "timings": timings, "preparation_s": once,
                             "retrain_s": retrain_s, "counts": counts, "method_args": method_args, **extra})
        return metrics

    def record(self, seed: int, setting: str, name: str, result: dict[str, Any], retrain_s: float,
               reference: dict[str, float], request: str = "first", prepared_s: float = 0.0) -> None:
        """The row of one method's run (and its log line); `prepared_s`: its prepared generator's one-time cost."""
        if self.args.dry_run:  # nothing ran: no row
            return
        metrics = self.add_record(seed, setting, request, name, result["method"],
                                  {**result["metrics"]["unlearned"], **quality_metrics(result.get("synthetic"))},
                                  reference, request_seconds(result["timings"], one_time_phases(result["method"])),
                                  retrain_s, result["timings"],
                                  result["counts"], result["config"].get("method_args"),
                                  max_grad_norm=result["config"].get("max_grad_norm"), prepared_s=prepared_s,
                                  stopping={k: v for k, v in (result.get("stopping") or {}).items() if k in STOP_FIELDS})
        self.log(f"seed {seed} {setting} {request:6s} {name}: " + ", ".join(
            f"{k} {metrics[k]:.3f}" for k, _, _ in REPORT_COLUMNS if k in metrics))

    def record_references(self, seed: int, setting: str, ref_result: dict[str, Any], retrain_s: float,
                          request: str = "first", original: dict[str, float] | None = None,
                          original_s: float = 0.0) -> None:
        """Rows for the retrained reference and (when scored) for doing nothing, the original model."""
        if self.args.dry_run:
            return
        reference = ref_result["metrics"]["unlearned"]
        clipping = ref_result["config"].get("max_grad_norm")  # one recipe trains the original and the reference
        self.add_record(seed, setting, request, "retrained", "retrain", reference, reference, retrain_s, retrain_s,
                        ref_result["timings"], ref_result["counts"], train_s=retrain_s, max_grad_norm=clipping)
        if original is not None:
            self.add_record(seed, setting, request, "original", "original", original, reference, 0.0, retrain_s, {},
                            ref_result["counts"], train_s=original_s, max_grad_norm=clipping)

    # -------------------------------------------------------------------------------------- main loop
    def load_keyed_data(self) -> None:
        """The training and test (or validation) splits, and how they enter every key: the content digest of the
        training split (`train_digest`) and of the scored split (in `evaluation`); content, not files, so that
        keys hold across copies of the data."""
        self.train, self.test = self.load_data()
        columns = (self.base.image_column, self.base.label_column)
        self.train_digest = fingerprint(self.train, *columns)
        self.holdout_digest = fingerprint(self.holdout, *columns) if self.holdout is not None else None
        self.evaluation = {"test_split": self.args.test_split, "max_test_samples": self.args.max_test_samples,
                           "validation_samples": self.args.validation_samples, "test": fingerprint(self.test, *columns)}

    def execute(self) -> dict[str, Any]:
        """Every seed an original is needed for (by some setting), then each of its settings; the summary."""
        self.load_keyed_data()
        self.make_model, self.processor = scratch_setup(self.args, self.train, self.base)
        for seed in dict.fromkeys(seed for setting in self.plan.values() for seed in setting.seeds):
            original, original_s = self.original(seed)
            if not self.args.dry_run:
                self.log(f"seed {seed}: original model ready ({original_s:.0f}s to train)")
            for name, setting in self.plan.items():
                if seed in setting.seeds:
                    self.first_request(seed, name, setting, original, original_s)
        return {} if self.args.dry_run else self.summary()

    def first_request(self, seed: int, setting: str, setting_plan: Setting, original: torch.nn.Module,
                      original_s: float) -> None:
        """The retrained reference and every method of one forget setting and seed (then the second request)."""
        base_dir, forget = os.path.join(self.root, f"seed{seed}", setting), setting_plan.forget_of(seed)
        ref_config = configure(self.base, os.path.join(base_dir, "retrain"), seed, "retrain", forget)
        ref_result = self.retrained(ref_config, forget)
        retrain_s = request_seconds(ref_result["timings"])
        reference = ref_result["metrics"]["unlearned"]
        start = {"original": artefact_key(self.scratch_identity(seed))}
        shared: dict[str, str] = {}  # method -> the first finished run's reusable output (Multi-GAN: retain GAN)
        for index, (name, (method, overrides)) in enumerate(setting_plan.variants.items()):
            config = configure(self.base, os.path.join(base_dir, name), seed, method, {**forget, **overrides})
            prepared_s = self.resolve_preparation(config, original)
            kind = get_method(method)
            reuse = kind.reusable_output
            if reuse and method in shared and kind.reads_reusable_output(config.method_options):
                config.method_args = {**(as_dict(config.method_args) or {}), reuse[1]: shared[method]}  # made once
            self.retain_generator_of[config.output_dir] = getattr(config.method_options, reuse[1]) if reuse else None
            result = self.run(config, lambda: copy.deepcopy(original), start, overrides, forget,
                              evaluate_original=index == 0)
            if index == 0:  # every run scores the original alike: report it once
                self.record_references(seed, setting, ref_result, retrain_s,
                                       original=result["metrics"].get("original"), original_s=original_s)
            if reuse and method not in shared and os.path.isdir(os.path.join(config.output_dir, reuse[0])):
                shared[method] = os.path.join(config.output_dir, reuse[0])
            self.record(seed, setting, name, result, retrain_s, reference, prepared_s=prepared_s)
        if (self.sequential and self.sequential.get("setting", setting) == setting
                and seed in self.sequential.get("seeds", [seed])):
            self.second_request(seed, setting, base_dir, setting_plan)

    def second_request(self, seed: int, setting: str, base_dir: str, setting_plan: Setting) -> None:
        """A second deletion request, unlearned from each method's first result (sequential deletion)."""
        spec = self.sequential
        first = load_result(os.path.join(base_dir, "retrain"))
        if first is None and self.args.dry_run:  # its rows are drawn from the first request's retain set
            self.keys.plan.append(("make", os.path.abspath(os.path.join(base_dir, "second_request")),
                                   "after its first request (its rows are drawn from the first request's retain set)"))
            return
        first_forget = ForgetSet.from_dict(first["forget_set"])
        _, label_col = find_columns(self.train, self.base.image_column, self.base.label_column)
        labels = np.asarray(self.train.select_columns([label_col])[:][label_col])
        retain, _ = first_forget.split(len(self.train), labels, class_names(self.train, label_col), self.train)
        rng = np.random.default_rng(1000 + seed)
        fraction = float(spec.get("fraction", 0.05))
        second = np.sort(rng.choice(retain, size=int(round(fraction * len(self.train))), replace=False)).tolist()
        folder = os.path.join(base_dir, "second_request")
        previous = [os.path.join(base_dir, "retrain")]
        overrides = {"forget_indices": second, "previous_forget_sets": previous}
        request = {"second_request_fraction": fraction}  # the rows themselves are in each run's config
        ref_config = configure(self.base, os.path.join(folder, "retrain"), seed, "retrain", overrides)
        ref_result = self.retrained(ref_config, request)
        retrain_s = request_seconds(ref_result["timings"])
        reference = ref_result["metrics"]["unlearned"]
        for index, name in enumerate(spec.get("methods", ["multigan"])):
            method, method_overrides = setting_plan.variants[name]
            first_dir = os.path.join(base_dir, name)
            extra = dict(overrides)
            kind = get_method(method)
            if kind.reusable_output and spec.get("reuse_retain_generator", True) and kind.reads_reusable_output(
                    configure(self.base, first_dir, seed, method, method_overrides).method_options):
                path, option = kind.reusable_output  # the first request's (its retain rows hold the second's)
                extra["method_args"] = merge_method_args(method_overrides.get("method_args"), {
                    option: self.retain_generator_of.get(first_dir) or os.path.join(first_dir, path)})
            config = configure(self.base, os.path.join(folder, name), seed, method, {**method_overrides, **extra})
            prepared_s = self.resolve_preparation(config, first_request=False)
            result = self.run(config, functools.partial(AutoModelForImageClassification.from_pretrained, first_dir),
                              {"first_request": self.keys.key_of(first_dir)}, method_overrides, request)
            if index == 0:
                self.record_references(seed, setting, ref_result, retrain_s, request="second")
            self.record(seed, setting, name, result, retrain_s, reference, request="second", prepared_s=prepared_s)

    # -------------------------------------------------------------------------------------- report
    def summary(self) -> dict[str, Any]:
        records = add_ratios(self.records)  # Avg Gap also as a share of doing nothing and x fine-tuning / SalUn
        return {"command": redact_command(self.args.command or command_line()), "records": records,
                "aggregate": aggregate(records), "paired": paired_differences(records),
                "settings": self.settings,
                "methods": {name: {"method": m, **o} for name, (m, o) in self.variants.items()},
                "methods_by_setting": {setting: {name: {"method": m, **o} for name, (m, o) in plan.variants.items()}
                                       for setting, plan in self.plan.items()},
                "sequential": self.sequential, "seeds": list(self.args.seeds),
                "seeds_by_setting": {setting: plan.seeds for setting, plan in self.plan.items()},
                "data": {"dataset": self.args.dataset_name, "max_train_samples": self.args.max_train_samples,
                         "max_test_samples": self.args.max_test_samples,
                         "validation_samples": self.args.validation_samples},
                "model_config": as_dict(self.args.model_config), "original_training": asdict(self.recipe),
                "wall_s": time.perf_counter() - self.started}


def command_line() -> str:
    return "hf-unlearn " + " ".join(sys.argv[1:]) if sys.argv and "hf-unlearn" in sys.argv[0] else " ".join(sys.argv)


def run_benchmark(args: BenchmarkArguments, base: UnlearningConfig) -> dict[str, Any]:
    """Run (or resume) the benchmark and write its JSON, Markdown report and plot; with `dry_run`, only list what
    it would reuse and make (nothing written)."""
    benchmark = Benchmark(args, base)
    summary = benchmark.execute()
    if args.dry_run:
        listing = benchmark.keys.plan_report()
        print(listing)
        return {"dry_run": [{"action": a, "folder": f, "why": w} for a, f, w in benchmark.keys.plan],
                "listing": listing}
    if not base.should_save:
        return summary
    os.makedirs(args.report_dir, exist_ok=True)
    stem = os.path.join(args.report_dir, args.report_name)
    with open(stem + ".json", "w") as f:
        json.dump(summary, f, indent=2)
    report = format_report(summary, args.report_name, args.report_focus)
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
