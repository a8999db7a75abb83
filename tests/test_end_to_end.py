"""The whole Multi-GAN pipeline on real digits with a tiny ResNet: data, training, evaluation, outputs."""

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from huggingface_hub import ModelCard
from transformers import AutoModelForImageClassification

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.evaluation import predict


def _hash_dir(path: str) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(Path(path).iterdir()) if p.is_file()}


@pytest.fixture(scope="module")
def unlearned(tmp_path_factory, trained_model_dir, digits):
    before = _hash_dir(trained_model_dir)
    out = tmp_path_factory.mktemp("unlearned")
    config = UnlearningConfig(
        str(out), forget_classes=["3"], seed=0, use_cpu=True, disable_tqdm=True,
        method_args={"gan": {"generator_channels": 16, "discriminator_channels": 16, "epochs": 2, "min_steps": 100,
                             "batch_size": 64}, "num_synthetic_retain": 120, "num_synthetic_forget": 120},
        num_train_epochs=3, learning_rate=0.01,
        per_device_train_batch_size=32, eval_retain_samples=400, logging_steps=1000,
    )
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    result = trainer.unlearn()
    return trainer, result, str(out), before


def test_forget_accuracy_drops_while_test_accuracy_holds(unlearned):
    _, result, _, _ = unlearned
    original, after = result.metrics["original"], result.metrics["unlearned"]
    assert original["forget_accuracy"] > 90
    # class 3 is forgotten: well below the original, like a model that never saw a 3
    assert after["forget_accuracy"] < original["forget_accuracy"] - 60
    # the other classes are kept: retain accuracy stays high; test accuracy loses at most the 3s (~10%) + 8 points
    assert after["retain_accuracy"] > 90
    assert after["test_accuracy"] > original["test_accuracy"] - 18
    assert 0.0 <= after["mia_score"] <= 1.0


def test_combined_dataset_labels_and_sources(unlearned, trained_model_dir):
    trainer, result, _, _ = unlearned
    combined = trainer.combined_dataset
    sources = np.asarray(combined["source"])
    labels, original = np.asarray(combined["label"]), np.asarray(combined["original_label"])
    counts = {s: int((sources == s).sum()) for s in set(sources.tolist())}
    assert counts == {"retain": result.counts["retain"], "forget": result.counts["forget"],
                      "synthetic_retain": 120, "synthetic_forget": 120}
    real_forget = sources == "forget"
    assert np.all(original[real_forget] == 3) and np.all(labels[real_forget] == 9 - 3)
    assert np.array_equal(labels[sources == "retain"], original[sources == "retain"])
    assert np.array_equal(labels[sources == "synthetic_retain"], original[sources == "synthetic_retain"])
    synth_forget = sources == "synthetic_forget"
    assert np.array_equal(labels[synth_forget], 9 - original[synth_forget])
    # original_label of synthetic rows is the original model's own prediction (eval mode, same processor)
    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    synthetic = combined.select(np.flatnonzero(synth_forget | (sources == "synthetic_retain")))
    preds = predict(model, synthetic.remove_columns(["label"]), trainer.transform, trainer.args)
    assert np.array_equal(preds.predicted, np.asarray(synthetic["original_label"]))


def test_output_folder_and_model_card(unlearned, digits):
    _, result, out, _ = unlearned
    for name in ("model.safetensors", "config.json", "preprocessor_config.json", "unlearning_results.json",
                 "forget_set.json", "README.md", "generators/retain/config.json", "generators/forget/config.json"):
        assert (Path(out) / name).is_file(), name
    model = AutoModelForImageClassification.from_pretrained(out)
    assert model.config.num_labels == 10
    spec = json.loads((Path(out) / "forget_set.json").read_text())
    assert spec["classes"] == ["3"] and spec["num_forget"] == int(np.sum(np.asarray(digits["train"]["label"]) == 3))
    card = ModelCard.load(str(Path(out) / "README.md"))
    values = {r.metric_type + ":" + (r.dataset_split or ""): r.metric_value for r in card.data.eval_results}
    assert values["mia_score:forget vs test"] == pytest.approx(result.metrics["unlearned"]["mia_score"], abs=1e-4)
    assert values["accuracy:forget"] == pytest.approx(result.metrics["unlearned"]["forget_accuracy"], abs=1e-4)
    assert values["mia_efficacy:forget (attack trained on retain vs test)"] == pytest.approx(
        result.metrics["unlearned"]["mia_efficacy"], abs=1e-4)
    assert "machine-unlearning" in card.data.tags and "multigan" in card.data.tags
    saved = json.loads((Path(out) / "unlearning_results.json").read_text())
    assert saved["forget_set"]["sha256"] == spec["sha256"]
    assert "hub_token" not in saved["config"]


def test_results_hold_the_quality_figure_of_each_synthetic_source(unlearned):
    trainer, result, out, _ = unlearned
    record = result.synthetic
    assert record["feature_space"].startswith("input of the original model's `classifier`")
    sources = record["sources"]
    assert set(sources) == {"synthetic_retain", "synthetic_forget", "real_retain", "noise"}
    assert sources["synthetic_retain"]["against"] == "retain" and sources["synthetic_forget"]["against"] == "forget"
    for name in ("synthetic_retain", "synthetic_forget"):
        assert sources[name]["num_generated"] == 120 and sum(sources[name]["class_counts"]) == 120
    # the references bracket the scale: real images outside the real sample score far better than noise
    assert sources["real_retain"]["kid"] < sources["noise"]["kid"]
    assert sources["real_retain"]["precision"] > sources["noise"]["precision"]
    assert "sample_quality" in result.timings  # timed apart from the request's own work
    saved = json.loads((Path(out) / "unlearning_results.json").read_text())
    assert saved["synthetic"] == json.loads(json.dumps(record))
    card = (Path(out) / "README.md").read_text()
    assert "| uniform noise (reference) | retain |" in card and "| synthetic forget | forget |" in card


def test_original_model_files_are_untouched(unlearned, trained_model_dir):
    _, _, _, before = unlearned
    assert _hash_dir(trained_model_dir) == before


def test_refuses_to_write_into_the_input_model_folder(trained_model_dir, digits):
    config = UnlearningConfig(trained_model_dir, forget_classes=["3"], use_cpu=True)
    with pytest.raises(ValueError, match="overwritten"):
        UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"])


def test_grayscale_data_into_an_rgb_model(digits):
    """Digits are 1-channel; an RGB model gets them converted by its processor path, not an error."""
    from transformers import ResNetForImageClassification

    from hf_unlearn.commands.quickstart import digits_processor, tiny_resnet_config
    from hf_unlearn.data import ImageTransform

    model = ResNetForImageClassification(tiny_resnet_config(num_channels=3))
    transform = ImageTransform(digits_processor(num_channels=3), num_channels=3)
    batch = transform({"image": digits["test"][:4]["image"], "label": digits["test"][:4]["label"]})
    assert batch["pixel_values"][0].shape == (3, 32, 32)
    assert model(pixel_values=torch.stack(batch["pixel_values"])).logits.shape == (4, 10)
