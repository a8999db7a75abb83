"""`hf-unlearn quickstart`: the whole pipeline on scikit-learn's bundled digits, offline, in a few CPU minutes."""

from __future__ import annotations

import os
from typing import Any

import torch
from transformers import ResNetConfig, ResNetForImageClassification

from ..config import UnlearningConfig
from ..data import digits_dataset, vit_image_processor
from ..forget import ForgetSet
from ..scratch import ClassifierRecipe
from .experiment import format_table, run_comparison

#: The embedded default: every training image of digit 3 is forgotten (a class-deletion request). A random
#: 10% would show little here: this small model does not memorise digits (test accuracy ~99.7%), so the
#: original and the retrained model already agree on it; see docs/benchmarks/methods.md for random forgetting
#: on CIFAR-10.
QUICKSTART_DEFAULTS: dict[str, Any] = dict(
    method="multigan",
    forget_classes=["3"],
    seed=0,
    per_device_train_batch_size=32,
    method_args={"gan": {"epochs": 50, "min_steps": 300, "batch_size": 64}, "num_synthetic_retain": 500,
                 "num_synthetic_forget": 500},
    eval_retain_samples=None,
    logging_steps=100,
    use_cpu=True,
)
QUICKSTART_RECIPE = ClassifierRecipe(epochs=20, learning_rate=0.05, batch_size=32)


def tiny_resnet_config(num_labels: int = 10, num_channels: int = 1) -> ResNetConfig:
    """A small HF ResNet that trains in seconds on 8x8 digits (upscaled to 32x32 by its processor)."""
    return ResNetConfig(num_channels=num_channels, embedding_size=16, hidden_sizes=[32, 64], depths=[1, 1],
                        layer_type="basic", downsample_in_first_stage=False, num_labels=num_labels,
                        id2label={i: str(i) for i in range(num_labels)}, label2id={str(i): i for i in range(num_labels)})


def digits_processor(num_channels: int = 1) -> Any:
    """Image processor: resize to 32x32, scale to [0, 1], normalise to [-1, 1]."""
    return vit_image_processor(size={"height": 32, "width": 32}, image_mean=[0.5] * num_channels,
                             image_std=[0.5] * num_channels, resample=2)


def run_quickstart(output_dir: str = "outputs/quickstart", **overrides: Any) -> dict[str, Any]:
    """Train the original digits classifier, the retrained reference and the Multi-GAN model; print the table."""
    settings = {**QUICKSTART_DEFAULTS, **overrides}
    config = UnlearningConfig(output_dir=os.path.join(output_dir), **settings)
    data = digits_dataset(seed=config.seed)
    processor = digits_processor()

    def make_model() -> torch.nn.Module:
        return ResNetForImageClassification(tiny_resnet_config())

    print(f"[hf-unlearn] quickstart: digits ({len(data['train'])} train / {len(data['test'])} test), "
          f"forget {ForgetSet.from_config(config).describe()}, method {config.method}, output {output_dir}", flush=True)
    summary = run_comparison(make_model, processor, data["train"], data["test"], config, QUICKSTART_RECIPE,
                             dataset_name="scikit-learn digits (80% train split)",
                             command=f"hf-unlearn quickstart --output_dir {output_dir} --method {config.method}")
    print("\n" + format_table(summary["metrics"], summary["timings"]))
    print(f"\nUnlearned model, generators, results and model card: {os.path.join(output_dir, 'unlearned')}")
    return summary
