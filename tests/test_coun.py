"""`coun` (arXiv 2509.16391): its core step, the two-direction contrastive loss between two views, and the views
themselves, pinned on tiny tensors; the fine-tuning on real digits with a tiny ResNet."""

import math

import numpy as np
import pytest
import torch

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.methods.coun import augment, contrastive_loss


def test_the_contrastive_loss_is_two_cross_entropies_over_cosine_similarities():
    z = torch.eye(3)  # orthogonal: cos 1 with itself, 0 with the others
    t = 0.5
    one_way = -math.log(math.exp(1 / t) / (math.exp(1 / t) + 2))
    assert contrastive_loss(z, z, t).item() == pytest.approx(2 * one_way, rel=1e-5)
    torch.manual_seed(0)
    a, b = torch.randn(5, 4), torch.randn(5, 4) * 3  # cosine: the scale of a row does not matter
    s = torch.tensor([[torch.nn.functional.cosine_similarity(a[i], b[j], dim=0).item() / 0.5 for j in range(5)]
                      for i in range(5)])
    rows = -torch.stack([s[i].log_softmax(0)[i] for i in range(5)]).mean()
    columns = -torch.stack([s[:, j].log_softmax(0)[j] for j in range(5)]).mean()
    assert contrastive_loss(a, b, 0.5).item() == pytest.approx((rows + columns).item(), rel=1e-5)
    assert contrastive_loss(a, b, 0.5).item() == pytest.approx(contrastive_loss(b, a, 0.5).item(), rel=1e-5)


def test_a_view_is_a_padded_crop_mirrored_or_not():
    torch.manual_seed(0)
    images = torch.rand(64, 1, 4, 4)
    identity = (lambda x: x), (lambda x: x)
    flipped = augment(images, 0, *identity)
    assert all(torch.equal(v, x) or torch.equal(v, x.flip(-1)) for v, x in zip(flipped, images, strict=True))
    assert 10 < sum(torch.equal(v, x.flip(-1)) and not torch.equal(x, x.flip(-1)) for v, x in zip(flipped, images, strict=True)) < 54
    views = augment(images, 1, *identity)
    for view, image in zip(views, images, strict=True):
        padded = torch.nn.functional.pad(image, (1, 1, 1, 1))  # black border
        crops = [padded[:, t:t + 4, s:s + 4] for t in range(3) for s in range(3)]
        assert any(torch.equal(view, c) or torch.equal(view, c.flip(-1)) for c in crops)
    # padding is black in pixel units: through a normalisation, a padded pixel maps to (0 - mean) / std
    to_input, to_pixels = (lambda p: (p - 0.5) / 0.25), (lambda v: v * 0.25 + 0.5)
    shifted = augment(to_input(torch.ones(32, 1, 4, 4)), 2, to_input, to_pixels)
    assert set(shifted.unique().tolist()) <= {-2.0, 2.0} and (shifted == -2.0).any()


def test_one_transform_pair_per_batch_and_flips_only_views():
    torch.manual_seed(0)
    images = torch.rand(16, 1, 4, 4)
    identity = (lambda x: x), (lambda x: x)
    for _ in range(8):  # per batch (Algorithm 1): every image gets the same crop offset and the same flip
        views = augment(images, 1, *identity, per_batch=True)
        padded = torch.nn.functional.pad(images, (1, 1, 1, 1))
        same = [torch.equal(views, padded[:, :, t:t + 4, s:s + 4].flip(-1) if f else padded[:, :, t:t + 4, s:s + 4])
                for t in range(3) for s in range(3) for f in (False, True)]
        assert any(same)
    flips_only = augment(images, 0, *identity, flip=True, per_batch=True)  # no crop: the batch, or its mirror
    assert torch.equal(flips_only, images) or torch.equal(flips_only, images.flip(-1))
    assert torch.equal(augment(images, 0, *identity, flip=False), images)  # views "none": the images themselves


@pytest.mark.parametrize(("trained", "option", "expected"), [
    ("flip", "original", "flip"), ("none", "original", "none"), ("crop_flip", "original", "crop_flip"),
    (None, "original", "crop_flip"), ("flip", "crop_flip", "crop_flip")])
def test_coun_views_follow_how_the_model_was_trained(trained_model_dir, digits, tmp_path, trained, option, expected):
    """views: original (the default) makes the views the model's training augmentation gives (the config's
    training_augmentation); unknown: the paper's crops and flips; an explicit choice wins."""
    config = UnlearningConfig(str(tmp_path / "out"), method="coun", forget_indices=[0, 1, 2], use_cpu=True,
                              training_augmentation=trained, method_args={"views": option})
    run = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                            eval_dataset=digits["test"])
    assert run.method.views() == expected
    batch = {"pixel_values": torch.stack([torch.as_tensor(x) for x in digits["train"].select(range(8)).with_transform(
        run.transform)[:]["pixel_values"]]), "labels": torch.tensor(digits["train"].select(range(8))["label"])}
    seen = []
    hook = run.model.register_forward_pre_hook(lambda _, args, kwargs: seen.append(kwargs["pixel_values"]),
                                               with_kwargs=True)
    torch.manual_seed(0)
    try:
        run.method.compute_loss(run.model, dict(batch), None)
    finally:
        hook.remove()
    images = batch["pixel_values"]
    assert len(seen) == 2  # two views of the batch
    plain = [torch.equal(v, images) or torch.equal(v, images.flip(-1)) for v in seen]  # no pixel moved but flips
    if expected == "none":
        assert all(torch.equal(v, images) for v in seen)
    elif expected == "flip":
        assert all(plain)
    else:  # crops (of this seed's draws) move the batch
        assert not all(plain)


def test_coun_fine_tunes_on_the_retain_set_with_the_contrastive_term(trained_model_dir, digits, tmp_path):
    forget = sorted(np.random.default_rng(0).choice(len(digits["train"]), 40, replace=False).tolist())

    def trainer(weight, folder):
        config = UnlearningConfig(str(tmp_path / folder), method="coun", forget_indices=forget, seed=0, use_cpu=True,
                                  disable_tqdm=True, num_train_epochs=1, learning_rate=0.01,
                                  per_device_train_batch_size=32, num_retain_samples=96, eval_retain_samples=96,
                                  logging_steps=1000, method_args={"contrastive_weight": weight})
        return UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                 eval_dataset=digits["test"])

    run = trainer(1.0, "out")
    result = run.unlearn()
    assert set(run.combined_dataset["source"]) == {"retain"} and result.counts["finetune_retain"] == 96
    head = run.model.classifier[1]
    assert not head._forward_pre_hooks  # the representation hook is removed after every step
    batch = {"pixel_values": torch.stack([torch.as_tensor(x) for x in
                                          digits["train"].select(range(8)).with_transform(run.transform)[:]["pixel_values"]]),
             "labels": torch.tensor(digits["train"].select(range(8))["label"])}
    losses = []
    for weight in (0.0, 1.0):  # the same views (same seed): the difference is the contrastive term
        run.method.options.contrastive_weight = weight
        torch.manual_seed(1)
        losses.append(run.method.compute_loss(run.model, dict(batch), None).item())
    assert losses[1] > losses[0] > 0


def test_coun_is_listed_with_its_options():
    from hf_unlearn.methods import describe_methods

    text = describe_methods()
    assert "coun: Fine-tune on the retain set with cross-entropy plus a contrastive loss" in text
    assert "method_args.contrastive_weight = 1.0" in text and "method_args.temperature = 0.1" in text
