"""`hf-unlearn benchmark` on digits: every record, the aggregate, the report files, resuming, tuning variants."""

import json

import numpy as np
import pytest
import yaml

from hf_unlearn.cli import main
from hf_unlearn.commands.benchmark import method_variants
from hf_unlearn.commands.benchmark_report import aggregate, update_markdown
from hf_unlearn.evaluation import avg_gap


def test_grid_expands_into_named_variants():
    variants = method_variants({"salun": {"num_train_epochs": 3}, "finetune": {}},
                               {"salun": {"learning_rate": [0.01, 0.05], "method_args.mask_ratio": [0.5]},
                                "finetune": {"num_synthetic_retain+num_synthetic_forget": [0]}})
    assert variants["salun[learning_rate=0.01,mask_ratio=0.5]"] == (
        "salun", {"num_train_epochs": 3, "learning_rate": 0.01, "method_args": {"mask_ratio": 0.5}})
    assert "salun[learning_rate=0.05,mask_ratio=0.5]" in variants
    assert variants["finetune[num_synthetic_retain=0]"][1] == {
        "method_args": {}, "num_synthetic_retain": 0, "num_synthetic_forget": 0}
    with pytest.raises(ValueError, match="Unknown unlearning method 'sallun'"):
        method_variants({"sallun": {}}, None)


def test_aggregate_is_mean_and_sample_std_over_seeds():
    records = [{"request": "first", "setting": "s", "name": "m", "metrics": {"avg_gap": v, "x": 1.0}}
               for v in (1.0, 2.0, 6.0)]
    stats = aggregate(records)["first"]["s"]["m"]
    assert stats["avg_gap"]["mean"] == pytest.approx(3.0)
    assert stats["avg_gap"]["std"] == pytest.approx(np.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2))
    assert stats["avg_gap"]["n"] == 3 and stats["x"]["std"] == 0.0


def test_markdown_section_is_replaced_between_markers(tmp_path):
    doc = tmp_path / "B.md"
    doc.write_text("# Benchmarks\n\nintro\n")
    update_markdown(str(doc), "x", "first report")
    update_markdown(str(doc), "x", "second report")
    text = doc.read_text()
    assert text.startswith("# Benchmarks\n\nintro") and "second report" in text and "first report" not in text
    assert text.count("<!-- benchmark:x:begin -->") == 1


@pytest.fixture(scope="module")
def digits_benchmark(tmp_path_factory, digits):
    root = tmp_path_factory.mktemp("bench")
    (root / "data").mkdir()
    digits["train"].to_parquet(str(root / "data" / "train.parquet"))
    digits["test"].to_parquet(str(root / "data" / "test.parquet"))
    (root / "BENCH.md").write_text("# Benchmarks\n")
    recipe = root / "bench.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(root / "data"),
        "model_config": {"model_type": "resnet", "num_channels": 1, "embedding_size": 8, "hidden_sizes": [16, 32],
                         "depths": [1, 1], "layer_type": "basic", "downsample_in_first_stage": False},
        "image_processor": {"size": {"height": 32, "width": 32}, "image_mean": [0.5], "image_std": [0.5]},
        "original_epochs": 3, "original_batch_size": 32, "seeds": [0, 1],
        "forget_settings": {"random": {"forget_fraction": 0.1}, "class_3": {"forget_classes": ["3"]}},
        "methods": {"finetune": {}, "inversion_only": {"method": "multigan", "num_synthetic_retain": 0,
                                                        "num_synthetic_forget": 0},
                    "multigan": {"gan_epochs": 1, "gan_min_steps": 10, "gan_generator_channels": 8,
                                 "gan_discriminator_channels": 8, "num_synthetic_retain": 32,
                                 "num_synthetic_forget": 0}},
        "sequential": {"setting": "random", "fraction": 0.05, "methods": ["multigan"]},
        "output_dir": str(root / "out"), "report_dir": str(root / "report"), "report_name": "digits",
        "benchmarks_md": str(root / "BENCH.md"), "use_cpu": True, "disable_tqdm": True, "report_to": "none",
        "num_train_epochs": 1, "learning_rate": 0.01, "per_device_train_batch_size": 32, "mia_splits": 3,
    }))
    assert main(["benchmark", str(recipe)]) == 0
    return root, recipe, json.loads((root / "report" / "digits.json").read_text())


def test_benchmark_runs_every_seed_setting_and_method(digits_benchmark):
    root, _, summary = digits_benchmark
    firsts = [r for r in summary["records"] if r["request"] == "first"]
    for seed in (0, 1):
        for setting in ("random", "class_3"):
            names = {r["name"] for r in firsts if r["seed"] == seed and r["setting"] == setting}
            assert names == {"original", "retrained", "finetune", "inversion_only", "multigan"}
    for record in summary["records"]:
        m = record["metrics"]
        if record["name"] == "retrained":
            assert m["avg_gap"] == 0 and m["time_ratio"] == 1
        else:
            assert m["time_ratio"] == pytest.approx(m["request_s"] / record["retrain_s"])
    # Avg Gap against the retrained model of the same seed and setting
    for record in firsts:
        ref = next(r for r in firsts if r["seed"] == record["seed"] and r["setting"] == record["setting"]
                   and r["name"] == "retrained")
        assert record["metrics"]["avg_gap"] == pytest.approx(avg_gap(record["metrics"], ref["metrics"]))
    stats = summary["aggregate"]["first"]["class_3"]
    assert stats["retrained"]["forget_accuracy"]["mean"] < 5  # never saw a 3
    assert stats["original"]["forget_accuracy"]["mean"] > 90
    assert stats["original"]["avg_gap"]["mean"] > stats["inversion_only"]["avg_gap"]["mean"]
    inversion = [r for r in firsts if r["name"] == "inversion_only"]
    assert all(r["method"] == "multigan" and r["preparation_s"] == 0 and "finetune_synthetic_retain" not in r["counts"]
               for r in inversion)
    assert stats["finetune"]["avg_gap"]["n"] == 2
    for name in ("digits.json", "digits.md", "digits.png"):
        assert (root / "report" / name).stat().st_size > 0
    bench = (root / "BENCH.md").read_text()
    assert "<!-- benchmark:digits:begin -->" in bench and "| multigan |" in bench and "hf-unlearn benchmark" in bench


def test_sequential_request_reuses_the_retain_generator(digits_benchmark):
    root, _, summary = digits_benchmark
    seconds = [r for r in summary["records"] if r["request"] == "second"]
    assert {(r["seed"], r["name"]) for r in seconds} == {(s, n) for s in (0, 1) for n in ("retrained", "multigan")}
    for seed in (0, 1):
        result = json.loads((root / "out" / f"seed{seed}" / "random" / "second_request" / "multigan" /
                             "unlearning_results.json").read_text())
        assert result["config"]["retain_generator_path"].endswith("generators/retain")
        assert result["timings"]["gan_retain"] == 0.0  # loaded, not trained
        assert len(result["forget_set"]["previous_sha256"]) == 1
        assert result["counts"]["forget"] == round(0.05 * result["counts"]["train"])


def test_rerunning_the_benchmark_resumes_from_saved_runs(digits_benchmark):
    root, recipe, summary = digits_benchmark
    stamp = {p: p.stat().st_mtime_ns for p in (root / "out").rglob("model.safetensors")}
    assert main(["benchmark", str(recipe)]) == 0
    again = json.loads((root / "report" / "digits.json").read_text())
    assert {p: p.stat().st_mtime_ns for p in (root / "out").rglob("model.safetensors")} == stamp  # nothing retrained
    assert [r["metrics"] for r in again["records"]] == [r["metrics"] for r in summary["records"]]
