"""One privacy audit: every attack tier against several models (original, retrained reference, unlearned),
on the same forget set, held-out samples and reference models; a JSON report and plots.

Members are the forget set (what the model was asked to forget); non-members are half of the held-out
split; the other half is RMIA's population. Tier 2's SVC learns members from non-members on rows that are
never audited (a sample of the retained training rows vs the population) before it scores the audited rows.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset, concatenate_datasets
from sklearn.metrics import roc_curve

from ..data import ImageTransform
from ..evaluation import Predictions, predict
from ..evidence import loss_and_confidence, plot_roc_and_histograms
from ..metrics import load_metric
from ..mia.attacks import (
    ATTACK_FEATURES,
    attack_feature,
    lira_scores,
    logit_confidence,
    rmia_scores,
    svc_attack_scores,
    true_class_probability,
)
from ..mia.stats import bootstrap_attack_stats
from ..safety import write_json_atomic

__all__ = ["ATTACKS", "AuditData", "attack_scores", "audit_model", "loss_and_confidence", "plot_roc_and_histograms",
           "predictions_by_group", "write_report"]

#: Attack name -> tier, in report order.
ATTACKS = {"loss": 1, "mia_kit": 1, "svc_confidence": 2, "svc_entropy": 2, "svc_modified_entropy": 2,
           "lira_offline": 3, "lira_online": 3, "rmia_offline": 3, "rmia_online": 3}


@dataclass
class AuditData:
    """Row indices of the audit's groups, as positions in `pool` = train rows followed by held-out rows."""

    pool: Dataset
    forget: np.ndarray
    retain_sample: np.ndarray
    nonmember: np.ndarray
    population: np.ndarray

    @classmethod
    def build(cls, train: Dataset, test: Dataset, forget_indices: np.ndarray, retain_indices: np.ndarray,
              retain_samples: int = 2000, seed: int = 0) -> AuditData:
        rng = np.random.default_rng(seed)
        held_out = len(train) + rng.permutation(len(test))
        half = len(held_out) // 2
        retain = np.sort(rng.choice(retain_indices, min(retain_samples, len(retain_indices)), replace=False))
        return cls(concatenate_datasets([train, test]), np.asarray(forget_indices), retain,
                   np.sort(held_out[:half]), np.sort(held_out[half:]))

    def groups(self) -> dict[str, np.ndarray]:
        return {"forget": self.forget, "retain": self.retain_sample, "nonmember": self.nonmember,
                "population": self.population}


def predictions_by_group(model: torch.nn.Module, data: AuditData, transform: ImageTransform,
                         args: Any) -> dict[str, Predictions]:
    return {name: predict(model, data.pool.select(rows), transform, args) for name, rows in data.groups().items()}


def attack_scores(target: dict[str, Predictions], refs: list[dict[str, Predictions]], membership: np.ndarray,
                  data: AuditData, fixed_variance: bool | None = None,
                  seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    """Per attack: (scores, is_member) over forget (members) + non-members. Higher score = member.

    LiRA uses one global variance when `fixed_variance` (default: with fewer than 16 reference models,
    where per-sample variances from K/2 values are too noisy, as Carlini et al. advise)."""

    audited = np.concatenate([data.forget, data.nonmember])
    members = np.r_[np.ones(len(data.forget), bool), np.zeros(len(data.nonmember), bool)]

    def joined(p: dict[str, Predictions], fn: Any) -> np.ndarray:
        return np.concatenate([fn(p["forget"].logits, p["forget"].labels), fn(p["nonmember"].logits, p["nonmember"].labels)])

    out: dict[str, tuple[np.ndarray, np.ndarray]] = {}
    losses = np.concatenate([target["forget"].losses, target["nonmember"].losses])
    out["loss"] = (-losses, members)
    for feature in ATTACK_FEATURES:
        def values(p: Predictions, name: str = feature) -> np.ndarray:
            return attack_feature(p.probabilities, p.labels, name)

        audited_values = np.concatenate([values(target["forget"]), values(target["nonmember"])])
        out[f"svc_{feature}"] = (svc_attack_scores(values(target["retain"]), values(target["population"]),
                                                   audited_values, seed=seed), members)

    ref_in = membership[:, audited]
    if fixed_variance is None:
        fixed_variance = len(refs) < 16
    target_conf = joined(target, logit_confidence)
    ref_conf = np.stack([joined(r, logit_confidence) for r in refs])
    for online in (False, True):
        out[f"lira_{'online' if online else 'offline'}"] = (
            lira_scores(target_conf, ref_conf, ref_in, online=online, fixed_variance=fixed_variance), members)
    target_p, ref_p = joined(target, true_class_probability), np.stack([joined(r, true_class_probability) for r in refs])
    pop_target = true_class_probability(target["population"].logits, target["population"].labels)
    pop_refs = np.stack([true_class_probability(r["population"].logits, r["population"].labels) for r in refs])
    pop_in = membership[:, data.population]
    for online in (False, True):
        out[f"rmia_{'online' if online else 'offline'}"] = (
            rmia_scores(target_p, ref_p, pop_target, pop_refs, ref_in=ref_in, population_ref_in=pop_in, online=online),
            members)
    return out


def audit_model(target: dict[str, Predictions], refs: list[dict[str, Predictions]], membership: np.ndarray,
                data: AuditData, n_bootstrap: int = 1000, seed: int = 0,
                fixed_variance: bool | None = None) -> tuple[dict[str, Any], dict[str, Any]]:
    """Statistics (with intervals) of every attack on one model, and its ROC curves for the plots."""
    report: dict[str, Any] = {}
    curves: dict[str, Any] = {}
    for name, (scores, members) in attack_scores(target, refs, membership, data, fixed_variance, seed).items():
        report[name] = {"tier": ATTACKS[name], **bootstrap_attack_stats(scores, members, n_bootstrap, seed=seed)}
        if name.startswith("svc_"):  # SalUn's MIA-efficacy: % of the forget set the SVC calls non-members
            report[name]["mia_efficacy"] = float(100.0 * np.mean(scores[members] <= 0))
        fpr, tpr, _ = roc_curve(members, scores)
        curves[name] = (fpr, tpr)
    kit = load_metric("mia_score").compute(
        predictions=np.concatenate([target["forget"].losses, target["nonmember"].losses]),
        references=np.r_[np.ones(len(data.forget), np.int64), np.zeros(len(data.nonmember), np.int64)], seed=seed)
    report["mia_kit"] = {"tier": 1, "mia_score": float(kit["mia_score"])}
    return report, curves


def write_report(report: dict[str, Any], out_dir: str) -> str:
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "audit_report.json")
    write_json_atomic(path, report)
    return path
