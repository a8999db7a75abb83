"""`ForgetSet`: which training rows must be forgotten, validated and hashed for the audit trail; and the
helpers of sequential requests (an earlier request's forget set, read back; its rows left out)."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .constants import FORGET_SET_FILE
from .errors import ForgetSetError

__all__ = ["ForgetSet", "ForgetSetError", "exclude_previous", "load_forget_set"]


@dataclass(frozen=True)
class ForgetSet:
    """A deletion request: explicit row indices, whole classes, or a seeded random fraction.

    Build it with `ForgetSet.from_indices`, `ForgetSet.from_classes` or `ForgetSet.random_fraction`, then
    `split(num_rows, labels, class_names)` returns the sorted (retain, forget) row indices.
    """

    kind: str
    indices: tuple[int, ...] = ()
    classes: tuple[str, ...] = ()
    fraction: float | None = None
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @classmethod
    def from_indices(cls, indices: Sequence[Any]) -> ForgetSet:
        """Forget these row indices of the training set."""
        checked = []
        for value in indices:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and float(value).is_integer():
                    value = int(value)
                else:
                    raise ForgetSetError(
                        f"Forget index {value!r} is not an integer: give row numbers of the training set (0, 1, ...)."
                    )
            checked.append(int(value))
        if len(set(checked)) != len(checked):
            dupes = sorted({i for i in checked if checked.count(i) > 1})[:10]
            raise ForgetSetError(f"Forget indices contain duplicates {dupes}: list each row once.")
        return cls(kind="indices", indices=tuple(sorted(checked)))

    @classmethod
    def from_classes(cls, classes: Sequence[str | int]) -> ForgetSet:
        """Forget every training image of these classes (names, or integer ids)."""
        return cls(kind="classes", classes=tuple(str(c) for c in classes))

    @classmethod
    def random_fraction(cls, fraction: float, seed: int = 0) -> ForgetSet:
        """Forget a random `fraction` of the training set, drawn with `seed`."""
        if not 0.0 < float(fraction) < 1.0:
            raise ForgetSetError(
                f"forget_fraction must be strictly between 0 and 1, got {fraction}: e.g. 0.1 forgets 10% of the rows."
            )
        return cls(kind="fraction", fraction=float(fraction), seed=int(seed))

    @classmethod
    def from_config(cls, config: Any) -> ForgetSet:
        """The forget set named by an `UnlearningConfig` (exactly one of its three forget options)."""
        if config.forget_indices is not None:
            return cls.from_indices(config.forget_indices)
        if config.forget_classes is not None:
            return cls.from_classes(config.forget_classes)
        if config.forget_fraction is not None:
            return cls.random_fraction(config.forget_fraction, config.forget_seed)
        raise ForgetSetError(
            "No forget set given: set one of forget_indices, forget_classes or forget_fraction "
            "(e.g. --forget_classes cat, or --forget_fraction 0.1)."
        )

    # ------------------------------------------------------------------ resolution
    def forget_indices(self, num_rows: int, labels: Sequence[int] | None = None,
                       class_names: Sequence[str] | None = None) -> np.ndarray:
        """The sorted forget row indices for a dataset of `num_rows` rows (labels needed for `classes`)."""
        if num_rows <= 0:
            raise ForgetSetError("The training dataset is empty: nothing to unlearn from.")
        if self.kind == "indices":
            if not self.indices:
                raise ForgetSetError("The forget set is empty: give at least one row index to forget.")
            bad = [i for i in self.indices if i < 0 or i >= num_rows]
            if bad:
                raise ForgetSetError(
                    f"Forget indices {bad[:10]} are out of range for a training set of {num_rows} rows "
                    f"(valid: 0..{num_rows - 1}). Check that the indices refer to this dataset and split."
                )
            forget = np.asarray(self.indices, dtype=np.int64)
        elif self.kind == "classes":
            if not self.classes:
                raise ForgetSetError("The forget set is empty: give at least one class to forget.")
            if labels is None:
                raise ForgetSetError("Forgetting classes needs the dataset's labels.")
            ids = [self._class_id(c, class_names) for c in self.classes]
            forget = np.flatnonzero(np.isin(np.asarray(labels), ids)).astype(np.int64)
            if forget.size == 0:
                raise ForgetSetError(f"No training image has class {list(self.classes)}: the forget set is empty.")
        elif self.kind == "fraction":
            count = int(round(self.fraction * num_rows))
            if count == 0:
                raise ForgetSetError(
                    f"forget_fraction {self.fraction} of {num_rows} rows rounds to 0 images: raise the fraction."
                )
            rng = np.random.default_rng(self.seed)
            forget = np.sort(rng.choice(num_rows, size=count, replace=False)).astype(np.int64)
        else:
            raise ForgetSetError(f"Unknown forget-set kind {self.kind!r}.")
        if forget.size >= num_rows:
            raise ForgetSetError(
                f"The forget set covers all {num_rows} training rows: nothing would be retained. "
                "Retrain from scratch on other data instead, or forget fewer rows."
            )
        return forget

    def split(self, num_rows: int, labels: Sequence[int] | None = None,
              class_names: Sequence[str] | None = None) -> tuple[np.ndarray, np.ndarray]:
        """(retain, forget) sorted row indices; raises `ForgetSetError` on any invalid request."""
        forget = self.forget_indices(num_rows, labels, class_names)
        mask = np.ones(num_rows, dtype=bool)
        mask[forget] = False
        return np.flatnonzero(mask).astype(np.int64), forget

    def _class_id(self, name: str, class_names: Sequence[str] | None) -> int:
        names = list(class_names) if class_names is not None else None
        if names is not None and name in names:
            return names.index(name)
        if name.lstrip("-").isdigit():
            cid = int(name)
            upper = len(names) if names is not None else None
            if cid < 0 or (upper is not None and cid >= upper):
                raise ForgetSetError(f"Class id {cid} is out of range: the dataset has classes 0..{(upper or 1) - 1}.")
            return cid
        known = ", ".join(names) if names else "(the dataset has no class names; use integer ids)"
        raise ForgetSetError(f"Unknown class {name!r}. Known classes: {known}.")

    # ------------------------------------------------------------------ audit trail
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready specification: enough for an auditor to recompute the split."""
        spec: dict[str, Any] = {"kind": self.kind}
        if self.kind == "indices":
            spec["indices"] = list(self.indices)
        elif self.kind == "classes":
            spec["classes"] = list(self.classes)
        else:
            spec["fraction"] = self.fraction
            spec["seed"] = self.seed
        return spec

    @classmethod
    def from_dict(cls, spec: dict[str, Any]) -> ForgetSet:
        """Inverse of `to_dict`."""
        kind = spec.get("kind")
        if kind == "indices":
            return cls.from_indices(spec["indices"])
        if kind == "classes":
            return cls.from_classes(spec["classes"])
        if kind == "fraction":
            return cls.random_fraction(spec["fraction"], spec.get("seed", 0))
        raise ForgetSetError(f"Unknown forget-set kind {kind!r} in specification.")

    def spec_hash(self) -> str:
        """SHA-256 of the canonical JSON specification (safe to publish: reveals no row ids)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(canonical.encode()).hexdigest()

    def describe(self) -> str:
        """One human-readable line."""
        if self.kind == "indices":
            return f"{len(self.indices)} listed training rows"
        if self.kind == "classes":
            return f"every training image of class(es) {', '.join(self.classes)}"
        return f"a random {self.fraction:.1%} of the training rows (seed {self.seed})"


def load_forget_set(path: str, option: str = "previous_forget_sets") -> ForgetSet:
    """The forget set of an unlearning run, from its `forget_set.json` (or the output folder holding it);
    `option` names the setting that gave `path`, for the error message."""
    if os.path.isdir(path):
        path = os.path.join(path, FORGET_SET_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(
            f"{option}: {path!r} does not exist. Give the {FORGET_SET_FILE} (or the output folder) of the "
            "unlearning run."
        )
    with open(path) as f:
        return ForgetSet.from_dict(json.load(f))


def exclude_previous(retain: np.ndarray, forget: np.ndarray, previous: list[ForgetSet], labels: np.ndarray,
                     class_names: list[str] | None) -> tuple[np.ndarray, np.ndarray]:
    """Sequential requests: rows forgotten by earlier requests leave the retain set; asking to forget them
    again is an error (they are already gone from the model's training data)."""
    done = np.unique(np.concatenate([p.forget_indices(len(labels), labels, class_names) for p in previous]))
    again = np.intersect1d(forget, done)
    if len(again):
        raise ValueError(
            f"{len(again)} rows of this forget set (e.g. {again[:5].tolist()}) were already forgotten by a previous "
            "request: remove them from the forget set or drop that entry from previous_forget_sets."
        )
    return np.setdiff1d(retain, done), forget
