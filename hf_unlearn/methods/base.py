"""The contract every unlearning method follows, and the registry that finds methods by name.

A method changes as little as possible: the data the Trainer loop sees (`build_train_dataset`) and, if it
must, the loss (`compute_loss`). Everything else, the loop, devices, evaluation and saving, is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from datasets import Dataset

if TYPE_CHECKING:
    from ..trainer import UnlearningTrainer

_METHODS: dict[str, type[UnlearningMethod]] = {}


class UnlearningMethod:
    """Base class: by default fine-tunes on the retain set with the Trainer's own loss."""

    name: str = ""
    #: Start from freshly initialised weights instead of the original model (only `retrain`).
    reinitialize_model: bool = False

    def __init__(self, trainer: UnlearningTrainer):
        self.trainer = trainer

    def validate(self) -> None:
        """Raise before any training if this method cannot run on the trainer's data and config."""

    def build_train_dataset(self) -> Dataset:
        """The dataset (columns image, label, original_label, source) the Trainer loop fine-tunes on."""
        raise NotImplementedError

    def compute_loss(self, model: Any, inputs: dict[str, Any], return_outputs: bool = False,
                     num_items_in_batch: Any = None) -> Any:
        """Loss of one batch; `None` means the Trainer's default loss (cross-entropy on `labels`)."""
        return None


def register_method(cls: type[UnlearningMethod]) -> type[UnlearningMethod]:
    """Class decorator: make a method available under `cls.name`."""
    if not cls.name:
        raise ValueError(f"{cls.__name__} needs a `name`.")
    _METHODS[cls.name] = cls
    return cls


def available_methods() -> list[str]:
    """Names of every registered method."""
    return sorted(_METHODS)


def get_method(name: str) -> type[UnlearningMethod]:
    """The method class registered as `name`."""
    if name not in _METHODS:
        raise ValueError(f"Unknown unlearning method {name!r}: choose one of {', '.join(available_methods())}.")
    return _METHODS[name]
