"""Training from scratch (the original model and the retrained reference of benchmark mode)."""

import pytest
import torch
from transformers import TrainingArguments

import hf_unlearn.scratch as scratch
from hf_unlearn.scratch import ClassifierRecipe, FlipBatch, train_classifier
from tests.conftest import make_tiny_model


def _args(tmp_path, name):
    return TrainingArguments(str(tmp_path / name), num_train_epochs=2, learning_rate=0.05, per_device_train_batch_size=32,
                             optim="sgd", use_cpu=True, report_to="none", save_strategy="no", disable_tqdm=True,
                             remove_unused_columns=False, seed=0)


def test_images_decoded_once_train_the_same_weights_as_images_decoded_every_step(tmp_path, digits, processor,
                                                                                  monkeypatch):
    once = train_classifier(make_tiny_model(), processor, digits["train"], _args(tmp_path, "once"))
    monkeypatch.setattr(scratch, "DECODE_ONCE_BYTES", 0)  # too big to hold: decoded at every step, as before
    each_step = train_classifier(make_tiny_model(), processor, digits["train"], _args(tmp_path, "each"))
    for (name, a), b in zip(once.state_dict().items(), each_step.state_dict().values(), strict=True):
        assert torch.equal(a, b), name


def test_flip_augmentation_mirrors_about_half_of_each_batch():
    torch.manual_seed(0)
    images = torch.arange(2 * 1 * 2 * 3, dtype=torch.float32).reshape(2, 1, 2, 3).repeat(500, 1, 1, 1)
    batch = FlipBatch(lambda examples: {"pixel_values": images.clone()})(None)["pixel_values"]
    mirrored = (batch == images.flip(-1)).flatten(1).all(1)
    kept = (batch == images).flatten(1).all(1)
    assert bool((mirrored ^ kept).all())  # each image is either as stored or mirrored left-right
    assert 400 < int(mirrored.sum()) < 600


def test_recipe_refuses_an_unknown_augmentation_and_sets_the_retrain_alike(tmp_path):
    with pytest.raises(ValueError, match="original_augmentation = 'rotate'.*none, flip"):
        ClassifierRecipe(augmentation="rotate")
    from hf_unlearn import UnlearningConfig

    base = UnlearningConfig(str(tmp_path / "x"), forget_fraction=0.1, use_cpu=True)
    args = ClassifierRecipe(augmentation="flip").training_args(str(tmp_path / "r"), 3, base)
    assert args.method_args == {"augmentation": "flip"} and args.max_grad_norm == 0.0 and args.seed == 3
    salun = UnlearningConfig(str(tmp_path / "y"), forget_fraction=0.1, use_cpu=True, method="salun",
                             method_args={"mask_ratio": 0.3})
    retrain = ClassifierRecipe().training_args(str(tmp_path / "r"), 0, salun)
    assert retrain.method_args is None  # salun's options are not the retrain's (benchmark mode of `run`)
