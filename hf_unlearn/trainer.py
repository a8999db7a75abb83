"""`UnlearningTrainer`: a `transformers.Trainer` that makes an image classifier forget a forget set. It reads as
the run; each phase lives in the module named for it: the request (`request.py`), the method's data and loss
(`methods/`), the fine-tuning plan and the stopping rule's setup (`finetuning.py`), what a run offers its method
(`context.py`), scoring (`evaluation.py`), resuming (`resume.py`), output folder, ledger and card (`output.py`),
push (`publish.py`)."""

from __future__ import annotations

import copy
import os
import time
import warnings
from typing import Any

import torch
from datasets import Dataset
from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer

from .card import redact_command, write_run_card
from .config import UnlearningConfig
from .constants import CARD_TAGS
from .context import RunServices
from .data import DataError, ImageTransform, collate_images, model_num_channels
from .distributed import restore_batchnorm, sync_batchnorm
from .errors import TrainingDivergedError
from .evaluation import Predictions, avg_gap, group_scores, score_sets
from .finetuning import (
    FineTuningSteps,
    fine_tuning_max_grad_norm,
    fine_tuning_scheduler,
    fine_tuning_steps,
    plan_fine_tuning,
    small_request_warning,
    start_stopping,
)
from .forget import ForgetSet
from .forget.ledger import earlier_requests, verified_ledger
from .lora import count_parameters, is_lora, merged
from .methods import get_method
from .methods.schedule import planned_loader
from .modeling import check_supported, configure_loss, model_to_fine_tune
from .options import OptionError
from .output import CheckpointCardCallback, UnlearningResult, run_result, save_run
from .publish import push_result
from .request import UnlearningRequest, model_class_names
from .resume import remove_resume_state, resumable_checkpoint
from .safety import (
    cache_folders,
    check_folder_unchanged,
    check_output_apart,
    check_output_dir,
    estimated_output_bytes,
    input_model_record,
    load_pretrained,
    weights_digest,
)
from .stopping import IndistinguishableStop
from .verdict import VerdictPhase, parse_verdict

__all__ = ["UnlearningResult", "UnlearningTrainer"]


def _from_request(name: str) -> property:
    return property(lambda self: getattr(self.request, name), doc=f"`UnlearningRequest.{name}` of this run.")


class UnlearningTrainer(RunServices, Trainer):
    """Unlearn a forget set from an image classifier.

    >>> trainer = UnlearningTrainer(model="my-org/resnet-cifar10", args=UnlearningConfig("out", forget_classes=["cat"]),
    ...                             train_dataset=train, eval_dataset=test)
    >>> result = trainer.unlearn()      # data reorganization, fine-tuning, evaluation, saving
    >>> result.metrics["unlearned"]["forget_accuracy"]

    `model` is an `AutoModelForImageClassification` instance, Hub id or local folder; `processing_class` its
    image processor (loaded with the model when omitted). `train_dataset` is the dataset the model was trained
    on (the forget set indexes its rows); `eval_dataset` held-out test data. A model instance is fine-tuned in
    place, as by any Trainer; model files on disk are never written to. `reference_model` (optional): a model
    retrained on the retain set, scored beside the others. `dataset_name` names the data in the card; `command`
    reproduces the run (shown in the card).

    With `push_to_hub=True` nothing is pushed while training: when `unlearn()` ends, the unlearned model is
    checked against `push_gate` and pushed by `push_to_hub()` only if it passes. The Hub token is kept in
    memory only, never in `training_args.bin`, results or cards.
    """

    _tag_names = list(CARD_TAGS)

    forget_set = _from_request("forget_set")
    previous_forget_sets = _from_request("previous_forget_sets")
    class_names = _from_request("class_names")
    full_train_dataset = _from_request("full_train_dataset")
    retain_indices = _from_request("retain_indices")
    forget_indices = _from_request("forget_indices")
    retain_dataset = _from_request("retain_dataset")
    forget_dataset = _from_request("forget_dataset")
    test_dataset = _from_request("test_dataset")
    holdout_dataset = _from_request("holdout_dataset")
    data_sha256 = _from_request("data_sha256")

    def __init__(self, model: Any, args: UnlearningConfig, train_dataset: Dataset, eval_dataset: Dataset | None = None,
                 forget_set: ForgetSet | None = None, processing_class: Any = None,
                 reference_model: torch.nn.Module | None = None, dataset_name: str | None = None,
                 command: str | None = None, holdout_dataset: Dataset | None = None, **kwargs: Any):
        if not isinstance(args, UnlearningConfig):
            raise TypeError("args must be an UnlearningConfig (it carries the forget set and GAN options).")
        self._push_when_done, self._hub_token = bool(args.push_to_hub), args.hub_token
        args = copy.copy(args)  # the user's args stay as given (pushes, tokens and checkpointing are set below)
        args.push_to_hub, args.hub_token = False, None  # no push before the gate; no token in any file
        self.command = redact_command(command)
        self.hub_api: Any = None  # an `HfApi`-like object for pushes (default: HfApi with the token)
        source = model if isinstance(model, str) else getattr(model, "name_or_path", "") or ""
        check_output_apart(args.output_dir, {
            "the input model's folder" if isinstance(model, str) else "the folder the model was loaded from": source,
            "the dataset's folder": dataset_name, **cache_folders(train=train_dataset, evaluation=eval_dataset)})
        if isinstance(model, str):
            model = load_pretrained(AutoModelForImageClassification, source, args.allow_pickle_weights)
            processing_class = processing_class or load_pretrained(AutoImageProcessor, source, weights=False)
        check_supported(model, processing_class)  # a class hf-unlearn cannot train is refused before any work
        self.input_model = input_model_record(source, model)  # hashed now, checked unchanged when the run ends
        if processing_class is None:
            raise ValueError("No image processor: pass processing_class=AutoImageProcessor.from_pretrained(...).")
        if train_dataset is None or len(train_dataset) == 0:
            raise DataError("train_dataset is empty: pass the dataset the model was trained on.")
        if args.stop_when and holdout_dataset is None:
            raise OptionError(f"stop_when = {args.stop_when!r} needs held-out rows the model never trained on (never "
                              "the test split): pass holdout_dataset=... to UnlearningTrainer, or --holdout_split "
                              "(e.g. 'train[10000:12000]' or 'validation') to hf-unlearn; or unset stop_when.")

        self.args = args  # methods read it during validation, before Trainer.__init__ runs
        self.num_labels = int(model.config.num_labels)
        # the requests this model has already had: its ledger, with their specifications (checked against it)
        self.ledger, self.ledger_override = verified_ledger(source, self.input_model.get("weights_sha256"),
                                                            args.ledger_override, getattr(model.config, "_commit_hash", None))
        previous = (earlier_requests(source if os.path.isdir(source) else None, args.previous_forget_sets,
                                     self.ledger) if self.ledger else None)
        self.request = UnlearningRequest.resolve(args, train_dataset, eval_dataset, self.num_labels, forget_set,
                                                 model_class_names(model.config), holdout_dataset, previous)
        # the verdict's references checked and its held-out rows drawn before any work
        self.verdict_phase = VerdictPhase(self.request, parse_verdict(args.verdict), model.config, args.seed)
        self.verdict: dict[str, Any] | None = None
        self.dataset_name = dataset_name or train_dataset.info.dataset_name or None
        check_output_dir(args.output_dir, estimated_output_bytes(model, get_method(args.method).extra_output_bytes))
        self.transform = ImageTransform(processing_class, model_num_channels(model))
        self.reference_model = reference_model
        self.model = model  # what methods validate against (Trainer.__init__ sets the model to fine-tune)
        self.method = get_method(args.method)(self)
        self.method.validate()
        fine_tuning_max_grad_norm(self.method, args)  # unset: the method's reference setting (recorded)
        self.batch_plan: list[list[int]] | None = None
        self.timings: dict[str, float] = {}
        self._original_predictions: dict[str, Predictions] = {}
        self._evaluation_datasets: dict[str, Dataset] | None = None
        self._metrics_so_far: dict[str, dict[str, float]] = {}
        self._own_checkpoints = False
        self.combined_dataset: Dataset | None = None
        self.synthetic_quality: dict[str, Any] | None = None  # the quality figure of its synthetic rows, if any
        self.evaluation_predictions: dict[str, dict[str, Predictions]] = {}
        self.result: UnlearningResult | None = None
        self.stopping: IndistinguishableStop | None = None  # the stopping rule, when `stop_when` is set
        self.groups: list[dict[str, Any]] | None = None  # per-group scores of a person-level request

        model = model_to_fine_tune(model, args, self.method.reinitialize_model)
        self.parameter_counts = count_parameters(model)
        kwargs.setdefault("data_collator", collate_images)
        super().__init__(model=model, args=args, train_dataset=None, processing_class=processing_class, **kwargs)
        configure_loss(self)  # per-batch means, whatever the processes; WithTeacher models: the logits' loss
        self.add_callback(CheckpointCardCallback(lambda: self._result(dict(self._metrics_so_far))))

    # ------------------------------------------------------------------ Trainer hooks
    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        forget_mask = inputs.pop("is_forget", None)  # the model's forward does not take it
        loss = self.method.compute_loss(model, inputs, forget_mask, return_outputs, num_items_in_batch)
        if loss is None:
            loss = super().compute_loss(model, inputs, return_outputs=return_outputs, num_items_in_batch=num_items_in_batch)
        value = loss[0] if isinstance(loss, tuple) else loss
        if not torch.isfinite(value.detach()).all():
            raise TrainingDivergedError(
                f"The fine-tuning loss became {value.item()} at step {self.state.global_step}: nothing was saved. "
                "Lower learning_rate (or max_grad_norm), or check the data for broken images.")
        return loss

    def create_scheduler(self, num_training_steps: int, optimizer: Any = None) -> Any:
        """The method's own schedule when it has one (`UnlearningMethod.lr_lambda`), else the config's: the library's
        `fine_tuning_scheduler`, which the GPU benchmark's loop calls too."""
        if self.lr_scheduler is None:
            per_epoch = fine_tuning_steps(self.args, len(self.train_dataset), self.batch_plan).per_epoch
            self.lr_scheduler = fine_tuning_scheduler(self.method, self.args, optimizer or self.optimizer,
                                                      FineTuningSteps(per_epoch, num_training_steps))
            self._created_lr_scheduler = True
        return self.lr_scheduler

    def get_train_dataloader(self) -> Any:
        if self.batch_plan is None:
            return super().get_train_dataloader()
        return planned_loader(self.train_dataset, self.batch_plan, self.args, self.data_collator)

    # ------------------------------------------------------------------ the run
    def unlearn(self, evaluate_original: bool = True) -> UnlearningResult:
        """Data reorganization, fine-tuning through the Trainer loop, evaluation and saving.

        Returns an `UnlearningResult`; the output folder receives the unlearned model and image processor,
        the generators (Multi-GAN), `unlearning_results.json`, `forget_set.json` and a model card.
        """
        metrics, predictions, eval_sets = self._metrics_so_far, self.evaluation_predictions, self.evaluation_datasets()
        self.score_before_fine_tuning(evaluate_original and not self.method.reinitialize_model)

        if self.args.stop_when:  # the original's held-out accuracy, before the method may change the model
            self.stopping = start_stopping(self.request, self.args, self.verdict_phase, self.predict_logits,
                                           self.log_phase)
        if warning := small_request_warning(self.request, self.args):
            warnings.warn(warning, stacklevel=2)
        plan = plan_fine_tuning(self.method, self.args, self.log_phase)
        self.combined_dataset, self.batch_plan, digest = plan.dataset, plan.batch_plan, plan.digest
        self.synthetic_quality = plan.synthetic
        self.train_dataset = plan.dataset.with_transform(self.transform)
        for callback in plan.callbacks:  # e.g. SalUn's gradient mask, computed on the original model
            self.add_callback(callback)

        start = time.perf_counter()
        # a method that retrains from scratch starts from seeded fresh weights, not from the model it was given
        start_model = ({"reinitialized": weights_digest(self.model)} if self.method.reinitialize_model
                       else self.input_model)
        checkpoint, self._own_checkpoints, marker = resumable_checkpoint(self.args, {
            "model": start_model, "data": self.data_sha256, "finetune": digest,
            "forget": self.forget_set.spec_hash()})
        self.add_callback(marker)  # each checkpoint carries this request's key
        if self.args.stop_when:  # scored on the forget and held-out rows only: never the test split
            self.add_callback(self.stopping)
        synced = sync_batchnorm(self.model) if self.args.world_size > 1 and self.args.sync_batchnorm else []
        self.train(resume_from_checkpoint=checkpoint)
        restore_batchnorm(synced)  # the saved model is a plain transformers model
        self.log_phase("fine_tuning", time.perf_counter() - start)

        if is_lora(self.model):  # fold the adapters in: the output is a plain model, like the input
            self.model = merged(self.model)
        start = time.perf_counter()
        predictions["unlearned"] = self.predict_evaluation_sets()
        metrics["unlearned"] = score_sets(predictions["unlearned"], self.args.mia_splits, self.args.seed)
        if self.request.groups:  # a person-level request: how each person's images are treated, model by model
            self.groups = group_scores(predictions, self.request.groups)
        self.verdict_phase.reference_predictions(self.predict_logits)
        self.verdict = self.verdict_phase.record(predictions, self.request.groups,
                                                 self.stopping.looks if self.stopping else 1)
        self.log_phase("evaluate_unlearned", time.perf_counter() - start)

        for name in ("original", "unlearned") if "retrained" in metrics and "test" in eval_sets else ():
            if name in metrics:
                metrics[name]["avg_gap"] = avg_gap(metrics[name], metrics["retrained"])
        result = self._result(dict(metrics))
        self.result = result
        self.save_unlearned(result)
        self.check_input_model_unchanged()
        remove_resume_state(self.args, self._own_checkpoints)
        if self._push_when_done:
            self.push_to_hub()
        return result

    def _result(self, metrics: dict[str, dict[str, float]]) -> UnlearningResult:
        return run_result(self, metrics)

    def check_input_model_unchanged(self) -> None:
        """The input model folder must be byte for byte what it was when the run started."""
        check_folder_unchanged(self.input_model["source"], self.input_model["sha256"])

    def save_unlearned(self, result: UnlearningResult) -> None:
        """Write model, processor, results, forget-set specification, ledger, evidence and card to `output_dir`."""
        save_run(self, result)

    def push_to_hub(self, commit_message: str | None = "Unlearned model (hf-unlearn)", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, private: bool | None = None,
                    audit: dict[str, Any] | None = None, audit_model: str = "unlearned", **kwargs: Any) -> Any:
        """Push the unlearned model, its card, report and evidence (and generators when `push_generators`) to
        `hub_model_id`, after checking `push_gate` (with the `audit` report's attacks when given). A missed
        threshold raises `GateError` and nothing is created or uploaded. Returns the commit info."""
        return push_result(self, token or self._hub_token, private, audit, audit_model, commit_message, revision)

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """The Trainer's card hook: writes this run's card (the evidence card, not the generic one)."""
        if self.result is not None and self.is_world_process_zero():
            write_run_card(self.args.output_dir, self.result.to_dict())
