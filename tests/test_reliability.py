"""Interruption and determinism: a run killed (SIGKILL) in the GAN phase or during fine-tuning resumes when the
same command runs again and ends with the uninterrupted run's metrics; the same seed gives the same forget
set, synthetic data and metrics; the input model is never modified and its hash is recorded."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from hf_unlearn.safety import folder_digest

SETTINGS = {"method": "multigan", "forget_classes": ["3"], "seed": 0, "use_cpu": True, "disable_tqdm": True,
            "report_to": "none", "method_args": {"gan": {"generator_channels": 16, "discriminator_channels": 16,
                                                         "epochs": 2, "min_steps": 150},
                                                 "num_synthetic_retain": 120, "num_synthetic_forget": 120},
            "num_train_epochs": 4,
            "learning_rate": 0.01, "per_device_train_batch_size": 32, "eval_retain_samples": 400,
            "logging_steps": 1000}


@pytest.fixture(scope="module")
def recipe(tmp_path_factory, digits, trained_model_dir):
    root = tmp_path_factory.mktemp("reliability")
    (root / "data").mkdir()
    digits["train"].to_parquet(str(root / "data" / "train.parquet"))
    digits["test"].to_parquet(str(root / "data" / "test.parquet"))
    path = root / "run.yaml"
    path.write_text(yaml.safe_dump({"dataset_name": str(root / "data"), "model_name_or_path": trained_model_dir,
                                    **SETTINGS}))
    return path


def _command(recipe: Path, out: Path) -> list[str]:
    return [sys.executable, "-m", "hf_unlearn.cli", "run", str(recipe), "--output_dir", str(out)]


def _env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}


def _run(recipe: Path, out: Path) -> tuple[dict, str]:
    done = subprocess.run(_command(recipe, out), env=_env(), capture_output=True, text=True)
    assert done.returncode == 0, (done.stdout + done.stderr)[-4000:]
    return json.loads((out / "unlearning_results.json").read_text()), done.stdout


def _kill_when(recipe: Path, out: Path, ready, timeout: float = 600) -> None:
    """Start the run and SIGKILL it as soon as `ready(out)` is true."""
    proc = subprocess.Popen(_command(recipe, out), env=_env(), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    start = time.monotonic()
    while not ready(out):
        assert proc.poll() is None, "the run ended before the point where it was to be killed"
        assert time.monotonic() - start < timeout
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert not (out / "unlearning_results.json").exists()


def test_killed_runs_resume_and_end_with_the_uninterrupted_metrics(recipe, tmp_path, trained_model_dir):
    model_hash = folder_digest(trained_model_dir)
    baseline, _ = _run(recipe, tmp_path / "baseline")

    # 1. killed in the GAN phase, after the retain generator was saved: the rerun takes it up, trains the rest
    out = tmp_path / "resumed"
    _kill_when(recipe, out, lambda o: (o / "generators" / "retain" / "training_key.json").exists())
    assert not (out / "generators" / "forget").exists()
    # 2. the rerun is killed again during fine-tuning, once the first epoch's checkpoint is on disk
    _kill_when(recipe, out, lambda o: any((c / "trainer_state.json").exists() for c in o.glob("checkpoint-*")))
    # 3. the same command once more finishes from that checkpoint
    resumed, log = _run(recipe, out)
    assert "resuming fine-tuning from" in log and "gan_retain: 0.0s (resumed=" in log
    for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_score", "mia_efficacy"):
        assert resumed["metrics"]["unlearned"][key] == pytest.approx(baseline["metrics"]["unlearned"][key], abs=1.0), key
    assert resumed["counts"] == baseline["counts"]
    assert not list(out.glob("checkpoint-*")) and not (out / "_resume_key.json").exists()  # cleaned up at the end
    assert not list(out.rglob("*.tmp"))
    assert folder_digest(trained_model_dir) == model_hash
    assert resumed["input_model"]["sha256"] == model_hash == baseline["input_model"]["sha256"]
    assert resumed["forget_set"]["sha256"] == baseline["forget_set"]["sha256"]


def test_same_seed_same_forget_set_synthetic_data_and_metrics(recipe, tmp_path):
    """Two fresh runs with seed 0 (and a forget fraction drawn from the seed): identical forget set, identical
    fine-tuning set (GAN samples and their labels included, by SHA-256), identical metrics."""
    import re

    first, log1 = _run(recipe, tmp_path / "a")
    second, log2 = _run(recipe, tmp_path / "b")
    digest = re.compile(r"data_reorganization: .*sha256=([0-9a-f]{16})")
    assert digest.search(log1).group(1) == digest.search(log2).group(1)
    assert first["forget_set"]["sha256"] == second["forget_set"]["sha256"]
    assert first["metrics"] == second["metrics"]
    assert first["data_sha256"] == second["data_sha256"]
