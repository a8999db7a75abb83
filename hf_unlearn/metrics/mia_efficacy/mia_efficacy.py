"""MIA-efficacy of SalUn (Fan et al., ICLR 2024): how much of the forget set an attacker calls "not trained on".

An SVC (RBF kernel, C=3) learns to tell retain samples (members) from test samples (non-members) by one
feature per sample: the model's confidence in the true class (SalUn's default), the entropy of its
prediction, or its modified entropy (Song & Mittal 2021); `hf_unlearn.mia.attacks.attack_feature` computes
each from class probabilities. The SVC is then applied to the forget set; MIA-efficacy is the share (in %) of
forget samples it predicts to be non-members. Higher means the forget set looks more like unseen data; a
model retrained without the forget set is the reference value.
"""

import evaluate
import numpy as np

from hf_unlearn.metrics import sample_metric_info
from hf_unlearn.mia.attacks import svc_attack_scores

_KWARGS = """
Args:
    predictions (list of float): one attack feature per sample (true-class confidence, entropy or modified
        entropy, from `hf_unlearn.mia.attacks.attack_feature`).
    references (list of int): the sample's group: 1 = retain (member), 0 = test (non-member), 2 = forget (target).
    seed (int): seed of the subsample that balances retain and test, default 0.
Returns:
    mia_efficacy (float): % of forget samples predicted to be non-members.
"""


class MIAEfficacy(evaluate.Metric):
    """SalUn's SVC attack, trained on retain vs test, evaluated on the forget set."""

    def _info(self):
        return sample_metric_info(
            __doc__,
            "Fan et al., SalUn: Empowering Machine Unlearning via Gradient-based Weight Saliency, ICLR 2024",
            _KWARGS,
        )

    def _compute(self, predictions, references, seed=0):
        feature = np.asarray(predictions, dtype=np.float64)
        group = np.asarray(references, dtype=np.int64)
        if not np.all(np.isfinite(feature)):
            raise ValueError("MIA-efficacy inputs contain NaN or infinite values.")
        retain, test, forget = (feature[group == g] for g in (1, 0, 2))
        if min(len(retain), len(test)) < 2 or len(forget) == 0:
            raise ValueError("MIA-efficacy needs >= 2 retain, >= 2 test and >= 1 forget samples.")
        called_member = svc_attack_scores(retain, test, forget, seed=seed) > 0
        return {"mia_efficacy": float(100.0 * (1.0 - called_member.mean()))}
