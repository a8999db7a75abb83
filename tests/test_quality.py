"""The quality figure of synthetic images (`hf_unlearn.quality`, the `sample_quality` metric module): known inputs
give the known ordering (same distribution ~ 0 KID and high precision / recall; noise far), features are the input
of the classifier's head, and a Multi-GAN run records the figure of each synthetic source beside its references."""

from __future__ import annotations

import numpy as np
import pytest
from transformers import AutoImageProcessor, AutoModelForImageClassification

from hf_unlearn.data import ImageTransform, images_to_dataset
from hf_unlearn.evaluation import predict
from hf_unlearn.quality import ClassifierFeatures, feature_head, label_histogram, noise_images, score_samples


def test_known_distributions_are_ordered():
    rng = np.random.default_rng(0)
    real, same, shifted = rng.normal(size=(400, 16)), rng.normal(size=(400, 16)), rng.normal(1.0, size=(400, 16))
    close, far = score_samples(real, same), score_samples(real, shifted)
    assert abs(close["kid"]) < 0.05 < far["kid"]
    assert close["precision"] > 0.5 > far["precision"] and close["recall"] > 0.5 > far["recall"]
    identical = score_samples(real, real.copy())
    assert identical["precision"] == identical["recall"] == 1.0
    # generated points collapsed onto one real image: realistic (precision) but not diverse (recall)
    collapsed = score_samples(real, real[:1] + 1e-3 * rng.normal(size=(100, 16)))
    assert collapsed["precision"] == 1.0 and collapsed["recall"] < 0.05
    assert (collapsed["num_real"], collapsed["num_generated"]) == (400, 100)


def test_too_few_images_are_refused():
    with pytest.raises(ValueError, match="at least 4 real and generated"):
        score_samples(np.zeros((10, 4)), np.zeros((2, 4)))


def test_label_histogram():
    out = label_histogram(np.array([0, 0, 1, 1]), 4)
    assert out["class_counts"] == [2, 2, 0, 0] and out["class_entropy"] == pytest.approx(0.5)
    assert label_histogram(np.arange(10), 10)["class_entropy"] == 1.0


def test_real_digits_score_better_than_noise_in_the_classifiers_feature_space(trained_model_dir, digits):
    model = AutoModelForImageClassification.from_pretrained(trained_model_dir)
    processor = AutoImageProcessor.from_pretrained(trained_model_dir)
    wrapped = ClassifierFeatures(model)
    head, name = feature_head(model)
    assert name == "classifier" and head is model.classifier
    from transformers import TrainingArguments

    args = TrainingArguments("unused", use_cpu=True, report_to="none", per_device_eval_batch_size=128)
    transform = ImageTransform(processor, num_channels=model.config.num_channels)
    train = digits["train"].select_columns(["image"])

    def features(dataset):
        return predict(wrapped, dataset, transform, args).logits

    real_a, real_b = features(train.select(range(0, 600))), features(train.select(range(600, 1200)))
    assert real_a.shape == (600, model.config.hidden_sizes[-1])
    noise = images_to_dataset(noise_images(600, (8, 8), "L", seed=0), np.zeros(600, dtype=np.int64))
    real_scores, noise_scores = score_samples(real_a, real_b), score_samples(real_a, features(noise))
    assert real_scores["kid"] < noise_scores["kid"]
    assert real_scores["precision"] > noise_scores["precision"] and real_scores["recall"] > noise_scores["recall"]
    # the model still answers with logits afterwards: the hook is removed
    assert predict(model, digits["test"].select(range(8)), transform, args).logits.shape == (8, 10)


@pytest.mark.parametrize("kind, published", [("fraction", False), ("classes", True)])
def test_the_published_report_keeps_no_class_counts_of_deleted_images(kind, published):
    from hf_unlearn.card import redacted_report

    figure = {"against": "forget", "kid": 0.1, "precision": 0.5, "recall": 0.5, "class_counts": [3, 1],
              "class_entropy": 0.81}
    result = {"method": "multigan", "config": {}, "forget_set": {"kind": kind, "fraction": 0.1},
              "synthetic": {"feature_space": "x", "sources": {"synthetic_forget": figure,
                                                               "synthetic_retain": {**figure, "against": "retain"}}}}
    sources = redacted_report(result)["synthetic"]["sources"]
    assert ("class_counts" in sources["synthetic_forget"]) is published
    assert sources["synthetic_retain"]["class_counts"] == [3, 1]
    assert "class_counts" in result["synthetic"]["sources"]["synthetic_forget"]  # the run's own record is kept


def test_the_benchmark_report_tables_the_quality_figure_over_seeds():
    from hf_unlearn.commands.benchmark_report import aggregate, format_quality, quality_metrics

    def record(seed, name, kid):
        synthetic = {"sources": {"synthetic_retain": {"kid": kid, "precision": 0.5, "recall": 0.25},
                                 "noise": {"kid": 3.0, "precision": 0.0, "recall": 0.0}}} if kid is not None else None
        return {"request": "first", "setting": "random", "name": name, "seed": seed,
                "metrics": {"avg_gap": 1.0, **quality_metrics(synthetic)}}

    runs = aggregate([record(0, "multigan", 0.1), record(1, "multigan", 0.3), record(0, "finetune", None),
                      record(1, "finetune", None)])["first"]["random"]
    table = format_quality(runs)
    row = next(line for line in table if line.startswith("| multigan |"))
    assert row.split(" | ")[1:4] == ["0.200", "0.500", "0.250"] and row.split(" | ")[-1] == "3.000 |"
    assert "n/a" in row  # no synthetic forget figure in these records
    assert not any(line.startswith("| finetune |") for line in table)
    assert format_quality(aggregate([record(0, "finetune", None)])["first"]["random"]) == []


def test_a_source_too_small_to_score_is_recorded_not_failed(digits):
    from hf_unlearn.quality import quality_figure

    def features(dataset):  # any fixed map of the images will do: their pixels
        return np.stack([np.asarray(img, dtype=np.float64).ravel() for img in dataset["image"]])

    train = digits["train"]
    three = train.select(range(3)).add_column("original_label", [0, 1, 2])
    record = quality_figure(features, {"synthetic_retain": (train.select(range(3, 23)).add_column(
        "original_label", [0] * 20), "retain"), "synthetic_forget": (three, "forget")},
        {"retain": train.select(range(100, 400)), "forget": train.select(range(3))}, 10, 0, "pixels")
    assert record["sources"]["synthetic_forget"]["skipped"] == "fewer than 4 images on a side"
    assert "kid" not in record["sources"]["synthetic_forget"] and "kid" in record["sources"]["synthetic_retain"]
    assert record["feature_space"] == "pixels, 64 values" and set(record["sources"]) == {
        "synthetic_retain", "synthetic_forget", "real_retain", "noise"}
    from hf_unlearn.card import synthetic_view

    rows = {row["name"]: row for row in synthetic_view(record)["rows"]}
    assert rows["synthetic forget"]["kid"] == "—" and rows["uniform noise (reference)"]["entropy"] == "—"
