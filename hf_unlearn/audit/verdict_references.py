"""Reference models for the unlearning verdict: models that never saw a person, to say how a model that never
saw *these* images treats *them*.

K models of the audited model's architecture, each trained from scratch with the original's recipe on the
training set without one of K folds. A fold is made of whole groups (`group_column`: a person, an owner id),
so for every group there is a reference that saw none of its rows; without a group column each row is its own
group (enough for requests of random rows, not for a person's photos, which resemble each other). Made once
per model and training set (`hf-unlearn prepare` with `verdict: {references: PATH, folds: K}`), checked against
the data's SHA-256 and the model's architecture before a request reads it.

A fold leaves (K-1)/K of the data to each reference, so references are a little less sure of unseen images than
the model is; the verdict compares the model with a reference on the forget rows *and* on held-out rows, both
unseen by the reference, which cancels that shift to first order (`mia/equivalence.py`).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..errors import DataError
from ..options import OptionError
from ..safety import check_replaceable, write_json_atomic
from ..scratch import ClassifierRecipe, train_classifier

RECORD_FILE = "verdict_references.json"
FOLDS_FILE = "folds.npy"
#: The verdict's defaults: 4 folds (each reference trained on 3/4 of the rows).
DEFAULT_FOLDS = 4


def fold_assignment(groups: np.ndarray, num_folds: int, seed: int) -> np.ndarray:
    """The fold of every row: whole groups, shuffled with `seed`, dealt round-robin so folds hold about equal
    numbers of groups."""
    if num_folds < 2:
        raise OptionError(f"verdict folds = {num_folds}: give at least 2 (each reference leaves one fold out).")
    unique, inverse = np.unique(np.asarray(groups), return_inverse=True)
    order = np.random.default_rng(seed).permutation(len(unique))
    fold_of_group = np.empty(len(unique), dtype=np.int64)
    fold_of_group[order] = np.arange(len(unique)) % num_folds
    return fold_of_group[inverse]


def architecture(config: Any) -> dict[str, Any]:
    """What a reference shares with the model: its config without names and bookkeeping."""
    from .reference_models import COSMETIC_CONFIG_KEYS

    skipped = COSMETIC_CONFIG_KEYS + ("problem_type", "use_cache")
    shared = {k: v for k, v in config.to_dict().items() if k not in skipped}
    return json.loads(json.dumps(shared, default=str))  # as JSON holds it: a tuple and a list compare equal


@dataclass
class VerdictReferences:
    """A prepared set of verdict references: `record` (what they were made from), the fold of every training row."""

    path: str
    record: dict[str, Any]
    folds: np.ndarray
    _models: list[torch.nn.Module] = field(default_factory=list, repr=False)

    @property
    def num_folds(self) -> int:
        return int(self.record["folds"])

    def folders(self) -> list[str]:
        return [os.path.join(self.path, f"ref_{k}") for k in range(self.num_folds)]

    def check(self, data_sha256: str, num_rows: int, model_config: Any) -> None:
        """Refuse references made for other data or another architecture (before any work)."""
        if self.record["data_sha256"] != data_sha256 or len(self.folds) != num_rows:
            raise DataError(f"verdict references at {self.path} were prepared on other training data ({self.record['num_rows']} "
                            f"rows, SHA-256 {self.record['data_sha256'][:12]}) than this request's ({num_rows} rows, "
                            f"{data_sha256[:12]}): prepare them again on this data (hf-unlearn prepare with verdict: "
                            "{references: PATH}), or leave verdict.references unset.")
        from transformers import AutoConfig

        theirs = architecture(AutoConfig.from_pretrained(self.folders()[0]))  # the references' own config
        mine = architecture(model_config)
        differ = sorted(k for k in set(mine) | set(theirs) if mine.get(k) != theirs.get(k))
        if differ:
            raise DataError(f"verdict references at {self.path} have another architecture than the model being "
                            f"unlearned (config {differ[:8]} differ): prepare them again from this model (hf-unlearn "
                            "prepare with verdict: {references: PATH}).")

    def out_fold(self, rows: np.ndarray) -> np.ndarray:
        """The reference that never saw each row (its fold)."""
        return self.folds[np.asarray(rows, dtype=np.int64)]

    def check_groups(self, groups: list[tuple[Any, np.ndarray]], forget_rows: np.ndarray) -> None:
        """A person's rows must lie in one fold: else every reference saw some of that person's photos, and none
        can say how a model that never saw the person treats them."""
        rows = np.asarray(forget_rows, dtype=np.int64)
        split = [str(value) for value, positions in groups if len(np.unique(self.folds[rows[positions]])) > 1]
        if split:
            column = self.record.get("group_column") or "none (each row its own group)"
            raise OptionError(
                f"verdict: the references at {self.path} were prepared with group_column {column}, so the rows of "
                f"{len(split)} requested group(s) lie in several folds: every reference saw some of their images. "
                f"Prepare the references with verdict: {{group_column: <the column of this request>}}, or leave "
                "verdict.references unset (the verdict then cannot certify a person-level request).")

    def models(self) -> list[torch.nn.Module]:
        from transformers import AutoModelForImageClassification

        if not self._models:
            self._models = [AutoModelForImageClassification.from_pretrained(f).eval() for f in self.folders()]
        return self._models


def load_verdict_references(path: str) -> VerdictReferences:
    record_file = os.path.join(path, RECORD_FILE)
    if not os.path.isfile(record_file):
        raise FileNotFoundError(f"verdict.references = {path!r} holds no verdict references ({RECORD_FILE} missing): "
                                "make them once with `hf-unlearn prepare` and verdict: {references: PATH}.")
    with open(record_file) as f:
        record = json.load(f)
    references = VerdictReferences(path, record, np.load(os.path.join(path, FOLDS_FILE)))
    missing = [f for f in references.folders() if not os.path.isfile(os.path.join(f, "model.safetensors"))]
    if missing:
        raise FileNotFoundError(f"verdict references at {path} are incomplete ({len(missing)} of "
                                f"{references.num_folds} models missing): run the same `hf-unlearn prepare` again "
                                "to finish them.")
    return references


def prepare_verdict_references(make_model: Any, processor: Any, train: Dataset, out: str, recipe: ClassifierRecipe,
                               base_args: Any, data_sha256: str, groups: np.ndarray | None = None,
                               group_column: str | None = None, num_folds: int = DEFAULT_FOLDS, seed: int = 0,
                               log: Any = print) -> VerdictReferences:
    """Train the K references (resumable: a finished one is kept, a half-trained one never looks finished) and
    write the record. `groups`: a group id per training row (default: each row its own group)."""
    groups = np.arange(len(train)) if groups is None else np.asarray(groups)
    if len(groups) != len(train):
        raise DataError(f"verdict references: {len(groups)} group ids for {len(train)} training rows.")
    folds = fold_assignment(groups, num_folds, seed)
    check_replaceable(out, FOLDS_FILE)  # never into a folder of other files (a model's, the data's)
    folds_file = os.path.join(out, FOLDS_FILE)
    if os.path.isfile(folds_file) and not np.array_equal(np.load(folds_file), folds):
        raise OptionError(f"verdict.references = {out!r} holds references prepared with other folds (other groups, "
                          "folds or seed, or other data): give a new folder, or remove that one.")
    os.makedirs(out, exist_ok=True)
    record_file = os.path.join(out, RECORD_FILE)
    if base_args.should_save:
        np.save(folds_file, folds)
    seconds = []
    for k in range(num_folds):
        folder = os.path.join(out, f"ref_{k}")
        if os.path.isfile(os.path.join(folder, "model.safetensors")):
            continue
        start = time.perf_counter()
        torch.manual_seed(seed * 1000 + k)
        args = recipe.training_args(folder + ".tmp", seed * 1000 + k, base_args)
        args.method = "retrain"
        model = train_classifier(make_model(), processor, train.select(np.flatnonzero(folds != k)), args,
                                 recipe.augmentation)
        if base_args.should_save:
            model.save_pretrained(folder + ".tmp")
            os.replace(folder + ".tmp", folder)
        seconds.append(time.perf_counter() - start)
        log(f"verdict reference {k + 1}/{num_folds} trained on {int((folds != k).sum())} of {len(train)} rows "
            f"({seconds[-1]:.0f}s) -> {folder}")
    previous = {}
    if os.path.isfile(record_file):
        with open(record_file) as f:
            previous = json.load(f)
    record = {"folds": num_folds, "seed": seed, "group_column": group_column, "num_rows": len(train),
              "num_groups": int(len(np.unique(groups))), "data_sha256": data_sha256,
              "architecture": architecture(make_model().config),
              "recipe": {"epochs": recipe.epochs, "learning_rate": recipe.learning_rate,
                         "batch_size": recipe.batch_size, "augmentation": recipe.augmentation},
              "preparation_s": float(previous.get("preparation_s", 0.0)) + float(sum(seconds))}
    if base_args.should_save:
        write_json_atomic(record_file, record)
    return VerdictReferences(out, record, folds)
