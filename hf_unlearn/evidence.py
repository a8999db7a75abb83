"""Evidence files of one unlearning run, written beside the model and linked from its card: ROC curves and
histograms of the loss attack per model, and a grid of the synthetic images the model was fine-tuned on."""

from __future__ import annotations

import os
from typing import Any

import numpy as np
from datasets import Dataset
from sklearn.metrics import roc_curve

from .audit.run import loss_and_confidence, plot_audit
from .evaluation import Predictions


def plot_membership_evidence(predictions: dict[str, dict[str, Predictions]], out_dir: str) -> list[str]:
    """`roc_curves.png` (loss attack, forget vs test, log-log) and `loss_histograms.png` (loss and true-class
    confidence of forget / retain / test) for every scored model."""
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
    return plot_audit(curves, histograms, out_dir)


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
    fig.tight_layout()
    os.makedirs(out_dir, exist_ok=True)
    path = os.path.join(out_dir, "synthetic_samples.png")
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
