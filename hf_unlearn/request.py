"""A deletion request resolved against the training data: which rows are forgotten and which stay (after
earlier requests), the held-out data the run is scored on, and the hashes an auditor recomputes.

Every check here runs before any expensive work: columns, labels against the model's classes, the forget
set against the rows, and every image opened once while the training data is hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import Dataset

from .data import (
    DataError,
    check_images,
    check_labels_fit_model,
    class_names,
    content_digest,
    find_columns,
    to_standard_columns,
)
from .forget import ForgetSet, exclude_previous, load_forget_set


@dataclass
class UnlearningRequest:
    """The rows of one deletion request and the data around it (`UnlearningTrainer.request`)."""

    forget_set: ForgetSet
    previous_forget_sets: list[ForgetSet]
    class_names: list[str] | None
    full_train_dataset: Dataset  # columns image, label
    retain_indices: np.ndarray
    forget_indices: np.ndarray
    retain_dataset: Dataset
    forget_dataset: Dataset
    test_dataset: Dataset | None
    data_sha256: str  # images and labels of the whole training set, in row order

    @classmethod
    def resolve(cls, args: Any, train_dataset: Dataset, eval_dataset: Dataset | None, num_labels: int,
                forget_set: ForgetSet | None = None) -> UnlearningRequest:
        """Resolve `forget_set` (default: the forget options of `args`, an `UnlearningConfig`) and
        `args.previous_forget_sets` against `train_dataset`, for a model predicting `num_labels` classes."""
        forget_set = forget_set or ForgetSet.from_config(args)
        image_col, label_col = find_columns(train_dataset, args.image_column, args.label_column)
        names = class_names(train_dataset, label_col)
        full = to_standard_columns(train_dataset, image_col, label_col)
        labels = np.asarray(full["label"])
        check_labels_fit_model(labels, num_labels)
        if names is not None and len(names) != num_labels:
            raise DataError(
                f"The dataset has {len(names)} classes but the model predicts {num_labels}: "
                "use the model trained on this dataset."
            )
        retain_indices, forget_indices = forget_set.split(len(labels), labels, names)
        previous = [load_forget_set(p) for p in args.previous_forget_sets or []]
        if previous:
            retain_indices, forget_indices = exclude_previous(retain_indices, forget_indices, previous, labels, names)
        retain, forget = full.select(retain_indices), full.select(forget_indices)
        test = None
        if eval_dataset is not None:
            test = to_standard_columns(eval_dataset, *find_columns(eval_dataset, args.image_column, args.label_column))
            check_labels_fit_model(test["label"], num_labels)
        data_sha256 = content_digest(full, verify="training set")  # one pass: hash + open every image
        if test is not None:
            check_images(test, what="test set")
        return cls(forget_set, previous, names, full, retain_indices, forget_indices, retain, forget, test, data_sha256)

    def retain_sample(self, n: int | None, seed: int) -> Dataset:
        """The retain rows, or a seeded sample of `n` of them."""
        if n is None or n >= len(self.retain_dataset):
            return self.retain_dataset
        return self.retain_dataset.shuffle(seed=seed).select(range(n))

    def counts(self) -> dict[str, int]:
        return {"train": len(self.full_train_dataset), "retain": len(self.retain_dataset),
                "forget": len(self.forget_dataset), "test": len(self.test_dataset) if self.test_dataset else 0}

    def forget_record(self) -> dict[str, Any]:
        """The forget set as the results record it: its spec, hash, description and earlier requests' hashes."""
        return {**self.forget_set.to_dict(), "sha256": self.forget_set.spec_hash(),
                "description": self.forget_set.describe(),
                "previous_sha256": [f.spec_hash() for f in self.previous_forget_sets]}

    def forget_file(self) -> dict[str, Any]:
        """What `forget_set.json` holds: the spec, its hash and the row counts (for sequential requests)."""
        return {**self.forget_set.to_dict(), "sha256": self.forget_set.spec_hash(),
                "num_forget": len(self.forget_dataset), "num_retain": len(self.retain_dataset)}
