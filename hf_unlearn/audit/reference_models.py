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
from accelerate import PartialState
from datasets import Dataset
from tqdm.auto import tqdm
from transformers import AutoModelForImageClassification, TrainingArguments

from ..data import content_digest
from ..safety import write_json_atomic
from ..scratch import ClassifierRecipe, train_classifier

MEMBERSHIP_FILE = "membership.npy"
KEY_FILE = "cache_key.json"


@dataclass
class ReferenceSpec:
    """How many reference models, and the recipe each is trained with (the audited model's, ideally)."""

    num_models: int = 8
    epochs: float = 30.0
    learning_rate: float = 0.05
    batch_size: int = 128
    seed: int = 0
    #: as the audited originals were trained ("flip": left-right mirroring; "none"), so that references match them
    augmentation: str = "none"

    def __post_init__(self) -> None:
        self.epochs, self.learning_rate = float(self.epochs), float(self.learning_rate)  # 30 and 30.0: one key
        if self.num_models < 2 or self.num_models % 2:
            raise ValueError(f"num_reference_models must be an even number >= 2 (each sample is IN half of them), "
                             f"got {self.num_models}.")


def balanced_membership(num_models: int, num_samples: int, seed: int) -> np.ndarray:
    """(K, n) booleans: each sample is in the training set of exactly K/2 reference models (Carlini et al.)."""
    rng = np.random.default_rng(seed)
    ranks = rng.random((num_models, num_samples)).argsort(axis=0)
    return ranks < num_models // 2


#: Config fields that do not change what a model learns (names, bookkeeping): left out of the cache key.
COSMETIC_CONFIG_KEYS = ("_name_or_path", "transformers_version", "architectures", "id2label", "label2id", "dtype")


def cache_key(pool: Dataset, model_config: dict[str, Any], spec: ReferenceSpec) -> tuple[str, dict[str, Any]]:
    """Digest of what the reference models depend on (pool content in row order, architecture, recipe) and
    the description it was computed from (written beside the cached models)."""
    architecture = {k: v for k, v in model_config.items() if k not in COSMETIC_CONFIG_KEYS}
    architecture["num_labels"] = len(model_config.get("id2label") or {}) or model_config.get("num_labels")
    described = asdict(spec)
    if spec.augmentation == "none":  # as before the option existed: references cached then stay valid
        described.pop("augmentation")
    payload = {"pool_sha256": content_digest(pool), "rows": len(pool), "model": architecture, "spec": described}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16], json.loads(text)


def train_reference_models(pool: Dataset, make_model: Any, processor: Any, spec: ReferenceSpec,
                           base_args: TrainingArguments, cache_dir: str, log: Any = print,
                           progress: bool = False) -> tuple[list[str], np.ndarray]:
    """Train (or load from the cache) the K reference models; returns their folders and the membership matrix.

    `pool` has `image` and `label` columns; its row order defines the membership matrix's columns. Under
    several processes every rank trains each model together (the Trainer's data parallelism) and only the
    main process writes; the others wait for its files."""
    key, described = cache_key(pool, make_model().config.to_dict(), spec)
    root = os.path.join(cache_dir, key)
    os.makedirs(root, exist_ok=True)
    if base_args.should_save and not os.path.isfile(os.path.join(root, KEY_FILE)):
        write_json_atomic(os.path.join(root, KEY_FILE), described)
    membership_path = os.path.join(root, MEMBERSHIP_FILE)
    if os.path.isfile(membership_path):
        membership = np.load(membership_path)
    else:  # deterministic in the seed: every rank computes the same matrix, the main process saves it
        membership = balanced_membership(spec.num_models, len(pool), spec.seed)
        if base_args.should_save:
            np.save(membership_path + ".tmp.npy", membership)
            os.replace(membership_path + ".tmp.npy", membership_path)
    recipe = ClassifierRecipe(spec.epochs, spec.learning_rate, spec.batch_size, augmentation=spec.augmentation)
    folders = [os.path.join(root, f"ref_{k}") for k in range(spec.num_models)]
    missing = [k for k, f in enumerate(folders) if not os.path.isfile(os.path.join(f, "model.safetensors"))]
    PartialState().wait_for_everyone()  # every rank has listed the same files before any is written
    for k in tqdm(missing, desc="training reference models", disable=not progress):
        folder = folders[k]
        start = time.perf_counter()
        torch.manual_seed(spec.seed * 1000 + k)
        args = recipe.training_args(folder + ".tmp", spec.seed * 1000 + k, base_args)
        model = train_classifier(make_model(), processor, pool.select(np.flatnonzero(membership[k])), args,
                                 recipe.augmentation)
        if args.should_save:
            model.save_pretrained(folder + ".tmp")
            os.replace(folder + ".tmp", folder)  # a half-trained reference never looks finished
        PartialState().wait_for_everyone()
        log(f"reference model {k + 1}/{spec.num_models} trained on {int(membership[k].sum())} rows "
            f"({time.perf_counter() - start:.0f}s) -> {folder}")
    return folders, membership


def load_reference_models(folders: list[str]) -> list[torch.nn.Module]:
    return [AutoModelForImageClassification.from_pretrained(f) for f in folders]
