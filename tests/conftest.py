"""Shared fixtures: offline, tiny models from configs, scikit-learn's digits as real image data."""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import ResNetForImageClassification, TrainingArguments  # noqa: E402

from hf_unlearn.commands.quickstart import digits_processor, tiny_resnet_config  # noqa: E402
from hf_unlearn.data import digits_dataset  # noqa: E402
from hf_unlearn.scratch import train_classifier  # noqa: E402


@pytest.fixture(scope="session")
def digits():
    """Real digits: 1,437 train / 360 test 8x8 grayscale images with a ClassLabel column."""
    import datasets

    datasets.disable_progress_bars()
    return digits_dataset(seed=0)


@pytest.fixture(scope="session")
def processor():
    return digits_processor()


def make_tiny_model(seed: int = 0) -> ResNetForImageClassification:
    torch.manual_seed(seed)
    return ResNetForImageClassification(tiny_resnet_config())


@pytest.fixture(scope="session")
def trained_model_dir(tmp_path_factory, digits, processor):
    """A tiny ResNet trained on the digits training split, saved like a user's model folder."""
    out = tmp_path_factory.mktemp("original")
    args = TrainingArguments(str(out / "run"), num_train_epochs=8, learning_rate=0.05, per_device_train_batch_size=32,
                             optim="sgd", optim_args="momentum=0.9", lr_scheduler_type="cosine", use_cpu=True,
                             report_to="none", save_strategy="no", disable_tqdm=True, remove_unused_columns=False, seed=0)
    model = train_classifier(make_tiny_model(), processor, digits["train"], args)
    model.save_pretrained(out / "model")
    processor.save_pretrained(out / "model")
    return str(out / "model")


@pytest.fixture(scope="session")
def launch_two_processes():
    return _launch_two_processes


def _launch_two_processes(argv: list[str], cwd: str, config_file: str | None = None) -> str:
    """Run `hf-unlearn <argv>` as 2 CPU processes (gloo) the way the README says to, and return its output.

    `accelerate launch --cpu --num_processes 2` starts one process on CPU; `--multi_gpu` with
    ACCELERATE_USE_CPU=1 (or `config_file`, e.g. recipes/accelerate_configs/multi_process_cpu.yaml) starts two."""
    import shutil
    import subprocess
    import sys

    launcher = shutil.which("accelerate", path=os.path.dirname(sys.executable)) or "accelerate"
    env = {**os.environ, "ACCELERATE_USE_CPU": "1", "OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1",
           "HF_DATASETS_OFFLINE": "1", "HF_UNLEARN_DEBUG": "1"}
    flags = (["--config_file", config_file] if config_file else
             ["--multi_gpu", "--num_processes", "2", "--num_machines", "1", "--mixed_precision", "no",
              "--dynamo_backend", "no"])
    done = subprocess.run([launcher, "launch", *flags, "-m", "hf_unlearn.cli", *argv],
                          cwd=cwd, env=env, capture_output=True, text=True)
    output = done.stdout + done.stderr
    assert done.returncode == 0, output[-6000:]
    return output
