"""What a run offers its method and its phases (the `UnlearningContext` a method reads, `methods/base.py`):
timing of phases, the retain rows to fine-tune on, predictions of any model with the run's processor, the
original model's predictions (cached before fine-tuning), the evaluation sets and their scores. A mixin of
`UnlearningTrainer`, which holds the state these read (`args`, `request`, `model`, `transform`, ...)."""

from __future__ import annotations

import time
from typing import Any

import torch
from datasets import Dataset

from .evaluation import Predictions, predict, score_sets


class RunServices:
    """The services of a run (mixed into `UnlearningTrainer`)."""

    args: Any
    request: Any
    model: Any
    transform: Any
    verdict_phase: Any
    reference_model: Any
    timings: dict[str, float]
    _original_predictions: dict[str, Predictions]
    _evaluation_datasets: dict[str, Dataset] | None
    _metrics_so_far: dict[str, dict[str, float]]
    evaluation_predictions: dict[str, dict[str, Predictions]]

    def log_phase(self, phase: str, seconds: float, **info: Any) -> None:
        """Record a phase's wall time (in `timings` and the results) and print it on the main process."""
        self.timings[phase] = self.timings.get(phase, 0.0) + float(seconds)
        if self.args.should_log:
            details = ", ".join(f"{k}={v}" for k, v in info.items())
            print(f"[hf-unlearn] {phase}: {seconds:.1f}s" + (f" ({details})" if details else ""), flush=True)

    def retain_train_dataset(self) -> Dataset:
        """The real retain rows used for fine-tuning (a seeded subset when `num_retain_samples` or
        `retain_samples_per_forget` is set)."""
        budget = self.request.retain_budget(self.args.num_retain_samples, self.args.retain_samples_per_forget)
        return self.request.retain_sample(budget, self.args.seed)

    def predict_logits(self, dataset: Dataset, model: torch.nn.Module | None = None) -> Predictions:
        """Logits of `model` (default: the trainer's current model) on `dataset`, with the model's processor."""
        return predict(model if model is not None else self.model, dataset, self.transform, self.args)

    def original_predictions(self, name: str, dataset: Dataset) -> Predictions:
        """Predictions of the original model (cached; valid only before fine-tuning starts)."""
        if name not in self._original_predictions:
            self._original_predictions[name] = self.predict_logits(dataset)
        return self._original_predictions[name]

    def evaluation_datasets(self) -> dict[str, Dataset]:
        """Forget set, a seeded retain sample, and the test set (when given); built once per trainer."""
        if self._evaluation_datasets is None:
            sets = {"forget": self.request.forget_dataset,
                    "retain": self.request.retain_sample(self.args.eval_retain_samples, self.args.seed)}
            if self.request.test_dataset is not None:
                sets["test"] = self.request.test_dataset
            if self.verdict_phase.population is not None:  # the verdict's held-out rows
                sets["population"] = self.verdict_phase.population
            self._evaluation_datasets = sets
        return self._evaluation_datasets

    def predict_evaluation_sets(self, model: torch.nn.Module | None = None) -> dict[str, Predictions]:
        """Predictions of `model` (default: the current model) on the forget set, retain sample and test set."""
        return {k: self.predict_logits(v, model) for k, v in self.evaluation_datasets().items()}

    def score_model(self, model: torch.nn.Module | None = None) -> dict[str, float]:
        """Accuracies and MIA scores of `model` (default: the current model) on this request's forget set,
        retain sample and test set: use it to score any other model (a reference, an earlier run) alike."""
        return score_sets(self.predict_evaluation_sets(model), self.args.mia_splits, self.args.seed)

    def score_before_fine_tuning(self, evaluate_original: bool) -> None:
        """Score the original model (when `evaluate_original`) and the retrained reference (when given) on the
        evaluation sets, before fine-tuning changes the model: into the run's predictions and metrics so far."""
        predictions, metrics, eval_sets = self.evaluation_predictions, self._metrics_so_far, self.evaluation_datasets()
        if evaluate_original:
            start = time.perf_counter()
            predictions["original"] = {k: self.original_predictions(k, v) for k, v in eval_sets.items()}
            metrics["original"] = score_sets(predictions["original"], self.args.mia_splits, self.args.seed)
            self.log_phase("evaluate_original", time.perf_counter() - start)
        if self.reference_model is not None:
            start = time.perf_counter()
            predictions["retrained"] = self.predict_evaluation_sets(self.reference_model)
            metrics["retrained"] = score_sets(predictions["retrained"], self.args.mia_splits, self.args.seed)
            self.log_phase("evaluate_reference", time.perf_counter() - start)
