"""`hf-unlearn benchmark` on digits: every record, the aggregate, the paired differences, the report files,
resuming (keyed on the recipe), per-setting seeds and methods, tuning variants."""

import hashlib
import importlib.util
import json
import math
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

from hf_unlearn import UnlearningConfig
from hf_unlearn.cli import main
from hf_unlearn.commands.benchmark import Benchmark, BenchmarkArguments, method_variants
from hf_unlearn.commands.benchmark_plan import check_sequential, plan_settings
from hf_unlearn.commands.benchmark_report import (
    add_ratios,
    aggregate,
    format_paired,
    format_versus,
    paired_differences,
    update_markdown,
)
from hf_unlearn.evaluation import avg_gap

REPO = Path(__file__).resolve().parents[1]


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


def test_a_setting_carries_its_own_seeds_and_method_settings():
    methods = {"salun": {"learning_rate": 0.01, "method_args": {"mask_ratio": 0.5, "steps": 2}}, "finetune": {}}
    plan = plan_settings({"random": {"forget_fraction": 0.1},
                          "class_cat": {"forget_classes": ["cat"], "seeds": [3, 4],
                                        "methods": {"salun": {"method_args": {"mask_ratio": 0.3}}}}},
                         methods, {"finetune": {"learning_rate": [0.1, 0.2]}}, [0, 1])
    assert plan["random"].seeds == [0, 1] and plan["class_cat"].seeds == [3, 4]
    assert plan["class_cat"].forget == {"forget_classes": ["cat"]}  # `seeds` and `methods` are no forget options
    assert plan["class_cat"].variants["salun"] == ("salun", {"learning_rate": 0.01,
                                                             "method_args": {"mask_ratio": 0.3, "steps": 2}})
    assert plan["random"].variants["salun"][1]["method_args"]["mask_ratio"] == 0.5
    assert set(plan["class_cat"].variants) == {"salun", "finetune[learning_rate=0.1]", "finetune[learning_rate=0.2]"}


def test_an_unknown_method_in_a_setting_fails_before_any_training(tmp_path):
    args = BenchmarkArguments(dataset_name=str(tmp_path / "nowhere"), methods={"finetune": {}},
                              forget_settings={"random": {"forget_fraction": 0.1},
                                               "class_3": {"forget_classes": ["3"], "methods": {"finetun": {}}}})
    config = UnlearningConfig(output_dir=str(tmp_path / "out"), use_cpu=True, report_to="none")
    with pytest.raises(ValueError, match=r"forget setting 'class_3': methods \['finetun'\] are not in"):
        Benchmark(args, config)
    assert not (tmp_path / "out").exists()


def test_aggregate_is_mean_and_sample_std_over_seeds():
    records = [{"request": "first", "setting": "s", "name": "m", "metrics": {"avg_gap": v, "x": 1.0}}
               for v in (1.0, 2.0, 6.0)]
    stats = aggregate(records)["first"]["s"]["m"]
    assert stats["avg_gap"]["mean"] == pytest.approx(3.0)
    assert stats["avg_gap"]["std"] == pytest.approx(np.sqrt(((1 - 3) ** 2 + (2 - 3) ** 2 + (6 - 3) ** 2) / 2))
    assert stats["avg_gap"]["n"] == 3 and stats["x"]["std"] == 0.0


def gap_records(gaps, setting="s"):
    """Hand-made benchmark records: run name -> Avg Gap per seed (seeds 0, 1, ...)."""
    return [{"request": "first", "setting": setting, "name": name, "seed": seed, "metrics": {"avg_gap": gap}}
            for name, values in gaps.items() for seed, gap in enumerate(values)]


def test_ratios_divide_each_seeds_gap_by_doing_nothing_finetuning_and_salun_of_that_seed():
    gaps = {"retrained": [0, 0], "original": [20, 10], "finetune": [8, 4], "salun": [4, 5], "m": [2, 1]}
    records = add_ratios(gap_records(gaps) + gap_records({"original": [30], "m": [3]}, setting="other"))
    m = {r["seed"]: r["metrics"] for r in records if r["name"] == "m" and r["setting"] == "s"}
    assert m[0]["gap_share"] == pytest.approx(0.1) and m[1]["gap_share"] == pytest.approx(0.1)
    assert (m[0]["x_finetune"], m[1]["x_finetune"]) == (pytest.approx(0.25), pytest.approx(0.25))
    assert (m[0]["x_salun"], m[1]["x_salun"]) == (pytest.approx(0.5), pytest.approx(0.2))
    other = next(r["metrics"] for r in records if r["setting"] == "other" and r["name"] == "m")
    assert other["gap_share"] == pytest.approx(0.1) and "x_finetune" not in other  # no fine-tuning run there
    assert not any(k in r["metrics"] for r in records if r["name"] == "retrained" for k in ("gap_share", "x_salun"))
    stats = aggregate(records)["first"]["s"]["m"]["x_salun"]  # the mean of the per-seed ratios
    assert stats["mean"] == pytest.approx(0.35) and stats["n"] == 2


def test_a_forget_set_per_seed_is_drawn_with_that_seed():
    plan = plan_settings({"random": {"forget_fraction": 0.1, "forget_seed": "per_seed"},
                          "fixed": {"forget_fraction": 0.1, "forget_seed": 3}}, {"finetune": {}}, None, [0, 1])
    assert plan["random"].forget_of(0) == {"forget_fraction": 0.1, "forget_seed": 0}
    assert plan["random"].forget_of(7) == {"forget_fraction": 0.1, "forget_seed": 7}
    assert plan["fixed"].forget_of(7) == {"forget_fraction": 0.1, "forget_seed": 3}
    with pytest.raises(ValueError, match="forget_seed = 'per seed'; give an integer >= 0 .* or 'per_seed'"):
        plan_settings({"random": {"forget_fraction": 0.1, "forget_seed": "per seed"}}, {"finetune": {}}, None, [0])


def test_paired_differences_are_mean_and_95pct_t_interval_over_common_seeds():
    gaps = {"retrained": [0, 0, 0], "original": [10, 11, 12], "a": [1, 2, 3], "b": [2, 4, 7], "c": [5, 5.5, 6.5]}
    records = gap_records(gaps) + gap_records({"single": [50]})
    pairs = {(p["a"], p["b"]): p for p in paired_differences(records)["first"]["s"]}
    assert not any("retrained" in pair for pair in pairs) and ("a", "original") in pairs
    t2 = 4.302653  # t quantile 0.975 with 2 degrees of freedom
    ab = pairs[("a", "b")]  # differences -1, -2, -4: mean -7/3, sample variance 7/3
    half = t2 * math.sqrt(7 / 3) / math.sqrt(3)
    assert ab["n"] == 3 and ab["mean"] == pytest.approx(-7 / 3)
    assert (ab["low"], ab["high"]) == (pytest.approx(-7 / 3 - half, abs=1e-5), pytest.approx(-7 / 3 + half, abs=1e-5))
    ac = pairs[("a", "c")]  # differences -4, -3.5, -3.5: mean -11/3, sample variance 1/12
    half = t2 * math.sqrt(1 / 12) / math.sqrt(3)
    assert (ac["low"], ac["high"]) == (pytest.approx(-11 / 3 - half, abs=1e-5), pytest.approx(-11 / 3 + half, abs=1e-5))
    assert pairs[("a", "original")] == {"a": "a", "b": "original", "n": 3, "mean": -9.0, "low": -9.0, "high": -9.0,
                                        "detectable": 0.0}
    assert pairs[("a", "single")] == {"a": "a", "b": "single", "n": 1, "mean": -49.0, "low": None, "high": None,
                                      "detectable": None}


def test_report_names_the_lowest_method_and_those_within_noise():
    gaps = {"retrained": [0, 0, 0], "original": [10, 11, 12], "a": [1, 2, 3], "b": [2, 4, 7], "c": [5, 5.5, 6.5]}
    records = gap_records(gaps)
    lines = format_paired(aggregate(records)["first"]["s"], paired_differences(records)["first"]["s"])
    assert lines[0] == "Lowest mean Avg Gap: **a** — within noise of: b (+2.33 [-1.46, +6.13])."
    assert "| c | +3.67 [+2.95, +4.38] | 3 |" in lines and "| original | +9.00 [+9.00, +9.00] | 3 |" in lines
    del gaps["b"]
    records = gap_records(gaps)
    lines = format_paired(aggregate(records)["first"]["s"], paired_differences(records)["first"]["s"])
    assert lines[0] == ("Lowest mean Avg Gap: **a** — lowest: its paired 95% interval excludes 0 against every "
                        "other method.")
    assert lines[2].startswith("Best (a) vs each other method: mean diff")
    records += gap_records({"single": [50]})  # one seed: no interval, so no claim either way
    lines = format_paired(aggregate(records)["first"]["s"], paired_differences(records)["first"]["s"])
    assert lines[0].endswith("excludes 0 against every other method with an interval; no paired interval "
                             "(fewer than 2 seeds in common) against: single (n=1).")


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
        "methods": {"finetune": {}, "inversion_only": {"method": "multigan", "method_args": {
                        "num_synthetic_retain": 0, "num_synthetic_forget": 0}},
                    "multigan": {"method_args": {"gan": {"epochs": 1, "min_steps": 10, "generator_channels": 8,
                                                         "discriminator_channels": 8},
                                                 "num_synthetic_retain": 32, "num_synthetic_forget": 0}}},
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
        assert result["config"]["method_args"]["retain_generator_path"].endswith("generators/retain")
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


def copied_outputs(digits_benchmark, tmp_path):
    """A copy of the fixture's output folder (with mtimes) and the mtime of every model file in it."""
    out = tmp_path / "out"
    shutil.copytree(digits_benchmark[0] / "out", out)
    return out, {p: p.stat().st_mtime_ns for p in out.rglob("model.safetensors")}


def rerun(digits_benchmark, tmp_path, out, *flags, expect=0, **changes):
    """The fixture's recipe with `changes`, run on `out` (with command-line `flags`); its summary."""
    spec = yaml.safe_load(digits_benchmark[1].read_text())
    spec.pop("benchmarks_md")
    spec.update(output_dir=str(out), report_dir=str(tmp_path / "report"), **changes)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(spec))
    assert main(["benchmark", str(changed), *flags]) == expect
    return json.loads((tmp_path / "report" / "digits.json").read_text()) if expect == 0 else None


def tree_state(folder):
    """Every file under `folder` with its size, modification time and SHA-256: what "nothing changed" compares."""
    return {str(p): (p.stat().st_size, p.stat().st_mtime_ns, hashlib.sha256(p.read_bytes()).hexdigest())
            for p in sorted(folder.rglob("*")) if p.is_file()}


def test_a_changed_recipe_stops_before_emptying_a_finished_run_and_redo_remakes_only_those(
        digits_benchmark, tmp_path, capsys):
    out, stamps = copied_outputs(digits_benchmark, tmp_path)
    stale, keyless = out / "seed0" / "random" / "finetune", out / "seed0" / "random" / "inversion_only"
    (keyless / "benchmark_key.json").unlink()  # finished before keys existed
    methods = yaml.safe_load(digits_benchmark[1].read_text())["methods"]
    changes = {"seeds": [0], "forget_settings": {"random": {"forget_fraction": 0.1}},
               "methods": {**methods, "finetune": {"learning_rate": 0.002}}}
    before = tree_state(out)
    rerun(digits_benchmark, tmp_path, out, expect=2, **changes)  # without --redo: refused, nothing touched
    err = capsys.readouterr().err
    assert "holds a finished run made with other settings" in err and "Nothing was removed" in err and "--redo" in err
    assert (f"{stale} " in err and "learning_rate" in err) or f"{keyless} " in err, err
    assert tree_state(out) == before
    summary = rerun(digits_benchmark, tmp_path, out, "--redo", **changes)
    log = capsys.readouterr().out
    assert log.count("the recipe changed since this run") == 2 and log.count("rerunning (--redo)") == 2
    assert f"{stale}: the recipe changed since this run (key " in log
    assert f"{keyless}: the recipe changed since this run (key none -> " in log
    redone = {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp}
    assert redone == {stale / "model.safetensors", keyless / "model.safetensors"}  # the rest reused, wherever it lies
    result = json.loads((stale / "unlearning_results.json").read_text())
    assert result["config"]["learning_rate"] == 0.002
    key = json.loads((stale / "benchmark_key.json").read_text())
    assert len(key["key"]) == 16 and key["payload"]["overrides"] == {"learning_rate": 0.002}
    finetune = [r for r in summary["records"] if r["name"] == "finetune"]
    assert len(finetune) == 1 and finetune[0]["max_grad_norm"] == result["config"]["max_grad_norm"]
    assert {(r["request"], r["name"]) for r in summary["records"]} == {
        ("first", n) for n in ("original", "retrained", "finetune", "inversion_only", "multigan")} | {
        ("second", "retrained"), ("second", "multigan")}
    assert "paired" in summary and "Lowest mean Avg Gap: **" in (tmp_path / "report" / "digits.md").read_text()


def dry_run(digits_benchmark, tmp_path, out, capsys, **changes):
    """`hf-unlearn benchmark changed.yaml --dry_run` on `out`: its listing (stdout)."""
    spec = yaml.safe_load(digits_benchmark[1].read_text())
    spec.pop("benchmarks_md")
    spec.update(output_dir=str(out), report_dir=str(tmp_path / "report"), **changes)
    changed = tmp_path / "changed.yaml"
    changed.write_text(yaml.safe_dump(spec))
    capsys.readouterr()
    assert main(["benchmark", str(changed), "--dry_run"]) == 0
    return capsys.readouterr().out


def test_dry_run_lists_what_it_would_reuse_and_remake_and_changes_nothing(digits_benchmark, tmp_path, capsys):
    out, _ = copied_outputs(digits_benchmark, tmp_path)
    methods = yaml.safe_load(digits_benchmark[1].read_text())["methods"]
    before = tree_state(out)
    listing = dry_run(digits_benchmark, tmp_path, out, capsys,
                      methods={**methods, "finetune": {"learning_rate": 0.002}})
    assert tree_state(out) == before and not (tmp_path / "report").exists()  # nothing written, moved or removed
    lines = {line.split()[1]: line.split()[0] for line in listing.splitlines() if line.startswith(("reuse", "make", "remake"))}
    assert lines["seed0/original"] == lines["seed1/original"] == "reuse"
    assert lines["seed0/random/retrain"] == lines["seed0/class_3/multigan"] == "reuse"
    assert lines["seed0/random/finetune"] == lines["seed1/class_3/finetune"] == "remake"
    assert lines["seed0/random/second_request/multigan"] == "reuse"
    assert "seed0/random/finetune  (made with other settings (key " in listing and "learning_rate" in listing
    assert "the benchmark stops here without --redo" in listing
    assert "dry run: 18 to reuse, 0 to make, 4 to remake" in listing, listing

    fresh = tmp_path / "fresh"  # nothing made yet: every run listed, no folder created
    listing = dry_run(digits_benchmark, tmp_path, fresh, capsys)
    assert not fresh.exists() and not (tmp_path / "report").exists()
    assert "make    seed1/class_3/multigan  (not made yet)" in listing
    assert "seed0/random/second_request  (after its first request" in listing
    assert "dry run: 0 to reuse, 20 to make, 0 to remake" in listing, listing


def test_settings_with_their_own_seeds_and_method_settings(digits_benchmark, tmp_path):
    out, stamps = copied_outputs(digits_benchmark, tmp_path)
    summary = rerun(digits_benchmark, tmp_path, out, "--redo", seeds=[0, 1, 2], sequential=None, methods={"finetune": {}},
                    forget_settings={"random": {"forget_fraction": 0.1, "seeds": [0]},
                                     "class_3": {"forget_classes": ["3"], "seeds": [1],
                                                 "methods": {"finetune": {"learning_rate": 0.002}}}})
    assert not (out / "seed2").exists()  # no setting needs seed 2: no original trained for it
    assert {(r["seed"], r["setting"], r["name"]) for r in summary["records"]} == {
        (s, setting, n) for s, setting in ((0, "random"), (1, "class_3")) for n in ("original", "retrained", "finetune")}
    tuned = json.loads((out / "seed1" / "class_3" / "finetune" / "unlearning_results.json").read_text())
    assert tuned["config"]["learning_rate"] == 0.002 and tuned["forget_set"]["kind"] == "classes"
    kept = json.loads((out / "seed0" / "random" / "finetune" / "unlearning_results.json").read_text())
    assert kept["config"]["learning_rate"] == 0.01
    redone = {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp}
    assert redone == {out / "seed1" / "class_3" / "finetune" / "model.safetensors"}
    assert summary["seeds_by_setting"] == {"random": [0], "class_3": [1]}
    assert summary["methods_by_setting"]["class_3"]["finetune"]["learning_rate"] == 0.002
    assert "Seeds: class_3 [1]; random [0];" in (tmp_path / "report" / "digits.md").read_text()


def test_a_second_request_on_some_seeds_only(digits_benchmark, tmp_path):
    plan = plan_settings({"random": {"forget_fraction": 0.1}}, {"finetune": {}}, None, [0, 1])
    with pytest.raises(ValueError, match=r"sequential.seeds \[2\] are not seeds of forget setting 'random'"):
        check_sequential({"setting": "random", "methods": ["finetune"], "seeds": [0, 2]}, plan)
    with pytest.raises(ValueError, match="sequential: seeds must be a non-empty list of integers"):
        check_sequential({"setting": "random", "methods": ["finetune"], "seeds": "0"}, plan)
    out, stamps = copied_outputs(digits_benchmark, tmp_path)
    sequential = {"setting": "random", "fraction": 0.05, "methods": ["multigan"], "seeds": [0]}
    summary = rerun(digits_benchmark, tmp_path, out, sequential=sequential, report_focus=["inversion_only"])
    assert {(r["seed"], r["name"]) for r in summary["records"] if r["request"] == "second"} == {
        (0, "retrained"), (0, "multigan")}
    report = (tmp_path / "report" / "digits.md").read_text()  # the focus run against every other, per setting
    assert report.count("inversion_only vs each other method") + report.count("Best (inversion_only)") == 2
    assert {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp} == set()  # every run reused


def test_report_compares_a_focus_method_with_every_other():
    gaps = {"retrained": [0, 0, 0], "original": [10, 11, 12], "a": [1, 2, 3], "b": [2, 4, 7], "c": [5, 5.5, 6.5]}
    records = gap_records(gaps) + gap_records({"single": [50]})
    runs, pairs = aggregate(records)["first"]["s"], paired_differences(records)["first"]["s"]
    lines = format_versus(runs, pairs, "c")
    assert lines[0].startswith("c vs each other method: mean diff of Avg Gap (other - c) [95% CI], paired by seed")
    assert "| a | -3.67 [-4.38, -2.95] | 3 | c higher |" in lines  # the mirror of a - c in the test above
    # b - c: differences -3, -1.5, +0.5 (sd 1.7559); detectable at 80% power: (t.975 + t.80, 2 df) x sd / sqrt(3)
    detectable = (4.302653 + 1.060660) * float(np.std([-3, -1.5, 0.5], ddof=1)) / math.sqrt(3)
    assert f"| b | -1.33 [-5.70, +3.03] | 3 | within noise (detectable: {detectable:.2f}) |" in lines
    assert "| original | +5.33 [+4.62, +6.05] | 3 | c lower |" in lines
    assert "| single | +45.00 | 1 | no interval |" in lines and not any("retrained" in line for line in lines)
    assert format_versus(runs, pairs, "nowhere") == []


def test_a_prepared_variant_is_prepared_once_per_seed_and_costs_apart(digits_benchmark, tmp_path):
    out, _ = copied_outputs(digits_benchmark, tmp_path)
    prepared = {"method": "multigan", "retain_samples_per_forget": 2, "method_args": {
        "prepared_path": "per_seed", "adapt_steps": 5, "num_synthetic_retain": 32, "num_synthetic_forget": 32}}
    gan = {"gan": {"epochs": 1, "min_steps": 10, "generator_channels": 8, "discriminator_channels": 8}}
    summary = rerun(digits_benchmark, tmp_path, out, "--redo", methods={"prepared": prepared}, method_args=gan,
                    sequential={"setting": "random", "fraction": 0.05, "methods": ["prepared"], "seeds": [0]})
    for seed in (0, 1):  # one preparation per seed (the recipe's GAN settings), shared by settings and requests
        record = json.loads((out / f"seed{seed}" / "prepared" / "preparation.json").read_text())
        assert record["settings"]["min_steps"] == 10 and record["num_rows"] == record["num_train"]
        runs = [r for r in summary["records"] if r["seed"] == seed and r["name"] == "prepared"]
        assert len(runs) == (3 if seed == 0 else 2)
        for run in runs:  # the one-time cost in its own column; the request pays for no GAN from scratch
            assert run["metrics"]["one_time_s"] == pytest.approx(record["preparation_s"])
            assert run["timings"]["gan_retain"] == 0.0
            assert run["counts"]["finetune_retain"] == 2 * run["counts"]["forget"]
    second = json.loads((out / "seed0" / "random" / "second_request" / "prepared" /
                         "unlearning_results.json").read_text())  # unlearned from the first request's model
    assert second["config"]["method_args"]["prepared_path"] == str(out / "seed0" / "prepared")
    assert "retain_generator_path" not in second["config"]["method_args"] and second["timings"]["gan_retain"] == 0.0
    report = (tmp_path / "report" / "digits.md").read_text()
    assert "one-time s" in report


def test_keys_follow_the_data_content_not_its_files(digits_benchmark, tmp_path):
    """The same data provisioned again (new modification times, as ../shared is every session) keeps every key:
    a split enters a key as the SHA-256 of its content, the `data_sha256` its runs record."""
    root = digits_benchmark[0]
    out, stamps = copied_outputs(digits_benchmark, tmp_path)
    for name in ("train.parquet", "test.parquet"):
        os.utime(root / "data" / name, (1e9, 1e9))  # same bytes, another mtime
    summary = rerun(digits_benchmark, tmp_path, out)
    assert {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp} == set()  # every run reused
    original = json.loads((out / "seed0" / "original" / "benchmark_key.json").read_text())
    run = json.loads((out / "seed0" / "random" / "finetune" / "unlearning_results.json").read_text())
    assert original["payload"]["data"]["train"] == run["data_sha256"]
    assert len(summary["records"]) == len(digits_benchmark[2]["records"])


def test_rekey_carries_runs_keyed_on_old_fingerprints_over_after_checking_the_data(digits_benchmark, tmp_path):
    """benchmarks/rekey_outputs.py: runs keyed on a split's old `datasets` fingerprint get content keys (parents
    first: a run names its original's key) and are all reused; a folder made on other data is refused."""
    spec = importlib.util.spec_from_file_location("rekey_outputs", REPO / "benchmarks" / "rekey_outputs.py")
    rekey = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(rekey)
    out, stamps = copied_outputs(digits_benchmark, tmp_path)
    stored = rekey.key_files(str(out))
    digest = stored[str(out / "seed0" / "original")]["payload"]["data"]["train"]
    test_digest = stored[str(out / "seed0" / "random" / "finetune")]["payload"]["evaluation"]["test"]
    old = rekey.rekey(stored, {digest: "0123456789abcdef", test_digest: "fedcba9876543210"})  # as before
    for folder, entry in old.items():
        (Path(folder) / "benchmark_key.json").write_text(json.dumps(entry))
    recipe = yaml.safe_load(digits_benchmark[1].read_text())
    recipe.update(output_dir=str(out), report_dir=str(tmp_path / "report"), benchmarks_md=None)
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(recipe))
    result = json.loads((out / "seed0" / "random" / "finetune" / "unlearning_results.json").read_text())
    result["data_sha256"] = "f" * 64  # one run made on other data: refused, nothing written
    results = out / "seed0" / "random" / "finetune" / "unlearning_results.json"
    saved = results.read_text()
    results.write_text(json.dumps(result))
    assert rekey.main([str(path), "--write"]) == 1
    assert json.loads((out / "seed0" / "original" / "benchmark_key.json").read_text()) == old[str(out / "seed0" / "original")]
    results.write_text(saved)
    assert rekey.main([str(path), "--write"]) == 0
    assert {f: e["key"] for f, e in rekey.key_files(str(out)).items()} == {f: e["key"] for f, e in stored.items()}
    assert main(["benchmark", str(path)]) == 0
    assert {p for p, stamp in stamps.items() if p.stat().st_mtime_ns != stamp} == set()  # every run reused


def test_amun_per_seed_reads_one_adversarial_set_per_seed(digits_benchmark, tmp_path):
    """`method_args.prepared_path: per_seed`: every training row of the seed's original attacked once, shared by
    both settings (one-time cost apart, no attack in the request); the second request, from an unlearned model,
    attacks its own forget rows."""
    out, _ = copied_outputs(digits_benchmark, tmp_path)
    amun = {"method": "amun", "method_args": {"prepared_path": "per_seed", "attack_steps": 5}}
    summary = rerun(digits_benchmark, tmp_path, out, seeds=[0], methods={"amun": amun},
                    sequential={"setting": "random", "fraction": 0.05, "methods": ["amun"], "seeds": [0]})
    [folder] = list((out / "seed0").glob("prepared_amun_*"))
    record = json.loads((folder / "preparation.json").read_text())
    assert record["num_rows"] == record["num_train"] and record["attack"]["attack_steps"] == 5
    firsts = [r for r in summary["records"] if r["name"] == "amun" and r["request"] == "first"]
    assert len(firsts) == 2
    for run in firsts:
        assert run["metrics"]["one_time_s"] == pytest.approx(record["preparation_s"])
        assert run["timings"]["adversarial_examples"] < record["preparation_s"]
    first = json.loads((out / "seed0" / "random" / "amun" / "unlearning_results.json").read_text())
    assert first["config"]["method_args"]["prepared_path"] == str(folder)
    [second] = [r for r in summary["records"] if r["name"] == "amun" and r["request"] == "second"]
    assert second["metrics"]["one_time_s"] == 0.0 and second["counts"]["adversarial_rows"] > 0
    timings = second["timings"]  # the attack is part of building the fine-tuning set: counted once
    assert timings["data_reorganization"] >= timings["adversarial_examples"] > 0
    assert second["metrics"]["request_s"] == pytest.approx(timings["data_reorganization"] + timings["fine_tuning"])
    result = json.loads((out / "seed0" / "random" / "second_request" / "amun" / "unlearning_results.json").read_text())
    assert "prepared_path" not in result["config"]["method_args"]


def test_a_new_config_option_keeps_every_benchmark_key(tmp_path):
    """A run's key hashes its whole public config: a field added to UnlearningConfig would change every key and
    rerun every finished benchmark run (issue 17's eight forget and card options did, until they were listed).
    The fields a default config puts in a key are pinned here: a new one must be left out of keys at its default
    (`KEYED_WHEN_SET`) or not keyed at all (`UNKEYED_FIELDS`), then this pin updated."""
    import hashlib

    from hf_unlearn.commands.benchmark_keys import ArtefactKeys

    identity = ArtefactKeys(str(tmp_path), False, print).config_identity(UnlearningConfig(str(tmp_path), use_cpu=True))
    names = sorted(identity)
    assert (len(names), hashlib.sha256(" ".join(names).encode()).hexdigest()[:16]) == (123, "34fd07a09ea8d495"), (
        "the fields in a benchmark key changed: add a new option to KEYED_WHEN_SET (at its default) or "
        f"UNKEYED_FIELDS in hf_unlearn/commands/benchmark_keys.py; keyed now: {names}")
