"""`UnlearningTrainer`: a `transformers.Trainer` that makes an image classifier forget a forget set."""

from __future__ import annotations

import copy
import hashlib
import json
import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoImageProcessor, AutoModelForImageClassification, Trainer, TrainerCallback
from transformers.trainer_utils import SaveStrategy

from .card import EVIDENCE_DIR, card_options, is_secret_key, redact_command, write_model_card, write_report
from .config import UnlearningConfig
from .data import (
    DataError,
    ImageTransform,
    check_images,
    check_labels_fit_model,
    class_names,
    collate_images,
    content_digest,
    find_columns,
    model_num_channels,
    to_standard_columns,
)
from .evaluation import Predictions, avg_gap, predict, score_predictions
from .evidence import plot_membership_evidence, plot_synthetic_samples
from .forget import ForgetSet
from .gate import enforce_gate
from .lora import is_lora, merged, wrap_with_lora
from .methods import get_method
from .publish import gate_metrics, push_folder
from .safety import (
    TrainingDivergedError,
    check_output_dir,
    estimated_output_bytes,
    folder_digest,
    load_pretrained,
    write_json_atomic,
)

RESULTS_FILE = "unlearning_results.json"
RESUME_KEY_FILE = "_resume_key.json"
FORGET_SET_FILE = "forget_set.json"


@dataclass
class UnlearningResult:
    """What `UnlearningTrainer.unlearn()` returns (and writes to `unlearning_results.json`)."""

    method: str
    metrics: dict[str, dict[str, float]]
    timings: dict[str, float]
    counts: dict[str, int]
    forget_set: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    base_model: str | None = None
    dataset_name: str | None = None
    input_model: dict[str, Any] = field(default_factory=dict)
    data_sha256: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _same_path(a: str, b: str) -> bool:
    return os.path.realpath(os.path.abspath(a)) == os.path.realpath(os.path.abspath(b))


class UnlearningTrainer(Trainer):
    """Unlearn a forget set from an image classifier.

    >>> trainer = UnlearningTrainer(model="my-org/resnet-cifar10", args=UnlearningConfig("out", forget_classes=["cat"]),
    ...                             train_dataset=train, eval_dataset=test)
    >>> result = trainer.unlearn()      # data reorganization, fine-tuning, evaluation, saving
    >>> result.metrics["unlearned"]["forget_accuracy"]

    `model` is an `AutoModelForImageClassification` instance, Hub id or local folder; `processing_class` its
    image processor (loaded with the model when omitted). `train_dataset` is the dataset the model was
    trained on; the forget set indexes its rows. `eval_dataset` is held-out test data. A model given as an
    instance is fine-tuned in place, as by any Trainer; model files on disk are never written to.
    `reference_model` (optional) is a model retrained from scratch on the retain set, scored beside the
    others. `dataset_name` names the training data in the model card (default: the dataset's own name);
    `command` is the command line that reproduces the run (shown in the card).

    With `push_to_hub=True` nothing is pushed while training: when `unlearn()` ends, the unlearned model is
    checked against `push_gate` and pushed by `push_to_hub()` only if it passes. The Hub token is kept in
    memory only, never in `training_args.bin`, results or cards.
    """

    _tag_names = ["hf-unlearn", "machine-unlearning", "image-classification"]

    def __init__(self, model: Any, args: UnlearningConfig, train_dataset: Dataset, eval_dataset: Dataset | None = None,
                 forget_set: ForgetSet | None = None, processing_class: Any = None,
                 reference_model: torch.nn.Module | None = None, dataset_name: str | None = None,
                 command: str | None = None, **kwargs: Any):
        if not isinstance(args, UnlearningConfig):
            raise TypeError("args must be an UnlearningConfig (it carries the forget set and GAN options).")
        self._push_when_done, self._hub_token = bool(args.push_to_hub), args.hub_token
        args = copy.copy(args)  # the user's args stay as given (pushes, tokens and checkpointing are set below)
        args.push_to_hub, args.hub_token = False, None  # no push before the gate; no token in any file
        self.command = redact_command(command)
        self.hub_api: Any = None  # an `HfApi`-like object for pushes (default: HfApi with the token)
        if isinstance(model, str):
            if os.path.isdir(model) and _same_path(model, args.output_dir):
                raise ValueError(
                    f"output_dir {args.output_dir!r} is the input model's folder: the original would be "
                    "overwritten. Choose another --output_dir."
                )
            source = model
            model = load_pretrained(AutoModelForImageClassification, source, args.allow_pickle_weights)
            processing_class = processing_class or load_pretrained(AutoImageProcessor, source, weights=False)
        else:
            source = getattr(model, "name_or_path", "") or ""
            if source and os.path.isdir(source) and _same_path(source, args.output_dir):
                raise ValueError(
                    f"output_dir {args.output_dir!r} is the folder the model was loaded from: the original would "
                    "be overwritten. Choose another --output_dir."
                )
        # integrity: the input model's files are hashed now and checked unchanged when the run ends
        self.input_model = {"source": source or None,
                            "sha256": folder_digest(source) if source and os.path.isdir(source) else None,
                            "revision": getattr(model.config, "_commit_hash", None)}
        if processing_class is None:
            raise ValueError("No image processor: pass processing_class=AutoImageProcessor.from_pretrained(...).")
        if train_dataset is None or len(train_dataset) == 0:
            raise DataError("train_dataset is empty: pass the dataset the model was trained on.")

        self.args = args  # methods read it during validation, before Trainer.__init__ runs
        self.forget_set = forget_set or ForgetSet.from_config(args)
        self.dataset_name = dataset_name or train_dataset.info.dataset_name or None
        image_col, label_col = find_columns(train_dataset, args.image_column, args.label_column)
        self.class_names = class_names(train_dataset, label_col)
        self.full_train_dataset = to_standard_columns(train_dataset, image_col, label_col)
        labels = np.asarray(self.full_train_dataset["label"])
        self.num_labels = int(model.config.num_labels)
        check_labels_fit_model(labels, self.num_labels)
        if self.class_names is not None and len(self.class_names) != self.num_labels:
            raise DataError(
                f"The dataset has {len(self.class_names)} classes but the model predicts {self.num_labels}: "
                "use the model trained on this dataset."
            )
        self.retain_indices, self.forget_indices = self.forget_set.split(len(labels), labels, self.class_names)
        self.previous_forget_sets = [load_forget_set(p) for p in args.previous_forget_sets or []]
        if self.previous_forget_sets:
            self.retain_indices, self.forget_indices = exclude_previous(
                self.retain_indices, self.forget_indices, self.previous_forget_sets, labels, self.class_names)
        self.retain_dataset = self.full_train_dataset.select(self.retain_indices)
        self.forget_dataset = self.full_train_dataset.select(self.forget_indices)
        self.test_dataset = None
        if eval_dataset is not None:
            t_image, t_label = find_columns(eval_dataset, args.image_column, args.label_column)
            self.test_dataset = to_standard_columns(eval_dataset, t_image, t_label)
            check_labels_fit_model(self.test_dataset["label"], self.num_labels)
        self.data_sha256 = content_digest(self.full_train_dataset, verify="training set")  # one pass: hash + open
        if self.test_dataset is not None:
            check_images(self.test_dataset, what="test set")
        check_output_dir(args.output_dir, estimated_output_bytes(model, args.method == "multigan"))
        self.transform = ImageTransform(processing_class, model_num_channels(model))
        self.reference_model = reference_model
        self.method = get_method(args.method)(self)
        self.method.validate()
        self.timings: dict[str, float] = {}
        self._original_predictions: dict[str, Predictions] = {}
        self._evaluation_datasets: dict[str, Dataset] | None = None
        self.evaluation_predictions: dict[str, dict[str, Predictions]] = {}
        self.result: UnlearningResult | None = None

        if self.method.reinitialize_model:
            torch.manual_seed(args.seed)
            model = type(model)(model.config)
        if args.use_peft:
            model = wrap_with_lora(model, args)
        self.parameter_counts = {"parameters": sum(p.numel() for p in model.parameters()),
                                 "trainable_parameters": sum(p.numel() for p in model.parameters() if p.requires_grad)}
        kwargs.setdefault("data_collator", collate_images)
        super().__init__(model=model, args=args, train_dataset=None, processing_class=processing_class, **kwargs)
        self.add_callback(CheckpointCardCallback(self))

    # ------------------------------------------------------------------ helpers for methods
    def log_phase(self, phase: str, seconds: float, **info: Any) -> None:
        """Record a phase's wall time (in `timings` and the results) and print it on the main process."""
        self.timings[phase] = self.timings.get(phase, 0.0) + float(seconds)
        if self.args.should_log:
            details = ", ".join(f"{k}={v}" for k, v in info.items())
            print(f"[hf-unlearn] {phase}: {seconds:.1f}s" + (f" ({details})" if details else ""), flush=True)

    def retain_train_dataset(self) -> Dataset:
        """The real retain rows used for fine-tuning (a seeded subset when `num_retain_samples` is set)."""
        n = self.args.num_retain_samples
        if n is None or n >= len(self.retain_dataset):
            return self.retain_dataset
        return self.retain_dataset.shuffle(seed=self.args.seed).select(range(n))

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
        if self._evaluation_datasets is not None:
            return self._evaluation_datasets
        retain = self.retain_dataset
        n = self.args.eval_retain_samples
        if n is not None and n < len(retain):
            retain = retain.shuffle(seed=self.args.seed).select(range(n))
        sets = {"forget": self.forget_dataset, "retain": retain}
        if self.test_dataset is not None:
            sets["test"] = self.test_dataset
        self._evaluation_datasets = sets
        return sets

    def _score(self, predictions: dict[str, Predictions]) -> dict[str, float]:
        if "test" not in predictions:
            return {f"{k}_accuracy": 100.0 * float((p.predicted == p.labels).mean()) for k, p in predictions.items()}
        return score_predictions(predictions["forget"], predictions["retain"], predictions["test"],
                                 mia_splits=self.args.mia_splits, seed=self.args.seed)

    def predict_evaluation_sets(self, model: torch.nn.Module | None = None) -> dict[str, Predictions]:
        """Predictions of `model` (default: the current model) on the forget set, retain sample and test set."""
        return {k: self.predict_logits(v, model) for k, v in self.evaluation_datasets().items()}

    def score_model(self, model: torch.nn.Module | None = None) -> dict[str, float]:
        """Accuracies and MIA scores of `model` (default: the current model) on this request's forget set,
        retain sample and test set: use it to score any other model (a reference, an earlier run) alike."""
        return self._score(self.predict_evaluation_sets(model))

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

    # ------------------------------------------------------------------ the run
    def unlearn(self, evaluate_original: bool = True) -> UnlearningResult:
        """Data reorganization, fine-tuning through the Trainer loop, evaluation and saving.

        Returns an `UnlearningResult`; the output folder receives the unlearned model and image processor,
        the generators (Multi-GAN), `unlearning_results.json`, `forget_set.json` and a model card.
        """
        metrics: dict[str, dict[str, float]] = {}
        predictions = self.evaluation_predictions
        eval_sets = self.evaluation_datasets()
        if evaluate_original and not self.method.reinitialize_model:
            start = time.perf_counter()
            predictions["original"] = {k: self.original_predictions(k, v) for k, v in eval_sets.items()}
            metrics["original"] = self._score(predictions["original"])
            self.log_phase("evaluate_original", time.perf_counter() - start)
        if self.reference_model is not None:
            start = time.perf_counter()
            predictions["retrained"] = self.predict_evaluation_sets(self.reference_model)
            metrics["retrained"] = self._score(predictions["retrained"])
            self.log_phase("evaluate_reference", time.perf_counter() - start)
        self._metrics_so_far = metrics

        start = time.perf_counter()
        combined = self.method.build_train_dataset()
        digest = self.check_same_on_every_rank(combined)
        self.log_phase("data_reorganization", time.perf_counter() - start, rows=len(combined), sha256=digest[:16],
                       processes=self.args.world_size)
        self.combined_dataset = combined
        self.train_dataset = combined.with_transform(self.transform)
        for callback in self.method.callbacks():  # e.g. SalUn's gradient mask, computed on the original model
            self.add_callback(callback)

        start = time.perf_counter()
        self.train(resume_from_checkpoint=self._resumable_checkpoint(digest))
        self.log_phase("fine_tuning", time.perf_counter() - start)

        if is_lora(self.model):  # fold the adapters in: the output is a plain model, like the input
            self.model = merged(self.model)
        start = time.perf_counter()
        predictions["unlearned"] = self.predict_evaluation_sets()
        metrics["unlearned"] = self._score(predictions["unlearned"])
        self.log_phase("evaluate_unlearned", time.perf_counter() - start)

        if "retrained" in metrics and "test" in eval_sets:
            for name in ("original", "unlearned"):
                if name in metrics:
                    metrics[name]["avg_gap"] = avg_gap(metrics[name], metrics["retrained"])
        result = self._result(metrics)
        self.result = result
        self.save_unlearned(result)
        self.check_input_model_unchanged()
        self._remove_resume_state()
        if self._push_when_done:
            self.push_to_hub()
        return result

    def _result(self, metrics: dict[str, dict[str, float]]) -> UnlearningResult:
        counts = {"train": len(self.full_train_dataset), "retain": len(self.retain_dataset),
                  "forget": len(self.forget_dataset), "test": len(self.test_dataset) if self.test_dataset else 0,
                  "eval_retain": len(self.evaluation_datasets()["retain"]), **self.parameter_counts}
        combined = getattr(self, "combined_dataset", None)
        if combined is not None:
            sources, source_counts = np.unique(np.asarray(combined["source"]), return_counts=True)
            counts.update({f"finetune_{k}": int(v) for k, v in zip(sources, source_counts, strict=True)})
        return UnlearningResult(
            method=self.args.method,
            metrics=metrics,
            timings=dict(self.timings),
            counts=counts,
            forget_set={**self.forget_set.to_dict(), "sha256": self.forget_set.spec_hash(),
                        "description": self.forget_set.describe(),
                        "previous_sha256": [f.spec_hash() for f in self.previous_forget_sets]},
            config=public_config(self.args),
            command=self.command,
            base_model=getattr(self.model.config, "_name_or_path", None) or None,
            dataset_name=self.dataset_name,
            input_model=dict(self.input_model),
            data_sha256=self.data_sha256,
        )

    def _resumable_checkpoint(self, dataset_digest: str) -> str | None:
        """With `resume`, fine-tuning checkpoints every epoch (unless the user chose a save_strategy) and an
        earlier, interrupted run of the same request (same config, model, data and fine-tuning set) is resumed
        from its last checkpoint."""
        if not self.args.resume:
            return None
        if self.args.save_strategy in ("no", SaveStrategy.NO):
            self.args.save_strategy = SaveStrategy.EPOCH
            self.args.save_total_limit = 1
            self._own_checkpoints = True
        public = {k: v for k, v in public_config(self.args).items() if k not in ("logging_dir",)}
        key = hashlib.sha256(json.dumps({"config": public, "model": self.input_model, "data": self.data_sha256,
                                         "finetune": dataset_digest, "forget": self.forget_set.spec_hash()},
                                        sort_keys=True, default=str).encode()).hexdigest()
        path = os.path.join(self.args.output_dir, RESUME_KEY_FILE)
        previous = None
        if os.path.isfile(path):
            with open(path) as f:
                previous = json.load(f).get("key")
        last = _last_complete_checkpoint(self.args.output_dir)
        if self.args.should_save:
            os.makedirs(self.args.output_dir, exist_ok=True)
            write_json_atomic(path, {"key": key})
        if last and previous == key:
            if self.args.should_log:
                print(f"[hf-unlearn] resuming fine-tuning from {last}", flush=True)
            return last
        if last and self.args.should_log:
            print(f"[hf-unlearn] {last} belongs to a different run (config, model or data changed): starting over",
                  flush=True)
        return None

    def _remove_resume_state(self) -> None:
        """After a finished run: the checkpoints hf-unlearn made only for resuming, and the resume key."""
        import shutil

        if not self.args.should_save:
            return
        if getattr(self, "_own_checkpoints", False):
            for name in os.listdir(self.args.output_dir):
                if name.startswith("checkpoint-"):
                    shutil.rmtree(os.path.join(self.args.output_dir, name), ignore_errors=True)
        if os.path.isfile(os.path.join(self.args.output_dir, RESUME_KEY_FILE)):
            os.remove(os.path.join(self.args.output_dir, RESUME_KEY_FILE))

    def check_input_model_unchanged(self) -> None:
        """The input model folder must be byte for byte what it was when the run started."""
        source, before = self.input_model["source"], self.input_model["sha256"]
        if before and folder_digest(source) != before:
            raise RuntimeError(f"The input model folder {source!r} changed during the run (sha256 {before[:12]}…). "
                               "hf-unlearn never writes there: check for another process writing to it.")

    def check_same_on_every_rank(self, combined: Dataset) -> str:
        """SHA-256 of the fine-tuning set (images, labels, sources). Under several processes every rank builds
        it (same seeds, gathered labels) and the Trainer's sampler shards it: the digests must agree, or some
        synthetic rows would be trained on twice and others never. Returns the digest."""
        from accelerate.utils import gather_object

        digest = content_digest(combined)
        if self.args.world_size > 1:
            digests = gather_object([digest])
            if len(set(digests)) > 1:
                raise RuntimeError(f"The processes built different fine-tuning sets (sha256 {sorted(set(digests))}); "
                                   "report this as a bug with the recipe.")
        return digest

    def save_unlearned(self, result: UnlearningResult) -> None:
        """Write model, processor, results, forget-set specification and model card to `output_dir`. Every file
        is written beside its final name and moved into place, so a killed run never leaves half a model."""
        staging = os.path.join(self.args.output_dir, "_saving")
        self.save_model(staging)
        if not self.args.should_save:
            return
        for name in os.listdir(staging):
            os.replace(os.path.join(staging, name), os.path.join(self.args.output_dir, name))
        os.rmdir(staging)

        out, payload = self.args.output_dir, result.to_dict()
        write_json_atomic(os.path.join(out, RESULTS_FILE), payload)
        write_json_atomic(os.path.join(out, FORGET_SET_FILE),
                    {**self.forget_set.to_dict(), "sha256": self.forget_set.spec_hash(),
                     "num_forget": len(self.forget_dataset), "num_retain": len(self.retain_dataset)})
        evidence = os.path.join(out, EVIDENCE_DIR)
        plot_membership_evidence(self.evaluation_predictions, evidence)
        sources = ("synthetic_retain", "synthetic_forget") if self.args.publish_forget_generator else ("synthetic_retain",)
        plot_synthetic_samples(self.combined_dataset, evidence, self.class_names, sources, seed=self.args.seed)
        write_report(out, payload)
        write_model_card(out, payload, **card_options(payload, self._tag_names))
        print(f"[hf-unlearn] model, results and card written to {out} (process {self.args.process_index})", flush=True)

    def push_to_hub(self, commit_message: str | None = "Unlearned model (hf-unlearn)", blocking: bool = True,
                    token: str | None = None, revision: str | None = None, private: bool | None = None,
                    audit: dict[str, Any] | None = None, audit_model: str = "unlearned", **kwargs: Any) -> Any:
        """Push the unlearned model, its card, report and evidence (and generators when `push_generators`) to
        `hub_model_id`, after checking `push_gate` (with the `audit` report's attacks when given). A missed
        threshold raises `GateError` and nothing is created or uploaded. Returns the commit info."""
        if self.result is None:
            raise RuntimeError("Nothing to push yet: call unlearn() first.")
        result = self.result.to_dict()
        enforce_gate(self.args.push_gate, gate_metrics(result, audit, audit_model))  # every rank agrees
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
            result = self.result.to_dict()
            write_model_card(self.args.output_dir, result, **card_options(result, self._tag_names))


class CheckpointCardCallback(TrainerCallback):
    """Writes a card into every checkpoint folder, marked as in progress (the unlearned numbers come later)."""

    def __init__(self, trainer: UnlearningTrainer):
        self.trainer = trainer

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not (args.should_save and os.path.isdir(folder)):
            return
        partial = self.trainer._result(dict(getattr(self.trainer, "_metrics_so_far", {})))
        write_model_card(folder, partial.to_dict(), in_progress=state.global_step, files={},
                         **card_options(partial.to_dict(), self.trainer._tag_names))


def _last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` whose trainer state was written (the Trainer writes it last): a checkpoint
    cut short by a kill is skipped, and the one before it (kept until the new one is complete) is used."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted((int(name.split("-")[1]), name) for name in os.listdir(output_dir)
                   if name.startswith("checkpoint-") and name.split("-")[1].isdigit())
    for _, name in reversed(steps):
        if os.path.isfile(os.path.join(output_dir, name, "trainer_state.json")):
            return os.path.join(output_dir, name)
    return None


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


def public_config(args: UnlearningConfig) -> dict[str, Any]:
    """The run's config as JSON-safe values, without secrets."""
    return {k: v for k, v in args.to_dict().items() if not is_secret_key(k)}  # hub_token, push_to_hub_token, ...
