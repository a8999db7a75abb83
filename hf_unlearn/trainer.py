"""`UnlearningTrainer`: a `transformers.Trainer` that makes an image classifier forget a forget set. It reads as
the run; each phase lives in the module named for it: the request (`request.py`), the method's data and loss
(`methods/`), scoring (`evaluation.py`), resuming (`resume.py`), output folder and card (`output.py`), push
(`publish.py`)."""

from __future__ import annotations

import copy
import os
import time
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer

from .card import is_local_path, redact_command, write_run_card
from .config import UnlearningConfig, public_config
from .constants import CARD_TAGS
from .data import DataError, ImageTransform, collate_images, model_num_channels
from .distributed import restore_batchnorm, sync_batchnorm
from .errors import TrainingDivergedError
from .evaluation import Predictions, avg_gap, group_scores, predict, score_sets
from .forget import ForgetSet
from .forget.ledger import earlier_requests, ledger_entry, verified_ledger
from .gate import enforce_gate, gate_metrics
from .lora import count_parameters, is_lora, merged
from .methods import get_method
from .methods.schedule import plan_digest, planned_loader, reach_min_steps
from .modeling import check_supported, configure_loss, model_to_fine_tune
from .options import OptionError
from .output import CheckpointCardCallback, UnlearningResult, save_model_staged, write_run_files
from .publish import push_folder
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
from .stopping import IndistinguishableStop, stopping_targets, utility_rows
from .synthesis import fine_tuning_digest
from .verdict import VerdictPhase, parse_verdict

__all__ = ["UnlearningResult", "UnlearningTrainer"]


def _from_request(name: str) -> property:
    return property(lambda self: getattr(self.request, name), doc=f"`UnlearningRequest.{name}` of this run.")


class UnlearningTrainer(Trainer):
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
        check_output_dir(args.output_dir, estimated_output_bytes(model, args.method == "multigan"))
        self.transform = ImageTransform(processing_class, model_num_channels(model))
        self.reference_model = reference_model
        self.model = model  # what methods validate against (Trainer.__init__ sets the model to fine-tune)
        self.method = get_method(args.method)(self)
        self.method.validate()
        if args.max_grad_norm is None:  # unset: the method's reference setting (recorded in the results)
            args.max_grad_norm = self.method.max_grad_norm
        self.batch_plan: list[list[int]] | None = None
        self.timings: dict[str, float] = {}
        self._original_predictions: dict[str, Predictions] = {}
        self._evaluation_datasets: dict[str, Dataset] | None = None
        self._metrics_so_far: dict[str, dict[str, float]] = {}
        self._own_checkpoints = False
        self.combined_dataset: Dataset | None = None
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

    # ------------------------------------------------------------------ helpers for methods
    def log_phase(self, phase: str, seconds: float, **info: Any) -> None:
        """Record a phase's wall time (in `timings` and the results) and print it on the main process."""
        self.timings[phase] = self.timings.get(phase, 0.0) + float(seconds)
        if self.args.should_log:
            details = ", ".join(f"{k}={v}" for k, v in info.items())
            print(f"[hf-unlearn] {phase}: {seconds:.1f}s" + (f" ({details})" if details else ""), flush=True)

    def retain_train_dataset(self) -> Dataset:
        """The real retain rows used for fine-tuning (a seeded subset when `num_retain_samples` or
        `retain_samples_per_forget` is set)."""
        budget = self.request.retain_budget(self.args.num_retain_samples, self.args.retain_samples_per_forget)
        return self.request.retain_sample(budget, self.args.seed)

    def predict_logits(self, dataset: Dataset, model: torch.nn.Module | None = None) -> Predictions:
        """Logits of `model` (default: the trainer's current model) on `dataset`, with the model's processor."""
        return predict(model if model is not None else self.model, dataset, self.transform, self.args)

    def original_predictions(self, name: str, dataset: Dataset) -> Predictions:
        """Predictions of the original model (cached; valid only before fine-tuning starts)."""
        if name not in self._original_predictions:
            self._original_predictions[name] = self.predict_logits(dataset)
        return self._original_predictions[name]

    def evaluation_datasets(self) -> dict[str, Dataset]:
        """Forget set, a seeded retain sample, and the test set (when given); built once per trainer."""
        if self._evaluation_datasets is None:
            sets = {"forget": self.forget_dataset,
                    "retain": self.request.retain_sample(self.args.eval_retain_samples, self.args.seed)}
            if self.test_dataset is not None:
                sets["test"] = self.test_dataset
            if self.verdict_phase.population is not None:  # the verdict's held-out rows
                sets["population"] = self.verdict_phase.population
            self._evaluation_datasets = sets
        return self._evaluation_datasets

    def predict_evaluation_sets(self, model: torch.nn.Module | None = None) -> dict[str, Predictions]:
        """Predictions of `model` (default: the current model) on the forget set, retain sample and test set."""
        return {k: self.predict_logits(v, model) for k, v in self.evaluation_datasets().items()}

    def score_model(self, model: torch.nn.Module | None = None) -> dict[str, float]:
        """Accuracies and MIA scores of `model` (default: the current model) on this request's forget set,
        retain sample and test set: use it to score any other model (a reference, an earlier run) alike."""
        return score_sets(self.predict_evaluation_sets(model), self.args.mia_splits, self.args.seed)

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
        """The method's own schedule when it has one (`UnlearningMethod.lr_lambda`), else the config's."""
        batches = -(-len(self.train_dataset) // (self.args.per_device_train_batch_size * self.args.world_size))
        factor = self.method.lr_lambda(max(1, batches // self.args.gradient_accumulation_steps))  # per epoch, as
        # the Trainer counts optimizer steps per epoch
        if factor is None or self.lr_scheduler is not None:
            return super().create_scheduler(num_training_steps, optimizer)
        self.lr_scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer or self.optimizer, factor)
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
        metrics = self._metrics_so_far
        predictions = self.evaluation_predictions
        eval_sets = self.evaluation_datasets()
        if evaluate_original and not self.method.reinitialize_model:
            start = time.perf_counter()
            predictions["original"] = {k: self.original_predictions(k, v) for k, v in eval_sets.items()}
            metrics["original"] = score_sets(predictions["original"], self.args.mia_splits, self.args.seed)
            self.log_phase("evaluate_original", time.perf_counter() - start)
        if self.reference_model is not None:
            start = time.perf_counter()
            predictions["retrained"] = self.predict_evaluation_sets(self.reference_model)
            metrics["retrained"] = score_sets(predictions["retrained"], self.args.mia_splits, self.args.seed)
            self.log_phase("evaluate_reference", time.perf_counter() - start)

        if self.args.stop_when:  # the original's held-out accuracy, before the method may change the model
            start = time.perf_counter()
            targets = stopping_targets(self.request, self.request.holdout_dataset, self.args.stop_max_samples,
                                       self.args.seed)
            utility = utility_rows(targets, self.request.holdout_dataset, self.args.stop_max_samples, self.args.seed)
            self.verdict_phase.attach(targets, self.predict_logits)  # the references, when given
            self.stopping = IndistinguishableStop(targets, utility, self.predict_logits, self.args.stop_check_steps,
                                                  self.verdict_phase.options, self.args.stop_class_rate,
                                                  self.args.stop_accuracy_drop, self.args.stop_keep_closest,
                                                  self.args.stop_class_accuracy_drop)
            self.stopping.measure_original()
            self.log_phase("stop_rule_setup", time.perf_counter() - start)  # a per-request cost (request_seconds)
        start = time.perf_counter()
        combined = self.method.build_train_dataset()
        digest = fine_tuning_digest(combined, self.args.world_size)
        self.log_phase("data_reorganization", time.perf_counter() - start, rows=len(combined), sha256=digest[:16],
                       processes=self.args.world_size)
        self.combined_dataset = combined
        self.train_dataset = combined.with_transform(self.transform)
        epochs = self.args.num_train_epochs
        self.batch_plan = reach_min_steps(self.args, len(combined), lambda: self.method.batch_plan(combined))
        if self.args.num_train_epochs != epochs:  # min_train_steps raised the budget of a small request
            self.log_phase("budget", 0.0, min_train_steps=self.args.min_train_steps,
                           num_train_epochs=round(self.args.num_train_epochs, 4))
        if self.batch_plan is not None:  # the method's own passes: one pass over its plan, in its order
            steps = max(1, -(-len(self.batch_plan) // self.args.gradient_accumulation_steps))
            if not 0 < self.args.max_steps < steps:  # a smaller max_steps the user set cuts the plan short
                self.args.max_steps = steps
            digest = f"{digest}+plan:{plan_digest(self.batch_plan)}"
        if own := self.method.data_fingerprint():  # what the rows do not show (e.g. amun's adversarial inputs)
            digest = f"{digest}+{self.method.name}:{own}"
        for callback in self.method.callbacks():  # e.g. SalUn's gradient mask, computed on the original model
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
        counts = {**self.request.counts(), "eval_retain": len(self.evaluation_datasets()["retain"]),
                  **self.parameter_counts}
        if self.combined_dataset is not None:
            sources, source_counts = np.unique(np.asarray(self.combined_dataset["source"]), return_counts=True)
            counts.update({f"finetune_{k}": int(v) for k, v in zip(sources, source_counts, strict=True)})
            counts.update(self.method.counts())
        return UnlearningResult(
            method=self.args.method, metrics=metrics, timings=dict(self.timings), counts=counts,
            forget_set=self.request.forget_record(), config=public_config(self.args), command=self.command,
            base_model=getattr(self.model.config, "_name_or_path", None) or None, dataset_name=self.dataset_name,
            input_model=dict(self.input_model), data_sha256=self.data_sha256,
            stopping=self.stopping.record() if self.stopping is not None and self.stopping.trajectory else None,
            groups=self.groups, base_model_id=self.base_model_id(), verdict=self.verdict,
        )

    def base_model_id(self) -> str | None:
        """The original model's Hub id for the card: `card_base_model`, else the original named by this model's
        ledger (a later request), else the input model's Hub id (never a local folder)."""
        named = [e.get("base_model") for e in self.ledger if e.get("base_model")]
        source = self.input_model.get("source") or ""
        return self.args.card_base_model or (named[-1] if named else None) or (
            source if source and not is_local_path(source) else None)

    def ledger_entries(self, result: UnlearningResult) -> list[dict[str, Any]]:
        """This model's ledger with this request appended (written beside the model)."""
        counts = dict(result.counts)
        if self.request.groups:
            counts["groups"] = len(self.request.groups)
        entry = ledger_entry(len(self.ledger) + 1, self.forget_set, counts, self.args.method, result.metrics,
                             self.input_model.get("weights_sha256"), weights_digest(self.model), self.data_sha256,
                             self.ledger[-1] if self.ledger else None, self.request.matched, result.base_model_id,
                             self.ledger_override, (self.verdict or {}).get("outcome"))
        return [*self.ledger, entry]

    def check_input_model_unchanged(self) -> None:
        """The input model folder must be byte for byte what it was when the run started."""
        check_folder_unchanged(self.input_model["source"], self.input_model["sha256"])

    def save_unlearned(self, result: UnlearningResult) -> None:
        """Write model, processor, results, forget-set specification, evidence and card to `output_dir`."""
        out = self.args.output_dir
        save_model_staged(self.save_model, out, self.args.should_save)
        if not self.args.should_save:
            return
        write_run_files(out, result, self.request.forget_file(), self.evaluation_predictions, self.combined_dataset,
                        self.class_names, self.args.publish_forget_generator, self.args.seed,
                        self.ledger_entries(result))
        print(f"[hf-unlearn] model, results and card written to {out} (process {self.args.process_index})", flush=True)

    def push_to_hub(self, commit_message: str | None = "Unlearned model (hf-unlearn)", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, private: bool | None = None,
                    audit: dict[str, Any] | None = None, audit_model: str = "unlearned", **kwargs: Any) -> Any:
        """Push the unlearned model, its card, report and evidence (and generators when `push_generators`) to
        `hub_model_id`, after checking `push_gate` (with the `audit` report's attacks when given). A missed
        threshold raises `GateError` and nothing is created or uploaded. Returns the commit info."""
        if self.result is None:
            raise RuntimeError("Nothing to push yet: call unlearn() first.")
        enforce_gate(self.args.push_gate, gate_metrics(self.result.to_dict(), audit, audit_model),  # every rank agrees
                     (self.verdict or {}).get("reason"))
        if not self.is_world_process_zero():
            return None
        repo_id = self.args.hub_model_id or os.path.basename(os.path.abspath(self.args.output_dir))
        return push_folder(self.args.output_dir, repo_id, api=self.hub_api, token=token or self._hub_token,
                           private=self.args.hub_private_repo if private is None else private,
                           gate=self.args.push_gate, audit=audit, audit_model=audit_model,
                           include_generators=self.args.push_generators,
                           include_forget_generator=self.args.publish_forget_generator,
                           commit_message=commit_message or "Unlearned model (hf-unlearn)", revision=revision)

    def create_model_card(self, *args: Any, **kwargs: Any) -> None:
        """The Trainer's card hook: writes this run's card (the evidence card, not the generic one)."""
        if self.result is not None and self.is_world_process_zero():
            write_run_card(self.args.output_dir, self.result.to_dict())
