"""One comparison run: train the original model, the retrained reference, and unlearn; print one table.

`hf-unlearn quickstart` runs it on scikit-learn's digits; recipes run it on CIFAR-10.
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import torch
from datasets import Dataset
from transformers import Trainer, TrainingArguments

from .config import UnlearningConfig
from .data import ImageTransform, collate_images, find_columns, model_num_channels, to_standard_columns
from .evaluation import format_metric
from .trainer import UnlearningTrainer

TABLE_COLUMNS = (("forget_accuracy", "forget acc"), ("retain_accuracy", "retain acc"), ("test_accuracy", "test acc"),
                 ("mia_score", "MIA"), ("mia_efficacy", "MIA-eff"), ("avg_gap", "Avg Gap"))


@dataclass
class ClassifierRecipe:
    """How the original model (and, identically, the retrained reference) is trained from scratch.

    `batch_size` is the global batch: under N processes each takes batch_size / N, so the recipe (and every
    result and cache keyed by it) means the same training whatever the number of processes."""

    epochs: float = 30.0
    learning_rate: float = 0.05
    batch_size: int = 64
    weight_decay: float = 5e-4
    extra: dict[str, Any] = field(default_factory=dict)

    def training_args(self, output_dir: str, seed: int, base: UnlearningConfig) -> UnlearningConfig:
        """`base` with this recipe's training settings (same devices, precision and seed handling)."""
        args = copy.deepcopy(base)
        args.output_dir = output_dir
        args.num_train_epochs = self.epochs
        args.learning_rate = self.learning_rate
        if self.batch_size % args.world_size:
            raise ValueError(f"The batch size {self.batch_size} does not split over {args.world_size} processes: "
                             f"choose a multiple of {args.world_size}.")
        args.per_device_train_batch_size = self.batch_size // args.world_size
        args.weight_decay = self.weight_decay
        args.lr_scheduler_type = "cosine"
        args.warmup_steps = 0
        args.seed = seed
        for key, value in self.extra.items():
            setattr(args, key, value)
        return args


def scratch_model_factory(model_config: dict[str, Any] | None, train: Dataset, config: UnlearningConfig,
                          pretrained: str | None = None) -> Any:
    """`make_model()` for benchmark mode: a fresh `AutoModelForImageClassification` sized to the dataset's
    classes, from a transformers config (a dict with `model_type`) or from a pretrained backbone (Hub id or
    folder; its classification head is replaced)."""
    from transformers import AutoConfig, AutoModelForImageClassification

    from .data import class_names

    _, label_col = find_columns(train, config.image_column, config.label_column)
    names = class_names(train, label_col) or [str(i) for i in sorted(set(train.select_columns([label_col])[:][label_col]))]
    labels = {"num_labels": len(names), "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    if pretrained:
        def make_model() -> torch.nn.Module:
            return AutoModelForImageClassification.from_pretrained(pretrained, ignore_mismatched_sizes=True, **labels)

        return make_model
    if not model_config:
        raise ValueError("Benchmark mode needs model_config (a transformers config with model_type) or pretrained_model.")
    settings = {**model_config, **labels}
    hf_config = AutoConfig.for_model(settings.pop("model_type"), **settings)

    def make_model() -> torch.nn.Module:
        return AutoModelForImageClassification.from_config(hf_config)

    return make_model


def scratch_setup(args: Any, train: Dataset, config: UnlearningConfig) -> tuple[Any, Any]:
    """`make_model` and the image processor of benchmark mode, from `ScratchModelArguments`."""
    from transformers import AutoImageProcessor

    from .arguments import as_dict
    from .data import vit_image_processor

    make_model = scratch_model_factory(as_dict(args.model_config), train, config, args.pretrained_model)
    settings = as_dict(args.image_processor)
    if args.pretrained_model and not settings:
        return make_model, AutoImageProcessor.from_pretrained(args.pretrained_model)
    return make_model, vit_image_processor(**(settings or {}))


def request_seconds(timings: dict[str, float]) -> float:
    """What one deletion request costs: data reorganization + fine-tuning (+ a method's own preparation such
    as SalUn's mask), without one-time work that can be done when the model is published (the retain GAN)."""
    return (timings.get("data_reorganization", 0.0) + timings.get("fine_tuning", 0.0)
            + timings.get("saliency_mask", 0.0) - timings.get("gan_retain", 0.0))


def train_classifier(model: torch.nn.Module, processor: Any, dataset: Dataset, args: TrainingArguments) -> torch.nn.Module:
    """Train `model` on `dataset` (image + label columns) with a plain Trainer; returns the trained model."""
    image_col, label_col = find_columns(dataset)
    data = to_standard_columns(dataset, image_col, label_col).with_transform(
        ImageTransform(processor, model_num_channels(model)))
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate_images)
    trainer.train()
    return trainer.model


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
                                          recipe.training_args(os.path.join(root, "original"), config.seed, config))
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
