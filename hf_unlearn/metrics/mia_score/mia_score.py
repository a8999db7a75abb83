"""Membership-inference score of the NeurIPS 2023 machine-unlearning challenge starting kit.

A logistic regression tries to tell members (the forget set) from non-members (the test set) from each
sample's loss alone. The two groups are first subsampled to the same size (class balance), then the
attack accuracy is averaged over stratified shuffle splits. 0.5 means the attacker cannot tell them apart
(what a model that never saw the forget set scores); higher means the forget set is still recognisable.
"""

import evaluate
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import StratifiedShuffleSplit, cross_val_score

from hf_unlearn.metrics import sample_metric_info

_KWARGS = """
Args:
    predictions (list of float): per-sample loss under the model.
    references (list of int): 1 for members (forget set), 0 for non-members (test set).
    n_splits (int): cross-validation splits, default 10.
    seed (int): seed of the balancing subsample and the splits, default 0.
Returns:
    mia_score (float): mean cross-validated attack accuracy (0.5 = indistinguishable).
    mia_score_std (float): its standard deviation over the splits.
    mia_num_samples (int): samples per group after balancing.
"""


class MIAScore(evaluate.Metric):
    """Challenge-kit membership-inference attack on per-sample losses."""

    def _info(self):
        return sample_metric_info(
            __doc__,
            "NeurIPS 2023 Machine Unlearning Challenge starting kit (Triantafillou et al.)",
            _KWARGS,
        )

    def _compute(self, predictions, references, n_splits=10, seed=0):
        losses = np.asarray(predictions, dtype=np.float64)
        members = np.asarray(references, dtype=np.int64)
        if not np.all(np.isfinite(losses)):
            raise ValueError("MIA inputs contain NaN or infinite losses.")
        member_idx, nonmember_idx = np.flatnonzero(members == 1), np.flatnonzero(members == 0)
        n = min(len(member_idx), len(nonmember_idx))
        if n < 2:
            raise ValueError(f"The MIA needs at least 2 members and 2 non-members, got {len(member_idx)} and {len(nonmember_idx)}.")
        rng = np.random.default_rng(seed)
        keep = np.concatenate([rng.choice(member_idx, n, replace=False), rng.choice(nonmember_idx, n, replace=False)])
        x, y = losses[keep].reshape(-1, 1), members[keep]
        splits = StratifiedShuffleSplit(n_splits=n_splits, test_size=0.5 if n < 10 else 0.1, random_state=seed)
        scores = cross_val_score(LogisticRegression(), x, y, cv=splits, scoring="accuracy")
        return {"mia_score": float(scores.mean()), "mia_score_std": float(scores.std()), "mia_num_samples": int(n)}
