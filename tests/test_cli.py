from pathlib import Path

import pytest

from hf_unlearn import UnlearningConfig
from hf_unlearn.commands.arguments import RunArguments, parse_recipe
from hf_unlearn.commands.audit import AuditArguments
from hf_unlearn.commands.benchmark import BenchmarkArguments, configure, method_variants
from hf_unlearn.errors import UsageError

ROOT = Path(__file__).resolve().parents[1]


def test_every_recipe_parses_with_overrides():
    recipes = sorted((ROOT / "recipes").glob("*/*.yaml"))
    recipes = [r for r in recipes if r.parent.name != "accelerate_configs"]
    assert len({r.parent.name for r in recipes}) >= 4  # CPU CIFAR-10, Fashion-MNIST, Hub ResNet-18, Hub ViT
    for recipe in recipes:
        kind = {"benchmark": BenchmarkArguments, "tune": BenchmarkArguments, "smoke": BenchmarkArguments,
                 "audit": AuditArguments}.get(
            recipe.stem.split("-")[0], RunArguments)  # audit-*.yaml are audit recipes
        readme = recipe.parent / "README.md"
        assert readme.is_file() and f"recipes/{recipe.parent.name}/{recipe.name}" in readme.read_text(), recipe
        # --use_cpu: the GPU recipes ask for bf16, which TrainingArguments refuses on a CPU-only machine otherwise
        run_args, config = parse_recipe([str(recipe), "--seed", "7", "--use_cpu", "true"], (kind, UnlearningConfig))
        assert run_args.dataset_name and config.seed == 7 and config.method
        if kind is BenchmarkArguments:  # every method and grid entry names a registered method and real options
            variants = method_variants(run_args.methods, run_args.grid)
            assert variants
            for method, overrides in variants.values():
                configure(config, "x", 0, method, overrides)


def test_unknown_recipe_key_is_refused(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("dataset_name: x\nforget_fraction: 0.1\ngan_epoch: 3\n")
    with pytest.raises(UsageError, match="unknown keys \\['gan_epoch'\\]"):
        parse_recipe([str(bad)], (RunArguments, UnlearningConfig))


def test_accelerate_configs_load_and_are_documented():
    from accelerate.commands.config.config_args import load_config_from_file

    folder = ROOT / "recipes" / "accelerate_configs"
    readme = (folder / "README.md").read_text()
    kinds = {}
    for path in sorted(folder.glob("*.yaml")):
        config = load_config_from_file(str(path))
        kinds[path.stem] = str(config.distributed_type)
        assert f"`{path.name}`" in readme
    assert {"single_process", "multi_process_cpu", "ddp", "fsdp", "deepspeed_zero2"} <= set(kinds)
    assert "FSDP" in kinds["fsdp"] and "DEEPSPEED" in kinds["deepspeed_zero2"] and "MULTI_GPU" in kinds["ddp"]
