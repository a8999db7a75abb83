from pathlib import Path

import pytest

from hf_unlearn.cli import parse_recipe

ROOT = Path(__file__).resolve().parents[1]


def test_every_recipe_parses_with_overrides():
    recipes = sorted((ROOT / "recipes").glob("*/*.yaml"))
    recipes = [r for r in recipes if r.parent.name != "accelerate_configs"]
    assert recipes
    for recipe in recipes:
        run_args, config = parse_recipe([str(recipe), "--seed", "7"])
        assert run_args.dataset_name and config.seed == 7 and config.method


def test_unknown_recipe_key_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset_name: x\nforget_fraction: 0.1\ngan_epoch: 3\n")
    with pytest.raises(SystemExit, match="unknown keys \\['gan_epoch'\\]"):
        parse_recipe([str(bad)])
