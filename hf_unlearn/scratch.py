"""Training an image classifier from scratch with a plain Trainer: how the original model and the retrained
reference of a benchmark are made, and the audit's reference models (same recipe, same code)."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from datasets import Dataset
from transformers import Trainer, TrainingArguments

from .data import (
    AUGMENTATIONS,
    ImageTransform,
    class_names,
    collate_images,
    find_columns,
    flip_half,
    model_num_channels,
    to_standard_columns,
)

if TYPE_CHECKING:
    from .config import UnlearningConfig


@dataclass
class ClassifierRecipe:
    """How the original model (and, identically, the retrained reference) is trained from scratch.

    `batch_size` is the global batch: under N processes each takes batch_size / N, so the recipe (and every
    result and cache keyed by it) means the same training whatever the number of processes."""

    epochs: float = 30.0
    learning_rate: float = 0.05
    batch_size: int = 64
    weight_decay: float = 5e-4
    extra: dict[str, Any] = field(default_factory=dict)
    #: "flip": each training image is mirrored left-right with probability 1/2 (per step); "none": as stored
    augmentation: str = "none"
    #: gradient clipping (max norm; 0 = none, as the reference codes train their originals)
    max_grad_norm: float = 0.0

    def __post_init__(self) -> None:
        if self.augmentation not in AUGMENTATIONS:
            raise ValueError(f"original_augmentation = {self.augmentation!r}: choose one of {', '.join(AUGMENTATIONS)}.")

    def training_args(self, output_dir: str, seed: int, base: UnlearningConfig) -> UnlearningConfig:
        """`base` with this recipe's training settings (same devices, precision and seed handling)."""
        args = copy.deepcopy(base)
        args.output_dir = output_dir
        args.num_train_epochs = self.epochs
        args.learning_rate = self.learning_rate
        if self.batch_size % args.world_size:
            raise ValueError(f"The batch size {self.batch_size} does not split over {args.world_size} processes: "
                             f"choose a multiple of {args.world_size}.")
        args.per_device_train_batch_size = self.batch_size // args.world_size
        args.weight_decay = self.weight_decay
        args.max_grad_norm = self.max_grad_norm
        args.lr_scheduler_type = "cosine"
        args.warmup_steps = 0
        args.seed = seed
        # the retrained reference (method `retrain`) trains as the original did; the unlearning method's own
        # options (e.g. salun's mask_ratio) are not options of training from scratch
        args.method_args = {"augmentation": self.augmentation} if self.augmentation != "none" else None
        for key, value in self.extra.items():
            setattr(args, key, value)
        return args


def scratch_model_factory(model_config: dict[str, Any] | None, train: Dataset, config: UnlearningConfig,
                          pretrained: str | None = None) -> Any:
    """`make_model()` for benchmark mode: a fresh `AutoModelForImageClassification` sized to the dataset's
    classes, from a transformers config (a dict with `model_type`) or from a pretrained backbone (Hub id or
    folder; its classification head is replaced)."""
    from transformers import AutoConfig, AutoModelForImageClassification

    _, label_col = find_columns(train, config.image_column, config.label_column)
    names = class_names(train, label_col) or [str(i) for i in sorted(set(train.select_columns([label_col])[:][label_col]))]
    labels = {"num_labels": len(names), "id2label": dict(enumerate(names)), "label2id": {n: i for i, n in enumerate(names)}}
    if pretrained:
        def make_model() -> torch.nn.Module:
            return AutoModelForImageClassification.from_pretrained(pretrained, ignore_mismatched_sizes=True, **labels)

        return make_model
    if not model_config:
        raise ValueError("Benchmark mode needs model_config (a transformers config with model_type) or pretrained_model.")
    settings = {**model_config, **labels}
    hf_config = AutoConfig.for_model(settings.pop("model_type"), **settings)

    def make_model() -> torch.nn.Module:
        return AutoModelForImageClassification.from_config(hf_config)

    return make_model


def train_classifier(model: torch.nn.Module, processor: Any, dataset: Dataset, args: TrainingArguments,
                     augmentation: str = "none") -> torch.nn.Module:
    """Train `model` on `dataset` (image + label columns) with a plain Trainer; returns the trained model.

    The images are decoded and processed once, before training, when they fit in `DECODE_ONCE_BYTES` (the
    processor is deterministic, so this trains the same weights as decoding them at every step, only faster;
    tested); `augmentation="flip"` mirrors each image of a batch with probability 1/2."""
    image_col, label_col = find_columns(dataset)
    transform = ImageTransform(processor, model_num_channels(model))
    data: Any = to_standard_columns(dataset, image_col, label_col).with_transform(transform)
    first = data[0]["pixel_values"]
    if len(data) * first.numel() * first.element_size() <= DECODE_ONCE_BYTES:
        data = DecodedImages(data, args.per_device_eval_batch_size)
    collate = FlipBatch(collate_images) if augmentation == "flip" else collate_images
    trainer = Trainer(model=model, args=args, train_dataset=data, data_collator=collate)
    trainer.train()
    return trainer.model


#: Decode a scratch-training set once when its processed pixels take at most this many bytes.
DECODE_ONCE_BYTES = 4 * 1024**3


class DecodedImages(torch.utils.data.Dataset):
    """A dataset's rows processed once: pixel values in one tensor, labels beside (rows as the Trainer wants)."""

    def __init__(self, data: Dataset, batch_size: int = 256):
        pixels, labels = [], []
        for start in range(0, len(data), batch_size):
            batch = data[start:start + batch_size]
            pixels.append(torch.stack(list(batch["pixel_values"])))
            labels.extend(int(label) for label in batch["labels"])
        self.pixels = torch.cat(pixels)
        self.labels = torch.tensor(labels, dtype=torch.long)

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, index: int) -> dict[str, Any]:
        return {"pixel_values": self.pixels[index], "labels": self.labels[index]}


class FlipBatch:
    """A collator that mirrors each image of the batch left-right with probability 1/2 (torch's global RNG,
    which the Trainer seeds)."""

    def __init__(self, collate: Any):
        self.collate = collate

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
        batch = self.collate(examples)
        flip_half(batch["pixel_values"])
        return batch
