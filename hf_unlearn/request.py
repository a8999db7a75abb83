"""A deletion request resolved against the training data: which rows are forgotten and which stay (after
earlier requests), the held-out data the run is scored on, and the hashes an auditor recomputes.

Every check here runs before any expensive work: columns, labels against the model's classes, the forget
set against the rows, and every image opened once while the training data is hashed.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from datasets import ClassLabel, Dataset, DatasetDict, Value

from .data import (
    DataError,
    check_images,
    check_labels_fit_model,
    class_names,
    content_digest,
    find_columns,
    image_digests,
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
    holdout_dataset: Dataset | None = None  # rows the model never trained on (the stopping rule's target)
    holdout_dropped: int = 0  # held-out rows left out because their image is also in the training or test set
    previous_indices: list[np.ndarray] | None = None  # the rows of each earlier request
    groups: list[tuple[str, np.ndarray]] | None = None  # person-level request: (value, positions in the forget set)
    matched: dict[str, Any] | None = None  # what matched (images given / matched / unmatched, rows per value)

    @classmethod
    def resolve(cls, args: Any, train_dataset: Dataset, eval_dataset: Dataset | None, num_labels: int,
                forget_set: ForgetSet | None = None, model_labels: list[str] | None = None,
                holdout_dataset: Dataset | None = None, previous: list[ForgetSet] | None = None) -> UnlearningRequest:
        """Resolve `forget_set` (default: the forget options of `args`, an `UnlearningConfig`) and the earlier
        requests (`previous`, default `args.previous_forget_sets`) against `train_dataset` (with all its columns:
        id columns, filters and images are matched there), for a model predicting `num_labels` classes named
        `model_labels` (its `id2label`, when it names them). `holdout_dataset`: rows of the same classes the model
        never trained on, other than the test set (the stopping rule's target; `resolve_holdout`)."""
        for what, data in (("train_dataset", train_dataset), ("eval_dataset", eval_dataset),
                           ("holdout_dataset", holdout_dataset)):
            if isinstance(data, DatasetDict):
                raise DataError(f"{what} is a DatasetDict (splits {list(data)}): pass one split, e.g. "
                                f"{what}=dataset[{next(iter(data), 'train')!r}].")
        forget_set = forget_set or ForgetSet.from_config(args)
        image_col, label_col = find_columns(train_dataset, args.image_column, args.label_column)
        check_label_type(train_dataset, label_col, "training set")
        names = class_names(train_dataset, label_col)
        test_names = None
        if eval_dataset is not None:
            test_cols = find_columns(eval_dataset, args.image_column, args.label_column)
            check_label_type(eval_dataset, test_cols[1], "evaluation set")
            test_names = class_names(eval_dataset, test_cols[1])
        full = to_standard_columns(train_dataset, image_col, label_col)
        labels = np.asarray(full["label"])
        check_labels_fit_model(labels, num_labels)
        if names is not None and len(names) != num_labels:
            raise DataError(
                f"The dataset has {len(names)} classes but the model predicts {num_labels}: "
                "use the model trained on this dataset."
            )
        check_label_space(names, test_names, model_labels)
        resolved = forget_set.resolve(len(labels), labels, names, train_dataset)
        forget_indices = resolved.rows
        retain_indices = np.setdiff1d(np.arange(len(labels), dtype=np.int64), forget_indices)
        if previous is None:
            previous = [load_forget_set(p) for p in args.previous_forget_sets or []]
        previous_rows = [p.forget_indices(len(labels), labels, names, train_dataset) for p in previous]
        if previous:
            retain_indices, forget_indices = exclude_previous(retain_indices, forget_indices, previous, labels, names,
                                                              rows=previous_rows)
        retain, forget = full.select(retain_indices), full.select(forget_indices)
        test = None
        if eval_dataset is not None:
            test = to_standard_columns(eval_dataset, *test_cols)
            check_labels_fit_model(test["label"], num_labels)
        data_sha256 = content_digest(full, verify="training set")  # one pass: hash + open every image
        if test is not None:
            check_images(test, what="test set")
        request = cls(forget_set, previous, names, full, retain_indices, forget_indices, retain, forget, test,
                      data_sha256, previous_indices=previous_rows, matched=resolved.matched or None,
                      groups=[(name, np.searchsorted(forget_indices, rows)) for name, rows in resolved.groups] or None)
        if holdout_dataset is not None:
            request.resolve_holdout(holdout_dataset, args, eval_dataset, num_labels, names)
        return request

    def resolve_holdout(self, holdout: Dataset, args: Any, eval_dataset: Dataset | None, num_labels: int,
                        names: list[str] | None) -> None:
        """Check and keep the held-out rows: same classes as the training set, never the test set, and never a
        training image. Rows whose image is also in the training or test set are left out (a few duplicates are
        common in image datasets); when more than 1% are, the holdout is refused: it is not held out."""
        if holdout is eval_dataset:
            raise DataError("holdout_dataset is the eval_dataset: the stopping rule must never read the test split "
                            "it is reported on. Hold out other rows the model never trained on (e.g. "
                            "--holdout_split 'train[10000:12000]' when the model saw only the first 10,000).")
        cols = find_columns(holdout, args.image_column, args.label_column)
        check_label_type(holdout, cols[1], "holdout set")
        check_label_space(names, class_names(holdout, cols[1]), None, "the holdout set")
        held = to_standard_columns(holdout, *cols)
        check_labels_fit_model(held["label"], num_labels)
        check_images(held, what="holdout set")
        digests = image_digests(held)
        seen = set(image_digests(self.full_train_dataset))
        if self.test_dataset is not None:
            seen |= set(image_digests(self.test_dataset))
        shared = [i for i, d in enumerate(digests) if d in seen]
        if len(shared) > 0.01 * len(held):
            raise DataError(f"{len(shared)} of the {len(held)} holdout rows (e.g. rows {shared[:5]}) have an image "
                            "that is also in the training or test set: a holdout must be data the model never trained "
                            "on and not the reported test split. Give other rows (e.g. a validation split).")
        keep = sorted(set(range(len(held))) - set(shared))
        self.holdout_dataset, self.holdout_dropped = held.select(keep), len(shared)

    def retain_budget(self, count: int | None, per_forget: float | None) -> int | None:
        """Real retain rows to fine-tune on: `count`, or `per_forget` x the forget set's size (rounded up), or
        None (all of them)."""
        if per_forget is not None:
            return max(1, int(np.ceil(per_forget * len(self.forget_dataset))))
        return count

    def retain_sample(self, n: int | None, seed: int) -> Dataset:
        """The retain rows, or a seeded sample of `n` of them."""
        if n is None or n >= len(self.retain_dataset):
            return self.retain_dataset
        return self.retain_dataset.shuffle(seed=seed).select(range(n))

    def counts(self) -> dict[str, int]:
        counts = {"train": len(self.full_train_dataset), "retain": len(self.retain_dataset),
                  "forget": len(self.forget_dataset), "test": len(self.test_dataset) if self.test_dataset else 0}
        if self.holdout_dataset is not None:
            counts.update(holdout=len(self.holdout_dataset), holdout_dropped=self.holdout_dropped)
        return counts

    def forget_record(self) -> dict[str, Any]:
        """The forget set as the results record it: its spec, hash, description (and the one a card may show),
        what matched, and earlier requests' hashes."""
        return {**self.forget_set.to_dict(), "sha256": self.forget_set.spec_hash(),
                "description": self.forget_set.describe(),
                "public_description": self.forget_set.public_description(),
                **({"matched": self.matched} if self.matched else {}),
                "previous_sha256": [f.spec_hash() for f in self.previous_forget_sets]}

    def forget_file(self) -> dict[str, Any]:
        """What `forget_set.json` holds (private, never published): the spec, its hash, the row counts, and every
        earlier request's spec (`earlier`: a later request on this model reads them, checked against its ledger)."""
        return {**self.forget_set.to_dict(), "sha256": self.forget_set.spec_hash(),
                "num_forget": len(self.forget_dataset), "num_retain": len(self.retain_dataset),
                "earlier": [{**f.to_dict(), "sha256": f.spec_hash()} for f in self.previous_forget_sets]}


def model_class_names(config: Any) -> list[str] | None:
    """The class names a model's config gives (`id2label` in id order), or None where they are transformers'
    placeholders (LABEL_0, LABEL_1, ...)."""
    id2label = getattr(config, "id2label", None) or {}
    names = [str(id2label[i]) for i in sorted(id2label, key=int)]
    return None if not names or all(n == f"LABEL_{i}" for i, n in enumerate(names)) else names


def check_label_type(dataset: Dataset, label_column: str, what: str) -> None:
    """Labels must be class ids: a `ClassLabel` or integers (floats only when whole numbers)."""
    feature = dataset.features[label_column]
    if isinstance(feature, ClassLabel):
        return
    dtype = getattr(feature, "dtype", None) if isinstance(feature, Value) else None
    if dtype is None or dtype == "string" or dtype.startswith("large_string"):
        sample = dataset.select_columns([label_column])[:3][label_column]
        raise DataError(f"The {what}'s label column {label_column!r} holds {dtype or type(feature).__name__} values "
                        f"(e.g. {sample}), not class ids: encode it with dataset.class_encode_column({label_column!r}) "
                        "in the model's class order (model.config.label2id), or pass --label_column.")
    if dtype.startswith("float"):
        values = np.asarray(dataset.select_columns([label_column])[:][label_column], dtype=np.float64)
        bad = np.flatnonzero(~np.isfinite(values) | (values != np.round(values)))
        if len(bad):
            raise DataError(f"The {what}'s label column {label_column!r} holds non-integer values (rows "
                            f"{bad[:5].tolist()}, e.g. {values[bad[0]]}): labels must be class ids 0..K-1.")


def check_label_space(train: list[str] | None, test: list[str] | None, model: list[str] | None,
                      test_what: str = "the evaluation set") -> None:
    """The training set, the evaluation set and the model must name the same classes in the same order: a test
    set in another class order (or with fewer classes) would be scored against the wrong labels."""
    named = [(what, names) for what, names in (("the training set", train), ("the model (id2label)", model),
                                               (test_what, test)) if names is not None]
    for (what_a, a), (what_b, b) in zip(named, named[1:], strict=False):
        if a == b:
            continue
        if sorted(a) == sorted(b):
            first = next(i for i, (p, q) in enumerate(zip(a, b, strict=True)) if p != q)
            how = f"the same classes in another order: id {first} is {a[first]!r} vs {b[first]!r}"
        else:
            missing, extra = sorted(set(a) - set(b))[:5], sorted(set(b) - set(a))[:5]
            how = f"{len(a)} vs {len(b)} classes" + (f"; only in the first: {missing}" if missing else "") + (
                f"; only in the second: {extra}" if extra else "")
        raise DataError(f"{what_a[0].upper() + what_a[1:]} and {what_b} name different classes ({how}): labels would be "
                        "scored against the wrong classes. Align them, e.g. dataset = dataset.align_labels_with_mapping("
                        "model.config.label2id, 'label'), or use the model trained on this dataset.")
