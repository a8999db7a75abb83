"""RMIA membership inference (Zarifzadeh et al., ICML 2024) against an audited model, with K reference models.

A sample's likelihood ratio is the target's probability of its true label over the reference models'
average (offline: over references that did not train on it, corrected with the paper's linear
approximation `a`). Its score is the share of population samples z (held-out data) whose own ratio it
exceeds by a factor `gamma`. Reported: AUC, balanced accuracy and TPR at 1% / 0.1% FPR of members vs
non-members, each with a stratified bootstrap interval.
"""

import evaluate
import numpy as np

from hf_unlearn.metrics import sample_metric_info
from hf_unlearn.mia.attacks import rmia_scores
from hf_unlearn.mia.stats import bootstrap_attack_stats, flat_intervals

_KWARGS = """
Args:
    predictions (list of float): the target model's true-class probability per audited sample.
    references (list of int): 1 = member (e.g. the forget set), 0 = non-member (held-out data).
    reference_probabilities (array K x n): the same probability from each of K reference models.
    reference_in (bool array K x n): whether reference model k trained on sample i (needed offline).
    population_probabilities (array m): the target's true-class probability on population samples z.
    population_reference_probabilities (array K x m), population_reference_in (bool array K x m): the same for z.
    online (bool): default True; gamma (float): default 1.0; offline_a (float): default 0.3.
    n_bootstrap (int), confidence (float), seed (int): the bootstrap interval; default 1000, 0.95, 0.
Returns:
    auc, balanced_accuracy, tpr_at_1pct_fpr, tpr_at_01pct_fpr (float) and `<stat>_low` / `<stat>_high`.
"""


class MIARMIA(evaluate.Metric):
    """Relative membership inference with reference models and population samples."""

    def _info(self):
        return sample_metric_info(
            __doc__,
            "Zarifzadeh et al., Low-Cost High-Power Membership Inference Attacks, ICML 2024",
            _KWARGS,
        )

    def _compute(self, predictions, references, reference_probabilities=None, reference_in=None,
                 population_probabilities=None, population_reference_probabilities=None,
                 population_reference_in=None, online=True, gamma=1.0, offline_a=0.3, n_bootstrap=1000,
                 confidence=0.95, seed=0):
        if reference_probabilities is None or population_probabilities is None or population_reference_probabilities is None:
            raise ValueError("RMIA needs reference_probabilities, population_probabilities and "
                             "population_reference_probabilities.")
        scores = rmia_scores(
            np.asarray(predictions), np.asarray(reference_probabilities), np.asarray(population_probabilities),
            np.asarray(population_reference_probabilities),
            ref_in=None if reference_in is None else np.asarray(reference_in),
            population_ref_in=None if population_reference_in is None else np.asarray(population_reference_in),
            online=online, gamma=gamma, offline_a=offline_a)
        return flat_intervals(bootstrap_attack_stats(scores, np.asarray(references), n_bootstrap, confidence, seed))
