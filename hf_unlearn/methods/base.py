"""The contract every unlearning method follows (the registry that finds methods by name is `registry.py`).

A method changes as little as possible: the data the Trainer loop sees (`build_train_dataset`) and, if it
must, the order of its batches (`batch_plan`, when the authors' code runs separate passes), the loss
(`compute_loss`) or the optimizer step (`callbacks`). Everything else, the loop, devices,
evaluation and saving, is shared. A method's own hyperparameters are a dataclass (`Options`) filled from
the config's `method_args`, so that a recipe can set them and the results record them. What a method may
read from the run is `UnlearningContext` (the `UnlearningTrainer` provides it).
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np
import torch
from datasets import Dataset
from transformers import TrainerCallback

from ..options import as_mapping, build_dataclass
from ..synthesis import combine_sources, with_source

if TYPE_CHECKING:
    from ..evaluation import Predictions


class UnlearningContext(Protocol):
    """The run as a method sees it: config, model, Trainer state, the request's rows, and a few services."""

    args: Any  # the UnlearningConfig
    model: torch.nn.Module
    state: Any  # the Trainer's TrainerState (global_step, max_steps)
    transform: Any  # the model's image processor, as a `Dataset.with_transform` function
    num_labels: int
    data_sha256: str
    input_model: dict[str, Any]  # source, folder hash, revision, weights_sha256
    forget_set: Any  # the request's ForgetSet
    retain_dataset: Dataset
    forget_dataset: Dataset
    retain_indices: np.ndarray
    forget_indices: np.ndarray
    holdout_dataset: Dataset | None  # rows the model never trained on (holdout_dataset / --holdout_split), if given

    def retain_train_dataset(self) -> Dataset: ...
    def predict_logits(self, dataset: Dataset, model: torch.nn.Module | None = None) -> Predictions: ...
    def original_predictions(self, name: str, dataset: Dataset) -> Predictions: ...
    def log_phase(self, phase: str, seconds: float, **info: Any) -> None: ...
    def is_world_process_zero(self) -> bool: ...


@dataclasses.dataclass
class NoOptions:
    """This method has no options of its own."""


class UnlearningMethod:
    """Base class: by default fine-tunes on the retain set with the Trainer's own loss."""

    name: str = ""
    #: The paper that published it (authors, venue, year): `hf-unlearn methods` and docs/methods.md show it.
    paper: str = ""
    #: Start from freshly initialised weights instead of the original model (only `retrain`).
    reinitialize_model: bool = False
    #: Whether the method reads the config's `training_augmentation` (CoUn's views): only then does the option
    #: enter a benchmark run's key.
    reads_training_augmentation: bool = False
    #: The method's own hyperparameters (a dataclass; each field has a default and a `help`).
    Options: type = NoOptions
    #: Gradient clipping used when the config leaves `max_grad_norm` unset: what the method's reference code
    #: does (0 = none; no built-in method's reference code clips).
    max_grad_norm: float = 0.0
    #: What `hf-unlearn prepare` makes once per model and training set for this method's requests (read back
    #: through `method_args.prepared_path`), in words; None: the method has nothing to prepare.
    prepares: str | None = None
    #: Whether that preparation may be uploaded beside the model (not when it holds the training images).
    preparation_publishable: bool = False
    #: Bytes a run writes beside the model (e.g. generators), for the free-space check before any work.
    extra_output_bytes: int = 0
    #: Phases of a run (`log_phase` names) that can be done once, when the model is published, and are reported
    #: apart from a request's cost (Multi-GAN's retain GAN).
    one_time_phases: tuple[str, ...] = ()

    #: Whether a request unlearned from an already unlearned model may still read the original's preparation.
    preparation_serves_later_requests: bool = True
    #: The file a finished preparation holds (its record): a folder without it is unfinished.
    preparation_file: str = "preparation.json"
    #: A part of a finished run's folder that a later run of the same method on the same retain rows may read
    #: instead of making it again (Multi-GAN's retain generator), and the method_args option that reads it.
    reusable_output: tuple[str, str] | None = None

    #: Whether the fine-tuning set's synthetic rows are images the method made (generated, or a control in their
    #: place), whose quality figure each run records (`quality.synthetic_quality`); amun's synthetic rows are the
    #: forget images themselves, perturbed in the loop, so it says no.
    scores_synthetic_rows = False

    @classmethod
    def reads_holdout(cls, options: Any) -> bool:
        """Whether a run with these options reads the run's held-out rows (`holdout_dataset`) for its own use
        (a benchmark then keys the run on them, as it keys a stopping rule's run)."""
        return False

    @classmethod
    def reads_reusable_output(cls, options: Any) -> bool:
        """Whether a run with these options would read `reusable_output` if given (not when it names its own)."""
        return cls.reusable_output is not None

    @classmethod
    def prepare(cls, model: Any, config: Any, train: Dataset, output_dir: str, *, model_source: str | None,
                dataset_name: str | None, command: str | None, log: Any, processor: Any = None) -> Any:
        """Make this method's preparation (see `prepares`) for `model` and its training set in `output_dir`;
        an object with `.path` and `.record` (its `preparation_s`, `num_rows`, `num_train`). `processor`: the
        model's image processor (default: loaded from `model_source`), for a preparation that scores images."""
        raise NotImplementedError(f"method {cls.name!r} has nothing to prepare.")

    @classmethod
    def load_prepared(cls, folder: str) -> Any:
        """The preparation `prepare` wrote in `folder` (refused, naming method_args.prepared_path, if none)."""
        raise NotImplementedError(f"method {cls.name!r} has nothing to prepare.")

    @classmethod
    def preparation_identity(cls, config: Any, processor: Any) -> dict[str, Any]:
        """What a preparation depends on besides the model and its training data (a benchmark keys it on this)."""
        return {}

    @classmethod
    def preparation_folder(cls, identity: dict[str, Any]) -> str:
        """The folder name of the preparation with this identity, under its seed's folder (a benchmark's)."""
        return f"prepared_{cls.name}"

    def __init__(self, trainer: UnlearningContext):
        self.trainer = trainer
        self.options = parse_method_args(self.Options, trainer.args.method_args, self.name)

    @classmethod
    def default_retain_per_forget(cls, options: Any) -> float | None:
        """Real retain rows per forget row a request fine-tunes on when the config gives no budget (None: all)."""
        return None

    def validate(self) -> None:
        """Raise before any training if this method cannot run on the trainer's data and config."""

    def change_starting_model(self) -> None:
        """Change the model fine-tuning starts from (`self.trainer.model`), in place, before its fine-tuning set is
        built (NoT negates its first layer); by default it starts from the model as given. A method that trains
        from freshly initialised weights says so with `reinitialize_model` instead."""

    def build_train_dataset(self) -> Dataset:
        """The dataset (columns image, label, original_label, source) the Trainer loop fine-tunes on; by default
        the request's retain rows (`real_rows()`), so a method that changes only its loss overrides nothing here."""
        return self.real_rows()

    def real_rows(self, retain: bool = True, forget: bool = False) -> Dataset:
        """The request's real rows with their own labels, tagged by source: its retain rows
        (`retain_train_dataset()`, the configured sample) and, when `forget`, the forget rows."""
        parts = {}
        if retain:
            parts["retain"] = with_source(self.trainer.retain_train_dataset(), "retain")
        if forget:
            parts["forget"] = with_source(self.trainer.forget_dataset, "forget")
        return combine_sources(parts)

    def batch_plan(self, dataset: Dataset) -> list[list[int]] | None:
        """The whole run's global batches (row indices of `dataset`, see `schedule.py`), or None for the Trainer's
        own shuffled batches of `per_device_train_batch_size`."""
        return None

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        """Loss of one batch; `None` means the Trainer's default loss (cross-entropy on `labels`).

        `forget_mask` is True for rows that come from the forget set (real or synthetic), when the training
        dataset has a `source` column.
        """
        return None

    def data_fingerprint(self) -> str | None:
        """A digest of fine-tuning data the dataset's images and labels do not show (it joins the resume key, so
        a checkpoint made on other data is never resumed); None when the rows say it all."""
        return None

    def lr_lambda(self, steps_per_epoch: float) -> Any:
        """The method's own learning-rate schedule as a factor of the optimizer step (`LambdaLR`), or None for
        the config's `lr_scheduler_type` (e.g. amun's step decay, which transformers does not offer)."""
        return None

    def callbacks(self) -> list[TrainerCallback]:
        """Trainer callbacks the method needs (e.g. to mask gradients before each optimizer step)."""
        return []

    def counts(self) -> dict[str, int]:
        """Counts the method adds to the run's results (e.g. what a prepared generator saw); none by default."""
        return {}


def parse_method_args(options_class: type, method_args: dict | str | None, method: str) -> Any:
    """`method_args` (a dict, or JSON text from the command line) as the method's `Options` dataclass: unknown
    names refused, each value brought to its declared type (or refused, naming it), then the ranges checked."""
    values = as_mapping("method_args", method_args, '{"retain_weight": 0.9}')
    known = {f.name for f in dataclasses.fields(options_class)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise ValueError(
            f"method_args {unknown} are not options of method {method!r}; its options are "
            f"{sorted(known) or 'none'} (see `hf-unlearn methods`)."
        )
    options = build_dataclass(options_class, values, label="method_args.")  # types, nested options, ranges
    check = getattr(options, "check", None)
    if check is not None:
        check()
    return options
