"""Publishing: the card as evidence (model-index, intervals, redaction), the gate, and pushes to a local stand-in
for the Hub that writes every upload into a real folder."""

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from huggingface_hub import ModelCard, RepoUrl
from huggingface_hub.utils import filter_repo_objects

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.cli import main
from hf_unlearn.gate import GateError, check_gate, parse_gate
from hf_unlearn.publish import push_folder

TOKEN = "hf_NotARealTokenButSecret0123456789"


class LocalHub:
    """What the tests give instead of `HfApi`: `create_repo` and `upload_folder` write into `root/<repo_id>`
    (under `path_in_repo` when given), filtering files with huggingface_hub's own pattern matcher."""

    def __init__(self, root: Path):
        self.root = root
        self.calls: list[tuple] = []

    def create_repo(self, repo_id, private=None, exist_ok=False, repo_type=None, token=None, **kwargs):
        self.calls.append(("create_repo", repo_id, private))
        (self.root / repo_id).mkdir(parents=True, exist_ok=exist_ok)
        return RepoUrl(f"https://huggingface.co/{repo_id}")

    def upload_folder(self, repo_id, folder_path, ignore_patterns=None, allow_patterns=None, path_in_repo=None,
                      **kwargs):
        self.calls.append(("upload_folder", repo_id, tuple(ignore_patterns or ())))
        folder = Path(folder_path)
        files = [p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file()]
        for rel in filter_repo_objects(files, allow_patterns=allow_patterns, ignore_patterns=ignore_patterns):
            target = self.root / repo_id / (path_in_repo or "") / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(folder / rel, target)
        return f"https://huggingface.co/{repo_id}/commit/local"

    def pushed(self, repo_id) -> set[str]:
        base = self.root / repo_id
        return {p.relative_to(base).as_posix() for p in base.rglob("*") if p.is_file()} if base.exists() else set()


@pytest.fixture(scope="module")
def published(tmp_path_factory, trained_model_dir, digits):
    """One Multi-GAN run with a reference model, checkpoints, a Hub token and push_to_hub=True."""
    from transformers import AutoModelForImageClassification

    root = tmp_path_factory.mktemp("publish")
    hub = LocalHub(root / "hub")
    forget = sorted(np.random.default_rng(0).choice(len(digits["train"]), 60, replace=False).tolist())
    config = UnlearningConfig(
        str(root / "out"), forget_indices=forget, seed=0, use_cpu=True, disable_tqdm=True,
        method_args={"gan": {"generator_channels": 16, "discriminator_channels": 16, "epochs": 1, "min_steps": 30,
                             "batch_size": 64}, "num_synthetic_retain": 60, "num_synthetic_forget": 60},
        num_train_epochs=1, learning_rate=0.01,
        per_device_train_batch_size=64, eval_retain_samples=300, logging_steps=1000, save_strategy="steps",
        save_steps=10, push_to_hub=True, hub_model_id="me/digits-unlearned", hub_private_repo=True,
        hub_token=TOKEN, push_gate={"min_retain_accuracy": 50, "max_avg_gap": 60},
    )
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"], command=f"hf-unlearn run recipe.yaml --hub_token {TOKEN}",
                                reference_model=AutoModelForImageClassification.from_pretrained(trained_model_dir))
    trainer.hub_api = hub
    result = trainer.unlearn()
    return trainer, result, root / "out", hub, forget, config


def test_card_round_trips_with_every_metric_in_model_index(published):
    _, result, out, _, _, _ = published
    card = ModelCard.load(str(out / "README.md"))
    reported = {(r.metric_type, r.dataset_split): r.metric_value for r in card.data.eval_results}
    unlearned = result.metrics["unlearned"]
    for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_auc", "mia_score", "mia_efficacy",
                "avg_gap"):
        matches = [v for (t, split), v in reported.items() if t == key or (t == "accuracy" and key.startswith(split))]
        assert matches and matches[0] == pytest.approx(unlearned[key], abs=1e-4), key
    assert all(r.dataset_name and r.dataset_split for r in card.data.eval_results)
    assert {"hf-unlearn", "machine-unlearning", "multigan"} <= set(card.data.tags)
    text = card.text
    assert "retrained from scratch (reference)" in text and "original (before unlearning)" in text
    forget_n = result.counts["forget"]
    assert f"| forgotten training images | {forget_n} of {result.counts['train']} |" in text
    assert result.forget_set["sha256"] in text
    # intervals: accuracy cells carry a Wilson interval, e.g. "97.33 [95.9, 98.3]"
    # the Results table's row (the Verdict table above it has a row of the same name)
    results = text.split("## Results", 1)[1]
    row = next(line for line in results.splitlines() if line.startswith("| unlearned (this model)"))
    assert row.count("[") >= 4
    for name in ("evidence/roc_curves.png", "evidence/loss_histograms.png", "evidence/synthetic_samples.png"):
        assert name in text and (out / name).stat().st_size > 0


def test_nothing_published_names_the_forgotten_rows_or_the_token(published, capsys):
    trainer, result, out, hub, forget, _ = published
    report = json.loads((out / "unlearning_report.json").read_text())
    assert "forget_indices" not in report["config"] and "indices" not in report["forget_set"]
    assert report["forget_set"]["sha256"] == result.forget_set["sha256"]
    card = (out / "README.md").read_text()
    assert "forget_indices" not in card and str(forget[:6])[1:-1] not in card
    assert "<redacted>" in card  # the command line's token
    for path in list(out.rglob("*")) + list((hub.root).rglob("*")):
        if path.is_file():
            assert TOKEN.encode() not in path.read_bytes(), path
    assert TOKEN not in capsys.readouterr().out
    assert trainer.args.hub_token is None and trainer._hub_token == TOKEN  # in memory only


def test_push_uploads_model_card_report_and_plots_but_never_the_forget_set(published):
    _, _, out, hub, _, _ = published
    files = hub.pushed("me/digits-unlearned")
    assert {"model.safetensors", "config.json", "preprocessor_config.json", "README.md", "unlearning_report.json",
            "evidence/roc_curves.png", "evidence/loss_histograms.png", "evidence/synthetic_samples.png"} <= files
    assert not {"forget_set.json", "unlearning_results.json", "training_args.bin"} & files
    assert not any(f.startswith(("generators/", "checkpoint-", "runs/")) for f in files)
    assert ("create_repo", "me/digits-unlearned", True) in hub.calls  # private, as asked
    pushed = ModelCard.load(str(hub.root / "me/digits-unlearned" / "README.md"))
    assert pushed.data.eval_results


def test_generators_are_pushed_only_when_asked_and_the_forget_generator_only_with_consent(published, tmp_path):
    _, _, out, _, _, _ = published
    hub = LocalHub(tmp_path)
    push_folder(str(out), "me/with-generators", api=hub, include_generators=True)
    files = hub.pushed("me/with-generators")
    assert "generators/retain/config.json" in files and not any(f.startswith("generators/forget") for f in files)
    push_folder(str(out), "me/with-forget-generator", api=hub, include_generators=True, include_forget_generator=True)
    assert "generators/forget/config.json" in hub.pushed("me/with-forget-generator")


def test_every_checkpoint_gets_a_card_marked_in_progress(published):
    _, _, out, _, _, _ = published
    checkpoints = sorted(out.glob("checkpoint-*"))
    assert checkpoints
    for folder in checkpoints:
        card = ModelCard.load(str(folder / "README.md"))
        assert "Checkpoint in progress" in card.text and "machine-unlearning" in card.data.tags


def test_gate_blocks_a_failing_run_and_pushes_nothing(published, tmp_path, monkeypatch, capsys):
    trainer, _, out, _, _, _ = published
    hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr("hf_unlearn.publish.HfApi", lambda token=None: hub)
    code = main(["push", str(out), "--repo_id", "me/blocked", "--gate", '{"min_test_accuracy": 99.9, "max_avg_gap": 60}'])
    err = capsys.readouterr().err
    assert code != 0 and "min_test_accuracy" in err and "nothing was pushed" in err
    assert "max_avg_gap" not in err  # only the missed threshold is named
    assert hub.calls == [] and not (tmp_path / "hub").exists()
    # the same through the trainer's own push path
    trainer.args.push_gate = {"min_test_accuracy": 99.9}
    trainer.hub_api = hub
    try:
        with pytest.raises(GateError, match="min_test_accuracy"):
            trainer.push_to_hub()
    finally:
        trainer.args.push_gate = None
    assert hub.calls == []
    # and a passing gate pushes
    assert main(["push", str(out), "--repo_id", "me/passed", "--gate", '{"max_avg_gap": 60}']) == 0
    assert "model.safetensors" in hub.pushed("me/passed")


def test_card_command_adds_an_audit_and_the_gate_reads_its_strongest_attack(published, tmp_path, monkeypatch, capsys):
    _, _, out, _, _, _ = published
    folder = tmp_path / "model"
    shutil.copytree(out, folder, ignore=shutil.ignore_patterns("checkpoint-*"))

    def stat(v):
        return {"value": v, "low": v - 0.05, "high": v + 0.05}

    audit = {"counts": {"forget": 60, "nonmember": 180, "population": 180, "retain": 300},
             "reference_models": {"num_models": 2}, "attacks": {"loss": "tier 1", "lira_online": "tier 3"},
             "models": {"unlearned": {
                 "loss": {"tier": 1, "auc": stat(0.55), "balanced_accuracy": stat(0.55),
                          "tpr_at_1pct_fpr": stat(0.02), "tpr_at_01pct_fpr": stat(0.0)},
                 "lira_online": {"tier": 3, "auc": stat(0.71), "balanced_accuracy": stat(0.6),
                                 "tpr_at_1pct_fpr": stat(0.12), "tpr_at_01pct_fpr": stat(0.03)}}}}
    (tmp_path / "audit").mkdir()
    (tmp_path / "audit" / "audit_report.json").write_text(json.dumps(audit))
    assert main(["card", str(folder), "--audit", str(tmp_path / "audit")]) == 0
    card = ModelCard.load(str(folder / "README.md"))
    assert "## Privacy audit" in card.text and "0.710 [0.660, 0.760]" in card.text
    types = {r.metric_type: r.metric_value for r in card.data.eval_results}
    assert types["mia_lira_online_auc"] == pytest.approx(0.71) and types["mia_loss_tpr_at_1pct_fpr"] == pytest.approx(0.02)
    assert (folder / "evidence" / "audit" / "audit_report.json").is_file()
    hub = LocalHub(tmp_path / "hub")
    monkeypatch.setattr("hf_unlearn.publish.HfApi", lambda token=None: hub)
    code = main(["push", str(folder), "--repo_id", "me/x", "--audit", str(tmp_path / "audit"),
                 "--gate", '{"max_mia_auc": 0.6}'])
    assert code != 0 and "max_mia_auc: measured 0.71" in capsys.readouterr().err and hub.calls == []
    assert main(["push", str(folder), "--repo_id", "me/x", "--audit", str(tmp_path / "audit"),
                 "--gate", '{"max_mia_auc": 0.75}']) == 0
    assert "evidence/audit/audit_report.json" in hub.pushed("me/x")


@pytest.mark.parametrize("gate, message", [
    ({"max_forget_acc": 10}, "Unknown push_gate threshold 'max_forget_acc'"),
    ({"below_avg_gap": 1}, "Unknown push_gate threshold"),
    ({"max_mia_auc": 1.5}, "out of range: it must lie in \\[0, 1\\]"),
    ({"min_test_accuracy": 0.9, "max_avg_gap": -1}, "max_avg_gap = -1 is out of range"),
    ({"min_test_accuracy": "high"}, "must be a number"),
    ("{not json", "not valid JSON"),
])
def test_malformed_gates_are_refused_before_any_work(gate, message, tmp_path):
    with pytest.raises(GateError, match=message):
        parse_gate(gate)
    with pytest.raises(ValueError, match=message):
        UnlearningConfig(str(tmp_path), push_gate=gate)


def test_gate_checks_each_threshold_and_fails_unmeasured_ones():
    thresholds = parse_gate({"max_avg_gap": 3, "min_test_accuracy": 40, "max_mia_tpr_at_1pct_fpr": 0.05})
    failures = check_gate(thresholds, {"avg_gap": 3.0, "test_accuracy": 39.5})
    assert failures[0].startswith("min_test_accuracy: measured 39.5")
    assert failures[1].startswith("max_mia_tpr_at_1pct_fpr: mia_tpr_at_1pct_fpr was not measured")
    assert len(failures) == 2  # avg_gap 3.0 <= 3 passes
