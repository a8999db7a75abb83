"""Scripts under benchmarks/ that turn results into the tables of BENCHMARKS.md: best_variants.py groups a named
variant (e.g. multigan_prepared) apart from its method; compare_audits.py pairs two variants' audit AUCs by seed."""

import importlib.util
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def script(name):
    spec = importlib.util.spec_from_file_location(name, REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def record(name, gap, method="multigan"):
    return {"request": "first", "setting": "s", "name": name, "method": method, "metrics": {"avg_gap": gap}}


def test_best_variants_keeps_a_named_variant_apart_from_its_method():
    best = script("best_variants")
    methods = {"multigan[lr=1]": {"num_synthetic_retain": 0, "num_synthetic_forget": 0},
               "multigan[lr=2]": {"num_synthetic_retain": 1000, "num_synthetic_forget": 1000},
               "multigan_prepared[lr=1]": {"prepared_generator_path": "per_seed"},
               "multigan_prepared[lr=2]": {"prepared_generator_path": "per_seed"}}
    summary = {"methods": methods, "records": [record("multigan[lr=1]", 1.0), record("multigan[lr=2]", 3.0),
                                               record("multigan_prepared[lr=1]", 0.5),
                                               record("multigan_prepared[lr=2]", 0.2)]}
    groups = best.best_per_setting(summary)["s"]
    assert [r["name"] for r in groups["multigan"]] == ["multigan[lr=1]", "multigan[lr=2]"]
    assert [r["name"] for r in groups["multigan (with GAN data)"]] == ["multigan[lr=2]"]
    assert [r["name"] for r in groups["multigan_prepared"]] == ["multigan_prepared[lr=2]", "multigan_prepared[lr=1]"]


def auc(value, low, high):
    return {"auc": {"value": value, "low": low, "high": high}}


def test_compare_audits_pairs_variants_by_seed():
    compare = script("compare_audits")
    attacks = compare.ATTACKS
    report = {"models": {"original_s0": {a: auc(0.9, 0.88, 0.92) for a in attacks},
                         "a_s0": {a: auc(0.60, 0.58, 0.62) for a in attacks},
                         "a_s1": {a: auc(0.62, 0.60, 0.64) for a in attacks},
                         "a_b_s0": {a: auc(0.61, 0.59, 0.63) for a in attacks},  # variant "a_b" is not "a"
                         "a_b_s1": {a: auc(0.66, 0.64, 0.68) for a in attacks}}}
    assert set(compare.by_seed(report, "a")) == {0, 1} and compare.by_seed(report, "a")[1]["loss"]["auc"]["value"] == 0.62
    lines = compare.compare(report, "a", "a_b")
    assert "| loss | 0 | 0.600 [0.580, 0.620] | 0.610 [0.590, 0.630] | yes |" in lines
    assert "| loss | 1 | 0.620 [0.600, 0.640] | 0.660 [0.640, 0.680] | no |" in lines
    summary = next(line for line in lines if line.startswith("| rmia_online | +0.025"))
    assert "[-0.166, +0.216] | 2 |" in summary  # mean of (+0.01, +0.04), t(0.975, 1) = 12.706 x 0.0212 / sqrt 2
    with pytest.raises(SystemExit, match="no seed audited for both a and c"):
        compare.compare(report, "a", "c")
