"""Model cards: the unlearning evidence, rendered from `model_cards/template.md` in the form the Hub reads."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .evaluation import format_metric

METRIC_LABELS = {
    "forget_accuracy": "Forget accuracy",
    "retain_accuracy": "Retain accuracy",
    "test_accuracy": "Test accuracy",
    "mia_score": "MIA score (challenge kit)",
    "mia_efficacy": "MIA-efficacy (SalUn)",
    "avg_gap": "Avg Gap to retrained model",
}
SPLITS = {"mia_score": "forget+test", "mia_efficacy": "forget (attack trained on retain+test)",
          "avg_gap": "forget+retain+test"}
ROW_NAMES = {"original": "original (before unlearning)", "retrained": "retrained from scratch (reference)",
             "unlearned": "unlearned (this model)"}


def template_path() -> Path:
    """The shipped Jinja template (inside the wheel, or `model_cards/` in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "model_card_template.md", here.parent / "model_cards" / "template.md"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("The model-card template is missing from the installation; reinstall hf-unlearn.")


def eval_results(metrics: dict[str, float], dataset_name: str, dataset_type: str) -> list[EvalResult]:
    """One `EvalResult` per reported metric of the unlearned model (the Hub shows these)."""
    results = []
    for key, label in METRIC_LABELS.items():
        if key not in metrics:
            continue
        split = key.split("_")[0] if key.endswith("_accuracy") else SPLITS[key]
        results.append(EvalResult(
            task_type="image-classification", task_name="Image classification (unlearning)",
            dataset_type=dataset_type, dataset_name=dataset_name, dataset_split=split,
            metric_type="accuracy" if key.endswith("_accuracy") else key, metric_name=label,
            metric_value=round(float(metrics[key]), 4),
        ))
    return results


def render_model_card(result: Any, *, base_model: str | None = None, class_names: list[str] | None = None,
                      tags: list[str] | None = None, model_name: str | None = None,
                      dataset_name: str | None = None) -> ModelCard:
    """Render the card for an `UnlearningResult`."""
    metrics = result.metrics
    base = base_model if base_model and not os.path.isdir(base_model) else None
    card_data = ModelCardData(
        model_name=model_name or f"{result.method}-unlearned",
        base_model=base,
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=sorted(set(tags or ["hf-unlearn", "machine-unlearning", result.method])),
        eval_results=eval_results(metrics.get("unlearned", {}), dataset_name or "training data",
                                  dataset_name or "imagefolder"),
    )
    rows = []
    for key in ("original", "retrained", "unlearned"):
        if key in metrics:
            rows.append({"name": ROW_NAMES[key], **{k: format_metric(key, k, metrics[key]) for k in METRIC_LABELS}})
    return ModelCard.from_template(
        card_data, template_path=str(template_path()), model_name=card_data.model_name, method=result.method,
        base_model=base, forget_description=result.forget_set.get("description", ""),
        forget_sha256=result.forget_set.get("sha256", ""), forget_kind=result.forget_set.get("kind"), counts=result.counts, rows=rows,
        timings=result.timings, config=result.config, class_names=class_names,
        dataset_name=dataset_name or "the model's training data",
    )


def write_model_card(output_dir: str, result: Any, **kwargs: Any) -> Path:
    """Render and write `README.md` in `output_dir`."""
    path = Path(output_dir) / "README.md"
    render_model_card(result, **kwargs).save(str(path))
    return path
