"""The run loop's method-driving steps, apart from the Trainer that runs them: what a method's request fine-tunes
on, for how many steps, in which order, and the digest a checkpoint must match to be resumed (`plan_fine_tuning`);
how many optimizer steps that is (`fine_tuning_steps`), the clipping (`fine_tuning_max_grad_norm`), the optimizer
(`fine_tuning_optimizer`) and the method's learning-rate schedule (`fine_tuning_scheduler`); the stopping rule set up
against the original model (`start_stopping`). `UnlearningTrainer` calls them from its Trainer hooks; anything else
that drives a method's contract (the GPU benchmark's tensor loop on the device) calls the same functions, so the
two loops cannot drift apart."""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset
from transformers import Trainer, get_scheduler

from .methods.schedule import plan_digest, reach_min_steps
from .quality import synthetic_quality
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
    batches), the callbacks it needs, the digest of all of it (a checkpoint resumes only on the same one), and the
    quality figure of its synthetic rows (`quality.synthetic_quality`; None when it has none)."""

    dataset: Dataset
    batch_plan: list[list[int]] | None
    callbacks: list[Any]
    digest: str
    synthetic: dict[str, Any] | None = None


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
    start = time.perf_counter()  # the synthetic rows' quality figure: measurement, not the request's work
    synthetic = synthetic_quality(combined, method.trainer, args.seed) if method.scores_synthetic_rows else None
    if synthetic is not None:
        log_phase("sample_quality", time.perf_counter() - start, sources=",".join(synthetic["sources"]))
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
    return FineTuningPlan(combined, batch_plan, method.callbacks(), digest, synthetic)


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


@dataclass(frozen=True)
class FineTuningSteps:
    """Optimizer steps per epoch and in all, as the Trainer's loop counts them."""

    per_epoch: int
    total: int


def fine_tuning_steps(args: Any, rows: int, batch_plan: list[list[int]] | None) -> FineTuningSteps:
    """The optimizer steps of a request's fine-tuning over `rows` rows: with the method's batch plan, one pass over
    it (`plan_fine_tuning` has set `args.max_steps`); else the Trainer's shuffled epochs, `per_device_train_batch_size`
    rows per process and step (the last short batch counted unless `dataloader_drop_last`), `num_train_epochs` of
    them unless `max_steps` is set."""
    accumulation = max(1, args.gradient_accumulation_steps)
    if batch_plan is not None:
        per_epoch = max(1, -(-len(batch_plan) // accumulation))
        return FineTuningSteps(per_epoch, args.max_steps if args.max_steps > 0 else per_epoch)
    per_step = args.per_device_train_batch_size * max(1, args.world_size)
    batches = rows // per_step if args.dataloader_drop_last else -(-rows // per_step)
    per_epoch = max(1, batches // accumulation)
    total = args.max_steps if args.max_steps > 0 else math.ceil(args.num_train_epochs * per_epoch)
    return FineTuningSteps(per_epoch, total)


def fine_tuning_max_grad_norm(method: Any, args: Any) -> float:
    """The clipping norm: the config's `max_grad_norm`, or the method's reference setting when it is unset (None);
    written back into `args`, where the Trainer and the results read it."""
    if args.max_grad_norm is None:
        args.max_grad_norm = method.max_grad_norm
    return args.max_grad_norm


def fine_tuning_optimizer(model: torch.nn.Module, args: Any) -> torch.optim.Optimizer:
    """The optimizer `Trainer.create_optimizer` makes for `args` (its class and keyword arguments from
    `optim`, and its two groups: no weight decay on biases and normalisation layers)."""
    optimizer_cls, optimizer_kwargs = Trainer.get_optimizer_cls_and_kwargs(args, model)
    return optimizer_cls(decay_groups(model, args.weight_decay), **optimizer_kwargs)


def decay_groups(model: torch.nn.Module, weight_decay: float) -> list[dict[str, Any]]:
    """The Trainer's two parameter groups (its `get_decay_parameter_names`): `weight_decay` on the trainable
    weights, none on biases and normalisation layers."""
    decay = set(Trainer.get_decay_parameter_names(None, model))
    params = [(n, p) for n, p in model.named_parameters() if p.requires_grad]
    return [{"params": [p for n, p in params if n in decay], "weight_decay": weight_decay},
            {"params": [p for n, p in params if n not in decay], "weight_decay": 0.0}]


def fine_tuning_scheduler(method: Any, args: Any, optimizer: torch.optim.Optimizer,
                          steps: FineTuningSteps) -> torch.optim.lr_scheduler.LRScheduler:
    """The method's own learning-rate schedule when it has one (`UnlearningMethod.lr_lambda`, given the optimizer
    steps per epoch: AMUN's steps), else the config's `lr_scheduler_type` over `steps.total` steps with its warm-up,
    as `Trainer.create_scheduler` makes it."""
    factor = method.lr_lambda(steps.per_epoch)
    if factor is not None:
        return torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
    return get_scheduler(args.lr_scheduler_type, optimizer, num_warmup_steps=args.get_warmup_steps(steps.total),
                         num_training_steps=steps.total, scheduler_specific_kwargs=args.lr_scheduler_kwargs)
