"""Reference models for LiRA and RMIA: K models of the audited architecture, each trained on a random half
of a data pool (the training set plus held-out data), so every pooled sample is IN exactly K/2 of them.

They depend only on the data, the architecture and the training recipe, never on the model being audited:
they are cached under a key of those three and reused by every audit of the same setup (original,
retrained and unlearned models, any method, any later deletion request).
"""

from __future__ import annotations

import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForImageClassification, TrainingArguments

from ..experiment import ClassifierRecipe, train_classifier

MEMBERSHIP_FILE = "membership.npy"


@dataclass
class ReferenceSpec:
    """How many reference models, and the recipe each is trained with (the audited model's, ideally)."""

    num_models: int = 8
    epochs: float = 30.0
    learning_rate: float = 0.05
    batch_size: int = 128
    seed: int = 0

    def __post_init__(self) -> None:
        if self.num_models < 2 or self.num_models % 2:
            raise ValueError(f"num_reference_models must be an even number >= 2 (each sample is IN half of them), "
                             f"got {self.num_models}.")


def balanced_membership(num_models: int, num_samples: int, seed: int) -> np.ndarray:
    """(K, n) booleans: each sample is in the training set of exactly K/2 reference models (Carlini et al.)."""
    rng = np.random.default_rng(seed)
    ranks = rng.random((num_models, num_samples)).argsort(axis=0)
    return ranks < num_models // 2


def cache_key(pool: Dataset, model_config: dict[str, Any], spec: ReferenceSpec) -> str:
    """Digest of what the reference models depend on: pool content, architecture, recipe."""
    payload = json.dumps({"pool": pool._fingerprint, "rows": len(pool), "model": model_config, "spec": asdict(spec)},
                         sort_keys=True, default=str)
    return hashlib.sha256(payload.encode()).hexdigest()[:16]


def train_reference_models(pool: Dataset, make_model: Any, processor: Any, spec: ReferenceSpec,
                           base_args: TrainingArguments, cache_dir: str, log: Any = print) -> tuple[list[str], np.ndarray]:
    """Train (or load from the cache) the K reference models; returns their folders and the membership matrix.

    `pool` has `image` and `label` columns; its row order defines the membership matrix's columns."""
    model_config = make_model().config.to_dict()
    for volatile in ("_name_or_path", "transformers_version"):
        model_config.pop(volatile, None)
    root = os.path.join(cache_dir, cache_key(pool, model_config, spec))
    os.makedirs(root, exist_ok=True)
    membership_path = os.path.join(root, MEMBERSHIP_FILE)
    if os.path.isfile(membership_path):
        membership = np.load(membership_path)
    else:
        membership = balanced_membership(spec.num_models, len(pool), spec.seed)
        np.save(membership_path + ".tmp.npy", membership)
        os.replace(membership_path + ".tmp.npy", membership_path)
    recipe = ClassifierRecipe(spec.epochs, spec.learning_rate, spec.batch_size)
    folders = []
    for k in range(spec.num_models):
        folder = os.path.join(root, f"ref_{k}")
        folders.append(folder)
        if os.path.isfile(os.path.join(folder, "model.safetensors")):
            continue
        start = time.perf_counter()
        torch.manual_seed(spec.seed * 1000 + k)
        args = recipe.training_args(folder + ".tmp", spec.seed * 1000 + k, base_args)
        model = train_classifier(make_model(), processor, pool.select(np.flatnonzero(membership[k])), args)
        model.save_pretrained(folder + ".tmp")
        os.replace(folder + ".tmp", folder)  # a half-trained reference never looks finished
        log(f"reference model {k + 1}/{spec.num_models} trained on {int(membership[k].sum())} rows "
            f"({time.perf_counter() - start:.0f}s) -> {folder}")
    return folders, membership


def load_reference_models(folders: list[str]) -> list[torch.nn.Module]:
    return [AutoModelForImageClassification.from_pretrained(f) for f in folders]
