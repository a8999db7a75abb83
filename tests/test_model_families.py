"""Drop-in with Hugging Face image classifiers: unlearning works across `AutoModelForImageClassification` families.

Each family is built from a tiny config (offline), trained briefly on the real digits into an "original",
saved with its OWN image-processor class (the one `AutoImageProcessor` maps that model type to), and handed to
`UnlearningTrainer` as a local folder path, exactly as a user's downloaded model. The digits are 8x8
grayscale images, so every RGB case also checks grayscale data into a 3-channel model; one case is a
1-channel model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pytest
import torch
import transformers
from transformers import AutoImageProcessor, AutoModelForImageClassification, TrainingArguments

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.evaluation import predict
from hf_unlearn.scratch import train_classifier

LABELS = {i: str(i) for i in range(10)}
HEAD = dict(num_labels=10, id2label=LABELS, label2id={name: i for i, name in LABELS.items()})


def image_processor(name: str, **kwargs: Any) -> Any:
    """`transformers.<name>` with the PIL backend where transformers 5 has one (torchvision is not needed)."""
    cls = getattr(transformers, f"{name}Pil", None) or getattr(transformers, name)
    return cls(**kwargs)


#: Unlearning settings of the cheap Multi-GAN: two tiny DCGANs trained for a few dozen steps.
TINY_GAN = dict(gan_generator_channels=16, gan_discriminator_channels=16, gan_epochs=1, gan_min_steps=20,
                gan_batch_size=64, num_synthetic_retain=60, num_synthetic_forget=60)
#: Transformers (ViT, Swin, ConvNeXt) train with AdamW; SGD at the paper's 0.05 is for the CNNs.
ADAMW = dict(optim="adamw_torch", optim_args=None, weight_decay=0.0)


@dataclass(frozen=True)
class Family:
    """One model family: tiny config, its own processor, how the original is trained and how it is unlearned."""

    name: str
    model_class: str  # what AutoModelForImageClassification builds and loads
    config: Callable[[], Any]
    processor: Callable[[], Any]
    processor_class: str  # the class AutoImageProcessor must load back from the saved folder
    input_size: tuple[int, int]  # (H, W) the processor resizes / crops to: what the model is built for
    train: dict[str, Any]  # TrainingArguments of the original
    method: str
    unlearn: dict[str, Any] = field(default_factory=dict)  # extra UnlearningConfig fields

    @property
    def num_channels(self) -> int:
        return int(self.config().num_channels)


FAMILIES = [
    Family(  # microsoft/resnet-* ship a ConvNextImageProcessor (crop_pct=1: resize to 32, no crop)
        "resnet", "ResNetForImageClassification",
        lambda: transformers.ResNetConfig(num_channels=3, embedding_size=16, hidden_sizes=[16, 32], depths=[1, 1],
                                          layer_type="basic", downsample_in_first_stage=False, **HEAD),
        lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=1.0),
        "ConvNextImageProcessor", (32, 32),
        dict(num_train_epochs=3, learning_rate=0.05, optim="sgd", optim_args="momentum=0.9"),
        "multigan", dict(TINY_GAN, learning_rate=0.01),
    ),
    Family(
        "vit", "ViTForImageClassification",
        lambda: transformers.ViTConfig(image_size=16, patch_size=4, num_channels=3, hidden_size=64, num_hidden_layers=2,
                                       num_attention_heads=4, intermediate_size=128, **HEAD),
        lambda: image_processor("ViTImageProcessor", size={"height": 16, "width": 16}),
        "ViTImageProcessor", (16, 16),
        dict(num_train_epochs=10, learning_rate=2e-3, warmup_steps=5, optim="adamw_torch"),
        "random_label", dict(ADAMW, learning_rate=1e-3),
    ),
    Family(  # crop_pct 0.875 (the class default): resize the short side to 36, centre-crop 32
        "convnext", "ConvNextForImageClassification",
        lambda: transformers.ConvNextConfig(num_channels=3, image_size=32, patch_size=4, hidden_sizes=[16, 32],
                                            depths=[1, 1], num_stages=2, layer_scale_init_value=0.1, **HEAD),
        lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=0.875),
        "ConvNextImageProcessor", (32, 32),
        dict(num_train_epochs=5, learning_rate=5e-3, warmup_steps=5, optim="adamw_torch"),
        "multigan", dict(TINY_GAN, **ADAMW, learning_rate=1e-3),
    ),
    Family(  # microsoft/swin-* ship a ViTImageProcessor
        "swin", "SwinForImageClassification",
        lambda: transformers.SwinConfig(image_size=16, patch_size=2, num_channels=3, embed_dim=32, depths=[1, 1],
                                        num_heads=[2, 4], window_size=4, **HEAD),
        lambda: image_processor("ViTImageProcessor", size={"height": 16, "width": 16}),
        "ViTImageProcessor", (16, 16),
        dict(num_train_epochs=10, learning_rate=2e-3, warmup_steps=5, optim="adamw_torch"),
        "random_label", dict(ADAMW, learning_rate=1e-3),
    ),
    Family(  # size (short side 36) and crop_size (32x32) differ: the model sees the crop
        "mobilenet_v2", "MobileNetV2ForImageClassification",
        lambda: transformers.MobileNetV2Config(num_channels=3, image_size=32, depth_multiplier=0.1, min_depth=8,
                                               finegrained_output=False, classifier_dropout_prob=0.0, **HEAD),
        lambda: image_processor("MobileNetV2ImageProcessor", size={"shortest_edge": 36},
                                crop_size={"height": 32, "width": 32}),
        "MobileNetV2ImageProcessor", (32, 32),
        dict(num_train_epochs=3, learning_rate=3e-3, optim="adamw_torch"),
        # HF's MobileNetV2 has BatchNorm momentum 0.997 (a TF port): its running statistics are the LAST training
        # batch's, and the combined set (400 retain + 146 forget) would end on a batch of 2. Dropping it keeps
        # eval-mode statistics sane; a user fine-tuning MobileNetV2 should do the same.
        "random_label", dict(ADAMW, learning_rate=1e-3, dataloader_drop_last=True),
    ),
    Family(  # a 1-channel model: grayscale in, grayscale GAN samples, one-value mean / std
        "convnext_1ch", "ConvNextForImageClassification",
        lambda: transformers.ConvNextConfig(num_channels=1, image_size=32, patch_size=4, hidden_sizes=[16, 32],
                                            depths=[1, 1], num_stages=2, layer_scale_init_value=0.1, **HEAD),
        lambda: image_processor("ConvNextImageProcessor", size={"shortest_edge": 32}, crop_pct=0.875,
                                image_mean=[0.5], image_std=[0.5]),
        "ConvNextImageProcessor", (32, 32),
        dict(num_train_epochs=5, learning_rate=5e-3, warmup_steps=5, optim="adamw_torch"),
        "multigan", dict(TINY_GAN, **ADAMW, learning_rate=1e-3),
    ),
]


@dataclass
class Run:
    family: Family
    original_dir: str
    output_dir: str
    trainer: UnlearningTrainer
    result: Any


@pytest.fixture(scope="module", params=FAMILIES, ids=[f.name for f in FAMILIES])
def run(request, tmp_path_factory, digits) -> Run:
    family: Family = request.param
    root = tmp_path_factory.mktemp(family.name)
    torch.manual_seed(0)
    model = AutoModelForImageClassification.from_config(family.config())
    processor = family.processor()
    args = TrainingArguments(str(root / "train"), per_device_train_batch_size=32, lr_scheduler_type="cosine",
                             use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
                             remove_unused_columns=False, seed=0, **family.train)
    model = train_classifier(model, processor, digits["train"], args)
    original_dir = str(root / "original")
    model.save_pretrained(original_dir)
    processor.save_pretrained(original_dir)

    settings = dict(forget_classes=["3"], method=family.method, seed=0, use_cpu=True, disable_tqdm=True,
                    report_to="none", num_train_epochs=2, per_device_train_batch_size=32, num_retain_samples=400,
                    eval_retain_samples=200, logging_steps=1000)
    config = UnlearningConfig(str(root / "unlearned"), **{**settings, **family.unlearn})
    trainer = UnlearningTrainer(model=original_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    result = trainer.unlearn()
    return Run(family, original_dir, config.output_dir, trainer, result)


def test_loaded_from_the_folder_with_the_familys_own_processor(run):
    """The trainer loaded model and processor from the folder path with the Auto classes."""
    trainer, family = run.trainer, run.family
    assert type(trainer.model).__name__ == family.model_class
    assert trainer.model.name_or_path == run.original_dir
    # the class that was saved (the PIL backend without torchvision), not a generic fallback
    assert type(trainer.processing_class) is type(family.processor())
    assert type(trainer.processing_class).__name__.startswith(family.processor_class)
    assert trainer.model.config.num_channels == family.num_channels
    assert trainer.transform.num_channels == family.num_channels


def test_pixel_values_fit_the_model(run, digits):
    """Rows are resized / cropped / converted to the model's input: (num_channels, H, W), for real and synthetic rows."""
    trainer, family = run.trainer, run.family
    expected = (family.num_channels, *family.input_size)
    configured = getattr(trainer.model.config, "image_size", None)
    if configured is not None:  # ViT, Swin and MobileNetV2 configs say which size they were built for
        assert (configured, configured) == family.input_size
    row = trainer.transform({"image": digits["test"][:1]["image"], "label": digits["test"][:1]["label"]})
    assert tuple(row["pixel_values"][0].shape) == expected
    if family.num_channels == 3:  # gray digits into an RGB model: three copies of one image, then normalised
        processor = trainer.processing_class
        pixels = row["pixel_values"][0].double()
        mean = torch.tensor(processor.image_mean, dtype=torch.float64).view(3, 1, 1)
        std = torch.tensor(processor.image_std, dtype=torch.float64).view(3, 1, 1)
        gray = pixels * std + mean
        assert torch.allclose(gray[0], gray[1], atol=1e-4) and torch.allclose(gray[0], gray[2], atol=1e-4)
        assert gray.std() > 0.1  # a digit, not a blank image
    # what the Trainer actually fed to the model during unlearning: its own training dataloader
    batch = next(iter(trainer.get_train_dataloader()))
    assert tuple(batch["pixel_values"].shape[1:]) == expected
    assert batch["pixel_values"].dtype == torch.float32
    sources = np.asarray(trainer.combined_dataset["source"])
    expected_sources = {"retain", "forget"} | ({"synthetic_retain", "synthetic_forget"}
                                               if family.method == "multigan" else set())
    assert set(sources.tolist()) == expected_sources
    for source in expected_sources:  # GAN samples go through the same processor as real images
        index = int(np.flatnonzero(sources == source)[0])
        assert tuple(trainer.train_dataset[index]["pixel_values"].shape) == expected, source


def test_forget_accuracy_drops(run):
    trainer, result = run.trainer, run.result
    original, after = result.metrics["original"], result.metrics["unlearned"]
    shown = {k: {m: round(v, 1) for m, v in d.items() if m.endswith("accuracy")} for k, d in result.metrics.items()}
    for metrics in (original, after):
        assert {"forget_accuracy", "retain_accuracy", "test_accuracy", "mia_score"} <= set(metrics), shown
    # every evaluation row was scored (also with dataloader_drop_last=True, set for MobileNetV2)
    for model in ("original", "unlearned"):
        for name, dataset in trainer.evaluation_datasets().items():
            assert len(trainer.evaluation_predictions[model][name].logits) == len(dataset), (model, name)
    # the original learnt the digits, 3s included (chance is 10%) ...
    assert original["forget_accuracy"] > 60 and original["test_accuracy"] > 60, shown
    # ... and the unlearned model no longer recognises the 3s it was trained on, nor unseen 3s,
    assert after["forget_accuracy"] < min(20.0, original["forget_accuracy"] - 50), shown
    test_3s = {}
    for model in ("original", "unlearned"):
        test = trainer.evaluation_predictions[model]["test"]
        test_3s[model] = 100.0 * float((test.predicted[test.labels == 3] == 3).mean())
    assert test_3s["unlearned"] < test_3s["original"] - 40, (test_3s, shown)
    # while it still classifies the other digits far above chance
    assert after["retain_accuracy"] > 50, shown


def test_output_folder_reloads_as_the_same_class(run, digits):
    trainer, family = run.trainer, run.family
    model = AutoModelForImageClassification.from_pretrained(run.output_dir)
    assert type(model) is type(trainer.model)
    assert model.config.num_labels == 10 and model.config.id2label == LABELS
    assert model.config.num_channels == family.num_channels
    processor = AutoImageProcessor.from_pretrained(run.output_dir)
    assert type(processor) is type(trainer.processing_class)
    # the saved weights are the unlearned model's (not the original's): same predictions as the trainer's model
    test = digits["test"].select(range(64))
    saved = predict(model, test, trainer.transform, trainer.args).logits
    unlearned = predict(trainer.model, test, trainer.transform, trainer.args).logits
    original = predict(AutoModelForImageClassification.from_pretrained(run.original_dir), test, trainer.transform,
                       trainer.args).logits
    np.testing.assert_allclose(saved, unlearned, atol=1e-4)
    assert not np.allclose(saved, original, atol=1e-3)
