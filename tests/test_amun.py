"""`amun` (ICML 2025): its core step, the search for each image's closest adversarial example, pinned on tiny
tensors; the fine-tuning set and the step schedule on real digits with a tiny ResNet."""

import os
from types import SimpleNamespace

import numpy as np
import pytest
import torch

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.methods.adversarial import smallest_adversarial


class Linear(torch.nn.Module):
    """A fixed linear classifier on 2x2 one-channel images, returning `.logits` like a transformers model."""

    def __init__(self):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.tensor([[1.0, 1.0, 0.0, 0.0], [0.0, 0.0, 1.0, 1.0]]))

    def forward(self, pixel_values):
        return SimpleNamespace(logits=pixel_values.reshape(len(pixel_values), -1) @ self.weight.T)


def test_the_search_stops_at_the_first_iterate_that_changes_the_prediction():
    model = Linear()
    images = torch.tensor([[0.9, 0.9, 0.1, 0.1],    # class 0 by a wide margin: needs a larger radius
                           [0.55, 0.5, 0.5, 0.5],   # class 0 by a hair: flips within the first radius
                           [0.1, 0.1, 0.9, 0.9]]).view(3, 1, 2, 2)
    labels = torch.tensor([0, 0, 0])                # the third is already misclassified
    found = smallest_adversarial(model, images, labels, lambda x: x, eps=0.04, steps=50, max_doublings=10)
    predicted = model(found["images"]).logits.argmax(1)
    assert torch.equal(found["labels"], predicted) and (predicted != labels).all()
    assert torch.equal(found["original"], torch.tensor([0, 0, 1]))
    assert torch.equal(found["images"][2], images[2])  # already wrong: its own adversarial example
    assert found["radius"][1] == pytest.approx(0.04) and found["radius"][0] > 0.04  # doubled only where needed
    delta = (found["images"] - images).reshape(3, -1).norm(dim=1)
    assert (delta <= found["radius"] + 1e-6).all() and found["images"].min() >= 0 and found["images"].max() <= 1
    # margin 1.6 over a gradient of norm 2 needs radius 0.8: 0.04 doubled to 1.28 flips, 0.64 could not
    assert found["radius"][0] == pytest.approx(1.28)
    with pytest.raises(RuntimeError, match="kept their label"):
        smallest_adversarial(model, images[:1], labels[:1], lambda x: x, eps=0.64, steps=50, max_doublings=0)
    assert model.training  # the model is put back in the mode it was in


def test_an_image_that_never_flips_is_an_error():
    model = Linear()
    with pytest.raises(RuntimeError, match="kept their label after 0 doublings"):
        smallest_adversarial(model, torch.tensor([[1.0, 1.0, 0.0, 0.0]]).view(1, 1, 2, 2), torch.tensor([0]),
                             lambda x: x, eps=0.01, steps=2, max_doublings=0)


def test_amun_fine_tunes_on_data_and_adversarial_examples_with_a_step_schedule(trained_model_dir, digits, tmp_path):
    forget = sorted(np.random.default_rng(0).choice(len(digits["train"]), 40, replace=False).tolist())
    config = UnlearningConfig(str(tmp_path / "out"), method="amun", forget_indices=forget, seed=0, use_cpu=True,
                              disable_tqdm=True, num_train_epochs=2, learning_rate=0.01, per_device_train_batch_size=64,
                              num_retain_samples=200, eval_retain_samples=200, logging_steps=1000,
                              method_args={"attack_steps": 10})
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    result = trainer.unlearn()
    combined = trainer.combined_dataset
    sources = np.asarray(combined["source"])
    assert {s: int((sources == s).sum()) for s in set(sources)} == {"retain": 200, "forget": 40, "synthetic_forget": 40}
    adversarial = sources == "synthetic_forget"
    labels, original = np.asarray(combined["label"]), np.asarray(combined["original_label"])
    assert np.array_equal(np.asarray(combined["aux_index"])[adversarial], np.arange(40))
    assert (labels[adversarial] != original[adversarial]).all()  # labelled as the model predicts them: never their own
    assert np.array_equal(labels[sources == "forget"], original[sources == "forget"])  # forget rows keep theirs
    assert result.counts["adversarial_rows"] == 40 and "adversarial_examples" in result.timings
    # the adversarial pixels join the resume key: other examples with the same labels are other fine-tuning data
    fingerprint = trainer.method.data_fingerprint()
    trainer.method.adversarial = trainer.method.adversarial + 1e-3
    assert fingerprint and trainer.method.data_fingerprint() != fingerprint
    trainer.method.adversarial = trainer.method.adversarial - 1e-3
    # the adversarial examples are what the original model misclassifies as their labels say
    with torch.no_grad():
        logits = trainer.model.__class__.from_pretrained(trained_model_dir)(pixel_values=trainer.method.adversarial).logits
    assert np.array_equal(logits.argmax(1).numpy(), labels[adversarial])
    # StepLR(step_size=1 epoch, gamma=0.1): the learning rate is divided by 10 after the first epoch
    steps = trainer.state.max_steps
    factor = trainer.lr_scheduler.lr_lambdas[0]
    assert factor(0) == 1.0 and factor(steps // 2 - 1) == 1.0 and factor(steps // 2) == pytest.approx(0.1)


def test_a_class_request_is_warned_that_the_forget_rows_keep_the_class(trained_model_dir, digits, tmp_path, capsys):
    """Before any work (the trainer's constructor): include_forget true on a class request says what it does and
    the option that changes it; a random request, or include_forget false, is not warned."""
    def build(name, **request):
        config = UnlearningConfig(str(tmp_path / name), method="amun", seed=0, use_cpu=True, **request)
        UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                          eval_dataset=digits["test"])
        return capsys.readouterr().out

    assert "method_args.include_forget: false" in build("class", forget_classes=["3"])
    assert "warning" not in build("advonly", forget_classes=["3"], method_args={"include_forget": False})
    assert "warning" not in build("random", forget_indices=[0, 5, 17])


def test_amun_is_listed_with_its_options():
    from hf_unlearn.methods import describe_methods

    text = describe_methods()
    assert "amun: Fine-tune on the data plus each forget image's closest adversarial example" in text
    assert "method_args.include_forget = True" in text and "method_args.lr_step_epochs = 1.0" in text


def _prepare(model_dir, train, out, log=None, **method_args):
    from transformers import AutoImageProcessor, AutoModelForImageClassification

    from hf_unlearn.data import ImageTransform, model_num_channels
    from hf_unlearn.methods.adversarial import prepare_adversarial
    from hf_unlearn.methods.amun import AmunOptions

    model = AutoModelForImageClassification.from_pretrained(model_dir)
    transform = ImageTransform(AutoImageProcessor.from_pretrained(model_dir), model_num_channels(model))
    config = UnlearningConfig(str(out), method="amun", use_cpu=True)
    options = AmunOptions(**{"attack_steps": 10, "attack_batch_size": 32, **method_args})
    return prepare_adversarial(model, transform, config, options, train, str(out), model_source=model_dir, log=log)


def test_a_prepared_adversarial_set_gives_a_request_the_examples_it_would_compute(trained_model_dir, digits, tmp_path):
    """Made once for every training row (resumed after an interruption), read by a request: the same examples
    and labels as attacking the forget rows in the request; made for another model, with
    other attack settings or without the forget rows, it is refused before any work."""
    from hf_unlearn.methods import adversarial
    from hf_unlearn.options import OptionError

    train = digits["train"].select(range(160))
    forget = [3, 17, 40, 41, 99, 150]
    calls = {"n": 0}

    def interrupt(text):
        calls["n"] += 1
        if calls["n"] == 2:
            raise KeyboardInterrupt

    original_attack = adversarial.attack_rows
    with pytest.raises(KeyboardInterrupt):  # interrupted after two of five batches: the rerun attacks the last three
        _prepare(trained_model_dir, train, tmp_path / "prepared", log=interrupt)
    started = []
    adversarial.attack_rows = lambda *a, **k: started.append(k["start_row"]) or original_attack(*a, **k)
    try:
        prepared = _prepare(trained_model_dir, train, tmp_path / "prepared")
    finally:
        adversarial.attack_rows = original_attack
    assert started == [64] and prepared.record["num_rows"] == 160 and prepared.record["preparation_s"] > 0
    assert not (tmp_path / "prepared.tmp").exists()
    _prepare(trained_model_dir, train, tmp_path / "fresh")
    for name in ("images", "labels", "radius"):  # the resumed set is the uninterrupted one
        assert np.array_equal(np.load(tmp_path / "prepared" / f"{name}.npy"), np.load(tmp_path / "fresh" / f"{name}.npy"))

    def run(folder, data=train, rows=forget, **method_args):
        config = UnlearningConfig(str(tmp_path / folder), method="amun", forget_indices=rows, seed=0, use_cpu=True,
                                  disable_tqdm=True, num_train_epochs=1, learning_rate=0.01,
                                  per_device_train_batch_size=64, num_retain_samples=40, eval_retain_samples=40,
                                  logging_steps=1000, method_args={"attack_steps": 10, **method_args})
        trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=data,
                                    eval_dataset=digits["test"].select(range(60)))
        return trainer, trainer.unlearn()

    # Each image attacked on its own on both sides (attack_batch_size 1): the same computation, so the same examples
    # bit for bit on any machine. (Attacked beside other images, a batched convolution rounds differently per CPU,
    # e.g. AVX2 vs AVX-512, and the radius-doubling search is discontinuous: one image in six took another path.)
    small, rows = train.select(range(48)), forget[:4]  # fewer rows: one search per image is slower
    _prepare(trained_model_dir, small, tmp_path / "single", attack_batch_size=1)
    attacked, attacked_result = run("attacked", small, rows, attack_batch_size=1)
    read, read_result = run("read", small, rows, prepared_path=str(tmp_path / "single"))
    assert torch.equal(read.method.adversarial, attacked.method.adversarial)
    assert read.combined_dataset["label"] == attacked.combined_dataset["label"]
    assert read_result.counts == attacked_result.counts
    assert read.method.attack["prepared"] == 1 and "prepared" not in attacked.method.attack

    with pytest.raises(OptionError, match=r"holds no examples for 1 forget row\(s\) \(e.g. \[1000\]\)"):
        prepared.positions(np.array([3, 1000]))  # a row it was prepared without (e.g. forgotten earlier)
    with pytest.raises(OptionError, match="method_args.attack_steps = 20 but method_args.prepared_path"):
        run("steps", prepared_path=str(tmp_path / "prepared"), attack_steps=20)
    other = tmp_path / "other-model"
    from transformers import AutoModelForImageClassification

    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    with torch.no_grad():
        model.classifier[-1].bias.add_(0.1)
    model.save_pretrained(other)
    import shutil

    for name in ("preprocessor_config.json",):
        shutil.copy(os.path.join(trained_model_dir, name), other / name)
    with pytest.raises(OptionError, match="prepared for other model weights"):
        config = UnlearningConfig(str(tmp_path / "x"), method="amun", forget_indices=forget, use_cpu=True,
                                  method_args={"prepared_path": str(tmp_path / "prepared")})
        UnlearningTrainer(model=str(other), args=config, train_dataset=train)
    with pytest.raises(OptionError, match="holds no prepared adversarial set"):
        config = UnlearningConfig(str(tmp_path / "y"), method="amun", forget_indices=forget, use_cpu=True,
                                  method_args={"prepared_path": str(tmp_path)})
        UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=train)


def test_prepare_command_with_method_amun_then_a_request_reads_it(trained_model_dir, digits, tmp_path):
    import yaml

    from hf_unlearn.cli import main
    from hf_unlearn.methods.adversarial import load_adversarial

    data = tmp_path / "data"
    data.mkdir()
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    common = {"model_name_or_path": trained_model_dir, "dataset_name": str(data), "max_train_samples": 100,
              "use_cpu": True, "disable_tqdm": True, "method": "amun"}
    recipe = tmp_path / "prepare.yaml"
    recipe.write_text(yaml.safe_dump({**common, "output_dir": str(tmp_path / "prepared"),
                                      "method_args": {"attack_steps": 10}}))
    assert main(["prepare", str(recipe)]) == 0
    prepared = load_adversarial(str(tmp_path / "prepared"))
    assert prepared.record["num_rows"] == 100 and prepared.record["command"].startswith("hf-unlearn prepare")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "notes.txt").write_text("mine")
    assert main(["prepare", str(recipe), "--output_dir", str(tmp_path / "busy")]) == 2
    assert (tmp_path / "busy" / "notes.txt").read_text() == "mine"  # a folder with other files is never replaced
    assert main(["prepare", str(recipe), "--push_to_hub", "true", "--hub_model_id", "me/x"]) == 2  # never uploaded
    request = tmp_path / "request.yaml"
    request.write_text(yaml.safe_dump({**common, "output_dir": str(tmp_path / "request"), "forget_indices": [1, 5, 9],
                                       "num_train_epochs": 1, "eval_retain_samples": 50, "max_test_samples": 50,
                                       "method_args": {"attack_steps": 10, "prepared_path": str(tmp_path / "prepared")}}))
    assert main(["run", str(request)]) == 0
    assert (tmp_path / "request" / "unlearning_results.json").is_file()
