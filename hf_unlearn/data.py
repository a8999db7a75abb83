"""Loading image-classification datasets and turning rows into model inputs with the model's own processor."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from datasets import ClassLabel, Dataset, DatasetDict, Features, Image, Value, load_dataset

from .constants import AUX_INDEX, FORGET_SOURCES
from .errors import DataError
from .image_modes import CONVERTIBLE_MODES, image_problem, model_mode, refuse_bad_images, to_model_mode

__all__ = ["CONVERTIBLE_MODES", "DataError", "ImageTransform", "check_images", "check_labels_fit_model", "class_names",
           "collate_images", "common_image_format", "content_digest", "digits_dataset", "find_columns", "find_image_column",
           "images_to_dataset", "load_image_dataset", "model_mode", "model_num_channels", "to_model_mode",
           "to_standard_columns", "vit_image_processor"]


def load_image_dataset(name_or_path: str, split: str | None = None, **kwargs: Any) -> Dataset | DatasetDict:
    """Load a dataset from a Hub id, a parquet file / folder, or an image folder.

    Whatever the source, the result is an ordinary `datasets` object: the rest of hf-unlearn never knows
    where it came from. A split may be a row range, `train[10000:12000]`, as `datasets` reads it from the Hub.
    """
    sliced = re.fullmatch(r"\s*(\w+)\s*\[\s*(\d*)\s*:\s*(\d*)\s*\]\s*", split or "")
    if sliced and (os.path.isdir(name_or_path) or os.path.isfile(name_or_path)):  # `train[10000:12000]`, as the Hub
        rows = load_image_dataset(name_or_path, sliced.group(1), **kwargs)  # loader reads it for a Hub id
        start, stop = int(sliced.group(2) or 0), int(sliced.group(3) or len(rows))
        return rows.select(range(min(start, len(rows)), min(stop, len(rows))))
    if os.path.isfile(name_or_path) and name_or_path.endswith(".parquet"):
        ds = load_dataset("parquet", data_files={"train": name_or_path}, **kwargs)
        return ds["train"] if split in (None, "train") else ds[split]
    if os.path.isdir(name_or_path):
        parquet = sorted(f for f in os.listdir(name_or_path) if f.endswith(".parquet"))
        if parquet:
            files = {os.path.splitext(f)[0].split("-")[0]: os.path.join(name_or_path, f) for f in parquet}
            ds = load_dataset("parquet", data_files=files, **kwargs)
        else:
            ds = load_dataset("imagefolder", data_dir=name_or_path, **kwargs)
        return ds[split] if split else ds
    return load_dataset(name_or_path, split=split, **kwargs)


def find_image_column(dataset: Dataset, image_column: str | None = None) -> str:
    """The image column's name, given or detected (the first `datasets.Image` column)."""
    features = dataset.features
    if image_column is None:
        found = [k for k, v in features.items() if isinstance(v, Image)]
        if not found:
            raise DataError(
                f"No image column in the dataset (columns: {list(features)}). Cast it with "
                "`dataset.cast_column(name, datasets.Image())` or pass --image_column."
            )
        return found[0]
    if image_column not in features:
        raise DataError(f"Image column {image_column!r} is not in the dataset (columns: {list(features)}).")
    return image_column


def find_columns(dataset: Dataset, image_column: str | None = None,
                 label_column: str | None = None) -> tuple[str, str]:
    """The (image, label) column names, given or detected from the features."""
    features = dataset.features
    image_column = find_image_column(dataset, image_column)
    if label_column is None:
        found = [k for k, v in features.items() if isinstance(v, ClassLabel)]
        found = found or [k for k in ("label", "labels", "fine_label") if k in features]
        if not found:
            raise DataError(
                f"No label column in the dataset (columns: {list(features)}). Pass --label_column, "
                "or cast the label column with `datasets.ClassLabel(names=[...])`."
            )
        label_column = found[0]
    elif label_column not in features:
        raise DataError(f"Label column {label_column!r} is not in the dataset (columns: {list(features)}).")
    return image_column, label_column


def class_names(dataset: Dataset, label_column: str) -> list[str] | None:
    """Class names from a `ClassLabel` feature, or None."""
    feature = dataset.features[label_column]
    return list(feature.names) if isinstance(feature, ClassLabel) else None


def to_standard_columns(dataset: Dataset, image_column: str, label_column: str) -> Dataset:
    """The dataset with exactly two columns, `image` (Image) and `label` (int64)."""
    if image_column != "image" and "image" in dataset.column_names:
        dataset = dataset.remove_columns("image")
    if label_column != "label" and "label" in dataset.column_names:
        dataset = dataset.remove_columns("label")
    dataset = dataset.select_columns([image_column, label_column])
    if image_column != "image":
        dataset = dataset.rename_column(image_column, "image")
    if label_column != "label":
        dataset = dataset.rename_column(label_column, "label")
    return dataset.cast(Features({"image": Image(), "label": Value("int64")}))


def _encoded_images(dataset: Dataset, image_column: str, label_column: str | None) -> Any:
    """(row, encoded image bytes, label or None) for every row, without decoding any image."""
    columns = [image_column] + ([label_column] if label_column else [])
    raw = dataset.select_columns(columns).cast_column(image_column, Image(decode=False))
    row = 0
    for batch in raw.iter(batch_size=1000):
        labels = batch[label_column] if label_column else [None] * len(batch[image_column])
        for image, label in zip(batch[image_column], labels, strict=True):
            if image is None or (image["bytes"] is None and not image.get("path")):
                data = b""  # no image in this row: refused as missing by the checks
            elif image["bytes"] is None:
                try:
                    with open(image["path"], "rb") as f:
                        data = f.read()
                except OSError:
                    data = b""  # its file is gone: refused as missing by the checks
            else:
                data = image["bytes"]
            yield row, data, label
            row += 1


def content_digest(dataset: Dataset, image_column: str = "image", label_column: str = "label",
                   verify: str | None = None) -> str:
    """SHA-256 of a dataset's images (their encoded bytes, or the files they point to) and labels, in row order.

    Unlike `Dataset._fingerprint`, it depends only on the content: the same rows loaded from the Hub, from
    parquet or rebuilt in memory give the same digest. With `verify` (what the data is, e.g. "training set"),
    every image is also opened in the same pass and corrupt or unconvertible ones raise `DataError` (as
    `check_images`)."""
    import hashlib

    digest = hashlib.sha256()
    problems: dict[int, str] = {}
    for row, data, label in _encoded_images(dataset, image_column, label_column):
        digest.update(len(data).to_bytes(8, "little") + data + int(label).to_bytes(8, "little", signed=True))
        if verify and (problem := image_problem(data)):
            problems[row] = problem
    refuse_bad_images(problems, verify or "")
    return digest.hexdigest()


def image_digests(dataset: Dataset, image_column: str = "image") -> list[str]:
    """SHA-256 of each row's encoded image, in row order (to find the same image in two datasets)."""
    import hashlib

    return [hashlib.sha256(data).hexdigest() for _, data, _ in _encoded_images(dataset, image_column, None)]


def check_images(dataset: Dataset, image_column: str = "image", what: str = "training set") -> None:
    """Every image of `dataset` opens (header and structure checked without a full decode) and has a mode
    `to_model_mode` converts (`I` and `F` images are decoded to check their values): a corrupt or unconvertible
    image is named before any work starts instead of failing, or silently saturating, mid-training."""
    problems = {row: problem for row, data, _ in _encoded_images(dataset, image_column, None)
                if (problem := image_problem(data))}
    refuse_bad_images(problems, what)


def common_image_format(*datasets: Dataset, image_column: str = "image") -> tuple[str, tuple[int, int]]:
    """The (mode, (width, height)) synthetic images should have to look like the images of `datasets`.

    Mode: "RGB" when any image is in colour (see `model_mode`), else "L". Size: the most common one (ties go to
    the size seen first, in the order of `datasets` and their rows), so that one huge image does not size every
    sample. Only image headers are read (no decode). On data of one size and mode (digits 8x8, CIFAR 32x32) it
    is that size and mode, i.e. the first image's, as before.
    """
    import io
    from collections import Counter

    from PIL import Image as PILImage

    sizes: Counter[tuple[int, int]] = Counter()
    colour = False
    for dataset in datasets:
        for _, data, _ in _encoded_images(dataset, image_column, None):
            with PILImage.open(io.BytesIO(data)) as img:
                sizes[img.size] += 1
                colour = colour or model_mode(img.mode) == "RGB"
    if not sizes:
        raise DataError("No images to size the synthetic images from (the datasets are empty).")
    return ("RGB" if colour else "L"), max(sizes, key=sizes.__getitem__)  # the first of the most common


def images_to_dataset(images: Sequence[Any], labels: Sequence[int], class_names: Sequence[str] | None = None) -> Dataset:
    """A `datasets.Dataset` (`image`, `label`) from PIL images and integer labels."""
    label_feature = ClassLabel(names=list(class_names)) if class_names else Value("int64")
    return Dataset.from_dict(
        {"image": list(images), "label": [int(x) for x in labels]},
        features=Features({"image": Image(), "label": label_feature}),
    )


def digits_dataset(test_size: float = 0.2, seed: int = 0) -> DatasetDict:
    """scikit-learn's bundled digits (1,797 8x8 grayscale images) as a train/test `DatasetDict`."""
    from PIL import Image as PILImage
    from sklearn.datasets import load_digits

    digits = load_digits()
    pixels = (digits.images / 16.0 * 255.0).round().clip(0, 255).astype(np.uint8)
    images = [PILImage.fromarray(p, mode="L") for p in pixels]
    ds = images_to_dataset(images, digits.target, [str(i) for i in range(10)])
    return ds.train_test_split(test_size=test_size, seed=seed, stratify_by_column="label")


@dataclass
class ImageTransform:
    """Decode images with the model's own image processor: use with `Dataset.with_transform`.

    Images are converted to the colour mode the model expects (grayscale into an RGB model and back; 16-bit and
    float images scaled to 8 bits, see `to_model_mode`) before the processor resizes and normalises them,
    exactly as at training time.
    """

    image_processor: Callable[..., Any]
    num_channels: int = 3
    image_column: str = "image"
    label_column: str | None = "label"

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, Any]:
        mode = "L" if self.num_channels == 1 else "RGB"
        images = [to_model_mode(img, mode) for img in batch[self.image_column]]
        pixel_values = self.image_processor(images, return_tensors="pt")["pixel_values"]
        out: dict[str, Any] = {"pixel_values": list(pixel_values)}
        if self.label_column is not None and self.label_column in batch:
            out["labels"] = list(batch[self.label_column])
        if "source" in batch:  # the combined unlearning dataset: flag forget rows for methods' losses
            out["is_forget"] = [source in FORGET_SOURCES for source in batch["source"]]
        if AUX_INDEX in batch:  # a method's own per-row index (e.g. amun's adversarial examples)
            out[AUX_INDEX] = list(batch[AUX_INDEX])
        return out

    def pixel_maps(self) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """[0, 1] images <-> the model's input (`pixel_values`), from the processor's normalisation."""
        processor, shape = self.image_processor, (1, -1, 1, 1)
        if getattr(processor, "do_normalize", False):
            mean = torch.tensor(processor.image_mean, dtype=torch.float32)[:self.num_channels].view(shape)
            std = torch.tensor(processor.image_std, dtype=torch.float32)[:self.num_channels].view(shape)
        else:
            mean, std = torch.zeros(1, self.num_channels, 1, 1), torch.ones(1, self.num_channels, 1, 1)
        return (lambda x: (x - mean.to(x)) / std.to(x)), (lambda v: v * std.to(v) + mean.to(v))


def collate_images(examples: list[dict[str, Any]]) -> dict[str, torch.Tensor]:
    """Stack processed examples into a batch (labels only when every example has one)."""
    batch = {"pixel_values": torch.stack([torch.as_tensor(e["pixel_values"]) for e in examples])}
    if all("labels" in e for e in examples):
        batch["labels"] = torch.tensor([int(e["labels"]) for e in examples], dtype=torch.long)
    if all("is_forget" in e for e in examples):
        batch["is_forget"] = torch.tensor([bool(e["is_forget"]) for e in examples], dtype=torch.bool)
    if all(AUX_INDEX in e for e in examples):
        batch[AUX_INDEX] = torch.tensor([int(e[AUX_INDEX]) for e in examples], dtype=torch.long)
    return batch


#: Augmentations of training from scratch (`original_augmentation`, the `retrain` method's `augmentation`).
AUGMENTATIONS = ("none", "flip")


def flip_half(pixel_values: torch.Tensor) -> torch.Tensor:
    """Mirror each image of a batch (N, C, H, W) left-right with probability 1/2, in place (torch's global RNG,
    which the Trainer seeds): the "flip" augmentation of training from scratch."""
    flip = torch.rand(len(pixel_values)) < 0.5
    pixel_values[flip] = pixel_values[flip].flip(-1)
    return pixel_values


def vit_image_processor(**kwargs: Any) -> Any:
    """A `ViTImageProcessor` (resize + rescale + normalise), using the PIL backend when torchvision is absent."""
    try:
        from transformers import ViTImageProcessorPil as processor_class
    except ImportError:  # transformers < 5
        from transformers import ViTImageProcessor as processor_class
    return processor_class(**kwargs)


def model_num_channels(model: Any) -> int:
    """How many input channels the model expects (3 when its config does not say)."""
    return int(getattr(model.config, "num_channels", 3) or 3)


def check_labels_fit_model(labels: Sequence[int], num_labels: int) -> None:
    """Raise when the data has labels the model cannot predict."""
    labels = np.asarray(labels)
    if labels.size and (labels.min() < 0 or labels.max() >= num_labels):
        raise DataError(
            f"The dataset has labels in {int(labels.min())}..{int(labels.max())} but the model predicts "
            f"{num_labels} classes (0..{num_labels - 1}). Use the model trained on this dataset, or fix "
            "`num_labels` / the label column."
        )
