"""The run's verdict: is the forget set treated as a model that never saw it would treat it, within a margin?

Which target a request can be held to (`mia/equivalence.py` has the test):
- a class request: the class is no longer predicted (`class_verdict`);
- with verdict references (`verdict.references`, made once by `hf-unlearn prepare`): each forgotten image against
  the reference that never saw its group, beside held-out rows (`references`): right for any request, and the only
  right target for a person's photos, a filter or any rows not drawn at random;
- without references, a random request (`forget_fraction`) against held-out rows of the same classes (`held_out`);
  any other request cannot be certified ("its rows were not drawn at random").
Held-out rows (`holdout_dataset`, `--holdout_split`) are needed for the last two; the verdict is computed for the
unlearned model and, for comparison, the original and the retrained reference when the run scores them, for the
forget set and for each person of a person-level request.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from datasets import Dataset

from .audit.verdict_references import VerdictReferences, load_verdict_references
from .config import parse_verdict  # noqa: F401  (re-exported: the verdict's options)
from .mia.equivalence import (
    CANNOT_CERTIFY,
    Verdict,
    VerdictOptions,
    calibrated_scores,
    class_verdict,
    equivalence_verdict,
    held_out_scores,
)

#: Request kinds whose rows are a random draw: held-out rows are their target without references.
RANDOM_KINDS = ("fraction",)


class VerdictPhase:
    """What the verdict needs of a run, set up before any work (references checked, held-out rows sampled), and the
    verdict of each scored model once the run has its predictions."""

    def __init__(self, request: Any, options: VerdictOptions, model_config: Any, seed: int):
        self.request, self.options = request, options
        self.references: VerdictReferences | None = None
        self.population: Dataset | None = None
        self.reason: str | None = None  # why no verdict can be certified (None: one can)
        kind = request.forget_set.kind
        holdout = request.holdout_dataset
        if options.references:
            self.references = load_verdict_references(options.references)
            self.references.check(request.data_sha256, len(request.full_train_dataset), model_config)
            columns = {column for column, _ in request.forget_set.where}
            if request.groups and self.references.record.get("group_column") not in columns:
                self.references.check_groups(request.groups, request.forget_indices)
        if kind == "classes":
            return
        if holdout is None:
            self.reason = ("no held-out rows: give holdout_dataset (--holdout_split, rows the model never trained on, "
                           "not the test split) to compare the forget set with")
        elif self.references is None and kind not in RANDOM_KINDS:
            self.reason = (f"the forget rows were chosen by {kind}, not at random: held-out rows are not their target "
                           "(one person's photos resemble each other); prepare verdict references (hf-unlearn prepare "
                           "with verdict: {references: PATH, group_column: <person column>}) and give verdict.references")
        if holdout is not None:
            n = min(len(holdout), options.population_samples)
            self.population = holdout if n == len(holdout) else holdout.shuffle(seed=seed).select(range(n))

    def reference_predictions(self, predict: Any) -> None:
        """Each reference's logits on the forget rows and the held-out rows (once)."""
        if self.references is None or self.population is None or self.reason:
            return
        self._refs = [(predict(self.request.forget_dataset, model).logits, predict(self.population, model).logits)
                      for model in self.references.models()]

    def attach(self, targets: list[Any], predict: Any) -> None:
        """The stopping rule's "unseen" targets (`stopping.StopTarget`) get the references' logits on their rows and
        held-out rows, or the reason they cannot be certified (a request not drawn at random, without references)."""
        for target in targets:
            if target.kind != "unseen":
                continue
            if self.references is not None:
                target.references = [(predict(target.rows, m).logits, predict(target.holdout, m).logits)
                                     for m in self.references.models()]
                target.folds = self.references.out_fold(target.row_indices)
            elif self.reason:
                target.not_certifiable = self.reason

    def verdict(self, forget: Any, population: Any, positions: np.ndarray | None = None, looks: int = 1) -> Verdict:
        """The verdict of one model from its predictions on the forget rows and the held-out rows (`positions`:
        one group's rows within the forget set)."""
        positions = np.arange(len(forget.labels)) if positions is None else np.asarray(positions)
        labels = forget.labels[positions]
        if self.request.forget_set.kind == "classes":
            classes = np.unique(self.request.forget_dataset["label"])
            in_class = np.r_[np.isin(forget.predicted[positions], classes)]
            if population is not None:
                mask = np.isin(population.labels, classes)
                in_class = np.r_[in_class, np.isin(population.predicted[mask], classes)]
            return class_verdict(in_class, self.options, looks)
        if self.reason:
            return _cannot(self.reason, self.options, len(positions), looks)
        if self.references is not None:
            rows = self.request.forget_indices[positions]
            scores = calibrated_scores(forget.logits[positions], labels, [f[positions] for f, _ in self._refs],
                                       self.references.out_fold(rows), population.logits, population.labels,
                                       [p for _, p in self._refs])
            return equivalence_verdict(*scores, self.options, "references", looks)
        scores = held_out_scores(forget.losses[positions], labels, population.losses, population.labels)
        return equivalence_verdict(*scores, self.options, "held_out", looks)

    def record(self, predictions: dict[str, dict[str, Any]], groups: list[tuple[str, np.ndarray]] | None,
               looks: int = 1) -> dict[str, Any]:
        """Every scored model's verdict on the forget set and on each group (groups numbered, never named)."""
        models = {name: self.verdict(sets["forget"], sets.get("population"), looks=looks).to_dict()
                  for name, sets in predictions.items()}
        out = {"settings": {"margin": self.options.margin, "alpha": self.options.alpha, "power": self.options.power,
                            "looks": looks, "references": bool(self.references),
                            "population": 0 if self.population is None else len(self.population)},
               "models": models}
        if groups:
            out["groups"] = [{"group": number, "images": int(len(positions)),
                              "models": {name: self.verdict(sets["forget"], sets.get("population"), positions,
                                                            looks).to_dict() for name, sets in predictions.items()}}
                             for number, (_, positions) in enumerate(groups, start=1)]
        if "unlearned" in models:
            out["outcome"], out["reason"] = models["unlearned"]["outcome"], models["unlearned"]["reason"]
        return out


def _cannot(reason: str, options: VerdictOptions, images: int, looks: int) -> Verdict:
    return Verdict(CANNOT_CERTIFY, target="none", auc=float("nan"), low=float("nan"), high=float("nan"),
                   margin=options.margin, alpha=options.alpha, looks=looks, images=images, population=0,
                   minimum_images=0, power=0.0, reason=f"cannot certify: {reason}")
