"""Reference-model membership-inference attacks: per-sample scores, higher = more likely a member.

Both attacks compare the audited (target) model's output on a sample with the outputs of K reference
models trained on random halves of a data pool, so each sample was "in" some reference models and "out"
of the others (`ref_in[k, i]` says which).

- LiRA (Carlini et al. 2022, "Membership Inference Attacks From First Principles"): fit Gaussians to the
  reference models' logit-scaled confidence on the sample, from models that trained on it (IN) and models
  that did not (OUT). Online: likelihood ratio IN vs OUT. Offline (no IN models needed): how far above the
  OUT distribution the target's confidence lies (one-sided).
- RMIA (Zarifzadeh et al. 2024, "Low-Cost High-Power Membership Inference Attacks"): the ratio of the
  target's probability of the true label to its average over reference models, compared pairwise with the
  same ratio on population samples z; the score is the share of z the sample beats by a factor `gamma`.
  Offline (OUT models only), the average is corrected with the paper's linear approximation `a`.

And the population attack of SalUn (Fan et al. 2024), which needs no reference model: an SVC learns members
from non-members on one output feature per sample (true-class confidence, prediction entropy, or the
modified entropy of Song & Mittal 2021) on samples whose membership is known, then scores the audited ones.
"""

from __future__ import annotations

import numpy as np
from scipy.stats import norm


def logit_confidence(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """LiRA's logit scaling of the true-class probability, computed stably: z_y - logsumexp(z_others)."""
    logits = np.asarray(logits, dtype=np.float64)
    labels = np.asarray(labels, dtype=np.int64)
    rows = np.arange(len(labels))
    true = logits[rows, labels]
    others = logits.copy()
    others[rows, labels] = -np.inf
    peak = others.max(axis=1)
    return true - (peak + np.log(np.exp(others - peak[:, None]).sum(axis=1)))


def true_class_probability(logits: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Softmax probability of the true label, per sample."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=1, keepdims=True)
    probs = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    return probs[np.arange(len(labels)), np.asarray(labels, dtype=np.int64)]


#: Output features of SalUn's SVC attack: name -> f(probabilities (n, C), labels (n,)) -> (n,).
ATTACK_FEATURES = ("confidence", "entropy", "modified_entropy")


def attack_feature(probabilities: np.ndarray, labels: np.ndarray, name: str) -> np.ndarray:
    """One membership feature per sample from class probabilities: `confidence` p_y, `entropy`
    -sum p log p, or `modified_entropy` -(1 - p_y) log p_y - sum_{c != y} p_c log(1 - p_c) (Song & Mittal)."""
    if name not in ATTACK_FEATURES:
        raise ValueError(f"Unknown attack feature {name!r}; choose one of {', '.join(ATTACK_FEATURES)}.")
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-30, 1.0)
    rows, labels = np.arange(len(p)), np.asarray(labels, dtype=np.int64)
    p_y = p[rows, labels]
    if name == "confidence":
        return p_y
    if name == "entropy":
        return -(p * np.log(p)).sum(axis=1)
    others = p.copy()
    others[rows, labels] = 0.0
    return -(1.0 - p_y) * np.log(p_y) - (others * np.log(np.clip(1.0 - others, 1e-30, 1.0))).sum(axis=1)


def svc_attack_scores(member_feature: np.ndarray, nonmember_feature: np.ndarray, audited_feature: np.ndarray,
                      seed: int = 0) -> np.ndarray:
    """SalUn's SVC attack (RBF kernel, C=3, gamma "auto"): fit on known members vs non-members, subsampled to
    equal counts, then the signed distance of each audited sample to the boundary (> 0 = called a member)."""
    from sklearn.svm import SVC

    members, nonmembers = (np.asarray(x, dtype=np.float64).ravel() for x in (member_feature, nonmember_feature))
    audited = np.asarray(audited_feature, dtype=np.float64).ravel()
    if min(len(members), len(nonmembers)) < 2 or len(audited) == 0:
        raise ValueError("The SVC attack needs >= 2 known members, >= 2 known non-members and >= 1 audited sample.")
    if not all(np.all(np.isfinite(x)) for x in (members, nonmembers, audited)):
        raise ValueError("SVC attack features contain NaN or infinite values.")
    n = min(len(members), len(nonmembers))
    rng = np.random.default_rng(seed)
    x = np.r_[rng.choice(members, n, replace=False), rng.choice(nonmembers, n, replace=False)]
    attack = SVC(C=3, gamma="auto", kernel="rbf").fit(x.reshape(-1, 1), np.r_[np.ones(n), np.zeros(n)])
    return attack.decision_function(audited.reshape(-1, 1))


def _check_refs(target: np.ndarray, refs: np.ndarray, ref_in: np.ndarray | None) -> None:
    if refs.ndim != 2 or refs.shape[1] != target.shape[0]:
        raise ValueError(f"Reference outputs must be (K models, n samples) = (K, {target.shape[0]}), got {refs.shape}.")
    if ref_in is not None and ref_in.shape != refs.shape:
        raise ValueError(f"ref_in must have the shape of the reference outputs {refs.shape}, got {ref_in.shape}.")


def _group_stats(values: np.ndarray, mask: np.ndarray, fixed_variance: bool) -> tuple[np.ndarray, np.ndarray]:
    """Per-sample mean and std of `values` where `mask`; the global mean / std where a sample has too few."""
    counts = mask.sum(axis=0)
    if not mask.any():
        raise ValueError("No reference model is on this side (IN or OUT) for any sample: train more references.")
    sums = np.where(mask, values, 0.0).sum(axis=0)
    mean = np.where(counts > 0, sums / np.maximum(counts, 1), values[mask].mean())
    residuals = np.where(mask, values - mean[None, :], 0.0)
    global_std = float(np.sqrt((residuals**2).sum() / max(1, mask.sum() - 1))) or 1e-6
    if fixed_variance:
        return mean, np.full_like(mean, global_std)
    per_sample = np.sqrt((residuals**2).sum(axis=0) / np.maximum(counts - 1, 1))
    std = np.where(counts >= 2, np.maximum(per_sample, 1e-6), global_std)
    return mean, std


def lira_scores(target_conf: np.ndarray, ref_conf: np.ndarray, ref_in: np.ndarray, online: bool = True,
                fixed_variance: bool = False) -> np.ndarray:
    """LiRA scores from logit-scaled confidences (`logit_confidence`) of the target and the K references."""
    target_conf = np.asarray(target_conf, dtype=np.float64)
    ref_conf = np.asarray(ref_conf, dtype=np.float64)
    ref_in = np.asarray(ref_in, dtype=bool)
    _check_refs(target_conf, ref_conf, ref_in)
    out_mean, out_std = _group_stats(ref_conf, ~ref_in, fixed_variance)
    if not online:
        return norm.logcdf(target_conf, loc=out_mean, scale=out_std)
    in_mean, in_std = _group_stats(ref_conf, ref_in, fixed_variance)
    return (norm.logpdf(target_conf, loc=in_mean, scale=in_std)
            - norm.logpdf(target_conf, loc=out_mean, scale=out_std))


def _marginal(ref_prob: np.ndarray, ref_in: np.ndarray | None, online: bool, offline_a: float) -> np.ndarray:
    if online or ref_in is None:
        return ref_prob.mean(axis=0)
    out = ~ref_in
    counts = out.sum(axis=0)
    mean_out = np.where(counts > 0, np.where(out, ref_prob, 0.0).sum(axis=0) / np.maximum(counts, 1), ref_prob.mean())
    return 0.5 * ((1.0 + offline_a) * mean_out + (1.0 - offline_a))


def rmia_scores(target_prob: np.ndarray, ref_prob: np.ndarray, population_target_prob: np.ndarray,
                population_ref_prob: np.ndarray, ref_in: np.ndarray | None = None,
                population_ref_in: np.ndarray | None = None, online: bool = True, gamma: float = 1.0,
                offline_a: float = 0.3) -> np.ndarray:
    """RMIA scores from true-class probabilities (`true_class_probability`) of the target and references on the
    audited samples and on population samples z (held-out data)."""
    target_prob = np.asarray(target_prob, dtype=np.float64)
    ref_prob = np.asarray(ref_prob, dtype=np.float64)
    pop_target = np.asarray(population_target_prob, dtype=np.float64)
    pop_ref = np.asarray(population_ref_prob, dtype=np.float64)
    _check_refs(target_prob, ref_prob, None if ref_in is None else np.asarray(ref_in, dtype=bool))
    _check_refs(pop_target, pop_ref, None if population_ref_in is None else np.asarray(population_ref_in, dtype=bool))
    if gamma <= 0:
        raise ValueError(f"RMIA gamma must be > 0, got {gamma}.")
    if not online and ref_in is None:
        raise ValueError("Offline RMIA needs ref_in, to average over the reference models that did not train on x.")
    tiny = 1e-30
    ratio_x = target_prob / np.maximum(_marginal(ref_prob, None if ref_in is None else np.asarray(ref_in, bool),
                                                 online, offline_a), tiny)
    pop_in = None if population_ref_in is None else np.asarray(population_ref_in, dtype=bool)
    ratio_z = np.sort(pop_target / np.maximum(_marginal(pop_ref, pop_in, online or pop_in is None, offline_a), tiny))
    # share of z with ratio_x / ratio_z >= gamma, i.e. ratio_z <= ratio_x / gamma (sorted search: O(n log m))
    return np.searchsorted(ratio_z, ratio_x / gamma, side="right") / len(ratio_z)
