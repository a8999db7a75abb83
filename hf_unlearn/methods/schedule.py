"""Batch plans: the order and make-up of the fine-tuning batches when a method's reference code does not shuffle
one mixed dataset, e.g. SCRUB's alternating passes (a pass over the forget set, then one over the retain set),
random labelling's forget-then-retain passes, or NegGrad+'s retain batches each paired with a forget batch.

A plan is the whole run's list of global batches (row indices into the combined dataset), fixed by the seed.
The Trainer's loop runs it as one pass: `max_steps` is set to its length, so the learning-rate schedule and
resumption (skipping the batches already trained) see the real number of steps. Under N processes every rank
builds the same plan and takes its own share of each global batch, so N processes of per-device batch B train
what one process of batch N x B trains.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Iterator
from typing import Any

import numpy as np
from datasets import Dataset
from torch.utils.data import DataLoader, Sampler


def rows_of(dataset: Dataset, *sources: str) -> np.ndarray:
    """Indices of the combined dataset's rows that come from `sources` (e.g. "forget")."""
    column = np.asarray(dataset["source"])
    return np.flatnonzero(np.isin(column, list(sources)))


def shuffled_batches(rows: np.ndarray, batch_size: int, rng: np.random.Generator) -> list[list[int]]:
    """One pass over `rows` in a random order, cut into batches of `batch_size` (the last one may be short), as a
    shuffling `DataLoader(..., batch_size, shuffle=True)` does."""
    order = rows[rng.permutation(len(rows))]
    return [order[i:i + batch_size].tolist() for i in range(0, len(order), batch_size)]


def epoch_count(num_train_epochs: float) -> int:
    """Whole epochs a plan must cover (a fractional last epoch is cut by `cut_to_epochs`)."""
    return max(1, math.ceil(num_train_epochs))


def cut_to_epochs(epochs: list[list[list[int]]], num_train_epochs: float) -> list[list[int]]:
    """The batches of `epochs` (one list per epoch) flattened, the last epoch cut to its fraction when
    `num_train_epochs` is not whole (as the Trainer cuts a fractional last epoch)."""
    whole = int(num_train_epochs)
    plan = [batch for epoch in epochs[:whole] for batch in epoch]
    if whole < len(epochs) and num_train_epochs > whole:
        last = epochs[whole]
        plan += last[: max(1, int(len(last) * (num_train_epochs - whole)))]
    return plan


def planned_steps(args: Any, rows: int, plan: list[list[int]] | None) -> int:
    """Optimizer steps of a run: its plan's batches, else the Trainer's count for `rows` rows."""
    accumulate = max(1, args.gradient_accumulation_steps)
    if plan is not None:
        return max(1, math.ceil(len(plan) / accumulate))
    per_epoch = max(1, math.ceil(rows / (args.per_device_train_batch_size * args.world_size)) // accumulate)
    return math.ceil(args.num_train_epochs * per_epoch)


def reach_min_steps(args: Any, rows: int, make_plan: Any) -> list[list[int]] | None:
    """`min_train_steps`: raise `args.num_train_epochs` until the run takes at least that many optimizer steps
    (unless `max_steps` is set); returns the method's plan (`make_plan()`, or None) for the final epochs."""
    plan = make_plan()
    floor = getattr(args, "min_train_steps", None)
    if not floor or args.max_steps > 0:
        return plan
    for _ in range(8):  # a plan's epochs are whole batches: a few rounds settle it
        steps = planned_steps(args, rows, plan)
        if steps >= floor:
            break
        args.num_train_epochs = float(args.num_train_epochs) * floor / steps
        plan = make_plan()
    return plan


class PlannedBatches(Sampler[list[int]]):
    """A batch sampler that replays a fixed plan of global batches; this process takes rows
    `rank::world_size` of each (so every process sees each step's phase: all forget or all retain)."""

    def __init__(self, plan: list[list[int]], rank: int = 0, world_size: int = 1):
        small = [len(batch) for batch in plan if len(batch) < world_size]
        if small:
            raise ValueError(f"A planned batch of {small[0]} rows cannot be shared by {world_size} processes: "
                             "use fewer processes or a larger batch size.")
        self.plan, self.rank, self.world_size = plan, rank, world_size

    def __iter__(self) -> Iterator[list[int]]:
        for batch in self.plan:
            yield batch[self.rank::self.world_size]

    def __len__(self) -> int:
        return len(self.plan)


def planned_loader(dataset: Dataset, plan: list[list[int]], args: Any, collate_fn: Any) -> DataLoader:
    """The Trainer's training loader for a plan: this process's share of each planned batch, in order."""
    return DataLoader(dataset, batch_sampler=PlannedBatches(plan, args.process_index, args.world_size),
                      collate_fn=collate_fn, num_workers=args.dataloader_num_workers,
                      pin_memory=args.dataloader_pin_memory)


def plan_digest(plan: list[list[int]]) -> str:
    """A short SHA-256 of a plan (part of the resume key: a changed plan never resumes an old checkpoint)."""
    return hashlib.sha256(json.dumps(plan, separators=(",", ":")).encode()).hexdigest()[:16]
