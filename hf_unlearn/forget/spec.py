"""`ForgetSet`: which training rows must be forgotten, validated and hashed for the audit trail; and the
helpers of sequential requests (an earlier request's forget set, read back; its rows left out).

A request names its rows the way it arrives: row indices, whole classes, a seeded random fraction, the values
of id columns (`where`: a person's user id, an uploader), the images themselves (`images`: matched by their
decoded pixels), or a filter over any column (`filter`: `source == "scraped"`). Every kind but indices and
fraction names the same rows however the dataset is ordered when it is loaded again.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..constants import FORGET_SET_FILE
from ..errors import ForgetSetError
from .match import Resolved

__all__ = ["ForgetSet", "ForgetSetError", "exclude_previous", "load_forget_set"]

#: The forget options of `UnlearningConfig`, exactly one of which names a request.
#: What a file of ids looks like (forget_file reads these).
FILE_SUFFIXES = (".txt", ".csv", ".json")
FORGET_OPTIONS = ("forget_indices", "forget_classes", "forget_fraction", "forget_where", "forget_file",
                  "forget_filter", "forget_images")


@dataclass(frozen=True)
class ForgetSet:
    """A deletion request: row indices, whole classes, a seeded random fraction, id-column values, images, or
    a filter.

    Build it with `ForgetSet.from_indices`, `from_classes`, `random_fraction`, `from_where`, `from_images`,
    `from_filter` or `from_file`; then `split(num_rows, labels, class_names, dataset=...)` returns the sorted
    (retain, forget) row indices (`dataset`, the training set with all its columns, is needed by the last four).
    """

    kind: str
    indices: tuple[int, ...] = ()
    classes: tuple[str, ...] = ()
    fraction: float | None = None
    seed: int = 0
    where: tuple[tuple[str, tuple[Any, ...]], ...] = ()  # (column, values) pairs
    image_digests: tuple[str, ...] = ()  # `images.pixel_digest` (size and pixel SHA-256) of each image
    allow_partial: bool = False  # images: forget the matched ones when some match no training row
    expression: str | None = None  # filter
    extra: dict[str, Any] = field(default_factory=dict, compare=False)  # where the request came from (not hashed)

    @classmethod
    def from_indices(cls, indices: Sequence[Any]) -> ForgetSet:
        """Forget these row indices of the training set."""
        checked = []
        for value in indices:
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
                if isinstance(value, (float, np.floating)) and float(value).is_integer():
                    value = int(value)
                elif isinstance(value, str) and (os.path.isfile(value) or value.lower().endswith(FILE_SUFFIXES)):
                    raise ForgetSetError(f"forget_indices holds {value!r}, a file: forget_indices takes row numbers "
                                         f"(e.g. --forget_indices 3 17 42); a file of ids or row numbers goes in "
                                         f"forget_file (--forget_file {value}).")
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
    def from_where(cls, where: dict[str, Any] | str, extra: dict[str, Any] | None = None) -> ForgetSet:
        """Forget every row whose value in one of the given columns is one of that column's values, e.g.
        `{"user_id": ["u17", "u42"]}` (a person-level request; several columns: rows matching any of them)."""
        from .match import parse_where

        return cls(kind="where", where=parse_where(where), extra=dict(extra or {}))

    @classmethod
    def from_filter(cls, expression: str) -> ForgetSet:
        """Forget every row a filter over the dataset's columns selects, e.g. `source == "scraped"` or
        `licence in ["cc-by-nc"] and year < 2020` (comparisons, `in`, `and` / `or` / `not`; no code is run)."""
        from .match import parse_filter

        parse_filter(expression)  # a malformed filter fails now, before any work
        return cls(kind="filter", expression=expression.strip())

    @classmethod
    def from_images(cls, images: Any, allow_partial: bool = False) -> ForgetSet:
        """Forget the training rows holding these images: a folder, image files, a `datasets.Dataset` with an
        image column, or PIL images. Matched by decoded pixels (`images.pixel_digest`), so a losslessly
        re-encoded copy matches; with `allow_partial`, images that match no training row are reported and the
        others forgotten, otherwise the request is refused."""
        from .images import given_images

        digests, names = given_images(images)
        unique = tuple(sorted(set(digests)))
        return cls(kind="images", image_digests=unique, allow_partial=bool(allow_partial),
                   extra={"image_names": dict(zip(digests, names, strict=True)), "images_given": len(digests)})

    @classmethod
    def from_file(cls, path: str, column: str | None = None) -> ForgetSet:
        """A forget-spec file: text (one id per line), CSV (a header naming the column) or JSON (a list, or
        `{column: [values]}`); its values are row indices when the column is `index`, else values of `column`."""
        from .match import read_forget_file

        column, values = read_forget_file(path, column)
        sha = hashlib.sha256(open(path, "rb").read()).hexdigest()
        extra = {"file_sha256": sha}
        if column == "index":
            return dataclasses.replace(cls.from_indices(values), extra=extra)
        return cls.from_where({column: values}, extra=extra)

    @classmethod
    def from_config(cls, config: Any) -> ForgetSet:
        """The forget set named by an `UnlearningConfig` (exactly one of its forget options)."""
        if config.forget_indices is not None:
            return cls.from_indices(config.forget_indices)
        if config.forget_classes is not None:
            return cls.from_classes(config.forget_classes)
        if config.forget_fraction is not None:
            return cls.random_fraction(config.forget_fraction, config.forget_seed)
        if getattr(config, "forget_where", None) is not None:
            return cls.from_where(config.forget_where)
        if getattr(config, "forget_file", None) is not None:
            return cls.from_file(config.forget_file, config.forget_file_column)
        if getattr(config, "forget_filter", None) is not None:
            return cls.from_filter(config.forget_filter)
        if getattr(config, "forget_images", None) is not None:
            return cls.from_images(config.forget_images, config.forget_images_partial)
        raise ForgetSetError(
            "No forget set given: set one of forget_where, forget_images, forget_file, forget_filter, forget_indices, "
            "forget_classes or forget_fraction (e.g. --forget_where '{\"user_id\": [\"u17\"]}', or --forget_classes cat)."
        )

    # ------------------------------------------------------------------ resolution
    def forget_indices(self, num_rows: int, labels: Sequence[int] | None = None,
                       class_names: Sequence[str] | None = None, dataset: Any = None) -> np.ndarray:
        """The sorted forget row indices for a dataset of `num_rows` rows (labels needed for `classes`; the
        training `dataset` with all its columns for `where`, `filter` and `images`)."""
        return self.resolve(num_rows, labels, class_names, dataset).rows

    def resolve(self, num_rows: int, labels: Sequence[int] | None = None, class_names: Sequence[str] | None = None,
                dataset: Any = None) -> Resolved:
        """`forget_indices` with the groups of a person-level request and what matched (`match.Resolved`)."""
        resolved = None
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
        elif self.kind in ("where", "filter", "images"):
            if dataset is None or len(dataset) != num_rows:
                raise ForgetSetError(f"A `{self.kind}` forget set is resolved against the training dataset itself: "
                                     "pass dataset= (the training set with all its columns).")
            resolved = self.resolve_rows(dataset)
            forget = resolved.rows
        else:
            raise ForgetSetError(f"Unknown forget-set kind {self.kind!r}.")
        if forget.size >= num_rows:
            raise ForgetSetError(
                f"The forget set covers all {num_rows} training rows: nothing would be retained. "
                "Retrain from scratch on other data instead, or forget fewer rows."
            )
        return resolved or Resolved(forget)

    def resolve_rows(self, dataset: Any) -> Resolved:
        """`match.Resolved` (rows, groups, what matched) of a `where`, `filter` or `images` request."""
        from .match import resolve_filter, resolve_where

        if self.kind == "where":
            return resolve_where(dataset, self.where)
        if self.kind == "filter":
            return resolve_filter(dataset, self.expression)
        from .images import resolve_images

        return resolve_images(dataset, self.image_digests, self.allow_partial, self.extra.get("image_names", {}))

    def split(self, num_rows: int, labels: Sequence[int] | None = None,
              class_names: Sequence[str] | None = None, dataset: Any = None) -> tuple[np.ndarray, np.ndarray]:
        """(retain, forget) sorted row indices; raises `ForgetSetError` on any invalid request."""
        forget = self.forget_indices(num_rows, labels, class_names, dataset)
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
        elif self.kind == "fraction":
            spec["fraction"] = self.fraction
            spec["seed"] = self.seed
        elif self.kind == "where":
            spec["where"] = {column: list(values) for column, values in self.where}
        elif self.kind == "filter":
            spec["filter"] = self.expression
        elif self.kind == "images":
            spec["image_digests"] = list(self.image_digests)
            spec["allow_partial"] = self.allow_partial
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
        if kind == "where":
            return cls.from_where(spec["where"])
        if kind == "filter":
            return cls.from_filter(spec["filter"])
        if kind == "images":
            return cls(kind="images", image_digests=tuple(spec["image_digests"]),
                       allow_partial=bool(spec.get("allow_partial", False)))
        raise ForgetSetError(f"Unknown forget-set kind {kind!r} in specification.")

    def spec_hash(self) -> str:
        """SHA-256 of the canonical JSON specification (safe to publish: reveals no row ids)."""
        canonical = json.dumps(self.to_dict(), sort_keys=True, separators=(",", ":"), default=str)
        return hashlib.sha256(canonical.encode()).hexdigest()

    def describe(self) -> str:
        """One human-readable line (the published card shows `public_description` instead)."""
        if self.kind == "indices":
            return f"{len(self.indices)} listed training rows"
        if self.kind == "classes":
            return f"every training image of class(es) {', '.join(self.classes)}"
        if self.kind == "fraction":
            return f"a random {self.fraction:.1%} of the training rows (seed {self.seed})"
        return self.public_description()

    def public_description(self) -> str:
        """What the request was, without any id, value or image (safe for a card)."""
        if self.kind == "where":
            parts = [f"{len(values)} value(s) of column `{column}`" for column, values in self.where]
            return "the training rows matching " + " or ".join(parts) + " (a person- or id-level request)"
        if self.kind == "filter":
            return "the training rows selected by a filter over the dataset's columns"
        if self.kind == "images":
            return f"the training rows holding {len(self.image_digests)} given image(s), matched by their pixels"
        if self.kind == "fraction":
            return f"a random {100 * float(self.fraction or 0):.1f}% of the training rows"
        return self.describe()


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
                     class_names: list[str] | None, dataset: Any = None,
                     rows: list[np.ndarray] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Sequential requests: rows forgotten by earlier requests (`rows`, when already resolved) leave the retain
    set; asking to forget them again is an error (they are already gone from the model's training data)."""
    if rows is None:
        rows = [p.forget_indices(len(labels), labels, class_names, dataset) for p in previous]
    for number, (spec, done) in enumerate(zip(previous, rows, strict=True), start=1):
        again = np.intersect1d(forget, done)
        if len(again):
            raise ForgetSetError(
                f"{len(again)} rows of this forget set (e.g. rows {again[:5].tolist()}) were already forgotten by "
                f"earlier request {number} of {len(previous)} ({spec.describe()}; spec sha256 "
                f"{spec.spec_hash()[:12]}): they are no longer in the model's training data. Leave them out of this "
                "request (a different value, image or filter), or, if that request was never applied to this "
                "model, drop it from previous_forget_sets / use the model it was not applied to."
            )
    done = np.unique(np.concatenate(rows)) if rows else np.array([], dtype=np.int64)
    return np.setdiff1d(retain, done), forget
