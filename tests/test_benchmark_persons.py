"""The persons benchmark (`hf-unlearn benchmark` with `persons:`) on digits: persons made without a model, kept
apart (validation vs report, disjoint rows), one shared retrain and a second one (the floor), reference folds of
whole persons, each person's request scored from kept logits, and the report's tables."""

from __future__ import annotations

import json

import numpy as np
import pytest
import yaml

from hf_unlearn.cli import main
from hf_unlearn.commands.persons import PersonSpec, draw_persons, group_ids, thumbnail_clusters


def test_persons_are_disjoint_whole_clusters_and_validation_persons_never_reported():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(4), 100)
    pixels = rng.normal(size=(400, 12)) + labels[:, None]
    clusters = thumbnail_clusters(pixels.astype(np.float32), labels, images_per_cluster=10)
    for cluster in np.unique(clusters):  # clusters never mix classes
        assert len(set(labels[clusters == cluster])) == 1
    spec = PersonSpec(count=3, validation=2, images_per_person=10, min_images=3, max_images=30)
    first, second = draw_persons(clusters, spec, 0, True), draw_persons(clusters, spec, 1, False)
    for persons in (first, second):
        rows = np.concatenate([p.rows for p in persons])
        assert len(rows) == len(set(rows.tolist()))  # every person of a seed is its own rows
    for p in (p for p in first if p.kind == "clusters"):
        assert len(set(clusters[p.rows])) == 1 and (clusters == clusters[p.rows[0]]).sum() == len(p.rows)
    validation = {tuple(p.rows) for p in first if p.validation}
    assert len(validation) == 4 and not validation & {tuple(p.rows) for p in second}
    assert not any(p.validation for p in second)
    groups = group_ids(400, first)
    assert all(len(set(groups[p.rows])) == 1 for p in first)


@pytest.fixture(scope="module")
def persons_benchmark(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("persons")
    (root / "data").mkdir()
    digits["train"].to_parquet(str(root / "data" / "train.parquet"))
    digits["test"].to_parquet(str(root / "data" / "test.parquet"))
    recipe = root / "persons.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(root / "data"), "max_train_samples": 800, "holdout_samples": 200,
        "model_config": {"model_type": "resnet", "num_channels": 1, "embedding_size": 8, "hidden_sizes": [16, 32],
                         "depths": [1, 1], "layer_type": "basic", "downsample_in_first_stage": False},
        "image_processor": {"size": {"height": 32, "width": 32}, "image_mean": [0.5], "image_std": [0.5]},
        "original_epochs": 2, "original_batch_size": 32, "seeds": [0],
        "persons": {"count": 2, "validation": 1, "images_per_person": 15, "min_images": 5, "max_images": 40,
                    "thumbnail": 4, "verdict_folds": 2, "retain_eval": 100},
        "methods": {"inversion_only": {"method": "multigan", "min_train_steps": 3, "method_args": {
                        "num_synthetic_retain": 0, "num_synthetic_forget": 0}}},
        "output_dir": str(root / "out"), "report_dir": str(root / "report"), "report_name": "persons",
        "use_cpu": True, "disable_tqdm": True, "report_to": "none", "num_train_epochs": 1, "learning_rate": 0.01,
        "per_device_train_batch_size": 32, "mia_splits": 3,
    }))
    assert main(["benchmark", str(recipe)]) == 0
    return root, recipe, json.loads((root / "report" / "persons.json").read_text())


def test_every_report_person_is_unlearned_on_its_own_and_scored_against_one_shared_retrain(persons_benchmark):
    root, _, summary = persons_benchmark
    records = summary["records"]
    report = [r for r in records if not r["validation"]]
    assert {r["person"] for r in report if r["name"] == "inversion_only"} == {
        "clusters-00", "clusters-01", "random-00", "random-01"}
    assert not [r for r in records if r["validation"] and r["name"] == "inversion_only"]  # run: report
    for r in records:
        if r["name"] == "retrained":
            assert r["metrics"]["avg_gap"] == 0.0
        assert set(r["verdicts"]) == {"0.1", "0.05", "0.2"} and r["images"] == r["verdicts"]["0.1"]["images"]
    table = summary["aggregate"]["report"]["all"]
    assert table["floor"] == pytest.approx(table["retrained_b"]["avg_gap"]) and table["floor"] > 0
    seed = summary["seeds"][0]
    union = set().union(*[set(p["rows"]) for p in seed["persons"]])
    retrain = json.loads((root / "out" / "seed0" / "persons" / "retrained" / "unlearning_results.json").read_text())
    assert set(retrain["forget_set"]["indices"]) == union  # one retrain without every person of the seed
    markdown = (root / "report" / "persons.md").read_text()
    assert "per-person Avg Gap" in markdown and "| inversion_only |" in markdown and "x floor" in markdown


def test_rerunning_the_persons_benchmark_reuses_every_run(persons_benchmark, capsys):
    root, recipe, summary = persons_benchmark
    assert main(["benchmark", str(recipe)]) == 0
    out = capsys.readouterr().out
    assert "fine_tuning" not in out and "verdict reference 1/2 trained" not in out
    again = json.loads((root / "report" / "persons.json").read_text())
    assert [r["metrics"] for r in again["records"]] == [r["metrics"] for r in summary["records"]]
