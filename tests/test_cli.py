from pathlib import Path

import pytest

from hf_unlearn import UnlearningConfig
from hf_unlearn.arguments import RunArguments, parse_recipe
from hf_unlearn.audit.command import AuditArguments
from hf_unlearn.benchmark import BenchmarkArguments, configure, method_variants

ROOT = Path(__file__).resolve().parents[1]


def test_every_recipe_parses_with_overrides():
    recipes = sorted((ROOT / "recipes").glob("*/*.yaml"))
    recipes = [r for r in recipes if r.parent.name != "accelerate_configs"]
    assert recipes
    for recipe in recipes:
        kind = {"benchmark": BenchmarkArguments, "tune": BenchmarkArguments, "audit": AuditArguments}.get(
            recipe.stem.split("-")[0], RunArguments)  # audit-*.yaml are audit recipes
        run_args, config = parse_recipe([str(recipe), "--seed", "7"], (kind, UnlearningConfig))
        assert run_args.dataset_name and config.seed == 7 and config.method
        if kind is BenchmarkArguments:  # every method and grid entry names a registered method and real options
            variants = method_variants(run_args.methods, run_args.grid)
            assert variants
            for method, overrides in variants.values():
                configure(config, "x", 0, method, overrides)


def test_unknown_recipe_key_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset_name: x\nforget_fraction: 0.1\ngan_epoch: 3\n")
    with pytest.raises(SystemExit, match="unknown keys \\['gan_epoch'\\]"):
        parse_recipe([str(bad)], (RunArguments, UnlearningConfig))
