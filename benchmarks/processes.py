"""One process against two (CPU, gloo): do N processes unlearn what one process of the same global batch
unlearns? Digits (scikit-learn), a tiny ResNet trained here, Multi-GAN forgetting digit 3, global batch 64
(1 x 64 against 2 x 32, GAN batch likewise), with and without `sync_batchnorm`, once with a fine-tuning set
that fills whole global batches (1,728 rows) and once with a partial last batch (1,677 rows).

    python benchmarks/processes.py /tmp/processes      # about 3 minutes on 2 CPU cores

Prints a Markdown table: each run's metrics and, per metric, the largest |difference| to the 1-process run.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import yaml

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
KEYS = ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy", "mia_score", "mia_auc")
SETTINGS = {"method": "multigan", "forget_classes": ["3"], "seed": 0, "use_cpu": True, "disable_tqdm": True,
            "report_to": "none", "num_train_epochs": 3, "learning_rate": 0.01, "eval_retain_samples": 400,
            "logging_steps": 1000}
#: Multi-GAN's options (method_args), the synthetic retain count and the GAN batch added per run.
GAN = {"generator_channels": 16, "discriminator_channels": 16, "epochs": 2, "min_steps": 60}


def prepare(root: str) -> str:
    """Digits as parquet and a tiny ResNet trained on them (as tests/conftest.py does); returns the model folder."""
    import torch
    from transformers import ResNetForImageClassification, TrainingArguments

    from hf_unlearn.commands.quickstart import digits_processor, tiny_resnet_config
    from hf_unlearn.data import digits_dataset
    from hf_unlearn.scratch import train_classifier

    digits = digits_dataset(seed=0)
    os.makedirs(os.path.join(root, "data"), exist_ok=True)
    digits["train"].to_parquet(os.path.join(root, "data", "train.parquet"))
    digits["test"].to_parquet(os.path.join(root, "data", "test.parquet"))
    args = TrainingArguments(os.path.join(root, "run"), num_train_epochs=8, learning_rate=0.05,
                             per_device_train_batch_size=32, optim="sgd", optim_args="momentum=0.9",
                             lr_scheduler_type="cosine", use_cpu=True, report_to="none", save_strategy="no",
                             disable_tqdm=True, remove_unused_columns=False, seed=0)
    torch.manual_seed(0)
    model = train_classifier(ResNetForImageClassification(tiny_resnet_config()), digits_processor(), digits["train"], args)
    model.save_pretrained(os.path.join(root, "model"))
    digits_processor().save_pretrained(os.path.join(root, "model"))
    return os.path.join(root, "model")


def run(root: str, name: str, recipe: str, processes: int, extra: list[str]) -> dict[str, float]:
    out = os.path.join(root, name)
    shutil.rmtree(out, ignore_errors=True)
    batch = 64 // processes
    with open(recipe) as f:
        method_args = yaml.safe_load(f)["method_args"]
    method_args = {**method_args, "gan": {**method_args["gan"], "batch_size": batch}}
    command = ["-m", "hf_unlearn.cli", "run", recipe, "--output_dir", out, "--per_device_train_batch_size", str(batch),
               "--method_args", json.dumps(method_args), *extra]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "ACCELERATE_USE_CPU": "1"}
    if processes == 1:
        argv = [sys.executable, *command]
    else:
        launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
        argv = [launcher, "launch", "--config_file", os.path.join(ROOT, "recipes/accelerate_configs/multi_process_cpu.yaml"),
                *command]
    done = subprocess.run(argv, env=env, capture_output=True, text=True)
    if done.returncode:
        raise SystemExit((done.stdout + done.stderr)[-3000:])
    with open(os.path.join(out, "unlearning_results.json")) as f:
        return json.load(f)["metrics"]["unlearned"]


def main(root: str) -> None:
    os.makedirs(root, exist_ok=True)
    model = prepare(root)
    lines = ["| fine-tuning set | run | " + " | ".join(KEYS) + " | largest gap (points) |",
             "|---|---|" + "---|" * (len(KEYS) + 1)]
    for rows, synthetic_retain in (("1,728 rows (27 whole global batches)", 171), ("1,677 rows (last batch partial)", 120)):
        recipe = os.path.join(root, f"recipe{synthetic_retain}.yaml")
        with open(recipe, "w") as f:
            yaml.safe_dump({"dataset_name": os.path.join(root, "data"), "model_name_or_path": model,
                            "method_args": {"num_synthetic_retain": synthetic_retain, "num_synthetic_forget": 120,
                                            "gan": GAN}, **SETTINGS}, f)
        one = run(root, f"one{synthetic_retain}", recipe, 1, [])
        for name, processes, extra in (("1 process x 64", 1, None), ("2 processes x 32, sync_batchnorm", 2, []),
                                       ("2 processes x 32, no sync", 2, ["--sync_batchnorm", "false"])):
            metrics = one if extra is None else run(root, f"two{synthetic_retain}{len(extra)}", recipe, processes, extra)
            gap = max(abs(metrics[k] - one[k]) * (100 if k in ("mia_score", "mia_auc") else 1) for k in KEYS)
            lines.append(f"| {rows} | {name} | " + " | ".join(f"{metrics[k]:.3f}" for k in KEYS) + f" | {gap:.2f} |")
    print("\n".join(lines))


if __name__ == "__main__":
    main(sys.argv[1] if len(sys.argv) > 1 else "/tmp/processes")
