"""Metrics shipped as local `evaluate` modules: `load_metric("accuracy")`, `load_metric("mia_score")` work offline."""

from __future__ import annotations

from pathlib import Path

import datasets
import evaluate

METRICS_DIR = Path(__file__).resolve().parent


def available_metrics() -> list[str]:
    """Names of the metric modules shipped with hf-unlearn."""
    return sorted(p.name for p in METRICS_DIR.iterdir() if (p / f"{p.name}.py").is_file())


def load_metric(name: str, **kwargs) -> evaluate.EvaluationModule:
    """Load a shipped metric module by name (never touches the Hub)."""
    if name not in available_metrics():
        raise ValueError(f"Unknown metric {name!r}; shipped metrics: {', '.join(available_metrics())}.")
    return evaluate.load(str(METRICS_DIR / name), **kwargs)


def sample_metric_info(description: str, citation: str, inputs_description: str,
                       predictions: str = "float64") -> evaluate.MetricInfo:
    """The `MetricInfo` every shipped metric shares: one prediction (of dtype `predictions`) and one integer
    reference per sample."""
    return evaluate.MetricInfo(
        description=description,
        citation=citation,
        inputs_description=inputs_description,
        features=datasets.Features({"predictions": datasets.Value(predictions), "references": datasets.Value("int64")}),
    )
