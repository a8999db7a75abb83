"""The unlearning verdict: an equivalence test that a model treats the forgotten images as a model that never saw
them would, within a stated margin, or the honest "cannot certify".

The statistic is an AUC, members = the forget rows, non-members = held-out rows of the same stratum (class, and
the reference model used): the probability that the model's score on a forgotten image beats its score on an
unseen one. 0.5 is the target; above it the images are still remembered, below it they are forgotten "too well"
(itself a tell). Two targets:

- `references` (per-example calibration): each image's score is the model's logit-scaled confidence minus that
  of a reference model that never saw the image's group (`audit/verdict_references.py`); held-out rows get the
  same difference against the same reference. The difficulty of *these* images (a person's photos resemble each
  other, and may be harder or easier than random rows) cancels, and so does any global shift between the
  reference and the model. This is the target for a person-level request.
- `held_out`: the model's loss on the forget rows against held-out rows of the same class. Right only when the
  forget rows are exchangeable with held-out rows (a random draw), never for a person's photos.

The test is two one-sided tests (TOST, Schuirmann 1987): certified when the (1 - 2 alpha / looks) interval of
the AUC lies inside 0.5 +- margin, looks being the number of times the same request is tested (a stopping rule's
checks: Bonferroni, so stopping at the first certified look keeps the error at most alpha). The interval is
DeLong's (placement values: the variance of the members' placements over n plus that of the non-members' over m).
Below the size at which a model exactly at the target would be certified with probability `power`, the verdict is
"cannot certify" (N images; the margin needs M), never a pass.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

from .attacks import logit_confidence  # LiRA's logit-scaled confidence in the true label

#: The standard deviation of a placement value under the target (uniform on [0, 1]).
UNIFORM_SD = 1.0 / math.sqrt(12.0)
#: The verdict's outcomes.
CERTIFIED, NOT_CERTIFIED, CANNOT_CERTIFY = "certified", "not_certified", "cannot_certify"


@dataclass
class VerdictSettings:
    """The margin (on the AUC, around 0.5), the error rate alpha (the chance of certifying a model whose AUC lies
    outside the margin), and the power the minimum size is computed for."""

    margin: float = field(default=0.10, metadata={"help": "Equivalence margin on the AUC: certified when its interval "
                                                          "lies within 0.5 +- margin."})
    alpha: float = field(default=0.05, metadata={"help": "Error rate: the chance of certifying a model outside the "
                                                         "margin (split over a stopping rule's checks)."})
    power: float = field(default=0.90, metadata={"help": "Below the size at which a model at the target is certified "
                                                         "with this probability, the verdict is 'cannot certify'."})

    def __post_init__(self) -> None:
        if all(isinstance(getattr(self, k), (int, float)) for k in ("margin", "alpha", "power")):
            self.check()

    def check(self) -> None:
        if not 0 < self.margin < 0.5:
            raise ValueError(f"verdict.margin = {self.margin} is out of range: it must lie in (0, 0.5) (e.g. margin: 0.1).")
        if not 0 < self.alpha < 0.5:
            raise ValueError(f"verdict.alpha = {self.alpha} is out of range: it must lie in (0, 0.5) (e.g. alpha: 0.05).")
        if not 0 < self.power < 1:
            raise ValueError(f"verdict.power = {self.power} is out of range: it must lie in (0, 1) (e.g. power: 0.9).")


@dataclass
class VerdictOptions(VerdictSettings):
    """`verdict:` of a run (request side) and of `hf-unlearn prepare` (the references)."""

    references: str | None = field(default=None, metadata={
        "help": "Folder of verdict references (made once by `hf-unlearn prepare` with this option): models that never "
                "saw each group, the target of a person-level request. Without it only a random request can be "
                "certified (against held-out rows)."})
    population_samples: int = field(default=2000, metadata={
        "help": "Held-out rows (holdout_dataset / --holdout_split) the forget rows are compared with (a seeded "
                "sample of at most this many)."})
    class_rate: float = field(default=0.01, metadata={
        "help": "Class request: certified when the share of the class's rows still predicted as the class is shown "
                "to be at most this."})
    folds: int = field(default=4, metadata={
        "help": "`hf-unlearn prepare`: number of references, each trained without one fold of whole groups."})
    group_column: str | None = field(default=None, metadata={
        "help": "`hf-unlearn prepare`: the column whose values are persons (e.g. owner): folds hold whole groups. "
                "Default: each row its own group (enough for random requests only)."})

    def check(self) -> None:
        super().check()
        if self.population_samples < 10:
            raise ValueError(f"verdict.population_samples = {self.population_samples} is out of range: it must be >= 10 "
                             "(e.g. population_samples: 2000).")
        if not 0 < self.class_rate < 1:
            raise ValueError(f"verdict.class_rate = {self.class_rate} is out of range: it must lie in (0, 1) "
                             "(e.g. class_rate: 0.01).")
        if self.folds < 2:
            raise ValueError(f"verdict.folds = {self.folds} is out of range: it must be >= 2 (e.g. folds: 4).")


@dataclass
class Verdict:
    """One equivalence test of one forget set (or group) on one model."""

    outcome: str  # certified | not_certified | cannot_certify
    target: str  # references | held_out
    auc: float
    low: float
    high: float
    margin: float
    alpha: float
    looks: int
    images: int
    population: int
    minimum_images: int  # the size at which a model at the target is certified with probability `power`
    power: float  # that probability at this size
    reason: str

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def certified(self) -> bool:
        return self.outcome == CERTIFIED


def _z(p: float) -> float:
    from scipy.stats import norm

    return float(norm.ppf(p))


def null_se(images: int, population_terms: float) -> float:
    """Standard error of the AUC of a model exactly at the target: placements uniform, `images` members, and the
    non-members' term sum_s w_s^2 / m_s (w_s: the members' share of stratum s, m_s its held-out rows)."""
    return UNIFORM_SD * math.sqrt(1.0 / max(images, 1) + population_terms)


def power_at(images: int, population_terms: float, margin: float, alpha: float, looks: int = 1) -> float:
    """Probability that a model exactly at the target is certified with `images` members."""
    from scipy.stats import norm

    se = null_se(images, population_terms)
    return float(max(0.0, 2.0 * norm.cdf(margin / se - _z(1.0 - alpha / looks)) - 1.0))


def minimum_images(margin: float, alpha: float = 0.05, power: float = 0.90, looks: int = 1,
                   population_terms: float = 0.0) -> int:
    """The smallest forget set a model at the target is certified for with probability `power` (a very large
    number when the held-out rows alone are too few for the margin)."""
    need = (_z(1.0 - alpha / looks) + _z(0.5 + power / 2.0)) * UNIFORM_SD / margin
    room = 1.0 / need ** 2 - population_terms  # 1/n + terms <= (margin / (z sd))^2
    return int(math.ceil(1.0 / room)) if room > 0 else 10 ** 9


def placements(members: np.ndarray, nonmembers: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Each member's share of non-members it beats (ties half) and each non-member's share of members that beat it."""
    members, nonmembers = np.asarray(members, float), np.asarray(nonmembers, float)
    sorted_non = np.sort(nonmembers)
    below = np.searchsorted(sorted_non, members, side="left")
    tied = np.searchsorted(sorted_non, members, side="right") - below
    member_place = (below + 0.5 * tied) / len(nonmembers)
    sorted_mem = np.sort(members)
    above = len(members) - np.searchsorted(sorted_mem, nonmembers, side="right")
    tied_m = np.searchsorted(sorted_mem, nonmembers, side="right") - np.searchsorted(sorted_mem, nonmembers, side="left")
    nonmember_place = (above + 0.5 * tied_m) / len(members)
    return member_place, nonmember_place


def stratified_placement_auc(member_scores: np.ndarray, member_strata: np.ndarray, population_scores: np.ndarray,
                             population_strata: np.ndarray) -> dict[str, float]:
    """AUC of members against non-members of their own stratum, averaged over members (each member weighs the
    same), with its DeLong variance and the non-members' term of the null variance. Members of a stratum without
    non-members are left out (`coverage`: the share compared)."""
    member_scores, population_scores = np.asarray(member_scores, float), np.asarray(population_scores, float)
    member_strata, population_strata = np.asarray(member_strata), np.asarray(population_strata)
    places, population_var, population_terms, compared = [], 0.0, 0.0, 0
    for stratum in np.unique(member_strata):
        mine = member_strata == stratum
        theirs = population_strata == stratum
        if not theirs.any():
            continue
        member_place, nonmember_place = placements(member_scores[mine], population_scores[theirs])
        places.append(member_place)
        compared += int(mine.sum())
        weight_sq = float(mine.sum()) ** 2
        population_var += weight_sq * (float(np.var(nonmember_place, ddof=1)) if theirs.sum() > 1 else 0.25) / theirs.sum()
        population_terms += weight_sq / theirs.sum()
    if not compared:
        raise ValueError("No stratum (class) has both forget rows and held-out rows: nothing to compare.")
    u = np.concatenate(places)
    n = len(u)
    member_var = float(np.var(u, ddof=1)) / n if n > 1 else 0.25
    return {"auc": float(u.mean()), "variance": member_var + population_var / n ** 2, "images": n,
            "population_terms": population_terms / n ** 2, "coverage": compared / len(member_scores)}


def equivalence_verdict(member_scores: np.ndarray, member_strata: np.ndarray, population_scores: np.ndarray,
                        population_strata: np.ndarray, settings: VerdictSettings, target: str,
                        looks: int = 1) -> Verdict:
    """TOST of "the AUC lies within 0.5 +- margin" at level alpha / looks, or "cannot certify" below the size at
    which a model at the target would pass with probability `settings.power`; also when the held-out rows hold no
    row of some forget rows' class (nothing to compare them with)."""
    if not np.isin(np.asarray(member_strata), np.asarray(population_strata)).any():
        nan = float("nan")
        return Verdict(CANNOT_CERTIFY, target=target, auc=nan, low=nan, high=nan, margin=settings.margin,
                       alpha=settings.alpha, looks=looks, images=len(member_scores), population=0, minimum_images=0,
                       power=0.0, reason="cannot certify: the held-out rows hold no row of the forget rows' classes: "
                       "give held-out rows of every class")
    stats = stratified_placement_auc(member_scores, member_strata, population_scores, population_strata)
    n, terms = stats["images"], stats["population_terms"]
    alpha, margin = settings.alpha, settings.margin
    z = _z(1.0 - alpha / looks)
    half = z * math.sqrt(stats["variance"])
    auc, low, high = stats["auc"], stats["auc"] - half, stats["auc"] + half
    needed = minimum_images(margin, alpha, settings.power, looks, terms)
    power = power_at(n, terms, margin, alpha, looks)
    held = int(np.isin(np.asarray(population_strata), np.unique(np.asarray(member_strata))).sum())
    common = {"target": target, "auc": auc, "low": low, "high": high, "margin": margin, "alpha": alpha, "looks": looks,
              "images": n, "population": held, "minimum_images": needed, "power": power}
    if stats["coverage"] < 1.0:
        return Verdict(CANNOT_CERTIFY, reason=f"cannot certify: the held-out rows hold no row of the class of "
                       f"{1 - stats['coverage']:.0%} of the forget rows: give held-out rows of every class", **common)
    if n < needed:
        return Verdict(CANNOT_CERTIFY, reason=f"cannot certify: {n} images; margin {margin:g} needs at least "
                       f"{needed if needed < 10 ** 9 else 'more held-out rows and'} images (power {power:.0%} at "
                       f"this size)", **common)
    if 0.5 - margin < low and high < 0.5 + margin:
        return Verdict(CERTIFIED, reason=f"certified: AUC {auc:.3f} [{low:.3f}, {high:.3f}] lies within 0.5 +- "
                       f"{margin:g}", **common)
    side = ("still remembered" if low > 0.5 else "forgotten past unseen (a tell)" if high < 0.5
            else "inconclusive at this margin")
    return Verdict(NOT_CERTIFIED, reason=f"not certified: AUC {auc:.3f} [{low:.3f}, {high:.3f}] is not within 0.5 "
                   f"+- {margin:g}: {side}", **common)


def calibrated_scores(model_logits: np.ndarray, labels: np.ndarray, reference_logits: list[np.ndarray],
                      folds: np.ndarray, population_logits: np.ndarray, population_labels: np.ndarray,
                      reference_population_logits: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                                                              np.ndarray]:
    """Scores and strata of the `references` target. Forget row i: the model's logit margin minus that of
    reference `folds[i]` (which never saw it); held-out rows: the same difference against each reference, once per
    reference. Strata are (reference, class) pairs, so a forget row is compared with held-out rows of its class
    scored against its own reference."""
    labels, population_labels = np.asarray(labels), np.asarray(population_labels)
    folds = np.asarray(folds, dtype=np.int64)
    num_classes = int(max(labels.max(initial=0), population_labels.max(initial=0))) + 1
    own = logit_confidence(model_logits, labels)
    reference = np.empty(len(labels))
    for k, ref in enumerate(reference_logits):
        rows = folds == k
        reference[rows] = logit_confidence(ref[rows], labels[rows])
    member_scores, member_strata = own - reference, folds * num_classes + labels
    own_population = logit_confidence(population_logits, population_labels)
    population_scores = np.concatenate([own_population - logit_confidence(ref, population_labels)
                                        for ref in reference_population_logits])
    population_strata = np.concatenate([k * num_classes + population_labels
                                        for k in range(len(reference_population_logits))])
    return member_scores, member_strata, population_scores, population_strata


def held_out_scores(losses: np.ndarray, labels: np.ndarray, population_losses: np.ndarray,
                    population_labels: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Scores and strata of the `held_out` target: the negated loss (higher = more member-like), by class."""
    return -np.asarray(losses), np.asarray(labels), -np.asarray(population_losses), np.asarray(population_labels)


def class_verdict(predicted_in_class: np.ndarray, settings: VerdictOptions, looks: int = 1) -> Verdict:
    """A class request: the retrained model never predicts the class. Certified when the one-sided (1 - alpha /
    looks) Clopper-Pearson bound of the share of the class's rows (forget and held-out) still predicted as the class
    is at most `class_rate`; below the size at which even no such prediction could show it, "cannot certify"."""
    from scipy.stats import beta

    hits = np.asarray(predicted_in_class, dtype=bool)
    n, k = len(hits), int(hits.sum())
    level = settings.alpha / looks
    upper = float(beta.ppf(1.0 - level, k + 1, n - k)) if k < n else 1.0
    needed = int(math.ceil(math.log(level) / math.log(1.0 - settings.class_rate)))
    rate = k / n if n else float("nan")
    common = {"target": "class", "auc": rate, "low": 0.0, "high": upper, "margin": settings.class_rate,
              "alpha": settings.alpha, "looks": looks, "images": n, "population": 0, "minimum_images": needed,
              "power": float(n >= needed)}
    if n < needed:
        return Verdict(CANNOT_CERTIFY, reason=f"cannot certify: {n} rows of the class; a rate of at most "
                       f"{settings.class_rate:g} needs at least {needed}", **common)
    if upper <= settings.class_rate:
        return Verdict(CERTIFIED, reason=f"certified: the class is predicted for {k} of {n} of its rows (at most "
                       f"{upper:.2%} at level {level:.3g})", **common)
    return Verdict(NOT_CERTIFIED, reason=f"not certified: the class is still predicted for {k} of {n} of its rows "
                   f"(bound {upper:.2%} > {settings.class_rate:g})", **common)
