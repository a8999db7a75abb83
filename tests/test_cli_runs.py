"""The README's commands, run as a user would: the quickstart, and `run` on local parquet files."""

import json

import numpy as np
import pytest
import yaml
from huggingface_hub import ModelCard

from hf_unlearn.cli import main


def test_quickstart_prints_the_table_and_writes_the_output_folder(tmp_path, capsys):
    out = tmp_path / "qs"
    assert main(["quickstart", "--output_dir", str(out)]) == 0
    printed = capsys.readouterr().out
    for row in ("| original |", "| retrained |", "| multigan |", "forget acc", "MIA"):
        assert row in printed
    summary = json.loads((out / "comparison.json").read_text())
    metrics = summary["metrics"]
    assert metrics["original"]["forget_accuracy"] > 95
    assert metrics["retrained"]["forget_accuracy"] < 5  # never saw a 3
    assert metrics["multigan"]["forget_accuracy"] < 20
    assert metrics["multigan"]["test_accuracy"] > metrics["original"]["test_accuracy"] - 20
    from hf_unlearn.evaluation import avg_gap

    assert metrics["multigan"]["avg_gap"] == avg_gap(metrics["multigan"], metrics["retrained"])
    assert metrics["original"]["avg_gap"] > 0
    card = ModelCard.load(str(out / "unlearned" / "README.md"))
    types = {r.metric_type for r in card.data.eval_results}
    assert {"accuracy", "mia_score", "mia_efficacy", "avg_gap"} <= types
    assert (out / "unlearned" / "generators" / "forget" / "config.json").is_file()


def test_run_recipe_on_local_parquet_with_a_saved_model(tmp_path, digits, trained_model_dir, capsys):
    data = tmp_path / "data"
    data.mkdir()
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(data), "model_name_or_path": trained_model_dir, "output_dir": str(tmp_path / "out"),
        "forget_indices": [0, 5, 10, 15, 20, 25, 30, 35], "use_cpu": True, "disable_tqdm": True,
        "method_args": {"num_synthetic_retain": 16, "num_synthetic_forget": 0,
                        "gan": {"epochs": 1, "min_steps": 20, "generator_channels": 8, "discriminator_channels": 8}},
        "num_train_epochs": 1, "mia_splits": 2,
    }))
    assert main(["run", str(recipe), "--seed", "3"]) == 0
    assert "| multigan |" in capsys.readouterr().out
    result = json.loads((tmp_path / "out" / "unlearning_results.json").read_text())
    assert result["counts"]["forget"] == 8 and result["counts"]["finetune_synthetic_retain"] == 16
    assert "finetune_synthetic_forget" not in result["counts"]
    assert result["config"]["seed"] == 3
    assert not (tmp_path / "out" / "generators" / "forget").exists()  # not asked for: not trained
    spec = json.loads((tmp_path / "out" / "forget_set.json").read_text())
    assert spec["indices"] == [0, 5, 10, 15, 20, 25, 30, 35]
    assert np.isfinite(result["metrics"]["unlearned"]["mia_score"])


@pytest.mark.parametrize("case", ["unknown_class", "missing_model"])
def test_bad_request_exits_2_with_a_one_line_reason(tmp_path, capsys, digits, trained_model_dir, case):
    data = tmp_path / "data"
    data.mkdir()
    digits["train"].to_parquet(str(data / "train.parquet"))
    digits["test"].to_parquet(str(data / "test.parquet"))
    out = tmp_path / "out"
    model = trained_model_dir if case == "unknown_class" else str(tmp_path / "no-such-model")
    recipe = tmp_path / "recipe.yaml"
    recipe.write_text(yaml.safe_dump({"dataset_name": str(data), "model_name_or_path": model,
                                      "output_dir": str(out), "forget_classes": ["eleven"], "use_cpu": True}))
    assert main(["run", str(recipe)]) == 2
    err = capsys.readouterr().err
    assert "hf-unlearn: error:" in err and "Traceback" not in err
    assert ("Unknown class 'eleven'" in err) if case == "unknown_class" else ("no-such-model" in err)
    assert not out.exists()
