"""Bad requests fail at construction, before any GAN or fine-tuning work, and write nothing."""

import os

import pytest
from datasets import ClassLabel

from hf_unlearn import ForgetSetError, UnlearningConfig, UnlearningTrainer
from hf_unlearn.data import DataError

from .conftest import make_tiny_model


@pytest.mark.parametrize(
    "options, error, message",
    [
        (dict(forget_indices=[]), ForgetSetError, "empty"),
        (dict(forget_indices=[0, 99999]), ForgetSetError, "out of range"),
        (dict(forget_classes=[str(i) for i in range(10)]), ForgetSetError, "nothing would be retained"),
        (dict(forget_classes=["ten"]), ForgetSetError, "Unknown class 'ten'"),
        (dict(forget_classes=["12"]), ForgetSetError, "out of range"),
        (dict(), ForgetSetError, "No forget set"),
        (dict(forget_fraction=0.1, method="magic"), ValueError, "Unknown unlearning method"),
        (dict(forget_fraction=0.1, method_args={"retain_generator_path": "/nonexistent"}), FileNotFoundError,
         "holds no generator"),
    ],
)
def test_bad_request_fails_before_training(tmp_path, digits, processor, options, error, message):
    out = tmp_path / "out"
    with pytest.raises(error, match=message):  # when the config is built, or at the latest by the trainer
        config = UnlearningConfig(str(out), use_cpu=True, **options)
        UnlearningTrainer(model=make_tiny_model(), args=config, train_dataset=digits["train"], processing_class=processor)
    assert not os.path.exists(out)


def test_labels_the_model_does_not_know(tmp_path, digits, processor):
    shifted = digits["train"].cast_column("label", ClassLabel(num_classes=12)).map(lambda r: {"label": r["label"] + 2})
    config = UnlearningConfig(str(tmp_path / "out"), forget_fraction=0.1, use_cpu=True)
    with pytest.raises(DataError, match="model predicts 10 classes"):
        UnlearningTrainer(model=make_tiny_model(), args=config, train_dataset=shifted, processing_class=processor)


def test_missing_columns_are_named(tmp_path, digits, processor):
    config = UnlearningConfig(str(tmp_path / "out"), forget_fraction=0.1, use_cpu=True, image_column="pixels")
    with pytest.raises(DataError, match="Image column 'pixels'"):
        UnlearningTrainer(model=make_tiny_model(), args=config, train_dataset=digits["train"], processing_class=processor)
    config = UnlearningConfig(str(tmp_path / "out"), forget_fraction=0.1, use_cpu=True)
    with pytest.raises(DataError, match="No label column"):
        UnlearningTrainer(model=make_tiny_model(), args=config, train_dataset=digits["train"].remove_columns("label"),
                          processing_class=processor)


@pytest.mark.parametrize("options, message", [
    (dict(method_args={"label_inversion": "flip"}), "method_args.label_inversion = 'flip' is not one of"),
    (dict(method_args={"resolution": 24}), "power of two"),
    (dict(method_args={"num_synthetic_forget": -1}), ">= 0"),
])
def test_invalid_config_values(tmp_path, options, message):
    with pytest.raises(ValueError, match=message):
        UnlearningConfig(str(tmp_path), forget_fraction=0.1, **options)
