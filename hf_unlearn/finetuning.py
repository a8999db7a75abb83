"""The run loop's method-driving steps, apart from the Trainer that runs them: what a method's request fine-tunes
on, for how many steps, in which order, and the digest a checkpoint must match to be resumed (`plan_fine_tuning`);
the stopping rule set up against the original model (`start_stopping`). `UnlearningTrainer.unlearn()` calls both;
anything else that drives a method's contract (a script's own tensor loop) can call them too."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from datasets import Dataset

from .methods.schedule import plan_digest, reach_min_steps
from .stopping import IndistinguishableStop, stopping_targets, utility_rows
from .synthesis import fine_tuning_digest

LogPhase = Callable[..., None]

#: Below this many forget rows a request is person-sized: the size measured in docs/benchmarks/persons.md (10-50).
PERSON_SIZED_ROWS = 100


def small_request_warning(request: Any, args: Any) -> str | None:
    """The warning for a person-sized request run on a fixed budget (no stopping rule): measured on 80 persons,
    the default budget over-forgets them, worse than doing nothing. None when it does not apply (a class request
    has its own target; the stopping rule is on; the request is larger)."""
    rows = len(request.forget_indices)
    if args.stop_when or rows >= PERSON_SIZED_ROWS or request.forget_set.kind == "classes":
        return None
    return (f"The forget set has {rows} rows: a person-sized request. On a fixed budget (stop_when unset) such a "
            "request is over- or under-forgotten: measured on 80 persons of ~25 images, the default budget "
            "landed further from retraining than the original (per-person Avg Gap 29.50 vs 23.70), the guarded "
            "stopping rule at 9.84. Give held-out rows and verdict references and set stop_when: indistinguishable, "
            "min_train_steps: 30, stop_check_steps: 1, stop_keep_closest: true, stop_class_accuracy_drop: 5 "
            "(docs/verdict.md, 'A person's photos').")


@dataclass
class FineTuningPlan:
    """What one request fine-tunes on: the rows, the method's own batch order (None: the Trainer's shuffled
    batches), the callbacks it needs, and the digest of all of it (a checkpoint resumes only on the same one)."""

    dataset: Dataset
    batch_plan: list[list[int]] | None
    callbacks: list[Any]
    digest: str


def plan_fine_tuning(method: Any, args: Any, log_phase: LogPhase) -> FineTuningPlan:
    """Let `method` change the model it starts from, build its fine-tuning set (both timed as
    `data_reorganization`, as before the hook), raise a small request's budget to
    `min_train_steps` (`budget`), take the method's batch plan (its length becomes `args.max_steps`, unless a
    smaller one was set) and its callbacks (e.g. SalUn's mask, computed on the original model). `args` is the
    run's config; its epoch and step counts are changed in place as the Trainer will read them."""
    start = time.perf_counter()
    method.change_starting_model()  # e.g. NoT's negated layer: before the set is built, as its own phase
    combined = method.build_train_dataset()
    digest = fine_tuning_digest(combined, args.world_size)
    log_phase("data_reorganization", time.perf_counter() - start, rows=len(combined), sha256=digest[:16],
              processes=args.world_size)
    epochs = args.num_train_epochs
    batch_plan = reach_min_steps(args, len(combined), lambda: method.batch_plan(combined))
    if args.num_train_epochs != epochs:  # min_train_steps raised the budget of a small request
        log_phase("budget", 0.0, min_train_steps=args.min_train_steps, num_train_epochs=round(args.num_train_epochs, 4))
    if batch_plan is not None:  # the method's own passes: one pass over its plan, in its order
        steps = max(1, -(-len(batch_plan) // args.gradient_accumulation_steps))
        if not 0 < args.max_steps < steps:  # a smaller max_steps the user set cuts the plan short
            args.max_steps = steps
        digest = f"{digest}+plan:{plan_digest(batch_plan)}"
    if own := method.data_fingerprint():  # what the rows do not show (e.g. amun's adversarial inputs)
        digest = f"{digest}+{method.name}:{own}"
    return FineTuningPlan(combined, batch_plan, method.callbacks(), digest)


def start_stopping(request: Any, args: Any, verdict_phase: Any, predict_logits: Callable[..., Any],
                   log_phase: LogPhase) -> IndistinguishableStop:
    """The stopping rule (`stop_when`) with its targets and the original's held-out accuracy, measured before the
    method may change the model; timed as `stop_rule_setup` (a per-request cost)."""
    start = time.perf_counter()
    targets = stopping_targets(request, request.holdout_dataset, args.stop_max_samples, args.seed)
    utility = utility_rows(targets, request.holdout_dataset, args.stop_max_samples, args.seed)
    verdict_phase.attach(targets, predict_logits)  # the references, when given
    stopping = IndistinguishableStop(targets, utility, predict_logits, args.stop_check_steps, verdict_phase.options,
                                     args.stop_class_rate, args.stop_accuracy_drop, args.stop_keep_closest,
                                     args.stop_class_accuracy_drop)
    stopping.measure_original()
    log_phase("stop_rule_setup", time.perf_counter() - start)
    return stopping
