"""`hf-unlearn audit` on digits: every attack tier on two saved models, reference models cached and reused."""

import json

import numpy as np
import yaml

from hf_unlearn.audit.reference_models import balanced_membership
from hf_unlearn.cli import main


def test_membership_is_balanced():
    membership = balanced_membership(8, 1000, seed=0)
    assert membership.shape == (8, 1000)
    assert np.all(membership.sum(axis=0) == 4)  # every sample IN exactly half of the references
    assert abs(int(membership[0].sum()) - 500) < 60


def test_audit_reports_every_attack_for_every_model_and_reuses_references(tmp_path, digits, trained_model_dir):
    data = tmp_path / "data"
    data.mkdir()
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    forget = tmp_path / "forget_set.json"
    forget.write_text(json.dumps({"kind": "indices", "indices": list(range(0, 1400, 10))}))
    recipe = tmp_path / "audit.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(data), "models": {"original": trained_model_dir, "same_again": trained_model_dir},
        "forget_set": str(forget), "num_reference_models": 2, "original_epochs": 2, "original_batch_size": 64,
        "reference_cache_dir": str(tmp_path / "refs"), "n_bootstrap": 20, "output_dir": str(tmp_path / "audit"),
        "use_cpu": True, "disable_tqdm": True, "report_to": "none",
    }))
    assert main(["audit", str(recipe)]) == 0
    report = json.loads((tmp_path / "audit" / "audit_report.json").read_text())
    assert report["counts"]["forget"] == 140
    assert report["counts"]["nonmember"] + report["counts"]["population"] == len(digits["test"])
    for name in ("original", "same_again"):
        attacks = report["models"][name]
        assert set(attacks) >= {"loss", "mia_kit", "confidence", "entropy", "modified_entropy", "lira_online",
                                "lira_offline", "rmia_online", "rmia_offline"}
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
