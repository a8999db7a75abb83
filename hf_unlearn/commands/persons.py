"""Benchmark "persons": groups of training images that resemble each other the way one person's photos do, made
without any trained model, and random "owners" beside them.

- `clusters`: within each class, k-means on small colour thumbnails (`thumbnail` x `thumbnail` px, box-filtered,
  RGB, standardised) with about `images_per_person` images per cluster; a cluster of `min_images` to
  `max_images` images is one candidate person. Its images share a colour layout (same sky, same background,
  same kind of shot): near-duplicates the way one camera's photos of one cat are, which a random draw is not.
- `random`: rows drawn at random (outside every cluster person of the seed), `images_per_person` on average
  (Poisson, clipped to [min_images, max_images]): the make_data.py owners of the owners example, as a request.

Validation persons (for choosing settings) are drawn first, from seed-independent draws, and never reported;
each seed then draws its own report persons from the rest. Every person of a seed is a disjoint set of rows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset

#: The person kinds of a persons benchmark.
PERSON_KINDS = ("clusters", "random")


@dataclass
class PersonSpec:
    """How persons are drawn (`persons:` of a benchmark recipe)."""

    count: int = 20  # report persons per kind and seed
    validation: int = 6  # validation persons per kind (seed 0's run only; never reported)
    images_per_person: int = 25
    min_images: int = 10
    max_images: int = 50
    thumbnail: int = 8
    kinds: list[str] = field(default_factory=lambda: list(PERSON_KINDS))

    def __post_init__(self) -> None:
        unknown = sorted(set(self.kinds) - set(PERSON_KINDS))
        if unknown:
            raise ValueError(f"persons.kinds {unknown}: choose from {list(PERSON_KINDS)}.")
        if not 1 <= self.min_images <= self.images_per_person <= self.max_images:
            raise ValueError(f"persons: need 1 <= min_images ({self.min_images}) <= images_per_person "
                             f"({self.images_per_person}) <= max_images ({self.max_images}).")
        if self.count < 1 or self.validation < 0:
            raise ValueError(f"persons.count = {self.count} (>= 1) and persons.validation = {self.validation} (>= 0).")


@dataclass
class Person:
    """One benchmark person: a name (`clusters-07`, `random-v02` for a validation person), kind and rows."""

    name: str
    kind: str
    rows: np.ndarray
    validation: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "kind": self.kind, "rows": self.rows.tolist(), "validation": self.validation}


def thumbnails(dataset: Dataset, image_column: str, side: int) -> np.ndarray:
    """(n, side*side*3) float32: every image box-filtered to `side` x `side` RGB, in [0, 1]."""
    from PIL import Image

    out = np.empty((len(dataset), side * side * 3), dtype=np.float32)
    for start in range(0, len(dataset), 1000):
        batch = dataset[start:start + 1000][image_column]
        for i, image in enumerate(batch):
            small = image.convert("RGB").resize((side, side), Image.Resampling.BOX)
            out[start + i] = np.asarray(small, dtype=np.float32).ravel() / 255.0
    return out


def thumbnail_clusters(pixels: np.ndarray, labels: np.ndarray, images_per_cluster: int, seed: int = 0) -> np.ndarray:
    """A cluster id for every row: k-means within each class on standardised thumbnails, about
    `images_per_cluster` rows per cluster (ids are unique across classes)."""
    from sklearn.cluster import KMeans

    clusters = np.full(len(labels), -1, dtype=np.int64)
    offset = 0
    for label in np.unique(labels):
        rows = np.flatnonzero(labels == label)
        x = pixels[rows]
        x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-6)
        k = max(1, int(round(len(rows) / images_per_cluster)))
        assigned = KMeans(n_clusters=k, n_init=4, random_state=seed).fit_predict(x)
        clusters[rows] = assigned + offset
        offset += k
    return clusters


def draw_persons(clusters: np.ndarray, spec: PersonSpec, seed: int, with_validation: bool) -> list[Person]:
    """The persons of one seed: the validation persons (same for every seed; included when `with_validation`),
    then `spec.count` report persons of each kind, all disjoint. Cluster persons are whole clusters of
    `min_images`..`max_images` rows; random persons are random rows outside every cluster person drawn here."""
    ids, sizes = np.unique(clusters, return_counts=True)
    candidates = ids[(sizes >= spec.min_images) & (sizes <= spec.max_images)]
    fixed = np.random.default_rng(12345)  # validation persons: the same whatever the seed
    validation_clusters = fixed.choice(candidates, size=spec.validation, replace=False) if "clusters" in spec.kinds \
        else np.array([], dtype=np.int64)
    rng = np.random.default_rng(seed)
    rest = np.setdiff1d(candidates, validation_clusters)
    if "clusters" in spec.kinds and len(rest) < spec.count:
        raise ValueError(f"persons: only {len(rest)} clusters of {spec.min_images}-{spec.max_images} images; "
                         f"lower persons.count ({spec.count}) or widen the size range.")
    report_clusters = rng.choice(rest, size=spec.count, replace=False) if "clusters" in spec.kinds else []
    persons: list[Person] = []
    for i, cluster in enumerate(validation_clusters):
        persons.append(Person(f"clusters-v{i:02d}", "clusters", np.flatnonzero(clusters == cluster), True))
    for i, cluster in enumerate(report_clusters):
        persons.append(Person(f"clusters-{i:02d}", "clusters", np.flatnonzero(clusters == cluster)))
    if "random" in spec.kinds:
        taken = np.concatenate([p.rows for p in persons]) if persons else np.array([], dtype=np.int64)
        free = np.setdiff1d(np.arange(len(clusters)), taken)

        def draw(generator: np.random.Generator, name: str, validation: bool) -> None:
            nonlocal free
            size = int(np.clip(generator.poisson(spec.images_per_person), spec.min_images, spec.max_images))
            rows = np.sort(generator.choice(free, size=size, replace=False))
            free = np.setdiff1d(free, rows)
            persons.append(Person(name, "random", rows, validation))

        for i in range(spec.validation):  # validation draws first, from the fixed generator
            draw(fixed, f"random-v{i:02d}", True)
        for i in range(spec.count):
            draw(rng, f"random-{i:02d}", False)
    return [p for p in persons if with_validation or not p.validation]


def group_ids(num_rows: int, persons: list[Person]) -> np.ndarray:
    """A group id per training row for the verdict's reference folds: each person one group, every other row
    a group of its own."""
    groups = np.arange(num_rows, dtype=np.int64) + len(persons)
    for number, person in enumerate(persons):
        groups[person.rows] = number
    return groups
