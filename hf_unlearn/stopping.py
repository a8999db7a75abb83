"""Forget until indistinguishable (`stop_when: indistinguishable`): a stopping rule any method can switch on.

A model retrained without the forget set treats the forgotten rows like rows it never saw, of the same classes.
That target is estimated without retraining from held-out rows (`holdout_dataset`: data the model never trained
on, never the reported test split). Every `stop_check_steps` the fine-tuned model scores the forget rows and the
held-out rows of the same classes (eval mode, at most `stop_max_samples` of each), and compares their per-sample
losses with a class-stratified AUC (`mia.stats.stratified_auc`: the loss attack's AUC, members = forget rows;
0.5 = indistinguishable, above = still remembered, below = forgotten "too well", itself a tell) and its interval.
Where the target is not "unseen":

- a class request: the retrained model never predicts the class; the target is that the forgotten classes are
  predicted for at most `stop_class_rate` of the forget rows and of the held-out rows of those classes;
- a sequential request: every earlier forget set must stay forgotten, each checked by its own target.

A model broken by fine-tuning also treats its forget rows like unseen ones (it gets both wrong), while a retrained
model keeps the original's accuracy on unseen data: so the rule also asks that the held-out accuracy (every class
but a forgotten one) stays within `stop_accuracy_drop` points of the original model's on the same rows.

With `stop_class_accuracy_drop`, the held-out accuracy of the forget rows' own classes (each target's held-out rows)
must also stay within that many points of the original's: fine-tuning a person's look-alike photos away can take the
whole class with it, which the loss attack does not see (forget and held-out rows fall together).

Fine-tuning stops at the first check where every target is met (kept), or where a forget set has gone past
"unseen" (its AUC interval lies below 0.5: over-forgotten, and more steps only push further): the model then goes
back to the check closest to the targets (the largest of each target's distance: |AUC - 0.5| over the interval's
half-width, the class rate over `stop_class_rate`, the accuracy drop over `stop_accuracy_drop`). It never runs past
the method's budget (`num_train_epochs` / `max_steps`); when the budget runs out first, the run ends there, as
without the rule (`stop_keep_closest` goes back to the closest check instead: it made finetune worse on CIFAR-10,
where the closest check was mid-way at a constant learning rate; docs/benchmarks/stopping.md). The trajectory (step,
statistic, interval, accuracies) is recorded in the results (`stopping`) and drawn in the evidence folder.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import TrainerCallback

#: The rules `stop_when` takes.
from .data import DataError
from .forget import ForgetSet
from .mia.equivalence import VerdictSettings, calibrated_scores, equivalence_verdict, held_out_scores


@dataclass
class StopTarget:
    """One forget set the rule watches: its rows, the held-out rows it is compared with, and how."""

    name: str  # "forget", or "previous_1", ... for earlier requests
    kind: str  # "unseen" (stratified loss AUC within its interval of 0.5) or "class" (the class is not predicted)
    rows: Dataset
    holdout: Dataset
    classes: list[int]  # the forgotten class ids (class targets)
    row_indices: np.ndarray | None = None  # the rows' positions in the training set (for the references' folds)
    #: each verdict reference's logits on `rows` and on `holdout` (`VerdictPhase.attach`), and the reference that
    #: never saw each row; None: compared with held-out rows directly (right for a random request only)
    references: list[tuple[np.ndarray, np.ndarray]] | None = None
    folds: np.ndarray | None = None
    not_certifiable: str | None = None  # why this target can never be certified (then it is never "met")


def _capped(dataset: Dataset, limit: int, seed: int) -> Dataset:
    return dataset if len(dataset) <= limit else dataset.select(_capped_positions(len(dataset), limit, seed))


def _capped_positions(n: int, limit: int, seed: int) -> np.ndarray:
    """The rows `_capped` keeps (as `Dataset.shuffle(seed=seed).select(range(limit))` picks them)."""
    return np.arange(n) if n <= limit else np.random.default_rng(seed).permutation(n)[:limit]


def _target(name: str, spec: ForgetSet, rows: Dataset, holdout: Dataset, class_names: list[str] | None,
            limit: int, seed: int, indices: np.ndarray) -> StopTarget:
    labels = np.asarray(holdout["label"])
    if spec.kind == "classes":
        ids = sorted({spec._class_id(c, class_names) for c in spec.classes})
        same = np.flatnonzero(np.isin(labels, ids))
        return StopTarget(name, "class", _capped(rows, limit, seed), _capped(holdout.select(same), limit, seed), ids)
    indices = np.asarray(indices)[_capped_positions(len(rows), limit, seed)]
    rows = _capped(rows, limit, seed)
    present = np.unique(np.asarray(rows["label"]))
    same = np.flatnonzero(np.isin(labels, present))
    missing = sorted(set(present.tolist()) - set(labels[same].tolist()))
    if missing:
        names = [class_names[i] if class_names else str(i) for i in missing]
        raise DataError(f"stop_when=indistinguishable: the held-out data has no row of class(es) {names}, which the "
                        f"{'forget set' if name == 'forget' else 'earlier forget set ' + name} holds: the rule compares "
                        "each forgotten row with unseen rows of its class. Give a holdout with every class (e.g. "
                        "--holdout_split 'train[10000:12000]' of rows the model never trained on).")
    return StopTarget(name, "unseen", rows, _capped(holdout.select(same), limit, seed), [], indices)


def utility_rows(targets: list[StopTarget], holdout: Dataset, limit: int, seed: int) -> Dataset:
    """The held-out rows whose accuracy must hold: every class but those a class request forgets."""
    forgotten = [c for t in targets if t.kind == "class" for c in t.classes]
    keep = np.flatnonzero(~np.isin(np.asarray(holdout["label"]), forgotten))
    return _capped(holdout.select(keep), limit, seed)


def stopping_targets(request: Any, holdout: Dataset, limit: int, seed: int) -> list[StopTarget]:
    """The request's forget set and every earlier one (sequential requests), each with its held-out rows."""
    targets = [_target("forget", request.forget_set, request.forget_dataset, holdout, request.class_names, limit,
                       seed, request.forget_indices)]
    for i, (spec, rows) in enumerate(zip(request.previous_forget_sets, request.previous_indices, strict=True), start=1):
        targets.append(_target(f"previous_{i}", spec, request.full_train_dataset.select(rows), holdout,
                               request.class_names, limit, seed, rows))
    return targets


def _accuracy(predictions: Any, empty: float = 0.0) -> float:
    """Accuracy in % of `Predictions`; `empty` when there are none."""
    return 100.0 * float((predictions.predicted == predictions.labels).mean()) if len(predictions.labels) else empty


def _drop_distance(drop: float, limit: float) -> float:
    """How far an accuracy drop is from its limit (<= 1: within it; a limit of 0 allows no drop at all)."""
    return max(drop, 0.0) / limit if limit > 0 else float(drop > 0)


def check_target(target: StopTarget, rows: Any, holdout: Any, settings: VerdictSettings, class_rate: float,
                 looks: int = 1) -> dict[str, Any]:
    """One target at one check, from the predictions of its rows and held-out rows (`Predictions`): the statistic,
    whether it is met, and `distance` (<= 1: met; the smallest is the check kept). An "unseen" target is met when the
    verdict certifies it (`mia/equivalence.py`: the AUC's interval at level alpha / looks lies within 0.5 +- margin,
    against the references when the target has them)."""
    out: dict[str, Any] = {"target": target.name, "kind": target.kind, "forget_accuracy": _accuracy(rows),
                           "holdout_accuracy": _accuracy(holdout, empty=float("nan"))}
    if target.kind == "class":
        predicted = np.r_[rows.predicted, holdout.predicted]
        rate = float(np.isin(predicted, target.classes).mean())
        out.update(class_rate=rate, met=rate <= class_rate, distance=rate / class_rate if class_rate > 0 else (
            0.0 if rate == 0 else float("inf")))
        return out
    if target.references is not None:
        scores = calibrated_scores(rows.logits, rows.labels, [r for r, _ in target.references], target.folds,
                                   holdout.logits, holdout.labels, [h for _, h in target.references])
    else:
        scores = held_out_scores(rows.losses, rows.labels, holdout.losses, holdout.labels)
    verdict = equivalence_verdict(*scores, settings, "held_out" if target.references is None else "references", looks)
    half = (verdict.high - verdict.low) / 2.0
    out.update(auc=verdict.auc, low=verdict.low, high=verdict.high, verdict=verdict.outcome,
               met=verdict.certified and target.not_certifiable is None,
               distance=(abs(verdict.auc - 0.5) + half) / settings.margin)
    return out




class IndistinguishableStop(TrainerCallback):
    """Checks the targets every `every` steps (and at the budget's last step) and stops at the first check that meets
    them all, or that finds a forget set over-forgotten (then the model goes back to the check closest to the
    targets; also when the budget runs out first, with `keep_closest`). `predict(dataset)` returns `Predictions` of
    the model being trained (every process calls it alike, so every process takes the same decision)."""

    def __init__(self, targets: list[StopTarget], utility: Dataset, predict: Any, every: float,
                 settings: VerdictSettings, class_rate: float, accuracy_drop: float, keep_closest: bool = False,
                 class_accuracy_drop: float | None = None):
        self.targets, self.utility, self.predict = targets, utility, predict
        self.class_accuracy_drop = class_accuracy_drop  # None: the forget rows' classes are not checked on their own
        self.original_class_accuracy: list[float] = []  # per target (its held-out rows), when checked
        self.every_option, self.every = every, 1
        self.settings, self.class_rate, self.accuracy_drop = settings, class_rate, accuracy_drop
        self.looks = 1  # checks the budget allows (set when training begins): alpha is split over them
        self.original_accuracy = float("nan")
        self.keep_closest = keep_closest
        self.trajectory: list[dict[str, Any]] = []
        self.best: tuple[float, int, dict[str, torch.Tensor]] | None = None
        self.seconds, self.budget, self.stopped_step = 0.0, 0, 0
        self.outcome = "budget"  # "met" (every target), "overshot" (a forget set past "unseen"), or the budget ran out

    def measure_original(self) -> None:
        """The held-out accuracy a retrained model keeps: measured on the original model, so the trainer calls this
        before the method builds its data (a method may change the model there, e.g. `negate_layers`) and before
        a checkpoint is loaded; on its own, the callback measures the model it starts training from."""
        start = time.perf_counter()
        self.original_accuracy = _accuracy(self.predict(self.utility))
        if self.class_accuracy_drop is not None:
            self.original_class_accuracy = [_accuracy(self.predict(t.holdout), empty=float("nan"))
                                            if t.kind == "unseen" else float("nan") for t in self.targets]
        self.seconds += time.perf_counter() - start

    def on_train_begin(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        self.budget = int(state.max_steps)
        every = self.every_option  # a fraction of the budget (like TrainingArguments.eval_steps) or a step count
        self.every = max(1, int(np.ceil(every * self.budget)) if every < 1 else int(every))
        self.looks = max(1, -(-self.budget // self.every))  # planned in advance: every multiple, and the last step
        if np.isnan(self.original_accuracy):
            self.measure_original()

    def _check(self) -> tuple[list[dict[str, Any]], dict[str, Any]]:
        cache: dict[str, Any] = {}  # rows scored twice in one check (e.g. the utility rows) are predicted once

        def predict(dataset: Dataset) -> Any:
            if dataset._fingerprint not in cache:
                cache[dataset._fingerprint] = self.predict(dataset)
            return cache[dataset._fingerprint]

        checks = [check_target(t, predict(t.rows), predict(t.holdout), self.settings, self.class_rate, self.looks)
                  for t in self.targets]
        if self.class_accuracy_drop is not None:  # the forget rows' own classes keep their held-out accuracy
            for check, original in zip(checks, self.original_class_accuracy, strict=True):
                if check["kind"] != "unseen" or original != original:
                    continue
                drop = original - check["holdout_accuracy"]
                check.update(original_class_accuracy=original, class_drop=drop,
                             met=check["met"] and drop <= self.class_accuracy_drop,
                             distance=max(check["distance"], _drop_distance(drop, self.class_accuracy_drop)))
        accuracy = _accuracy(predict(self.utility))
        drop = self.original_accuracy - accuracy
        utility = {"target": "utility", "holdout_accuracy": accuracy, "original_accuracy": self.original_accuracy,
                   "drop": drop, "met": drop <= self.accuracy_drop,
                   "distance": _drop_distance(drop, self.accuracy_drop)}
        return checks, utility

    def on_step_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        step = state.global_step
        if step % self.every and step < self.budget:
            return
        start = time.perf_counter()
        checks, utility = self._check()
        distance = max(c["distance"] for c in [*checks, utility])
        seconds = time.perf_counter() - start
        self.seconds += seconds
        self.trajectory.append({"step": step, "epoch": float(state.epoch or 0.0), "distance": distance,
                                "met": all(c["met"] for c in [*checks, utility]), "targets": checks,
                                "utility": utility, "seconds": seconds})
        if self.best is None or distance < self.best[0]:  # kept on the host: the check to go back to
            self.best = (distance, step, {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()})
        self.stopped_step = step
        if self.trajectory[-1]["met"]:
            self.outcome = "met"
        elif any(c["kind"] == "unseen" and c["high"] < 0.5 for c in checks):
            self.outcome = "overshot"  # forgotten "too well" already: more steps only push further
        else:
            return
        control.should_training_stop = True

    @property
    def matched(self) -> bool:
        return self.outcome == "met"

    @property
    def kept_step(self) -> int | None:
        """The step whose weights the run ends with."""
        if self.best is not None and (self.outcome == "overshot" or (self.outcome == "budget" and self.keep_closest)):
            return self.best[1]
        return self.stopped_step

    def on_train_end(self, args: Any, state: Any, control: Any, model: Any = None, **kwargs: Any) -> None:
        if self.best is not None and self.kept_step == self.best[1] != self.stopped_step:
            model.load_state_dict(self.best[2])  # back to the check closest to the targets
        self.best = (self.best[0], self.best[1], {}) if self.best else None  # the copy is not needed any more

    def record(self) -> dict[str, Any]:
        """What the results keep (`UnlearningResult.stopping`)."""
        return {"rule": "indistinguishable", "check_every_steps": self.every, "budget_steps": self.budget,
                "margin": self.settings.margin, "alpha": self.settings.alpha,
                "looks": self.looks, "class_rate": self.class_rate, "accuracy_drop": self.accuracy_drop,
                "class_accuracy_drop": self.class_accuracy_drop,
                "original_holdout_accuracy": self.original_accuracy, "utility_rows": len(self.utility),
                "targets": [{"name": t.name, "kind": t.kind, "rows": len(t.rows), "holdout_rows": len(t.holdout)}
                            for t in self.targets],
                "outcome": self.outcome, "matched": self.matched, "stopped_step": self.stopped_step,
                "kept_step": self.kept_step,
                "closest_step": self.best[1] if self.best else None, "check_seconds": self.seconds,
                "trajectory": self.trajectory}
