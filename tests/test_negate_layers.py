"""`negate_layers` (NoT, CVPR 2025): its core step, negating chosen parameters, pinned on a tiny model; the
fine-tuning set on real digits with a tiny ResNet."""

import numpy as np
import pytest
import torch

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.methods.negate_layers import negate_parameters
from hf_unlearn.options import OptionError


def test_negation_flips_only_the_chosen_parameters():
    torch.manual_seed(0)
    model = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.ReLU(), torch.nn.Linear(3, 2))
    before = [p.detach().clone() for p in model.parameters()]
    assert negate_parameters(model, [0]) == ["0.weight"]
    after = list(model.parameters())
    assert torch.equal(after[0], -before[0])  # the first layer's weight
    assert all(torch.equal(a, b) for a, b in zip(after[1:], before[1:], strict=True))  # its bias and the other layer kept
    negate_parameters(model, [0, 2])
    assert torch.equal(after[0], before[0]) and torch.equal(after[2], -before[2])
    with pytest.raises(OptionError, match=r"parameter_indices = \[7\]: the model has 4 parameters.*0: 0.weight"):
        negate_parameters(model, [7])


def test_negate_layers_negates_the_stem_then_fine_tunes_on_the_retain_set(trained_model_dir, digits, tmp_path):
    from transformers import AutoModelForImageClassification

    forget = sorted(np.random.default_rng(0).choice(len(digits["train"]), 40, replace=False).tolist())
    config = UnlearningConfig(str(tmp_path / "out"), method="negate_layers", forget_indices=forget, seed=0,
                              use_cpu=True, disable_tqdm=True, num_train_epochs=1, learning_rate=1e-6,
                              per_device_train_batch_size=64, num_retain_samples=200, eval_retain_samples=200,
                              logging_steps=1000)
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    result = trainer.unlearn()
    assert set(trainer.combined_dataset["source"]) == {"retain"} and result.counts["finetune_retain"] == 200
    assert trainer.method.negated == ["resnet.embedder.embedder.convolution.weight"]
    original = dict(AutoModelForImageClassification.from_pretrained(trained_model_dir).named_parameters())
    unlearned = dict(trainer.model.named_parameters())
    stem = "resnet.embedder.embedder.convolution.weight"  # at lr 1e-6 the fine-tuning barely moves anything
    assert torch.allclose(unlearned[stem], -original[stem], atol=1e-3)
    assert torch.allclose(unlearned["classifier.1.weight"], original["classifier.1.weight"], atol=1e-3)
    with pytest.raises(OptionError, match="parameter_indices = \\[999\\]"):  # refused before any work
        UnlearningTrainer(model=trained_model_dir, train_dataset=digits["train"],
                          args=UnlearningConfig(str(tmp_path / "x"), method="negate_layers", forget_indices=forget,
                                                use_cpu=True, method_args={"parameter_indices": [999]}))
    assert not (tmp_path / "x").exists()


def test_negate_layers_is_listed_with_its_options():
    from hf_unlearn.methods import describe_methods

    text = describe_methods()
    assert "negate_layers: Negate the weights of the first layer (NoT)" in text
    assert "method_args.parameter_indices = [0]" in text


def test_the_negation_is_the_starting_model_hook_not_a_side_effect_of_building_the_data(trained_model_dir, digits,
                                                                                          tmp_path):
    """The method contract's hook for a method that changes the model it starts from: building the fine-tuning
    set leaves the model alone (the stopping rule and the evaluation may build or read it first)."""
    config = UnlearningConfig(str(tmp_path / "out"), method="negate_layers", forget_indices=list(range(0, 60, 3)),
                              use_cpu=True, report_to="none")
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"])
    first = next(trainer.model.parameters())
    before = first.detach().clone()
    trainer.method.build_train_dataset()
    assert torch.equal(first, before)
    trainer.method.change_starting_model()
    assert torch.equal(first, -before) and trainer.method.negated == ["resnet.embedder.embedder.convolution.weight"]
