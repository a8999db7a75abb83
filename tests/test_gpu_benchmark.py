"""benchmarks/gpu_cifar10_resnet18.py: its CPU smoke run (the code path the GPU run takes, tiny) writes a table
with a finite row per registered method, and its pieces (CIFAR stem, tensor augmentation, row datasets that the
library's methods reorganise) do what the script relies on."""

from __future__ import annotations

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "gpu_cifar10_resnet18.py"
SHARED_CIFAR = REPO.parent / "shared" / "data" / "cifar10"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


@pytest.fixture(scope="module")
def bench_module():
    spec = importlib.util.spec_from_file_location("gpu_cifar10_resnet18", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve the module by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def cifar_dir(tmp_path_factory) -> Path:
    """The shared CIFAR-10 parquet files, or (when absent) random 32x32 images in the same schema
    (uoft-cs/cifar10: `img` as datasets.Image, `label` as ClassLabel), written to a temporary folder."""
    if (SHARED_CIFAR / "train.parquet").is_file() and (SHARED_CIFAR / "test.parquet").is_file():
        return SHARED_CIFAR
    from datasets import ClassLabel, Dataset, Features, Image
    from PIL import Image as PILImage

    folder = tmp_path_factory.mktemp("cifar10")
    rng = np.random.default_rng(0)
    features = Features({"img": Image(), "label": ClassLabel(names=CLASSES)})
    for split, rows in (("train", 600), ("test", 300)):
        images = [PILImage.fromarray(rng.integers(0, 256, (32, 32, 3), dtype=np.uint8)) for _ in range(rows)]
        Dataset.from_dict({"img": images, "label": [i % 10 for i in range(rows)]}, features=features).to_parquet(
            str(folder / f"{split}.parquet"))
    return folder


def test_smoke_run_writes_a_finite_row_per_method(tmp_path, cifar_dir):
    from hf_unlearn.methods import available_methods

    out, cache = tmp_path / "out", tmp_path / "cache"
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, str(SCRIPT), "--smoke", "--data_dir", str(cifar_dir), "--output_dir", str(out),
                           "--cache_dir", str(cache)], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    log = done.stdout + done.stderr
    assert done.returncode == 0, log[-6000:]

    summary = json.loads((out / "cifar10-resnet18-gpu-smoke.json").read_text())
    methods = set(available_methods())
    assert summary["device"] == "cpu" and summary["device_type"] == "cpu" and summary["smoke"] is True
    assert set(summary["results"]) == methods | {"original"}
    assert summary["data"]["train"] == 512 and summary["data"]["forget"] == 51 and summary["data"]["test"] == 256
    for name in methods:
        record = summary["results"][name]
        assert record["status"] == "ok", (name, record)
        assert math.isfinite(record["seconds"]) and record["seconds"] > 0, (name, record["seconds"])
        assert math.isfinite(record["time_ratio"]) and record["time_ratio"] > 0
        for key in ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_efficacy", "avg_gap"):
            assert math.isfinite(record["metrics"][key]), (name, key)
        if name != "retrain":
            assert 0 < record["steps"] <= 3  # the smoke cap: every method really trained
    ref = summary["results"]["retrain"]
    assert ref["metrics"]["avg_gap"] == 0.0 and ref["time_ratio"] == 1.0
    assert summary["results"]["multigan"]["preparation_s"] > 0  # the retain GAN, kept out of its seconds
    assert summary["results"]["salun"]["timings"]["saliency_mask"] > 0  # the library's mask ran, inside the request
    assert summary["results"]["scrub"]["batch_plan"] is True  # the library's own passes were followed

    # the Markdown table: one row per method (and the original), every cell a finite number, retrain's gap 0
    table = (out / "cifar10-resnet18-gpu-smoke.md").read_text()
    rows = [line for line in table.splitlines() if line.startswith("| ") and not line.startswith("| method")]
    cells = {row.split("|")[1].strip(): [c.strip() for c in row.split("|")[2:-1]] for row in rows}
    assert set(cells) == methods | {"original"}
    for name, values in cells.items():
        assert len(values) == 7 and all(math.isfinite(float(v)) for v in values), (name, values)
    assert cells["retrain"][4] == "0.00" and cells["retrain"][6] == "1.000"
    assert "gpu-bench" in log and "score salun" in log  # progress lines per phase

    # the images were decoded once into the cache (.npy), which a second run would read
    assert sorted(p.name.split("-")[0] for p in cache.glob("*-images.npy")) == ["test", "train"]


def test_cifar_stem_keeps_resolution_and_survives_reinitialisation(bench_module):
    config = bench_module.resnet_config(bench_module.SMOKE, 10)
    model = bench_module.CifarResNetForImageClassification(config).eval()
    x = torch.randn(2, 3, 32, 32)
    with torch.no_grad():
        stem = model.resnet.embedder(x)
        out = model.resnet(x)
    assert stem.shape[-2:] == (32, 32)  # 3x3 stride-1 conv, no max-pool (the ImageNet stem gives 8x8)
    assert out.last_hidden_state.shape[-2:] == (4, 4)
    fresh = type(model)(model.config)  # how bad_teacher / retrain rebuild a model: same stem
    assert fresh.resnet.embedder.embedder.convolution.kernel_size == (3, 3)
    assert isinstance(fresh.resnet.embedder.pooler, torch.nn.Identity)


def test_augment_is_a_padded_crop_and_maybe_a_flip(bench_module):
    gen = torch.Generator().manual_seed(0)
    images = torch.randint(1, 256, (16, 3, 32, 32), dtype=torch.uint8, generator=gen)
    out = bench_module.Pixels.augment(images, gen)
    assert out.shape == images.shape and out.dtype == torch.uint8
    padded = torch.nn.functional.pad(images, (4, 4, 4, 4))
    for i in range(len(images)):
        crops = [padded[i, :, dy:dy + 32, dx:dx + 32] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(out[i], c) or torch.equal(out[i], c.flip(2)) for c in crops), i
    assert not torch.equal(out, images)  # something moved


def test_row_datasets_survive_the_librarys_reorganisation(bench_module):
    from hf_unlearn.synthesis import combine_sources, invert_labels, with_source

    labels = np.arange(20) % 10
    rows = bench_module.row_dataset(labels)
    retain, forget = rows.select(range(5, 20)), rows.select([3, 1, 4])
    wrong = invert_labels(labels[[3, 1, 4]], 10, "complement")
    combined = combine_sources({"retain": with_source(retain.shuffle(seed=0).select(range(6)), "retain"),
                                "forget": with_source(forget, "forget", wrong)})
    idx, got, is_forget = bench_module.read_rows(combined)
    order = np.random.default_rng(0).permutation(15)[:6] + 5  # Dataset.shuffle(seed) draws this permutation
    assert idx.tolist() == order.tolist() + [3, 1, 4]
    assert got.tolist() == labels[order].tolist() + wrong.tolist()
    assert is_forget.tolist() == [False] * 6 + [True] * 3


def test_a_failing_method_is_recorded_and_fails_the_run(bench_module, monkeypatch, tmp_path, cifar_dir):
    monkeypatch.setitem(bench_module.METHOD_SETTINGS, "neggrad", {"method_args": {"no_such_option": 1}})
    code = bench_module.main(["--smoke", "--data_dir", str(cifar_dir), "--output_dir", str(tmp_path),
                              "--cache_dir", "", "--methods", "neggrad", "finetune"])
    assert code == 1
    summary = json.loads((tmp_path / "cifar10-resnet18-gpu-smoke.json").read_text())
    assert summary["results"]["neggrad"]["status"] == "failed: ValueError"
    assert "no_such_option" in summary["results"]["neggrad"]["error"]  # the library's own option check
    assert summary["results"]["finetune"]["status"] == "ok" and set(summary["results"]) == {
        "original", "retrain", "neggrad", "finetune"}
    assert "| neggrad | - |" in (tmp_path / "cifar10-resnet18-gpu-smoke.md").read_text()
