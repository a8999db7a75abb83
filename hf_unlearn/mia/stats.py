"""How well an attack's scores separate members from non-members: AUC, balanced accuracy, TPR at low FPR,
each with a stratified bootstrap confidence interval.

Scores are "higher = more likely a member". Members are the samples the attack claims were trained on
(in an unlearning audit: the forget set); non-members are held-out samples (the test set).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

#: The low false-positive rates an auditor reads (Carlini et al. 2022: attacks must be judged there).
LOW_FPRS = (0.01, 0.001)


@dataclass
class AttackStats:
    """Separation of members from non-members by one attack."""

    auc: float
    balanced_accuracy: float
    tpr_at_1pct_fpr: float
    tpr_at_01pct_fpr: float

    def to_dict(self) -> dict[str, float]:
        return asdict(self)


def _check(scores: np.ndarray, members: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    scores = np.asarray(scores, dtype=np.float64)
    members = np.asarray(members).astype(bool)
    if scores.shape != members.shape or scores.ndim != 1:
        raise ValueError(f"scores and membership labels must be 1-D and of equal length, got {scores.shape} and "
                         f"{members.shape}.")
    if not np.all(np.isfinite(scores)):
        raise ValueError("Attack scores contain NaN or infinite values.")
    if members.all() or not members.any():
        raise ValueError("An attack needs both members (label 1) and non-members (label 0).")
    return scores, members


def tpr_at_fpr(scores: np.ndarray, members: np.ndarray, fpr_target: float) -> float:
    """The largest true-positive rate over thresholds whose false-positive rate is at most `fpr_target`."""
    from sklearn.metrics import roc_curve

    scores, members = _check(scores, members)
    fpr, tpr, _ = roc_curve(members, scores)
    allowed = fpr <= fpr_target + 1e-12
    return float(tpr[allowed].max()) if allowed.any() else 0.0


def balanced_accuracy(scores: np.ndarray, members: np.ndarray) -> float:
    """The best (TPR + TNR) / 2 over thresholds: the accuracy of the best threshold on balanced classes."""
    from sklearn.metrics import roc_curve

    scores, members = _check(scores, members)
    fpr, tpr, _ = roc_curve(members, scores)
    return float(np.max((tpr + 1.0 - fpr) / 2.0))


def attack_stats(scores: np.ndarray, members: np.ndarray) -> AttackStats:
    """AUC, balanced accuracy and TPR at 1% and 0.1% FPR of one set of attack scores."""
    from sklearn.metrics import roc_auc_score

    scores, members = _check(scores, members)
    return AttackStats(
        auc=float(roc_auc_score(members, scores)),
        balanced_accuracy=balanced_accuracy(scores, members),
        tpr_at_1pct_fpr=tpr_at_fpr(scores, members, LOW_FPRS[0]),
        tpr_at_01pct_fpr=tpr_at_fpr(scores, members, LOW_FPRS[1]),
    )


def bootstrap_attack_stats(scores: np.ndarray, members: np.ndarray, n_bootstrap: int = 1000, confidence: float = 0.95,
                           seed: int = 0) -> dict[str, dict[str, float]]:
    """Each statistic with a percentile bootstrap interval: members and non-members are resampled apart
    (stratified), so every replicate keeps the two group sizes. Returns {stat: {value, low, high}}."""
    scores, members = _check(scores, members)
    if n_bootstrap < 1 or not 0.0 < confidence < 1.0:
        raise ValueError("n_bootstrap must be >= 1 and 0 < confidence < 1.")
    point = attack_stats(scores, members).to_dict()
    rng = np.random.default_rng(seed)
    pos, neg = np.flatnonzero(members), np.flatnonzero(~members)
    draws = {k: [] for k in point}
    for _ in range(n_bootstrap):
        idx = np.concatenate([rng.choice(pos, len(pos)), rng.choice(neg, len(neg))])
        for key, value in attack_stats(scores[idx], members[idx]).to_dict().items():
            draws[key].append(value)
    tail = 100.0 * (1.0 - confidence) / 2.0
    return {k: {"value": point[k], "low": float(np.percentile(draws[k], tail)),
                "high": float(np.percentile(draws[k], 100.0 - tail))} for k in point}


def flat_intervals(stats: dict[str, dict[str, float]]) -> dict[str, float]:
    """{stat: {value, low, high}} as flat keys: stat, stat_low, stat_high (what evaluate metrics return)."""
    out: dict[str, float] = {}
    for name, stat in stats.items():
        out.update({name: stat["value"], f"{name}_low": stat["low"], f"{name}_high": stat["high"]})
    return out


def wilson_interval(proportion: float, n: int, confidence: float = 0.95) -> tuple[float, float]:
    """Wilson score interval of a proportion measured on n samples (e.g. an accuracy: proportion in [0, 1])."""
    from scipy.stats import norm

    if n <= 0:
        return float("nan"), float("nan")
    z = float(norm.ppf(0.5 + confidence / 2.0))
    center = (proportion + z * z / (2 * n)) / (1 + z * z / n)
    half = z * np.sqrt(proportion * (1 - proportion) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return float(max(0.0, center - half)), float(min(1.0, center + half))


def auc_interval(auc: float, n_members: int, n_nonmembers: int, confidence: float = 0.95) -> tuple[float, float]:
    """Normal-approximation interval of an AUC from its group sizes (Hanley & McNeil 1982)."""
    from scipy.stats import norm

    if n_members <= 0 or n_nonmembers <= 0:
        return float("nan"), float("nan")
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    variance = (auc * (1 - auc) + (n_members - 1) * (q1 - auc * auc)
                + (n_nonmembers - 1) * (q2 - auc * auc)) / (n_members * n_nonmembers)
    half = float(norm.ppf(0.5 + confidence / 2.0)) * np.sqrt(max(variance, 0.0))
    return float(max(0.0, auc - half)), float(min(1.0, auc + half))


def hanley_mcneil_variance(auc: float, n_members: int, n_nonmembers: int) -> float:
    """Variance of an AUC estimated from `n_members` and `n_nonmembers` samples (Hanley & McNeil 1982)."""
    q1, q2 = auc / (2 - auc), 2 * auc * auc / (1 + auc)
    return max(0.0, (auc * (1 - auc) + (n_members - 1) * (q1 - auc * auc)
                     + (n_nonmembers - 1) * (q2 - auc * auc)) / (n_members * n_nonmembers))


def stratified_auc(member_scores: np.ndarray, member_groups: np.ndarray, nonmember_scores: np.ndarray,
                   nonmember_groups: np.ndarray, confidence: float = 0.95) -> dict[str, float]:
    """AUC of members against non-members compared within each group (class) and averaged with the members'
    group shares, so that a different class mix of the two sets cannot pass for a difference in membership; its
    normal interval from the per-group Hanley-McNeil variances. Groups without non-members are left out (their
    share is reported as `coverage`, the members' fraction that was compared). Scores: higher = more member-like."""
    from scipy.stats import norm
    from sklearn.metrics import roc_auc_score

    member_scores, nonmember_scores = np.asarray(member_scores, float), np.asarray(nonmember_scores, float)
    member_groups, nonmember_groups = np.asarray(member_groups), np.asarray(nonmember_groups)
    groups = [g for g in np.unique(member_groups) if (nonmember_groups == g).any()]
    if not groups:
        raise ValueError("No group (class) has both members and non-members: nothing to compare.")
    weights = np.array([(member_groups == g).sum() for g in groups], dtype=float)
    aucs, variances = [], []
    for g in groups:
        a, b = member_scores[member_groups == g], nonmember_scores[nonmember_groups == g]
        auc = float(roc_auc_score(np.r_[np.ones(len(a)), np.zeros(len(b))], np.r_[a, b]))
        aucs.append(auc)
        variances.append(hanley_mcneil_variance(auc, len(a), len(b)))
    coverage = float(weights.sum() / len(member_scores))
    weights /= weights.sum()
    auc = float(np.dot(weights, aucs))
    half = float(norm.ppf(0.5 + confidence / 2.0)) * float(np.sqrt(np.dot(weights ** 2, variances)))
    return {"auc": auc, "low": auc - half, "high": auc + half, "coverage": coverage}
