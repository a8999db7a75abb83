"""Data reorganization: label inversion strategies and the combined fine-tuning dataset (built alike on
every process, which `fine_tuning_digest` checks)."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from typing import Any

import numpy as np
from datasets import Dataset, Features, Image, Value, concatenate_datasets

from .constants import FORGET_SOURCES, SOURCES
from .data import content_digest

__all__ = ["COMBINED_FEATURES", "FORGET_SOURCES", "SOURCES", "available_inversions", "combine_sources",
           "drop_contradictions", "fine_tuning_digest", "image_digest", "invert_labels", "register_inversion",
           "with_source"]
#: Schema of the fine-tuning dataset: `label` is what the model is trained on, `original_label` the true label
#: (real rows) or the original model's prediction (synthetic rows) before any inversion.
COMBINED_FEATURES = Features({"image": Image(), "label": Value("int64"), "original_label": Value("int64"),
                              "source": Value("string")})

InversionFn = Callable[[np.ndarray, int, "np.ndarray | None", np.random.Generator], np.ndarray]
_INVERSIONS: dict[str, InversionFn] = {}


def register_inversion(name: str) -> Callable[[InversionFn], InversionFn]:
    """Register a label-inversion strategy under `name`."""

    def wrap(fn: InversionFn) -> InversionFn:
        _INVERSIONS[name] = fn
        return fn

    return wrap


@register_inversion("complement")
def _complement(labels: np.ndarray, num_classes: int, probs: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """y' = K-1-y (the paper's). With an odd K the middle class would map to itself: it goes to (y+1) mod K."""
    inverted = num_classes - 1 - labels
    fixed = inverted == labels
    inverted[fixed] = (labels[fixed] + 1) % num_classes
    return inverted


@register_inversion("random_other")
def _random_other(labels: np.ndarray, num_classes: int, probs: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """A uniformly random class other than y."""
    return (labels + rng.integers(1, num_classes, size=labels.shape)) % num_classes


@register_inversion("least_likely")
def _least_likely(labels: np.ndarray, num_classes: int, probs: np.ndarray | None, rng: np.random.Generator) -> np.ndarray:
    """The class the original model finds least likely for this image (never y itself)."""
    if probs is None:
        raise ValueError("least_likely inversion needs the original model's class probabilities.")
    scores = np.array(probs, dtype=np.float64, copy=True)
    scores[np.arange(len(labels)), labels] = np.inf
    return scores.argmin(axis=1)


def available_inversions() -> list[str]:
    """Names of the registered inversion strategies."""
    return sorted(_INVERSIONS)


def invert_labels(labels: np.ndarray, num_classes: int, strategy: str = "complement",
                  probs: np.ndarray | None = None, seed: int = 0) -> np.ndarray:
    """Inverted labels: always a valid class, never the input label."""
    if strategy not in _INVERSIONS:
        raise ValueError(f"Unknown label inversion {strategy!r}: choose one of {', '.join(available_inversions())}.")
    if num_classes < 2:
        raise ValueError("Label inversion needs at least two classes.")
    labels = np.asarray(labels, dtype=np.int64)
    return _INVERSIONS[strategy](labels.copy(), num_classes, probs, np.random.default_rng(seed)).astype(np.int64)


def with_source(dataset: Dataset, source: str, labels: np.ndarray | None = None) -> Dataset:
    """`dataset` (`image`, `label`) relabelled (optional) and tagged: adds `source` and `original_label`."""
    if source not in SOURCES:
        raise ValueError(f"Unknown source {source!r}; expected one of {SOURCES}.")
    original = np.asarray(dataset["label"], dtype=np.int64)
    dataset = dataset.add_column("original_label", original.tolist(), feature=Value("int64"))
    if labels is not None:
        dataset = dataset.remove_columns("label").add_column("label", np.asarray(labels).tolist(), feature=Value("int64"))
    return dataset.add_column("source", [source] * len(dataset), feature=Value("string"))


def image_digest(image: Any) -> str:
    """SHA-256 of a PIL image's pixels, mode and size (two encodings of one picture digest alike)."""
    return hashlib.sha256(repr((image.mode, image.size)).encode() + image.tobytes()).hexdigest()


def drop_contradictions(parts: dict[str, Dataset]) -> tuple[dict[str, Dataset], int]:
    """`parts` without the synthetic forget rows whose image is also a synthetic retain row's: such an image would
    be fed with the original's label and with its inversion in one fine-tuning set (a contradiction, not
    information). Returns the parts and how many rows were dropped (0 leaves every part as it was)."""
    if not len(parts.get("synthetic_forget", [])) or not len(parts.get("synthetic_retain", [])):
        return parts, 0
    retain = {image_digest(img) for img in parts["synthetic_retain"]["image"]}
    keep = [i for i, img in enumerate(parts["synthetic_forget"]["image"]) if image_digest(img) not in retain]
    dropped = len(parts["synthetic_forget"]) - len(keep)
    if dropped:
        parts = {**parts, "synthetic_forget": parts["synthetic_forget"].select(keep)}
    return parts, dropped


def combine_sources(parts: dict[str, Dataset]) -> Dataset:
    """Concatenate tagged parts into one dataset with columns image, label, original_label, source."""
    kept = [parts[name].select_columns(list(COMBINED_FEATURES)) for name in SOURCES if name in parts and len(parts[name])]
    if not kept:
        raise ValueError("The combined dataset would be empty.")
    return concatenate_datasets([ds.cast(COMBINED_FEATURES) for ds in kept])


def fine_tuning_digest(combined: Dataset, world_size: int = 1) -> str:
    """SHA-256 of the fine-tuning set (images, labels, sources). Under several processes every rank builds
    it (same seeds, gathered labels) and the Trainer's sampler shards it: the digests must agree, or some
    synthetic rows would be trained on twice and others never. Returns the digest."""
    digest = content_digest(combined)
    if world_size > 1:
        from accelerate.utils import gather_object

        digests = gather_object([digest])
        if len(set(digests)) > 1:
            raise RuntimeError(f"The processes built different fine-tuning sets (sha256 {sorted(set(digests))}); "
                               "report this as a bug with the recipe.")
    return digest
