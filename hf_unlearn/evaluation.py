"""Scoring a model on forget / retain / test data: accuracies and the membership-inference score.

Kept apart from every unlearning loss: the same function scores the original model, the retrained
reference and the unlearned model.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass

import numpy as np
import torch
from datasets import Dataset
from transformers import Trainer, TrainingArguments

from .data import ImageTransform, collate_images


@dataclass
class Predictions:
    """Logits and true labels of one dataset."""

    logits: np.ndarray
    labels: np.ndarray

    @property
    def predicted(self) -> np.ndarray:
        return self.logits.argmax(axis=1)

    @property
    def probabilities(self) -> np.ndarray:
        return torch.softmax(torch.from_numpy(self.logits).double(), dim=1).numpy()

    @property
    def losses(self) -> np.ndarray:
        """Per-sample cross-entropy."""
        logits = torch.from_numpy(self.logits).double()
        return torch.nn.functional.cross_entropy(logits, torch.from_numpy(self.labels), reduction="none").numpy()


def prediction_args(args: TrainingArguments) -> TrainingArguments:
    """A copy of `args` fit for inference only (no loggers, no pushes, no extra columns dropped, and every row
    scored: `dataloader_drop_last`, a training option, would drop the last partial batch of predictions too)."""
    pred = copy.copy(args)
    pred.report_to = []
    pred.push_to_hub = False
    pred.remove_unused_columns = False
    pred.dataloader_drop_last = False
    pred.disable_tqdm = True
    return pred


def predict(model: torch.nn.Module, dataset: Dataset, transform: ImageTransform, args: TrainingArguments) -> Predictions:
    """Logits of `model` (eval mode) on every row of `dataset`, in order; gathered across processes.

    The model is left as it was given: Accelerate marks a model it prepared for evaluation as prepared, and a
    marked model is never wrapped for data-parallel training afterwards (under several processes each would
    then train alone on its shard), so the mark is removed again."""
    marked = getattr(model, "_is_accelerate_prepared", False)
    trainer = Trainer(model=model, args=prediction_args(args), data_collator=collate_images)
    has_labels = "label" in dataset.column_names
    try:
        output = trainer.predict(dataset.with_transform(transform))  # the transform skips a missing label column
    finally:
        if not marked and getattr(model, "_is_accelerate_prepared", False):
            del model._is_accelerate_prepared
    logits = output.predictions[0] if isinstance(output.predictions, tuple) else output.predictions
    labels = np.asarray(dataset["label"], dtype=np.int64) if has_labels else np.full(len(dataset), -1)
    return Predictions(np.asarray(logits, dtype=np.float32)[: len(dataset)], labels)


def score_predictions(forget: Predictions, retain: Predictions, test: Predictions, mia_splits: int = 10,
                      seed: int = 0) -> dict[str, float]:
    """Accuracies (in %), the challenge-kit MIA score, the loss attack's AUC and SalUn's MIA-efficacy from
    already computed predictions."""
    from .metrics import load_metric  # evaluate, on first scoring

    accuracy = load_metric("accuracy")
    scores: dict[str, float] = {}
    for name, pred in (("forget", forget), ("retain", retain), ("test", test)):
        scores[f"{name}_accuracy"] = 100.0 * accuracy.compute(predictions=pred.predicted, references=pred.labels)["accuracy"]
    mia = load_metric("mia_score").compute(
        predictions=np.concatenate([forget.losses, test.losses]),
        references=np.r_[np.ones(len(forget.labels), dtype=np.int64), np.zeros(len(test.labels), dtype=np.int64)],
        n_splits=mia_splits,
        seed=seed,
    )
    scores.update({k: float(v) for k, v in mia.items()})
    from sklearn.metrics import roc_auc_score  # the loss-threshold attack's AUC, forget (members) vs test

    scores["mia_auc"] = float(roc_auc_score(np.r_[np.ones(len(forget.labels)), np.zeros(len(test.labels))],
                                            -np.concatenate([forget.losses, test.losses])))
    confidence = {name: p.probabilities[np.arange(len(p.labels)), p.labels] for name, p in
                  (("forget", forget), ("retain", retain), ("test", test))}
    scores["mia_efficacy"] = load_metric("mia_efficacy").compute(
        predictions=np.concatenate([confidence["retain"], confidence["test"], confidence["forget"]]),
        references=np.r_[np.ones(len(retain.labels)), np.zeros(len(test.labels)), np.full(len(forget.labels), 2)].astype(np.int64),
        seed=seed,
    )["mia_efficacy"]
    return scores


def score_sets(predictions: dict[str, Predictions], mia_splits: int = 10, seed: int = 0) -> dict[str, float]:
    """`score_predictions` of named sets (forget, retain, test); without a test set, accuracies only."""
    if "test" not in predictions:
        return {f"{k}_accuracy": 100.0 * float((p.predicted == p.labels).mean()) for k, p in predictions.items()}
    return score_predictions(predictions["forget"], predictions["retain"], predictions["test"],
                             mia_splits=mia_splits, seed=seed)


def format_metric(model: str, key: str, metrics: dict[str, float]) -> str:
    """One table cell: MIA score with 3 decimals, percentages with 2, "n/a" when missing; the retrained
    reference's Avg Gap is 0 by definition."""
    if key == "avg_gap" and model == "retrained":
        return "0"
    if key not in metrics:
        return "n/a"
    return f"{metrics[key]:.3f}" if key == "mia_score" else f"{metrics[key]:.2f}"


#: The four numbers SalUn's Avg Gap compares (forget accuracy stands for its UA = 100 - forget accuracy).
AVG_GAP_KEYS = ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy")


def avg_gap(metrics: dict[str, float], reference: dict[str, float]) -> float:
    """SalUn's Avg Gap: mean absolute difference to the retrained reference over forget (UA), retain and test
    accuracy and MIA-efficacy, in points. 0 means indistinguishable from retraining on these four numbers."""
    missing = [k for k in AVG_GAP_KEYS if k not in metrics or k not in reference]
    if missing:
        raise KeyError(f"Avg Gap needs {missing} in both metric sets.")
    return float(np.mean([abs(metrics[k] - reference[k]) for k in AVG_GAP_KEYS]))


def group_scores(predictions: dict[str, dict[str, Predictions]],
                 groups: list[tuple[str, np.ndarray]]) -> list[dict[str, object]]:
    """A person-level request, group by group (the rows of one id value; `groups` holds their positions in the
    forget set): each model's accuracy on the group's images (Wilson interval) and the loss attack's AUC, the
    group's images (members) vs the test set (Hanley-McNeil interval). The ids are not kept: groups are numbered
    in the order the request gave them."""
    from sklearn.metrics import roc_auc_score

    from .mia.stats import auc_interval, wilson_interval

    out: list[dict[str, object]] = []
    for number, (_, positions) in enumerate(groups, start=1):
        scores: dict[str, dict[str, float]] = {}
        for model, sets in predictions.items():
            forget, test = sets["forget"], sets.get("test")
            hit = forget.predicted[positions] == forget.labels[positions]
            accuracy = float(hit.mean()) if len(hit) else float("nan")
            low, high = wilson_interval(accuracy, len(hit))
            entry = {"accuracy": 100 * accuracy, "accuracy_low": 100 * low, "accuracy_high": 100 * high}
            if test is not None and len(positions):
                members = np.r_[np.ones(len(positions)), np.zeros(len(test.labels))]
                auc = float(roc_auc_score(members, -np.r_[forget.losses[positions], test.losses]))
                low, high = auc_interval(auc, len(positions), len(test.labels))
                entry.update(mia_auc=auc, mia_auc_low=low, mia_auc_high=high)
            scores[model] = entry
        out.append({"group": number, "images": int(len(positions)), "models": scores})
    return out
