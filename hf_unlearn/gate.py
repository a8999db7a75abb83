"""The unlearning gate: thresholds an unlearned model must meet before it may be published.

    push_gate: {max_avg_gap: 3.0, min_test_accuracy: 40, max_mia_auc: 0.65}

Each key is `max_<metric>` or `min_<metric>`. Metrics are the unlearned model's numbers from the run
(`unlearning_results.json`) and, when a privacy audit is given, `mia_auc` / `mia_tpr_at_1pct_fpr` become
the *largest* value over every attack of that audit (the strongest attacker decides). `require_verdict: true`
asks that the run's verdict certifies the forget set (`verdict.py`; "cannot certify" and "not certified" fail).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from .errors import GateError

#: Metric -> (lowest, highest) allowed threshold; accuracies are in %, AUC and scores in [0, 1].
GATE_METRICS: dict[str, tuple[float, float]] = {
    "forget_accuracy": (0.0, 100.0),
    "retain_accuracy": (0.0, 100.0),
    "test_accuracy": (0.0, 100.0),
    "mia_efficacy": (0.0, 100.0),
    "mia_score": (0.0, 1.0),
    "mia_auc": (0.0, 1.0),
    "mia_tpr_at_1pct_fpr": (0.0, 1.0),
    "avg_gap": (0.0, 100.0),
    "verdict_certified": (0.0, 1.0),  # 1 when the run's verdict certifies the forget set (`require_verdict: true`)
}


@dataclass(frozen=True)
class Threshold:
    bound: str  # "max" or "min"
    metric: str
    value: float

    @property
    def name(self) -> str:
        return f"{self.bound}_{self.metric}"

    def passes(self, measured: float) -> bool:
        return measured <= self.value if self.bound == "max" else measured >= self.value


def parse_gate(gate: dict[str, Any] | str | None) -> list[Threshold]:
    """Thresholds from a dict (or its JSON); refuses unknown metrics and out-of-range values up front."""
    if gate is None or gate == "":
        return []
    if isinstance(gate, str):
        try:
            gate = json.loads(gate)
        except json.JSONDecodeError as err:
            raise GateError(f"push_gate is not valid JSON ({err}); write it as '{{\"max_avg_gap\": 3.0}}'.") from None
    if not isinstance(gate, dict):
        raise GateError(f"push_gate must be a mapping like {{max_avg_gap: 3.0}}, got {type(gate).__name__}.")
    thresholds = []
    for key, value in gate.items():
        if key == "require_verdict":  # `require_verdict: true`: the verdict must certify the forget set
            if not isinstance(value, bool):
                raise GateError(f"push_gate require_verdict = {value!r}: write true or false.")
            thresholds += [Threshold("min", "verdict_certified", 1.0)] if value else []
            continue
        bound, _, metric = str(key).partition("_")
        if bound not in ("max", "min") or metric not in GATE_METRICS:
            names = ", ".join(f"max_{m} / min_{m}" for m in GATE_METRICS)
            raise GateError(f"Unknown push_gate threshold {key!r}; use one of: {names}.")
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise GateError(f"push_gate {key}: the threshold must be a number, got {value!r}.")
        low, high = GATE_METRICS[metric]
        if not low <= float(value) <= high:
            unit = " (accuracies are in %)" if high == 100.0 else ""
            raise GateError(f"push_gate {key} = {value} is out of range: it must lie in [{low:g}, {high:g}]{unit}.")
        thresholds.append(Threshold(bound, metric, float(value)))
    return thresholds


def audit_maxima(audit_report: dict[str, Any], model: str) -> dict[str, float]:
    """The largest AUC and TPR at 1% FPR over every attack of one audited model."""
    if model not in audit_report.get("models", {}):
        raise GateError(f"The audit report has no model named {model!r} (it has {sorted(audit_report.get('models', {}))}); "
                        "name the unlearned model's entry with audit_model.")
    attacks = [s for s in audit_report["models"][model].values() if isinstance(s, dict) and "auc" in s]
    return {"mia_auc": max(s["auc"]["value"] for s in attacks),
            "mia_tpr_at_1pct_fpr": max(s["tpr_at_1pct_fpr"]["value"] for s in attacks)}


def gate_metrics(results: dict[str, Any], audit: dict[str, Any] | None = None,
                 audit_model: str = "unlearned") -> dict[str, float]:
    """What the gate compares: the unlearned model's numbers, with the audit's strongest attack on top."""
    metrics = {k: float(v) for k, v in results.get("metrics", {}).get("unlearned", {}).items()}
    verdict = results.get("verdict") or {}
    if verdict.get("outcome"):
        metrics["verdict_certified"] = float(verdict["outcome"] == "certified")
    if audit is not None:
        for key, value in audit_maxima(audit, audit_model).items():
            metrics[key] = max(value, metrics.get(key, value))
    return metrics


def check_gate(thresholds: list[Threshold], metrics: dict[str, float], verdict_reason: str | None = None) -> list[str]:
    """One line per missed threshold (empty when the model may be published). A threshold whose metric was
    not measured fails: an auditor cannot accept a claim nobody checked."""
    failures = []
    for t in thresholds:
        if t.metric == "verdict_certified":
            if metrics.get(t.metric) != 1.0:
                why = verdict_reason or "no verdict: give the run held-out rows (holdout_dataset / --holdout_split)"
                failures.append(f"require_verdict: the forget set is not certified ({why})")
            continue
        if t.metric not in metrics:
            how = ("run `hf-unlearn audit` and pass its report" if t.metric.startswith("mia_auc")
                   or t.metric.startswith("mia_tpr") else "give the run a test set and a reference model")
            failures.append(f"{t.name}: {t.metric} was not measured ({how}, or drop the threshold)")
        elif not t.passes(float(metrics[t.metric])):
            failures.append(f"{t.name}: measured {metrics[t.metric]:.4g}, allowed "
                            f"{'at most' if t.bound == 'max' else 'at least'} {t.value:g}")
    return failures


def enforce_gate(gate: dict[str, Any] | str | None, metrics: dict[str, float], verdict_reason: str | None = None) -> None:
    """Raise `GateError` naming every missed threshold."""
    failures = check_gate(parse_gate(gate), metrics, verdict_reason)
    if failures:
        raise GateError("The unlearned model misses the publishing gate, nothing was pushed:\n  - "
                        + "\n  - ".join(failures))
