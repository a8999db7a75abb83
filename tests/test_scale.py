"""Scale: two processes give the single-process result, LoRA for large models, bf16 and gradient
accumulation pass through, TensorBoard logging offline."""

import json
import math
import re
from pathlib import Path

import pytest
import torch
import yaml
from transformers import AutoModelForImageClassification, ViTConfig, ViTForImageClassification

from hf_unlearn import UnlearningConfig, UnlearningTrainer
from hf_unlearn.cli import main
from hf_unlearn.data import vit_image_processor
from hf_unlearn.scratch import train_classifier

ROOT = Path(__file__).resolve().parents[1]
TINY_GAN = {"gan_generator_channels": 16, "gan_discriminator_channels": 16, "gan_epochs": 2, "gan_min_steps": 60,
            "num_synthetic_retain": 120, "num_synthetic_forget": 120}


def _run_recipe(tmp_path, digits, model_dir, **overrides):
    data = tmp_path / "data"
    if not data.exists():
        data.mkdir()
        digits["train"].to_parquet(str(data / "train.parquet"))
        digits["test"].to_parquet(str(data / "test.parquet"))
    recipe = tmp_path / "run.yaml"
    recipe.write_text(yaml.safe_dump({
        "dataset_name": str(data), "model_name_or_path": model_dir, "method": "multigan", "forget_classes": ["3"],
        "seed": 0, "use_cpu": True, "disable_tqdm": True, "report_to": "none", "num_train_epochs": 3,
        "learning_rate": 0.01, "eval_retain_samples": 400, "logging_steps": 1000, **TINY_GAN, **overrides,
    }))
    return recipe


def test_two_processes_end_with_the_single_process_metrics_and_one_writer(tmp_path, digits, trained_model_dir,
                                                                          launch_two_processes, capsys):
    """Same global batch (2 x 32 vs 1 x 64, GAN 2 x 32 vs 1 x 64): the fine-tuning set is the same rows on
    both ranks and in the single run (same digest), every metric agrees within 0.5 points (here exactly: the
    set fills whole global batches), one process writes."""
    # 1,291 retain + 146 forget + 120 synthetic forget + 171 synthetic retain = 1,728 = 27 global batches of 64
    recipe = _run_recipe(tmp_path, digits, trained_model_dir, num_synthetic_retain=171)
    assert main(["run", str(recipe), "--output_dir", str(tmp_path / "one"), "--per_device_train_batch_size", "64",
                 "--gan_batch_size", "64"]) == 0
    single_log = capsys.readouterr().out
    single = json.loads((tmp_path / "one" / "unlearning_results.json").read_text())
    output = launch_two_processes(["run", str(recipe), "--output_dir", str(tmp_path / "two"),
                                   "--per_device_train_batch_size", "32", "--gan_batch_size", "32"],
                                  cwd=str(tmp_path), config_file=str(ROOT / "recipes/accelerate_configs/multi_process_cpu.yaml"))
    double = json.loads((tmp_path / "two" / "unlearning_results.json").read_text())
    assert len(re.findall(r"written to .* \(process \d\)", output)) == 1 and "(process 0)" in output
    # both ranks built the same fine-tuning set (checked by the trainer across ranks), with the single run's rows
    assert len(re.findall(r"data_reorganization: .*sha256=[0-9a-f]{16}, processes=2", output)) == 1
    assert "data_reorganization" in single_log
    digests = re.findall(r"sha256=([0-9a-f]{16})", single_log), re.findall(r"sha256=([0-9a-f]{16})", output)
    assert digests[0] == digests[1]  # the GANs of 2 processes made the 1-process synthetic images
    assert double["counts"] == single["counts"]
    # global-batch BatchNorm statistics and latent vectors (sync_batchnorm, default): the same training as one
    # process, so every metric agrees within 0.5 points (0.005 for the scores in [0, 1])
    gaps = {key: abs(single["metrics"]["unlearned"][key] - double["metrics"]["unlearned"][key])
            for key in single["metrics"]["unlearned"]}
    for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy"):
        assert gaps[key] <= 0.5, (key, gaps)
    for key in ("mia_score", "mia_auc"):
        assert gaps[key] <= 0.005, (key, gaps)
    assert single["metrics"]["original"] == pytest.approx(double["metrics"]["original"], abs=1e-3)
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == sorted(p.name for p in (tmp_path / "one").iterdir())


def _tiny_vit_original(tmp_path, digits):
    torch.manual_seed(0)
    config = ViTConfig(image_size=16, patch_size=4, num_channels=1, hidden_size=32, num_hidden_layers=2,
                       num_attention_heads=2, intermediate_size=64, num_labels=10)
    processor = vit_image_processor(size={"height": 16, "width": 16}, image_mean=[0.5], image_std=[0.5])
    from transformers import TrainingArguments

    args = TrainingArguments(str(tmp_path / "vit-run"), num_train_epochs=6, learning_rate=2e-3, optim="adamw_torch",
                             per_device_train_batch_size=32, use_cpu=True, report_to="none", save_strategy="no",
                             disable_tqdm=True, remove_unused_columns=False, seed=0)
    model = train_classifier(ViTForImageClassification(config), processor, digits["train"], args)
    model.save_pretrained(tmp_path / "vit")
    processor.save_pretrained(tmp_path / "vit")
    return str(tmp_path / "vit")


def test_lora_trains_adapters_only_and_saves_a_plain_model(tmp_path, digits):
    original_dir = _tiny_vit_original(tmp_path, digits)
    config = UnlearningConfig(str(tmp_path / "out"), method="random_label", forget_classes=["3"], use_peft=True,
                              lora_r=4, lora_alpha=8, learning_rate=5e-3, optim="adamw_torch", optim_args=None,
                              num_train_epochs=3, use_cpu=True, disable_tqdm=True, report_to="none",
                              eval_retain_samples=300, logging_steps=1000)
    result = UnlearningTrainer(model=original_dir, args=config, train_dataset=digits["train"],
                               eval_dataset=digits["test"]).unlearn()
    counts = result.counts
    assert 0 < counts["trainable_parameters"] < 0.5 * counts["parameters"]
    out = tmp_path / "out"
    assert not (out / "adapter_config.json").exists()
    model = AutoModelForImageClassification.from_pretrained(out)
    assert type(model).__name__ == "ViTForImageClassification"
    assert not any("lora" in name for name, _ in model.named_parameters())
    original = AutoModelForImageClassification.from_pretrained(original_dir)
    changed = [n for n, p in model.state_dict().items() if not torch.equal(p, original.state_dict()[n])]
    assert any("attention" in n for n in changed) and any("classifier" in n for n in changed)
    before, after = result.metrics["original"], result.metrics["unlearned"]
    assert after["forget_accuracy"] < before["forget_accuracy"] - 30  # the adapters did the forgetting


def test_bf16_gradient_accumulation_and_tensorboard_pass_through(tmp_path, digits, trained_model_dir):
    config = UnlearningConfig(str(tmp_path / "out"), method="finetune", forget_classes=["3"], bf16=True,
                              gradient_accumulation_steps=2, per_device_train_batch_size=32, num_train_epochs=1,
                              use_cpu=True, disable_tqdm=True, report_to=["tensorboard"], logging_steps=2,
                              eval_retain_samples=300)
    trainer = UnlearningTrainer(model=trained_model_dir, args=config, train_dataset=digits["train"],
                                eval_dataset=digits["test"])
    assert trainer.accelerator.mixed_precision == "bf16"
    trainer.unlearn()
    batches = math.ceil(len(trainer.combined_dataset) / 32)
    assert trainer.state.global_step == math.ceil(batches / 2)
    events = list((tmp_path / "out").rglob("events.out.tfevents.*"))
    assert events, "no TensorBoard event file"
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    scalars = EventAccumulator(str(events[0].parent)).Reload().Tags()["scalars"]
    assert "train/loss" in scalars
