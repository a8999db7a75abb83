"""One comparison run: train the original model, the retrained reference, and unlearn; print one table.

`hf-unlearn quickstart` runs it on scikit-learn's digits; `hf-unlearn run` in benchmark mode on a recipe's data.
"""

from __future__ import annotations

import copy
import json
import os
import time
from typing import Any

import torch
from datasets import Dataset

from ..config import UnlearningConfig
from ..data import vit_image_processor
from ..evaluation import format_metric
from ..scratch import ClassifierRecipe, scratch_model_factory, train_classifier
from ..trainer import UnlearningTrainer
from .arguments import as_dict

TABLE_COLUMNS = (("forget_accuracy", "forget acc"), ("retain_accuracy", "retain acc"), ("test_accuracy", "test acc"),
                 ("mia_score", "MIA"), ("mia_efficacy", "MIA-eff"), ("avg_gap", "Avg Gap"))


def scratch_setup(args: Any, train: Dataset, config: UnlearningConfig) -> tuple[Any, Any]:
    """`make_model` and the image processor of benchmark mode, from `ScratchModelArguments`."""
    from transformers import AutoImageProcessor

    make_model = scratch_model_factory(as_dict(args.model_config), train, config, args.pretrained_model)
    settings = as_dict(args.image_processor)
    if args.pretrained_model and not settings:
        return make_model, AutoImageProcessor.from_pretrained(args.pretrained_model)
    return make_model, vit_image_processor(**(settings or {}))


def one_time_phases(method: str) -> tuple[str, ...]:
    """The phases `method` declares one-time (`UnlearningMethod.one_time_phases`), apart from a request's cost;
    none for the rows that are no method (`original`, `retrained`)."""
    from ..methods import available_methods, get_method

    return tuple(get_method(method).one_time_phases) if method in available_methods() else ()


def request_seconds(timings: dict[str, float], one_time_phases: tuple[str, ...] = ()) -> float:
    """What one deletion request costs: data reorganization (which includes the work a method does to build
    its fine-tuning set: amun's attack on the forget rows, Multi-GAN's GANs) + fine-tuning (+ SalUn's mask, + the
    stopping rule's setup: its targets, the original's held-out accuracy, the references' scores), without the
    method's `one_time_phases`: work that can be done once, when the model is published (Multi-GAN's retain GAN)."""
    return (timings.get("data_reorganization", 0.0) + timings.get("fine_tuning", 0.0)
            + timings.get("saliency_mask", 0.0) + timings.get("stop_rule_setup", 0.0)
            - sum(timings.get(phase, 0.0) for phase in one_time_phases))


def format_table(metrics: dict[str, dict[str, float]], timings: dict[str, float] | None = None) -> str:
    """A Markdown table: one row per model, forget / retain / test accuracy and MIA (and time)."""
    header = "| model | " + " | ".join(label for _, label in TABLE_COLUMNS) + (" | time (s) |" if timings else " |")
    lines = [header, "|" + "---|" * (len(TABLE_COLUMNS) + 1 + bool(timings))]
    for name, m in metrics.items():
        cells = [format_metric(name, k, m) for k, _ in TABLE_COLUMNS]
        row = f"| {name} | " + " | ".join(cells)
        if timings:
            row += f" | {timings.get(name, float('nan')):.1f}"
        lines.append(row + " |")
    return "\n".join(lines)


def run_comparison(make_model: Any, processor: Any, train: Dataset, test: Dataset, config: UnlearningConfig,
                   recipe: ClassifierRecipe, original_model: torch.nn.Module | None = None,
                   dataset_name: str | None = None, command: str | None = None) -> dict[str, Any]:
    """Original (trained here unless given), retrained reference and unlearned model, scored alike.

    `make_model()` returns a freshly initialised classifier. Writes `original/`, `retrained/` and
    `unlearned/` under `config.output_dir` plus `comparison.json`; returns metrics and timings.
    """
    root = config.output_dir
    timings: dict[str, float] = {}
    if original_model is None:
        torch.manual_seed(config.seed)
        start = time.perf_counter()
        original_model = train_classifier(make_model(), processor, train,
                                          recipe.training_args(os.path.join(root, "original"), config.seed, config),
                                          recipe.augmentation)
        timings["original"] = time.perf_counter() - start
        original_model.save_pretrained(os.path.join(root, "original"))
        processor.save_pretrained(os.path.join(root, "original"))

    retrain_args = recipe.training_args(os.path.join(root, "retrained"), config.seed, config)
    retrain_args.method = "retrain"
    retrainer = UnlearningTrainer(model=make_model(), args=retrain_args, train_dataset=train, eval_dataset=test,
                                  processing_class=processor, dataset_name=dataset_name)
    retrain_result = retrainer.unlearn()
    timings["retrained"] = retrain_result.timings["data_reorganization"] + retrain_result.timings["fine_tuning"]

    unlearn_args = copy.deepcopy(config)
    unlearn_args.output_dir = os.path.join(root, "unlearned")
    unlearner = UnlearningTrainer(model=copy.deepcopy(original_model), args=unlearn_args, train_dataset=train,
                                  eval_dataset=test, processing_class=processor, reference_model=retrainer.model,
                                  dataset_name=dataset_name, command=command)
    result = unlearner.unlearn()
    timings[config.method] = result.timings["data_reorganization"] + result.timings["fine_tuning"]

    metrics = {"original": result.metrics["original"], "retrained": result.metrics["retrained"],
               config.method: result.metrics["unlearned"]}
    summary = {"metrics": metrics, "timings": timings, "phases": result.timings, "counts": result.counts,
               "forget_set": result.forget_set}
    if unlearner.args.should_save:
        with open(os.path.join(root, "comparison.json"), "w") as f:
            json.dump(summary, f, indent=2)
    return summary
