"""LiRA membership inference (Carlini et al., IEEE S&P 2022) against an audited model, with K reference models.

Per sample, the reference models' logit-scaled confidence on the true label is modelled as a Gaussian for
references that trained on the sample (IN) and for those that did not (OUT). Online LiRA scores the
target's confidence by the likelihood ratio IN vs OUT; offline LiRA by how far above the OUT Gaussian it
lies. Reported: AUC, balanced accuracy and TPR at 1% / 0.1% FPR of members vs non-members, each with a
stratified bootstrap interval.
"""

import evaluate
import numpy as np

from hf_unlearn.metrics import sample_metric_info
from hf_unlearn.mia.attacks import lira_scores
from hf_unlearn.mia.stats import bootstrap_attack_stats, flat_intervals

_KWARGS = """
Args:
    predictions (list of float): the target model's logit-scaled true-class confidence per sample
        (`hf_unlearn.mia.attacks.logit_confidence`).
    references (list of int): 1 = member (e.g. the forget set), 0 = non-member (held-out data).
    reference_confidences (array K x n): the same confidence from each of K reference models.
    reference_in (bool array K x n): whether reference model k trained on sample i.
    online (bool): online (IN and OUT references) or offline (OUT only) LiRA; default True.
    fixed_variance (bool): one global variance instead of per-sample variances (for few references).
    n_bootstrap (int), confidence (float), seed (int): the bootstrap interval; default 1000, 0.95, 0.
Returns:
    auc, balanced_accuracy, tpr_at_1pct_fpr, tpr_at_01pct_fpr (float) and `<stat>_low` / `<stat>_high`.
"""


class MIALiRA(evaluate.Metric):
    """Likelihood-ratio attack with reference models."""

    def _info(self):
        return sample_metric_info(
            __doc__,
            "Carlini et al., Membership Inference Attacks From First Principles, IEEE S&P 2022",
            _KWARGS,
        )

    def _compute(self, predictions, references, reference_confidences=None, reference_in=None, online=True,
                 fixed_variance=False, n_bootstrap=1000, confidence=0.95, seed=0):
        if reference_confidences is None or reference_in is None:
            raise ValueError("LiRA needs reference_confidences and reference_in (K reference models x n samples).")
        scores = lira_scores(np.asarray(predictions), np.asarray(reference_confidences), np.asarray(reference_in),
                             online=online, fixed_variance=fixed_variance)
        return flat_intervals(bootstrap_attack_stats(scores, np.asarray(references), n_bootstrap, confidence, seed))
