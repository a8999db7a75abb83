"""`hf-unlearn audit` on digits: every attack tier on two saved models, reference models cached and reused."""

import json

import numpy as np
import pytest
import yaml

from hf_unlearn.audit.reference_models import balanced_membership
from hf_unlearn.cli import main


def test_membership_is_balanced():
    membership = balanced_membership(8, 1000, seed=0)
    assert membership.shape == (8, 1000)
    assert np.all(membership.sum(axis=0) == 4)  # every sample IN exactly half of the references
    assert abs(int(membership[0].sum()) - 500) < 60


def _audit_recipe(tmp_path, digits, models, **overrides):
    data = tmp_path / "data"
    data.mkdir(exist_ok=True)
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    forget = tmp_path / "forget_set.json"
    forget.write_text(json.dumps({"kind": "indices", "indices": list(range(0, 1400, 10))}))
    recipe = tmp_path / "audit.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(data), "models": models, "forget_set": str(forget), "num_reference_models": 2,
        "original_epochs": 2, "original_batch_size": 64, "reference_cache_dir": str(tmp_path / "refs"),
        "n_bootstrap": 20, "output_dir": str(tmp_path / "audit"), "use_cpu": True, "disable_tqdm": True,
        "report_to": "none", **overrides,
    }))
    return recipe


def test_reference_cache_key_follows_content_not_how_the_data_was_loaded(tmp_path, digits):
    from datasets import load_dataset

    from hf_unlearn.audit.reference_models import ReferenceSpec, cache_key

    config = {"model_type": "resnet", "hidden_sizes": [8], "id2label": {0: "zero", 1: "one"}}
    train = digits["train"].select(range(50))
    train.to_parquet(str(tmp_path / "train.parquet"))
    reloaded = load_dataset("parquet", data_files=str(tmp_path / "train.parquet"), split="train")
    assert reloaded._fingerprint != train._fingerprint
    key, described = cache_key(train, config, ReferenceSpec(epochs=30))
    assert cache_key(reloaded, config, ReferenceSpec(epochs=30.0))[0] == key  # same rows, same recipe
    assert described["model"]["num_labels"] == 2 and "id2label" not in described["model"]
    renamed = {**config, "id2label": {0: "0", 1: "1"}}  # class names do not change what is learnt
    assert cache_key(train, renamed, ReferenceSpec(epochs=30))[0] == key
    relabelled = train.map(lambda row, i: {"label": (row["label"] + 1) % 10 if i == 7 else row["label"]},
                           with_indices=True)
    assert cache_key(relabelled, config, ReferenceSpec(epochs=30))[0] != key
    assert cache_key(train.select(range(49)), config, ReferenceSpec(epochs=30))[0] != key
    assert cache_key(train, {**config, "hidden_sizes": [16]}, ReferenceSpec(epochs=30))[0] != key
    assert cache_key(train, config, ReferenceSpec(epochs=31))[0] != key
    # references trained with the originals' flips are other models; without, the key is the one cached before
    assert cache_key(train, config, ReferenceSpec(epochs=30, augmentation="flip"))[0] != key
    assert "augmentation" not in described["spec"]


def test_audit_reports_every_attack_for_every_model_and_reuses_references(tmp_path, digits, trained_model_dir):
    recipe = _audit_recipe(tmp_path, digits, {"original": trained_model_dir, "same_again": trained_model_dir})
    assert main(["audit", str(recipe)]) == 0
    report = json.loads((tmp_path / "audit" / "audit_report.json").read_text())
    assert report["counts"]["forget"] == 140
    assert report["counts"]["nonmember"] + report["counts"]["population"] == len(digits["test"])
    for name in ("original", "same_again"):
        attacks = report["models"][name]
        assert set(attacks) >= {"loss", "mia_kit", "svc_confidence", "svc_entropy", "svc_modified_entropy",
                                "lira_online", "lira_offline", "rmia_online", "rmia_offline"}
        for feature in ("confidence", "entropy", "modified_entropy"):
            assert 0 <= attacks[f"svc_{feature}"]["mia_efficacy"] <= 100
        for attack, stats in attacks.items():
            if isinstance(stats, dict) and "auc" in stats:
                for key in ("auc", "balanced_accuracy", "tpr_at_1pct_fpr", "tpr_at_01pct_fpr"):
                    assert stats[key]["low"] <= stats[key]["value"] <= stats[key]["high"], (attack, key)
    # the same model audited twice gets the same numbers
    assert report["models"]["original"]["lira_online"] == report["models"]["same_again"]["lira_online"]
    for name in ("roc_curves.png", "loss_histograms.png"):
        assert (tmp_path / "audit" / name).stat().st_size > 0
    refs = sorted((tmp_path / "refs").rglob("model.safetensors"))
    assert len(refs) == 2
    stamps = [p.stat().st_mtime_ns for p in refs]
    assert main(["audit", str(recipe), "--output_dir", str(tmp_path / "audit2")]) == 0
    assert [p.stat().st_mtime_ns for p in refs] == stamps  # cached: not retrained
    again = json.loads((tmp_path / "audit2" / "audit_report.json").read_text())
    assert again["models"]["original"]["rmia_online"] == report["models"]["original"]["rmia_online"]


def _values(report, model):
    return {f"{attack}.{key}": (stat["value"] if isinstance(stat, dict) else stat)
            for attack, stats in report["models"][model].items() if isinstance(stats, dict)
            for key, stat in stats.items() if key != "tier"}


def test_two_process_audit_gathers_every_row_and_only_the_main_process_writes(tmp_path, digits, trained_model_dir,
                                                                             launch_two_processes):
    """Under 2 processes: with the single-process run's cached references the report is the same number for
    number (predictions gathered across ranks in row order); with an empty cache the references are trained
    data-parallel, written once by the main process, and the reference-free attacks are unchanged."""
    recipe = _audit_recipe(tmp_path, digits, {"original": trained_model_dir})
    assert main(["audit", str(recipe)]) == 0
    single = json.loads((tmp_path / "audit" / "audit_report.json").read_text())

    output = launch_two_processes(["audit", str(recipe), "--output_dir", str(tmp_path / "audit_2proc")],
                                  cwd=str(tmp_path))
    assert "2 processes" in output
    double = json.loads((tmp_path / "audit_2proc" / "audit_report.json").read_text())
    assert double["counts"] == single["counts"]
    expected = _values(single, "original")
    for key, value in _values(double, "original").items():
        assert value == pytest.approx(expected[key], abs=1e-6), key

    output = launch_two_processes(["audit", str(recipe), "--output_dir", str(tmp_path / "audit_fresh"),
                                   "--reference_cache_dir", str(tmp_path / "refs_2proc")], cwd=str(tmp_path))
    assert output.count("reference model 2/2 trained") == 1  # logged by the main process only
    cache = next((tmp_path / "refs_2proc").iterdir())
    assert sorted(p.name for p in cache.iterdir()) == ["cache_key.json", "membership.npy", "ref_0", "ref_1"]  # no .tmp
    assert sorted(p.name for p in (tmp_path / "audit_fresh").iterdir()) == sorted(
        ["audit_report.json", "roc_curves.png", "loss_histograms.png"])
    fresh = _values(json.loads((tmp_path / "audit_fresh" / "audit_report.json").read_text()), "original")
    for key, value in fresh.items():
        if key.startswith(("loss.", "mia_kit.", "svc_")):
            assert value == pytest.approx(expected[key], abs=1e-6), key
        elif key.endswith(".auc"):  # new reference models: same attack strength within noise
            assert value == pytest.approx(expected[key], abs=0.1), key
