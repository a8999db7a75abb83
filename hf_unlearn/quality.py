"""The quality figure of a request's synthetic images (issue 31): how close each synthetic source is to the real
images it stands for, measured in the original classifier's own feature space (the input of its classification
head), as KID and precision / recall (the `sample_quality` metric module), with the class histogram of the labels
the original gives the samples. Two references are scored alike on every request, so that a figure can be read
without knowing the feature space: real retain images outside the real sample (what a perfect generator scores at
this sample size) and uniform noise (what any generator should beat). Offline, seconds: one forward pass of the
original model per image; timed apart from the request (`sample_quality`, measurement, not the request's work)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from .data import ImageTransform, images_to_dataset
from .evaluation import predict

#: Real images per reference sample (capped at the set's size); also the most synthetic images scored per source.
QUALITY_SAMPLE = 1000
#: The fewest images on either side a figure is computed from (the k = 3 nearest neighbours need 4).
MIN_IMAGES = 4
#: The synthetic sources of a fine-tuning set, each with the real set it stands for.
SYNTHETIC_SOURCES = {"synthetic_retain": "retain", "synthetic_forget": "forget"}


def head_linear(model: torch.nn.Module) -> tuple[str, torch.nn.Module] | None:
    """The model's last linear layer, with its name (None if it has none): an image classifier's head, whose
    input is the representation it classifies (CoUn's contrastive loss reads it too)."""
    linear = [(name, module) for name, module in model.named_modules() if isinstance(module, torch.nn.Linear)]
    return linear[-1] if linear else None


def feature_head(model: torch.nn.Module) -> tuple[torch.nn.Module | None, str]:
    """The module whose input is the feature vector: the first one named `classifier` (transformers' image
    classifiers, wrapped or not), else the last `Linear` (`head_linear`); with its name."""
    for name, module in model.named_modules():
        if name.split(".")[-1] == "classifier":
            return module, name
    found = head_linear(model)
    return (found[1], found[0]) if found else (None, "")


class ClassifierFeatures(torch.nn.Module):
    """`model`, answering with the input of its classification head (flattened) instead of its logits."""

    def __init__(self, model: torch.nn.Module):
        super().__init__()
        self.model = model
        self.head, self.head_name = feature_head(model)
        if self.head is None:
            raise ValueError(f"{type(model).__name__} has no classification head (no `classifier`, no Linear) to take "
                             "features from.")

    def forward(self, pixel_values: torch.Tensor, **kwargs: Any) -> dict[str, torch.Tensor]:
        captured: list[torch.Tensor] = []
        handle = self.head.register_forward_hook(lambda module, inputs, output: captured.append(inputs[0]))
        try:
            self.model(pixel_values=pixel_values)
        finally:
            handle.remove()
        return {"logits": captured[-1].flatten(1)}


def noise_images(count: int, size: tuple[int, int], mode: str, seed: int) -> list[Any]:
    """`count` images of uniform random pixels, `size` (width, height) in `mode` ("L" or "RGB"), seeded."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    shape = (size[1], size[0]) if mode == "L" else (size[1], size[0], 3)
    return [Image.fromarray(rng.integers(0, 256, size=shape, dtype=np.uint8), mode=mode) for _ in range(count)]


def score_samples(real: np.ndarray, generated: np.ndarray, seed: int = 0) -> dict[str, float]:
    """KID, precision and recall of `generated` feature vectors against `real` ones (`sample_quality`)."""
    from .metrics import load_metric

    features = np.concatenate([real, generated]).astype(np.float32)
    references = np.concatenate([np.ones(len(real), dtype=np.int64), np.zeros(len(generated), dtype=np.int64)])
    return load_metric("sample_quality").compute(predictions=features, references=references, seed=seed)


def label_histogram(labels: np.ndarray, num_labels: int) -> dict[str, Any]:
    """Images per class and the normalised entropy of that histogram (1: every class equally often, 0: one)."""
    counts = np.bincount(np.asarray(labels, dtype=np.int64), minlength=num_labels)
    shares = counts[counts > 0] / counts.sum()
    entropy = float(-(shares * np.log(shares)).sum() / np.log(num_labels)) if num_labels > 1 else 0.0
    return {"class_counts": counts.tolist(), "class_entropy": round(entropy, 4)}


def _sample(dataset: Dataset, count: int, rng: np.random.Generator, exclude: np.ndarray | None = None) -> Dataset:
    rows = np.arange(len(dataset)) if exclude is None else np.setdiff1d(np.arange(len(dataset)), exclude)
    return dataset.select(np.sort(rng.choice(rows, min(count, len(rows)), replace=False)))


def quality_figure(features: Callable[[Dataset], np.ndarray], generated: dict[str, tuple[Dataset, str]],
                   real: dict[str, Dataset], num_labels: int, seed: int, feature_space: str) -> dict[str, Any]:
    """The quality figure of each `generated` source (name -> (images with the original's label in
    `original_label`, the name of the `real` set it stands for)), scored with `features` against a seeded sample
    of up to `QUALITY_SAMPLE` rows of that real set, beside the `real_retain` and `noise` references (other rows
    of `real["retain"]`, uniform noise in the first source's format)."""
    rng = np.random.default_rng(seed)
    wanted = {against for _, against in generated.values()} | {"retain"}
    def size(name: str) -> int:  # the retain sample leaves rows for the real reference (half, on a small set)
        n = len(real[name])
        return min(QUALITY_SAMPLE, max(n // 2, n - QUALITY_SAMPLE) if name == "retain" else n)

    rows = {name: np.sort(rng.choice(len(real[name]), size(name), replace=False)) for name in sorted(wanted)}
    reference = {name: features(real[name].select(rows[name])) for name in rows}
    record: dict[str, Any] = {"feature_space": f"{feature_space}, {reference['retain'].shape[1]} values",
                              "sources": {}}
    for source, (images, against) in generated.items():
        images = images.select(range(min(QUALITY_SAMPLE, len(images))))
        figure: dict[str, Any] = {"against": against}
        if min(len(images), len(reference[against])) < MIN_IMAGES:  # e.g. a person's three photos: no figure
            figure.update(num_real=len(reference[against]), num_generated=len(images),
                          skipped=f"fewer than {MIN_IMAGES} images on a side")
        else:
            figure.update(score_samples(reference[against], features(images), seed))
        record["sources"][source] = {**figure, **label_histogram(np.asarray(images["original_label"]), num_labels)}
    first_images = next(iter(generated.values()))[0]
    first, count = first_images[0]["image"], min(QUALITY_SAMPLE, len(first_images))
    held_out = _sample(real["retain"], count, rng, exclude=rows["retain"])
    noise = images_to_dataset(noise_images(count, first.size, first.mode, seed), np.zeros(count, dtype=np.int64))
    for name, dataset in (("real_retain", held_out), ("noise", noise)):
        if min(len(dataset), len(reference["retain"])) >= MIN_IMAGES:
            record["sources"][name] = {"against": "retain", **score_samples(reference["retain"], features(dataset),
                                                                            seed)}
    return record


def synthetic_quality(combined: Dataset, context: Any, seed: int) -> dict[str, Any] | None:
    """The quality figure of every synthetic source of the fine-tuning set `combined` (None when it has none),
    against the real rows of the run's `context` (`UnlearningContext`), scored by its model before fine-tuning."""
    sources = np.asarray(combined["source"])
    generated = {source: (combined.select(np.flatnonzero(sources == source)), against)
                 for source, against in SYNTHETIC_SOURCES.items() if (sources == source).any()}
    if not generated:
        return None
    features_model = ClassifierFeatures(context.model)
    return quality_figure(lambda ds: context.predict_logits(ds.select_columns(["image"]), features_model).logits,
                          generated, {"retain": context.retain_dataset, "forget": context.forget_dataset},
                          context.num_labels, seed, f"input of the original model's `{features_model.head_name}`")


def generator_quality(model: Any, processor: Any, args: Any, generator: Any, images: Dataset,
                      size: tuple[int, int], mode: str) -> dict[str, Any]:
    """The quality figure (`quality.quality_figure`) of `QUALITY_SAMPLE` seeded samples of a prepared `generator`
    against the training `images` it learned, in `model`'s own feature space, labelled by `model`."""
    from .gan import GANSamplingPipeline

    pipe = GANSamplingPipeline(generator)
    pipe.set_progress_bar_config(disable=True)
    samples = pipe(QUALITY_SAMPLE, generator=torch.Generator().manual_seed(args.seed + 404), image_size=size,
                   mode=mode).images
    transform = ImageTransform(processor, num_channels=model.config.num_channels)
    unlabeled = images_to_dataset(samples, np.zeros(len(samples), dtype=np.int64)).remove_columns("label")
    labels = predict(model, unlabeled, transform, args).predicted
    labelled = images_to_dataset(samples, labels).add_column("original_label", labels.tolist())
    features_model = ClassifierFeatures(model)
    return quality_figure(lambda ds: predict(features_model, ds.select_columns(["image"]), transform, args).logits,
                          {"prepared": (labelled, "train")}, {"train": images, "retain": images},
                          model.config.num_labels, args.seed,
                          f"input of the original model's `{features_model.head_name}`")
