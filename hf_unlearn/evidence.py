"""Evidence plots, written beside a model and linked from its card: ROC curves and histograms of membership
attacks per model (an unlearning run's loss attack, or a privacy audit's every attack), and a grid of the
synthetic images the model was fine-tuned on, and the stopping rule's trajectory."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from datasets import Dataset

from .evaluation import Predictions
from .mia.attacks import true_class_probability


def loss_and_confidence(groups: dict[str, Predictions]) -> dict[str, dict[str, np.ndarray]]:
    """Per-sample loss and true-class confidence of each named group: what `plot_roc_and_histograms` draws as histograms."""
    return {"loss": {name: p.losses for name, p in groups.items()},
            "confidence": {name: true_class_probability(p.logits, p.labels) for name, p in groups.items()}}


def plot_roc_and_histograms(curves: dict[str, dict[str, Any]], histograms: dict[str, dict[str, np.ndarray]], out_dir: str) -> list[str]:
    """ROC curves (log-log) per model, and histograms of forget / retain / held-out per model and quantity
    (`histograms[model][quantity][group]`: per-sample loss, true-class confidence)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    paths = []
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 4.5), squeeze=False)
    for ax, (model, per_attack) in zip(axes[0], curves.items(), strict=True):
        for attack, (fpr, tpr) in per_attack.items():
            ax.plot(np.maximum(fpr, 1e-5), np.maximum(tpr, 1e-5), label=attack, linewidth=1)
        ax.plot([1e-5, 1], [1e-5, 1], "k--", linewidth=0.5)
        ax.set_xscale("log"), ax.set_yscale("log")
        ax.set_xlim(1e-3, 1), ax.set_ylim(1e-3, 1)
        ax.set_xlabel("false-positive rate"), ax.set_ylabel("true-positive rate")
        ax.set_title(f"{model}: forget vs held-out")
        ax.legend(fontsize=7)
    paths.append(save_figure(fig, out_dir, "roc_curves.png", dpi=120))
    quantities = list(next(iter(histograms.values())))
    fig, axes = plt.subplots(len(quantities), len(histograms), figsize=(5 * len(histograms), 3.5 * len(quantities)),
                             squeeze=False)
    for col, (model, per_quantity) in enumerate(histograms.items()):
        for row, quantity in enumerate(quantities):
            ax, groups = axes[row][col], per_quantity[quantity]
            high = float(np.percentile(np.concatenate(list(groups.values())), 99)) if quantity == "loss" else 1.0
            bins = np.linspace(0, max(high, 1e-3), 40)
            for group, values in groups.items():
                ax.hist(np.clip(values, 0, bins[-1]), bins=bins, alpha=0.5, density=True, label=group)
            ax.set_xlabel(f"per-sample {quantity}"), ax.set_title(model)
            ax.legend(fontsize=7)
    paths.append(save_figure(fig, out_dir, "loss_histograms.png", dpi=120))
    return paths


def plot_membership_evidence(predictions: dict[str, dict[str, Predictions]], out_dir: str) -> list[str]:
    """`roc_curves.png` (loss attack, forget vs test, log-log) and `loss_histograms.png` (loss and true-class
    confidence of forget / retain / test) for every scored model."""
    from sklearn.metrics import roc_curve

    curves, histograms = {}, {}
    for model, groups in predictions.items():
        if "test" not in groups:
            continue
        forget, test = groups["forget"], groups["test"]
        members = np.r_[np.ones(len(forget.labels)), np.zeros(len(test.labels))]
        fpr, tpr, _ = roc_curve(members, -np.concatenate([forget.losses, test.losses]))
        curves[model] = {"loss attack": (fpr, tpr)}
        histograms[model] = loss_and_confidence({g: groups[g] for g in ("forget", "retain", "test")})
    if not curves:
        return []
    os.makedirs(out_dir, exist_ok=True)
    return plot_roc_and_histograms(curves, histograms, out_dir)


def plot_synthetic_samples(combined: Dataset, out_dir: str, class_names: list[str] | None,
                           sources: tuple[str, ...] = ("synthetic_retain",), per_source: int = 24,
                           seed: int = 0) -> str | None:
    """`synthetic_samples.png`: a seeded sample of the fine-tuning set's synthetic rows of `sources`, each
    titled with the label it was trained with. None when the run made no synthetic data."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if "source" not in combined.column_names:
        return None
    source = np.asarray(combined["source"])
    rng = np.random.default_rng(seed)
    picked: list[tuple[str, int]] = []
    for name in sources:
        rows = np.flatnonzero(source == name)
        picked += [(name, int(i)) for i in np.sort(rng.choice(rows, min(per_source, len(rows)), replace=False))]
    if not picked:
        return None
    cols = 8
    nrows = int(np.ceil(len(picked) / cols))
    fig, axes = plt.subplots(nrows, cols, figsize=(cols * 1.3, nrows * 1.5), squeeze=False)
    for ax in axes.ravel():
        ax.axis("off")
    for ax, (name, i) in zip(axes.ravel(), picked, strict=False):
        row: dict[str, Any] = combined[i]
        ax.imshow(np.asarray(row["image"].convert("RGB")))
        label = int(row["label"])
        title = class_names[label] if class_names and label < len(class_names) else str(label)
        ax.set_title(("F: " if name == "synthetic_forget" else "") + title, fontsize=7)
    fig.suptitle("synthetic images and their training labels" + (" (F: forget GAN, inverted)"
                                                                  if "synthetic_forget" in sources else ""), fontsize=9)
    return save_figure(fig, out_dir, "synthetic_samples.png", dpi=110)


def save_figure(fig: Any, out_dir: str, name: str, dpi: int) -> str:
    """Lay out, write `out_dir/name` (the folder made if needed) and close a matplotlib figure; its path."""
    import matplotlib.pyplot as plt

    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, name)
    fig.savefig(path, dpi=dpi)
    plt.close(fig)
    return path


def plot_trajectory(record: dict[str, Any], out_dir: str) -> str | None:
    """`stopping_trajectory.png`: each target's statistic (AUC with its interval, or the class rate) and the
    forget / held-out accuracies against the step, with the kept step marked."""
    if not record or not record.get("trajectory"):
        return None
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    steps = [c["step"] for c in record["trajectory"]]
    fig, (left, right) = plt.subplots(1, 2, figsize=(10, 4))
    for i, target in enumerate(record["targets"]):
        rows = [c["targets"][i] for c in record["trajectory"]]
        if target["kind"] == "class":
            left.plot(steps, [r["class_rate"] for r in rows], "o-", label=f"{target['name']}: class predicted (rate)")
        else:
            left.plot(steps, [r["auc"] for r in rows], "o-", label=f"{target['name']}: loss AUC vs held-out")
            left.fill_between(steps, [r["low"] for r in rows], [r["high"] for r in rows], alpha=0.2)
        right.plot(steps, [r["forget_accuracy"] for r in rows], "o-", label=f"{target['name']} accuracy")
        right.plot(steps, [r["holdout_accuracy"] for r in rows], "s--", label=f"held-out ({target['name']}) accuracy")
    right.plot(steps, [c["utility"]["holdout_accuracy"] for c in record["trajectory"]], "^-", label="held-out accuracy")
    right.axhline(record["original_holdout_accuracy"] - record["accuracy_drop"], color="r", linewidth=0.5,
                  label="original's held-out accuracy - accuracy_drop")
    left.axhline(0.5, color="k", linewidth=0.5)
    for ax in (left, right):
        if record.get("kept_step") is not None:
            ax.axvline(record["kept_step"], color="g", linestyle=":", label="kept")
        ax.set_xlabel("fine-tuning step")
        ax.legend(fontsize=7)
    left.set_title("stop when indistinguishable"), right.set_ylabel("%")
    return save_figure(fig, out_dir, "stopping_trajectory.png", dpi=120)
