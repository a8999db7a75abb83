"""Privacy audit: membership-inference attacks of increasing strength and their statistics."""

from .attacks import lira_scores, logit_confidence, rmia_scores
from .stats import AttackStats, attack_stats, bootstrap_attack_stats, flat_intervals, tpr_at_fpr

__all__ = ["AttackStats", "attack_stats", "bootstrap_attack_stats", "lira_scores", "logit_confidence",
           "rmia_scores", "tpr_at_fpr", "flat_intervals"]
