"""SalUn's Table-1 protocol (Fan et al. 2024) on one GPU in under 10 minutes: CIFAR-10, ResNet-18, a random 10%
forget set, every registered unlearning method, one seed.

The command (one run; an estimated 4-6 minutes on one H100, not yet measured; no method starts after
--time_budget_s = 420 s, and the table is rewritten after every method, so a cut-off run still leaves one):

    HF_HUB_OFFLINE=1 python benchmarks/gpu_cifar10_resnet18.py --output_dir benchmarks/results/gpu

On a lent device (the `device` tool), as one prepared command with the wheels and data it lacks:
`bash benchmarks/gpu_run.sh --prepare` here, then `bash benchmarks/gpu_run.sh` there (see that file).

Smoke test of the same code path on CPU (tiny ResNet, 512 / 256 images, 3 steps per method, under a minute):

    HF_HUB_OFFLINE=1 python benchmarks/gpu_cifar10_resnet18.py --smoke --output_dir /tmp/gpu-bench-smoke

What it does, in order (each phase prints its elapsed seconds):
1. Decodes the CIFAR-10 parquet files (`--data_dir`, the schema of uoft-cs/cifar10: `img`, `label`) once with PIL
   into uint8 arrays, cached as .npy under `--cache_dir` (default .cache/gpu-bench/), and moves them to the device.
2. Trains the original HF ResNet-18 (`ResNetConfig`: basic blocks, depths [2,2,2,2], widths 64-128-256-512,
   10 labels) from scratch on all 50,000 training images: 20 epochs, batch 512, SGD nesterov, one-cycle, random
   crop (pad 4) + flip on device tensors, bf16 autocast, channels_last. Target: >= 92% test accuracy. The model
   is HF's class with a CIFAR stem (`CifarResNetForImageClassification`).
3. Draws the forget set with the library (`ForgetSet.random_fraction(0.1, seed)`: 5,000 images) and retrains the
   reference from scratch on the 45,000 retain images with the original's recipe (`retrain`).
4. Runs every other registered method from a copy of the original through the library's own method object
   (`run_method`): its data (`build_train_dataset`), batch order (`batch_plan`), loss (`compute_loss`) and
   callbacks (`callbacks`), its `UnlearningConfig` (settings: `METHOD_SETTINGS`), in a tensor loop on the device.
5. Scores every model with the library (`hf_unlearn.evaluation.score_predictions`: forget / retain / test
   accuracy, SalUn's MIA-efficacy; `avg_gap` to the retrained model) on the sets the library scores (the whole
   forget set, a seeded `eval_retain_samples` = 2,000-image retain sample, the test set), and writes `<stem>.md`
   and `<stem>.json` to `--output_dir`.

Seconds are a method's whole request on the device (building its data, teachers, saliency mask, forget GAN,
fine-tuning; synchronised), scoring excluded. As in the CPU benchmark (`request_seconds`), Multi-GAN's retain GAN
is one-time preparation (`preparation_s`), not counted. `x retrain` is seconds / the retrain's seconds.

Multi-GAN alone is not built by the library's `build_train_dataset` (its GANs read decoded images): `multigan_data`
below is a minimal driver of it from library pieces. Needs a CUDA build of torch for the GPU run (the checkout's
.venv may hold a CPU build); `--methods a b` runs a subset (the reference `retrain` always runs).
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import dataclasses
import hashlib
import io
import json
import math
import os
import sys
import time
import traceback
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as F  # noqa: E402
from torch import nn  # noqa: E402

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import datasets  # noqa: E402
from datasets import Dataset, Features, Image, Value  # noqa: E402
from transformers import ResNetConfig, ResNetForImageClassification, Trainer, TrainerControl  # noqa: E402
from transformers.models.resnet.modeling_resnet import ResNetConvLayer  # noqa: E402

from hf_unlearn.config import UnlearningConfig  # noqa: E402
from hf_unlearn.constants import AUX_INDEX, FORGET_SOURCES  # noqa: E402
from hf_unlearn.evaluation import Predictions, avg_gap, score_predictions  # noqa: E402
from hf_unlearn.finetuning import (  # noqa: E402
    FineTuningSteps,
    decay_groups,
    fine_tuning_max_grad_norm,
    fine_tuning_optimizer,
    fine_tuning_scheduler,
    fine_tuning_steps,
    plan_fine_tuning,
)
from hf_unlearn.forget import ForgetSet  # noqa: E402
from hf_unlearn.methods import available_methods, get_method  # noqa: E402
from hf_unlearn.methods.multigan_options import merge_method_args  # noqa: E402
from hf_unlearn.synthesis import invert_labels  # noqa: E402

# ============================================================================================== settings
#: The reference; every other method is compared with it (Avg Gap, x retrain) and it always runs.
REFERENCE = "retrain"
#: Order the other methods run in (cheap first; Multi-GAN, which trains two GANs, last).
METHOD_ORDER = ("finetune", "neggrad", "neggrad_plus", "random_label", "salun", "l1_sparse", "scrub",
                "bad_teacher", "multigan")
#: `UnlearningConfig` fields every method gets (on top of the library's defaults: SGD momentum 0.9, weight decay
#: 5e-4, cosine schedule, no warm-up, gradient clipping as the method's reference code: none): SalUn's batch 256.
COMMON_CONFIG: dict[str, Any] = {"per_device_train_batch_size": 256}
#: Random crop (pad 4) + flip of the unlearning batches, as SalUn's code (its unlearning loaders keep the training
#: transforms). The library's own Trainer path has no augmentation here; a method's "augment" key overrides this.
UNLEARN_AUGMENT = True
#: Each method's `UnlearningConfig` overrides (any of its fields: learning_rate, num_train_epochs, optim,
#: lr_scheduler_type, method_args (Multi-GAN: its `gan` settings), ...; `method_args` are checked by the method's `Options`) plus the
#: optional driver key "augment". STARTING POINTS, NOT TUNED on this setup: choose them on a validation split
#: (never on the test split reported), as recipes/cifar10-resnet10-cpu/tune.yaml does for the CPU benchmark.
#: Epochs are small on purpose: the reference retrains in 20 epochs here (SalUn's in 182), so a 10-epoch method
#: would cost half a retrain.
METHOD_SETTINGS: dict[str, dict[str, Any]] = {
    "finetune": {"learning_rate": 0.02, "num_train_epochs": 3},
    "neggrad": {"learning_rate": 1e-4, "num_train_epochs": 5},  # SalUn's GA range: lr 1e-5 .. 1e-4, 5 epochs
    "neggrad_plus": {"learning_rate": 0.01, "num_train_epochs": 2},
    "random_label": {"learning_rate": 0.01, "num_train_epochs": 2},
    "salun": {"learning_rate": 0.01, "num_train_epochs": 2, "method_args": {"mask_ratio": 0.5}},
    "l1_sparse": {"learning_rate": 0.02, "num_train_epochs": 3, "method_args": {"l1_weight": 5e-5}},
    # the authors' CIFAR settings: 3 epochs, constant lr 5e-4, retain batches 128 (forget batches: method_args)
    "scrub": {"learning_rate": 5e-4, "num_train_epochs": 3, "lr_scheduler_type": "constant",
              "per_device_train_batch_size": 128},
    # the authors' optimizer: Adam lr 1e-4, no weight decay
    "bad_teacher": {"learning_rate": 1e-4, "num_train_epochs": 1, "optim": "adamw_torch", "weight_decay": 0.0},
    # the paper's DCGANs (64/64), 10 GAN epochs instead of 20; synthetic counts unset = as many as the forget set
    "multigan": {"learning_rate": 0.02, "num_train_epochs": 2,
                 "method_args": {"gan": {"epochs": 10.0}, "label_inversion": "complement"}},
    # the authors' reported setting: lr 0.01 divided by 10 every epoch (method_args.lr_step_epochs 1), 10 epochs;
    # its adversarial examples are computed per request here (`hf-unlearn prepare` makes them once), inside the
    # timed request
    "amun": {"learning_rate": 0.01, "num_train_epochs": 10},
    # NoT (the stem's weights negated) and CoUn (CE + contrastive views): the shared cosine recipe, CoUn's
    # harness range lr 0.01-0.1, epochs as finetune's
    "negate_layers": {"learning_rate": 0.02, "num_train_epochs": 3},
    "coun": {"learning_rate": 0.02, "num_train_epochs": 3},
}
#: CIFAR-10 channel statistics (as recipes/cifar10-resnet10-cpu's image processor).
MEAN, STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)


@dataclass(frozen=True)
class Profile:
    """Sizes of one run: the full GPU benchmark or the CPU smoke test (same code path)."""

    name: str
    train_rows: int | None  # None: all
    test_rows: int | None
    model: dict[str, Any]  # ResNetConfig fields
    epochs: int  # original and retrained reference
    batch_size: int
    peak_lr: float
    max_method_steps: int | None = None  # cap on each method's optimizer steps (smoke only)
    eval_batch_size: int = 1024
    config: dict[str, Any] = field(default_factory=dict)  # UnlearningConfig overrides for every method
    method_args: dict[str, dict[str, Any]] = field(default_factory=dict)  # method -> its method_args overrides
    time_budget_s: float | None = 420.0  # no new method starts after this many seconds (the GPU run has 9 min)


FULL = Profile("full", None, None, {"embedding_size": 64, "hidden_sizes": [64, 128, 256, 512], "depths": [2, 2, 2, 2]},
               epochs=20, batch_size=512, peak_lr=0.2)
SMOKE = Profile("smoke", 512, 256, {"embedding_size": 8, "hidden_sizes": [8, 16, 32, 64], "depths": [1, 1, 1, 1]},
                epochs=1, batch_size=64, peak_lr=0.05, max_method_steps=3, eval_batch_size=256,
                config={"per_device_train_batch_size": 32},
                method_args={"multigan": {"gan": {"generator_channels": 8, "discriminator_channels": 8, "epochs": 1.0,
                                                  "min_steps": 2, "batch_size": 32}}},
                time_budget_s=None)


# ============================================================================================== clock
class Clock:
    """Wall time since start, progress lines, and per-phase seconds (device-synchronised)."""

    def __init__(self, device: torch.device):
        self.device = device
        self.start = time.perf_counter()
        self.phases: dict[str, float] = {}

    def elapsed(self) -> float:
        return time.perf_counter() - self.start

    def log(self, message: str) -> None:
        print(f"[gpu-bench {self.elapsed():6.1f}s] {message}", flush=True)

    def sync(self) -> None:
        if self.device.type == "cuda":
            torch.cuda.synchronize(self.device)

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        self.sync()
        start = time.perf_counter()
        self.log(f"{name}: start")
        try:
            yield
        finally:
            self.sync()
            seconds = time.perf_counter() - start
            self.phases[name] = self.phases.get(name, 0.0) + seconds
            self.log(f"{name}: {seconds:.1f}s")


# ============================================================================================== data
def decode_split(path: Path, rows: int | None, cache_dir: Path | None) -> tuple[np.ndarray, np.ndarray]:
    """(images uint8 (N, 32, 32, 3), labels int64 (N,)) of a uoft-cs/cifar10-style parquet file, decoded with PIL
    once; cached as .npy keyed by the file's path, size, mtime and the row limit."""
    stat = path.stat()
    key = hashlib.sha256(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{rows}".encode()).hexdigest()[:16]
    cached = [cache_dir / f"{path.stem}-{key}-{part}.npy" for part in ("images", "labels")] if cache_dir else []
    if cached and all(p.is_file() for p in cached):
        return np.load(cached[0]), np.load(cached[1])
    import pyarrow.parquet as pq
    from PIL import Image as PILImage

    table = pq.read_table(path)
    image_col = next((c for c in ("img", "image") if c in table.column_names), None)
    label_col = next((c for c in ("label", "labels") if c in table.column_names), None)
    if image_col is None or label_col is None:
        raise ValueError(f"{path}: expected columns img (or image) and label, as uoft-cs/cifar10; got {table.column_names}.")
    if rows is not None:
        table = table.slice(0, rows)
    blobs = table.column(image_col).combine_chunks().field("bytes").to_pylist()
    images = np.empty((len(blobs), 32, 32, 3), dtype=np.uint8)
    for i, blob in enumerate(blobs):
        img = PILImage.open(io.BytesIO(blob)).convert("RGB")
        if img.size != (32, 32):
            raise ValueError(f"{path} row {i} is {img.size[0]}x{img.size[1]}; this benchmark expects 32x32 CIFAR.")
        images[i] = np.asarray(img)
    labels = np.asarray(table.column(label_col).to_pylist(), dtype=np.int64)
    if cached:
        cache_dir.mkdir(parents=True, exist_ok=True)
        for target, array in zip(cached, (images, labels), strict=True):
            tmp = target.with_suffix(".tmp")
            with open(tmp, "wb") as f:
                np.save(f, array)
            os.replace(tmp, target)
    return images, labels


def to_device(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """(N, 32, 32, 3) uint8 numpy -> (N, 3, 32, 32) uint8 tensor on the device."""
    return torch.from_numpy(images).permute(0, 3, 1, 2).contiguous().to(device)


class Pixels:
    """uint8 images -> normalised float model input (channels_last on GPU); crop + flip augmentation on tensors."""

    def __init__(self, device: torch.device, channels_last: bool):
        self.mean = torch.tensor(MEAN, device=device).view(1, 3, 1, 1)
        self.std = torch.tensor(STD, device=device).view(1, 3, 1, 1)
        self.channels_last = channels_last

    def normalize(self, images: torch.Tensor) -> torch.Tensor:
        x = images.float().div_(255.0).sub_(self.mean).div_(self.std)
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x

    @staticmethod
    def augment(images: torch.Tensor, generator: torch.Generator, pad: int = 4) -> torch.Tensor:
        """A random crop of each zero-padded image (pad 4) and a random horizontal flip, on uint8 tensors."""
        n, c, h, w = images.shape
        device = images.device
        padded = F.pad(images, (pad, pad, pad, pad))
        dy = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
        dx = torch.randint(0, 2 * pad + 1, (n,), device=device, generator=generator)
        rows = (dy[:, None] + torch.arange(h, device=device))[:, None, :, None]
        cols = (dx[:, None] + torch.arange(w, device=device))[:, None, None, :]
        out = padded[torch.arange(n, device=device)[:, None, None, None],
                     torch.arange(c, device=device)[None, :, None, None], rows, cols]
        flip = torch.rand(n, device=device, generator=generator) < 0.5
        return torch.where(flip[:, None, None, None], out.flip(3), out)


@dataclass
class TrainSet:
    """A method's training rows on the device: uint8 images, training labels, and which rows are forget rows."""

    images: torch.Tensor
    labels: torch.Tensor
    is_forget: torch.Tensor
    aux: torch.Tensor | None = None  # a method's own per-row index (AUX_INDEX, e.g. amun's adversarial rows)

    def __len__(self) -> int:
        return int(self.labels.shape[0])

    @staticmethod
    def concat(*parts: TrainSet) -> TrainSet:
        parts = tuple(p for p in parts if len(p))
        return TrainSet(*(torch.cat([getattr(p, k) for p in parts]) for k in ("images", "labels", "is_forget")))


#: Rows of the training set as a `datasets.Dataset` the library's methods reorganise (select, shuffle, relabel,
#: concatenate) exactly as they do real data: `image` carries no pixels, only "row:<index>" in the Image
#: feature's `path` (never decoded); `TrainSet`s and `RowPixels` map it back to the images on the device.
ROW_FEATURES = Features({"image": Image(decode=False), "label": Value("int64")})


def row_dataset(labels: np.ndarray) -> Dataset:
    return Dataset.from_dict({"image": [{"bytes": None, "path": f"row:{i}"} for i in range(len(labels))],
                              "label": labels.tolist()}, features=ROW_FEATURES)


def row_indices(images: list[dict[str, Any]]) -> np.ndarray:
    return np.fromiter((int(img["path"][4:]) for img in images), dtype=np.int64, count=len(images))


def read_rows(dataset: Dataset) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(training-set row index, label, is a forget row) of every row of a row dataset, e.g. the combined dataset a
    method's `build_train_dataset` made of them (columns image, label, original_label, source)."""
    columns = [c for c in ("image", "label", "source") if c in dataset.column_names]
    table = dataset.select_columns(columns).cast_column("image", Image(decode=False)).with_format("arrow")[:]
    idx = row_indices([{"path": p} for p in table.column("image").combine_chunks().field("path").to_pylist()])
    labels = np.array(table.column("label").to_pylist(), dtype=np.int64)
    forget = (np.isin(np.asarray(table.column("source").to_pylist()), FORGET_SOURCES) if "source" in columns
              else np.zeros(len(idx), dtype=bool))
    return idx, labels, forget


# ============================================================================================== model
class CifarResNetForImageClassification(ResNetForImageClassification):
    """HF's `ResNetForImageClassification` with a CIFAR stem: the embedder's 7x7 stride-2 conv becomes a 3x3
    stride-1 conv and its 3x3 stride-2 max-pool an Identity, so a 32 px image keeps 32x32 features into stage 1
    (4x4 at the last stage, as the CIFAR ResNet-18 SalUn uses; the ImageNet stem leaves 1x1 and costs ~10 points
    of accuracy). Everything else is the HF model, and `type(model)(model.config)` (bad_teacher's incompetent
    teacher, retrain's re-initialisation) builds this same architecture."""

    def __init__(self, config: ResNetConfig):
        super().__init__(config)
        stem = ResNetConvLayer(config.num_channels, config.embedding_size, kernel_size=3, stride=1,
                               activation=config.hidden_act)
        nn.init.kaiming_normal_(stem.convolution.weight, mode="fan_out", nonlinearity="relu")  # as _init_weights
        self.resnet.embedder.embedder = stem
        self.resnet.embedder.pooler = nn.Identity()


def resnet_config(profile: Profile, num_labels: int) -> ResNetConfig:
    return ResNetConfig(num_channels=3, layer_type="basic", hidden_act="relu", downsample_in_first_stage=False,
                        num_labels=num_labels, id2label={i: str(i) for i in range(num_labels)},
                        label2id={str(i): i for i in range(num_labels)}, **profile.model)


# ============================================================================================== run state
@dataclass
class Bench:
    """Everything the phases share: data on the device, the forget request, model factory, scoring."""

    profile: Profile
    device: torch.device
    precision: str  # "bf16" or "fp32"
    pixels: Pixels
    clock: Clock
    seed: int
    num_labels: int
    config: ResNetConfig
    train_np: np.ndarray  # (N, 32, 32, 3) uint8 (Multi-GAN's GANs read it)
    train_labels_np: np.ndarray
    test_np: np.ndarray
    test_labels_np: np.ndarray
    output_dir: Path
    compile: bool = False
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        self.train_images = to_device(self.train_np, self.device)
        self.train_labels = torch.as_tensor(self.train_labels_np, device=self.device)
        self.test_images = to_device(self.test_np, self.device)
        self.rows = row_dataset(self.train_labels_np)
        self.forget_set = ForgetSet.random_fraction(0.1, seed=self.seed)
        self.retain_idx, self.forget_idx = self.forget_set.split(len(self.train_labels_np))
        self.retain_rows, self.forget_rows = self.rows.select(self.retain_idx), self.rows.select(self.forget_idx)
        defaults = UnlearningConfig(output_dir=str(self.output_dir / "unlearning"), report_to="none")
        self.eval_retain_samples, self.mia_splits = defaults.eval_retain_samples, defaults.mia_splits
        # the library's retain sample for scoring (`UnlearningRequest.retain_sample`, `evaluation_datasets`)
        self.eval_retain_idx = row_indices(list(retain_sample(self.retain_rows, self.eval_retain_samples, self.seed)["image"]))

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.precision == "bf16":
            return torch.autocast(self.device.type, dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def make_model(self) -> CifarResNetForImageClassification:
        model = CifarResNetForImageClassification(self.config).to(self.device)
        return model.to(memory_format=torch.channels_last) if self.pixels.channels_last else model

    def generator(self, offset: int = 0) -> torch.Generator:
        return torch.Generator(device=self.device).manual_seed(self.seed * 1000 + offset)

    def train_set(self, dataset: Dataset) -> TrainSet:
        """A (combined) row dataset's images, labels and forget flags as device tensors, row for row."""
        idx, labels, forget = read_rows(dataset)
        aux = (torch.as_tensor(dataset[AUX_INDEX], device=self.device) if AUX_INDEX in dataset.column_names
               else None)
        return TrainSet(self.train_images[torch.as_tensor(idx, device=self.device)],
                        torch.as_tensor(labels, device=self.device), torch.as_tensor(forget, device=self.device), aux)

    @torch.no_grad()
    def predict(self, model: nn.Module, images: torch.Tensor, labels: np.ndarray) -> Predictions:
        """The library's `Predictions` (float32 logits, labels) of `model` in eval mode on uint8 `images`."""
        was_training = model.training
        model.eval()
        size = self.profile.eval_batch_size
        chunks = []
        for start in range(0, images.shape[0], size):
            with self.autocast():
                chunks.append(model(pixel_values=self.pixels.normalize(images[start:start + size])).logits.float())
        model.train(was_training)
        logits = torch.cat(chunks).cpu().numpy() if chunks else np.zeros((0, self.num_labels), np.float32)
        return Predictions(logits.astype(np.float32), np.asarray(labels, dtype=np.int64))

    def predict_rows(self, model: nn.Module, idx: np.ndarray) -> Predictions:
        return self.predict(model, self.train_images[torch.as_tensor(idx, device=self.device)], self.train_labels_np[idx])

    def score(self, model: nn.Module) -> dict[str, float]:
        """The library's scores (`score_predictions`) on the forget set, the seeded retain sample and the test set."""
        return score_predictions(self.predict_rows(model, self.forget_idx), self.predict_rows(model, self.eval_retain_idx),
                                 self.predict(model, self.test_images, self.test_labels_np),
                                 mia_splits=self.mia_splits, seed=self.seed)


def retain_sample(retain: Dataset, n: int | None, seed: int) -> Dataset:
    """`UnlearningRequest.retain_sample`: the retain rows, or a seeded sample of `n` of them."""
    return retain if n is None or n >= len(retain) else retain.shuffle(seed=seed).select(range(n))


# ============================================================================================== training loop
def shuffled_epochs(bench: Bench, n: int, batch_size: int, generator: torch.Generator,
                    drop_last: bool) -> Iterator[torch.Tensor]:
    """Index batches of endless shuffled epochs over n rows (the last short batch kept unless `drop_last`)."""
    if n == 0:
        raise ValueError("no training rows")
    while True:
        order = torch.randperm(n, device=bench.device, generator=generator)
        stop = n - n % batch_size if drop_last and n >= batch_size else n
        for start in range(0, stop, batch_size):
            yield order[start:start + batch_size]


LossFn = Callable[..., torch.Tensor]  # (model, pixels, labels, is_forget[, aux_index]) -> loss


def run_steps(bench: Bench, model: nn.Module, data: TrainSet, batches: Iterator[torch.Tensor], total_steps: int,
              loss_fn: LossFn, optimizer: torch.optim.Optimizer, scheduler: Any, *, augment: bool, offset: int,
              max_grad_norm: float = 0.0, callbacks: list[Any] = (), args: Any = None, state: Any = None,
              steps_per_epoch: int = 1, on_step_end: Callable[[int, torch.Tensor], None] | None = None) -> int:
    """`total_steps` optimizer steps over `batches` (index tensors into `data`), all on the device, in the order of
    the Trainer's loop: (augment) -> normalise -> loss under autocast -> backward -> clip -> callbacks'
    `on_pre_optimizer_step` -> step -> `on_optimizer_step` -> schedule -> `on_step_end`; `state` follows the
    Trainer's `global_step` and `epoch`. Raises if any loss was not finite."""
    generator = bench.generator(offset)
    control = TrainerControl()
    nonfinite = torch.zeros((), dtype=torch.bool, device=bench.device)
    kwargs = {"model": model, "optimizer": optimizer, "lr_scheduler": scheduler}

    def event(name: str) -> None:
        for callback in callbacks:
            getattr(callback, name)(args, state, control, **kwargs)

    model.train()
    event("on_train_begin")
    step = 0
    for idx in batches:
        if step >= total_steps:
            break
        if state is not None:
            state.global_step, state.epoch = step, step / steps_per_epoch
        event("on_step_begin")
        images = data.images[idx]
        if augment:
            images = Pixels.augment(images, generator)
        with bench.autocast():
            extra = () if data.aux is None else (data.aux[idx],)  # a method's per-row index (amun)
            loss = loss_fn(model, bench.pixels.normalize(images), data.labels[idx], data.is_forget[idx], *extra)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nonfinite |= ~torch.isfinite(loss.detach())
        if max_grad_norm and max_grad_norm > 0:
            torch.nn.utils.clip_grad_norm_(model.parameters(), max_grad_norm)
        event("on_pre_optimizer_step")
        optimizer.step()
        event("on_optimizer_step")
        scheduler.step()
        step += 1
        if state is not None:
            state.global_step, state.epoch = step, step / steps_per_epoch
        event("on_step_end")
        if on_step_end is not None:
            on_step_end(step, loss.detach())
    event("on_train_end")
    if bool(nonfinite):
        raise FloatingPointError(f"a training loss was not finite (within {step} steps): lower the learning rate.")
    return step


def train_from_scratch(bench: Bench, model: nn.Module, data: TrainSet, name: str, offset: int) -> dict[str, Any]:
    """The original's recipe (and, identically, the retrained reference's): SGD nesterov, one-cycle, crop + flip."""
    p = bench.profile
    steps_per_epoch = max(1, len(data) // p.batch_size)
    total = p.epochs * steps_per_epoch
    optimizer = torch.optim.SGD(decay_groups(model, 5e-4), lr=p.peak_lr, momentum=0.9, nesterov=True)
    scheduler = torch.optim.lr_scheduler.OneCycleLR(optimizer, max_lr=p.peak_lr, total_steps=total, pct_start=0.25,
                                                    anneal_strategy="linear")
    forward = torch.compile(model) if bench.compile else model

    def loss_fn(_: nn.Module, x: torch.Tensor, y: torch.Tensor, __: torch.Tensor) -> torch.Tensor:
        return F.cross_entropy(forward(pixel_values=x).logits.float(), y, label_smoothing=bench.label_smoothing)

    def on_step_end(step: int, loss: torch.Tensor) -> None:
        if step % steps_per_epoch:
            return
        epoch = step // steps_per_epoch
        line = f"{name} epoch {epoch}/{p.epochs}: loss {float(loss):.3f}"
        if epoch % 5 == 0 or epoch == p.epochs:
            test = bench.predict(model, bench.test_images, bench.test_labels_np)
            line += f", test acc {100.0 * float((test.predicted == test.labels).mean()):.2f}%"
        bench.clock.log(line)

    generator = bench.generator(offset)
    bench.clock.sync()
    start = time.perf_counter()
    steps = run_steps(bench, model, data, shuffled_epochs(bench, len(data), p.batch_size, generator, drop_last=True),
                      total, loss_fn, optimizer, scheduler, augment=True, offset=offset + 500, on_step_end=on_step_end)
    bench.clock.sync()
    seconds = time.perf_counter() - start
    return {"seconds": seconds, "steps": steps, "epochs": p.epochs, "batch_size": p.batch_size,
            "images_per_s": steps * p.batch_size / seconds,
            "optimizer": "SGD nesterov, momentum 0.9, weight decay 5e-4 (Trainer groups)",
            "schedule": f"one-cycle, peak lr {p.peak_lr}, 25% warm-up, linear", "label_smoothing": bench.label_smoothing,
            "augmentation": "random crop (zero pad 4) + horizontal flip, on device", "rows": len(data)}


# ============================================================================================== methods
class RowPixels:
    """The context's `transform` (the role of the image processor's `ImageTransform`): a batch of row datasets'
    rows -> normalised pixel tensors on the device, for library code that builds its own DataLoader over a
    dataset (`dataset.with_transform(trainer.transform)`, e.g. SalUn's saliency mask, with `collate_images`)."""

    def __init__(self, bench: Bench):
        self.bench = bench

    def pixel_maps(self) -> tuple[Callable[[torch.Tensor], torch.Tensor], Callable[[torch.Tensor], torch.Tensor]]:
        """[0, 1] images <-> normalised model input (what `ImageTransform` derives from the image processor)."""
        mean, std = self.bench.pixels.mean, self.bench.pixels.std
        return (lambda x: (x - mean.to(x)) / std.to(x)), (lambda v: v * std.to(v) + mean.to(v))

    def __call__(self, batch: dict[str, list[Any]]) -> dict[str, Any]:
        idx = row_indices(batch["image"])
        pixels = self.bench.pixels.normalize(self.bench.train_images[torch.as_tensor(idx, device=self.bench.device)])
        out: dict[str, Any] = {"pixel_values": list(pixels)}
        if "label" in batch:
            out["labels"] = list(batch["label"])
        if "source" in batch:
            out["is_forget"] = [source in FORGET_SOURCES for source in batch["source"]]
        return out


class BenchContext:
    """What a method object may read from the run (`UnlearningContext`, hf_unlearn/methods/base.py), backed by
    this script: the real `UnlearningConfig`, the model, a Trainer-like state (`global_step`, `max_steps`,
    `epoch`), row datasets of the request (`RowPixels` turns them into pixels) and its services."""

    def __init__(self, bench: Bench, config: UnlearningConfig, model: nn.Module):
        self.bench = bench
        self.args = config
        self.model = model
        self.state = SimpleNamespace(global_step=0, max_steps=0, epoch=0.0)
        self.callbacks: list[Any] | None = None  # the method's callbacks, once `plan_fine_tuning` made them
        self.transform = RowPixels(bench)
        self.num_labels = bench.num_labels
        self.data_sha256 = ""
        self.forget_set = bench.forget_set
        self.retain_dataset, self.forget_dataset = bench.retain_rows, bench.forget_rows
        self.retain_indices, self.forget_indices = bench.retain_idx, bench.forget_idx
        self.timings: dict[str, float] = {}
        self._original: dict[str, Predictions] = {}

    def retain_train_dataset(self) -> Dataset:
        return retain_sample(self.retain_dataset, self.args.num_retain_samples, self.args.seed)

    def predict_logits(self, dataset: Dataset, model: nn.Module | None = None) -> Predictions:
        return self.bench.predict_rows(model if model is not None else self.model, row_indices(list(dataset["image"])))

    def original_predictions(self, name: str, dataset: Dataset) -> Predictions:
        if name not in self._original:
            self._original[name] = self.predict_logits(dataset)
        return self._original[name]

    def log_phase(self, phase: str, seconds: float, **info: Any) -> None:
        self.timings[phase] = self.timings.get(phase, 0.0) + float(seconds)
        details = ", ".join(f"{k}={v}" for k, v in info.items())
        self.bench.clock.log(f"  {phase}: {seconds:.1f}s" + (f" ({details})" if details else ""))

    def is_world_process_zero(self) -> bool:
        return True


def library_data(bench: Bench, method: Any, ctx: BenchContext) -> tuple[TrainSet, list[list[int]] | None]:
    """Every method but multigan: the library's own run-loop step, `plan_fine_tuning` (as `UnlearningTrainer.unlearn`
    calls it): the method's `build_train_dataset()` (run on row datasets: which rows, which labels, teachers), a
    small request's `min_train_steps`, its `batch_plan()` (None for shuffled epochs; its length becomes max_steps)
    and its callbacks (kept in `ctx.callbacks`)."""
    plan = plan_fine_tuning(method, ctx.args, ctx.log_phase)
    ctx.callbacks = plan.callbacks
    return bench.train_set(plan.dataset), plan.batch_plan


def multigan_data(bench: Bench, method: Any, ctx: BenchContext) -> tuple[TrainSet, None]:
    """multigan: a minimal driver of `MultiGAN.build_train_dataset`, whose GANs read decoded images: a DCGAN per set
    (library `train_gan` with the config's `method_args.gan`; the retain GAN is one-time preparation), samples from the
    library's `GANSamplingPipeline` (as its PIL path: rounded to uint8, same size), labelled by the original
    model, forget labels (real and synthetic) inverted by `invert_labels` with `method_args.label_inversion`
    and the library's seeds. Its loss is the plain cross-entropy (compute_loss returns None)."""
    from hf_unlearn.gan import GANSamplingPipeline, train_gan

    args, k, seed = ctx.args, bench.num_labels, ctx.args.seed
    options = args.method_options  # Multi-GAN's: GAN settings, synthetic counts, label inversion
    settings = options.gan
    precision = "bf16" if bench.precision == "bf16" else "no"

    def train(part: str, idx: np.ndarray, part_seed: int) -> Any:
        start = time.perf_counter()
        images = torch.from_numpy(bench.train_np[idx]).permute(0, 3, 1, 2).float().div(127.5).sub(1.0)  # `gan_array`
        generator = train_gan(images, settings, seed=part_seed, mixed_precision=precision,
                              cpu=bench.device.type != "cuda", description=f"GAN ({part} set)", disable_progress=True)
        bench.clock.sync()
        ctx.log_phase(f"gan_{part}", time.perf_counter() - start, images=len(idx))
        return generator

    n_forget = len(bench.forget_idx)
    counts = {"synthetic_retain": n_forget if options.num_synthetic_retain is None else options.num_synthetic_retain,
              "synthetic_forget": n_forget if options.num_synthetic_forget is None else options.num_synthetic_forget}
    generators = {"synthetic_retain": train("retain", bench.retain_idx, seed) if counts["synthetic_retain"] else None,
                  "synthetic_forget": train("forget", bench.forget_idx, seed + 1) if counts["synthetic_forget"] else None}
    forget_preds = ctx.original_predictions("forget", ctx.forget_dataset)
    inverted = invert_labels(forget_preds.labels, k, options.label_inversion, forget_preds.probabilities, seed=seed)
    parts = [bench.train_set(ctx.retain_train_dataset()),
             TrainSet(bench.train_images[torch.as_tensor(bench.forget_idx, device=bench.device)],
                      torch.as_tensor(inverted, device=bench.device),
                      torch.ones(n_forget, dtype=torch.bool, device=bench.device))]
    for part, offset in (("synthetic_retain", 101), ("synthetic_forget", 202)):
        if not counts[part]:
            continue
        pipe = GANSamplingPipeline(generators[part].to(bench.device))
        pipe.set_progress_bar_config(disable=True)
        samples = pipe(counts[part], generator=torch.Generator().manual_seed(seed + offset), output_type="pt").images
        images = samples.add(1.0).mul(127.5).round().clamp(0, 255).to(torch.uint8).to(bench.device)
        preds = bench.predict(ctx.model, images, np.zeros(len(images), dtype=np.int64))
        labels = preds.predicted
        if part == "synthetic_forget":
            labels = invert_labels(preds.predicted, k, options.label_inversion, preds.probabilities, seed=seed + 1)
        parts.append(TrainSet(images, torch.as_tensor(labels, device=bench.device),
                              torch.full((len(images),), part == "synthetic_forget", dtype=torch.bool, device=bench.device)))
    return TrainSet.concat(*parts), None


#: How a method's training set (and batch order) is built: the library's own code, except where it must decode
#: images (multigan). Only these functions know anything of a method beyond its public contract.
DATA_DRIVERS: dict[str, Callable[[Bench, Any, BenchContext], tuple[TrainSet, list[list[int]] | None]]] = {
    "multigan": multigan_data}


def library_loss(method: Any) -> LossFn:
    """The method's `compute_loss(model, inputs, forget_mask)`; when it returns None, the model's own loss on the
    (possibly relabelled) inputs, as `UnlearningTrainer.compute_loss` falls back to the Trainer's."""

    def loss(model: nn.Module, pixels: torch.Tensor, labels: torch.Tensor, forget: torch.Tensor,
             aux: torch.Tensor | None = None) -> torch.Tensor:
        inputs = {"pixel_values": pixels, "labels": labels, **({AUX_INDEX: aux} if aux is not None else {})}
        out = method.compute_loss(model, inputs, forget)
        if out is None:
            out = model(**inputs).loss
        return out[0] if isinstance(out, tuple) else out

    return loss


def unlearning_config(bench: Bench, name: str) -> tuple[UnlearningConfig, bool]:
    """The method's `UnlearningConfig` (COMMON_CONFIG, METHOD_SETTINGS, the profile's overrides) and its augment flag."""
    overrides = {**COMMON_CONFIG, **METHOD_SETTINGS.get(name, {}), **bench.profile.config}
    if name in bench.profile.method_args:  # the profile's method options over the method's settings
        overrides["method_args"] = merge_method_args(overrides.get("method_args"), bench.profile.method_args[name])
    augment = overrides.pop("augment", UNLEARN_AUGMENT)
    config = UnlearningConfig(output_dir=str(bench.output_dir / "unlearning" / name), method=name, seed=bench.seed,
                              report_to="none", disable_tqdm=True, use_cpu=bench.device.type == "cpu", **overrides)
    return config, augment


def run_method(bench: Bench, name: str, original: nn.Module) -> tuple[nn.Module, dict[str, Any]]:
    """Unlearn the forget set from a copy of `original` with the library's method `name`: its data and batch plan,
    its loss, its callbacks, and the optimizer, schedule and clipping its `UnlearningConfig` gives the Trainer."""
    config, augment = unlearning_config(bench, name)
    model = copy.deepcopy(original)
    ctx = BenchContext(bench, config, model)
    method = get_method(name)(ctx)  # the library's method object; its options parsed and checked by the library
    method.validate()
    torch.manual_seed(config.seed)  # as the Trainer seeds before building the data
    bench.clock.sync()
    start = time.perf_counter()
    data, plan = DATA_DRIVERS.get(name, library_data)(bench, method, ctx)
    # the library's step count, clipping, optimizer and schedule (what UnlearningTrainer's hooks call)
    counts = fine_tuning_steps(config, len(data), plan)
    if plan is not None:  # the method's own passes, in its order
        batches: Iterator[torch.Tensor] = (torch.as_tensor(b, device=bench.device) for b in plan)
    else:  # the Trainer's shuffled epochs
        batches = shuffled_epochs(bench, len(data), config.per_device_train_batch_size,
                                  bench.generator(zlib.crc32(name.encode()) % 1000 + 2),
                                  drop_last=config.dataloader_drop_last)
    total = min(counts.total, bench.profile.max_method_steps or counts.total)
    ctx.state.max_steps = total
    # e.g. SalUn's GradientMask (its saliency mask computed, timed): planned with the data, else (multigan) here
    callbacks = ctx.callbacks if ctx.callbacks is not None else method.callbacks()
    optimizer = fine_tuning_optimizer(model, config)
    scheduler = fine_tuning_scheduler(method, config, optimizer, FineTuningSteps(counts.per_epoch, total))
    clip = fine_tuning_max_grad_norm(method, config)
    steps = run_steps(bench, model, data, batches, total, library_loss(method), optimizer, scheduler, augment=augment,
                      offset=zlib.crc32(name.encode()) % 1000 + 3, max_grad_norm=clip, callbacks=callbacks,
                      args=config, state=ctx.state, steps_per_epoch=counts.per_epoch)
    bench.clock.sync()
    total_s = time.perf_counter() - start
    preparation = ctx.timings.get("gan_retain", 0.0)
    forget_rows = int(data.is_forget.sum())
    settings = {**COMMON_CONFIG, **METHOD_SETTINGS.get(name, {}), **bench.profile.config}
    return model, {"seconds": total_s - preparation, "preparation_s": preparation, "steps": steps,
                   "batch_plan": plan is not None, "max_grad_norm": clip, "augment": augment,
                   "optimizer": f"{type(optimizer).__name__} {Trainer.get_optimizer_cls_and_kwargs(config, model)[1]}, "
                                f"weight decay {config.weight_decay}",
                   "lr_scheduler": config.lr_scheduler_type,
                   "rows": {"total": len(data), "forget": forget_rows, "other": len(data) - forget_rows},
                   "timings": ctx.timings, "settings": settings, "options": dataclasses.asdict(method.options)}


# ============================================================================================== report
COLUMNS = (("forget_accuracy", "forget acc"), ("retain_accuracy", "retain acc"), ("test_accuracy", "test acc"),
           ("mia_efficacy", "MIA-eff"), ("avg_gap", "Avg Gap"), ("seconds", "seconds"), ("time_ratio", "x retrain"))


def table(results: dict[str, dict[str, Any]]) -> str:
    """Markdown table: original, retrain, then the methods by Avg Gap (skipped / failed ones last)."""

    def order(item: tuple[str, dict]) -> tuple:
        name, r = item
        return ({"original": 0, REFERENCE: 1}.get(name, 2), "metrics" not in r,
                r.get("metrics", {}).get("avg_gap", math.inf))

    lines = ["| method | " + " | ".join(label for _, label in COLUMNS) + " |", "|---" * (len(COLUMNS) + 1) + "|"]
    for name, r in sorted(results.items(), key=order):
        if "metrics" not in r:
            lines.append(f"| {name} | " + " | ".join(["-"] * (len(COLUMNS) - 1)) + f" | {r.get('status', '-')} |")
            continue
        row = {**r["metrics"], "seconds": r["seconds"], "time_ratio": r["time_ratio"]}
        cells = [f"{row[k]:.3f}" if k == "time_ratio" else f"{row[k]:.1f}" if k == "seconds" else f"{row[k]:.2f}"
                 for k, _ in COLUMNS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def write_report(out_dir: Path, stem: str, summary: dict[str, Any]) -> str:
    out_dir.mkdir(parents=True, exist_ok=True)
    with open(out_dir / f"{stem}.json", "w") as f:
        json.dump(summary, f, indent=2, default=str)
    orig, data = summary.get("original_training", {}), summary["data"]
    md = [f"#### CIFAR-10, ResNet-18 (CIFAR stem), random 10% forget set, one GPU ({summary['profile']})", "",
          f"Command: `{summary['command']}`", "",
          f"Device: {summary['device']} ({summary['precision']}, channels_last={summary['channels_last']}); "
          f"train {data['train']} / retain {data['retain']} / forget {data['forget']} / test {data['test']} images; "
          f"retain accuracy and MIA-efficacy use a seeded {data['eval_retain']}-image retain sample (the library's "
          f"`eval_retain_samples`); seed {summary['seed']}; wall time {summary['wall_s']:.0f} s.", ""]
    if "seconds" in orig:
        md += [f"Original: {orig['epochs']} epochs in {orig['seconds']:.1f} s ({orig['images_per_s']:.0f} images/s), "
               f"test accuracy {orig.get('test_accuracy', float('nan')):.2f}% "
               f"(target >= {summary['target_test_accuracy']:.0f}%).", ""]
    md += [table(summary["results"]), "",
           "Seconds: the whole request on the device (data, teachers, saliency mask, forget GAN, fine-tuning), "
           "scoring excluded; Multi-GAN's retain GAN is one-time preparation (`preparation_s` in the JSON), as in "
           "the CPU benchmark. Method settings are untuned starting points (`METHOD_SETTINGS` in "
           "benchmarks/gpu_cifar10_resnet18.py).", ""]
    text = "\n".join(md)
    with open(out_dir / f"{stem}.md", "w") as f:
        f.write(text)
    return text


# ============================================================================================== main
def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data_dir", default="../shared/data/cifar10",
                        help="Folder with train.parquet and test.parquet (uoft-cs/cifar10 schema).")
    parser.add_argument("--output_dir", default="benchmarks/results/gpu", help="Where the .md and .json go.")
    parser.add_argument("--cache_dir", default=str(REPO / ".cache" / "gpu-bench"),
                        help="Decoded images as .npy (an ignored folder); '' disables the cache.")
    parser.add_argument("--methods", nargs="+", default=None,
                        help=f"Methods to run besides the reference ({REFERENCE}, always run); default: all.")
    parser.add_argument("--seed", type=int, default=0, help="Training seed and forget-set seed.")
    parser.add_argument("--smoke", action="store_true", help="Tiny CPU run of the same code path (under a minute).")
    parser.add_argument("--device", default=None, help="cuda / cpu (default: cuda if available; cpu with --smoke).")
    parser.add_argument("--epochs", type=int, default=None, help="Epochs of the original and the retrain (default 20).")
    parser.add_argument("--label_smoothing", type=float, default=0.0,
                        help="Label smoothing of the original and the retrain (default 0: plain cross-entropy, as SalUn).")
    parser.add_argument("--time_budget_s", type=float, default=None,
                        help="No method starts after this many seconds (default 420; none with --smoke).")
    parser.add_argument("--precision", choices=("auto", "bf16", "fp32"), default="auto",
                        help="Autocast precision (auto: bf16 on cuda, fp32 on cpu).")
    parser.add_argument("--channels_last", choices=("auto", "on", "off"), default="auto",
                        help="channels_last memory format (auto: on with cuda).")
    parser.add_argument("--compile", action="store_true",
                        help="torch.compile the original's and the retrain's forward (opt-in, untested).")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    profile = SMOKE if args.smoke else FULL
    if args.epochs is not None:
        profile = dataclasses.replace(profile, epochs=args.epochs)
    if args.time_budget_s is not None:
        profile = dataclasses.replace(profile, time_budget_s=args.time_budget_s)
    device = torch.device(args.device or ("cpu" if args.smoke or not torch.cuda.is_available() else "cuda"))
    on_gpu = device.type == "cuda"
    if args.smoke and not on_gpu:
        torch.set_num_threads(1)  # tiny tensors: more threads only contend (10x slower on a busy 2-core machine)
    if on_gpu:
        torch.backends.cudnn.benchmark = True
        torch.set_float32_matmul_precision("high")  # TF32 for whatever runs outside bf16 autocast
    datasets.disable_progress_bars()
    clock = Clock(device)
    device_name = torch.cuda.get_device_name(device) if on_gpu else "cpu"
    others = [m for m in available_methods() if m != REFERENCE]
    chosen = args.methods or [m for m in METHOD_ORDER if m in others] + [m for m in others if m not in METHOD_ORDER]
    unknown = [m for m in chosen if m not in available_methods()]
    if unknown:
        raise SystemExit(f"Unknown methods {unknown}; choose from {available_methods()}.")
    chosen = [m for m in chosen if m != REFERENCE]
    clock.log(f"profile {profile.name}, device {device_name}, methods {[REFERENCE, *chosen]}")
    out_dir = Path(args.output_dir)
    stem = "cifar10-resnet18-gpu" + ("-smoke" if args.smoke else "")

    with clock.phase("data"):
        data_dir = Path(args.data_dir)
        cache = Path(args.cache_dir) if args.cache_dir else None
        train_np, train_labels = decode_split(data_dir / "train.parquet", profile.train_rows, cache)
        test_np, test_labels = decode_split(data_dir / "test.parquet", profile.test_rows, cache)
        num_labels = int(max(train_labels.max(), test_labels.max())) + 1
        precision = args.precision if args.precision != "auto" else ("bf16" if on_gpu else "fp32")
        channels_last = on_gpu if args.channels_last == "auto" else args.channels_last == "on"
        bench = Bench(profile, device, precision, Pixels(device, channels_last=channels_last), clock,
                      args.seed, num_labels, resnet_config(profile, num_labels), train_np, train_labels, test_np,
                      test_labels, out_dir, compile=args.compile, label_smoothing=args.label_smoothing)
        clock.log(f"train {len(train_labels)} ({len(bench.retain_idx)} retain, {len(bench.forget_idx)} forget), "
                  f"test {len(test_labels)}, {num_labels} classes")

    summary: dict[str, Any] = {
        "script": "benchmarks/gpu_cifar10_resnet18.py",
        "command": "python benchmarks/gpu_cifar10_resnet18.py " + " ".join(sys.argv[1:] if argv is None else argv),
        "profile": profile.name, "smoke": args.smoke, "device": device_name, "device_type": device.type,
        "precision": bench.precision, "channels_last": bench.pixels.channels_last, "compile": args.compile,
        "seed": args.seed, "versions": {"torch": torch.__version__, "transformers": __import__("transformers").__version__},
        "data": {"data_dir": str(data_dir), "train": len(train_labels), "test": len(test_labels),
                 "retain": len(bench.retain_idx), "forget": len(bench.forget_idx), "eval_retain": len(bench.eval_retain_idx),
                 "forget_set": f"random 10%, seed {args.seed} (ForgetSet.random_fraction)"},
        "model": {"class": "CifarResNetForImageClassification: transformers ResNetForImageClassification with a CIFAR "
                           "stem (3x3 stride-1 conv, no max-pool)",
                  "config": {**profile.model, "layer_type": "basic", "num_labels": num_labels}},
        "target_test_accuracy": 92.0, "reference": REFERENCE, "common_config": COMMON_CONFIG,
        "unlearn_augment": UNLEARN_AUGMENT, "time_budget_s": profile.time_budget_s, "results": {},
        "phases": clock.phases, "wall_s": 0.0,
    }
    results = summary["results"]

    def save() -> str:
        summary["wall_s"] = clock.elapsed()
        return write_report(out_dir, stem, summary)

    with clock.phase("original"):
        torch.manual_seed(args.seed)
        original = bench.make_model()
        summary["model"]["parameters"] = sum(p.numel() for p in original.parameters())
        training = train_from_scratch(bench, original, bench.train_set(bench.rows), "original", 0)
    with clock.phase("score original"):
        scores = bench.score(original)
    training.update(test_accuracy=scores["test_accuracy"],
                    meets_target=scores["test_accuracy"] >= summary["target_test_accuracy"])
    summary["original_training"] = training
    if not training["meets_target"] and not args.smoke:
        clock.log(f"WARNING: the original reaches {scores['test_accuracy']:.2f}% test accuracy, below the 92% target")

    with clock.phase(REFERENCE):
        config, _ = unlearning_config(bench, REFERENCE)
        reference_method = get_method(REFERENCE)(BenchContext(bench, config, original))
        assert reference_method.reinitialize_model  # the library's retrain starts from fresh weights
        retain_data = bench.train_set(reference_method.build_train_dataset())  # the library's retrain rows
        torch.manual_seed(args.seed)
        reference_model = bench.make_model()
        ref_training = train_from_scratch(bench, reference_model, retain_data, REFERENCE, 1)
    with clock.phase(f"score {REFERENCE}"):
        reference = bench.score(reference_model)
    retrain_s = ref_training["seconds"]
    results["original"] = {"metrics": {**scores, "avg_gap": avg_gap(scores, reference)}, "seconds": 0.0,
                           "time_ratio": 0.0, "train_s": training["seconds"], "status": "ok"}
    results[REFERENCE] = {"metrics": {**reference, "avg_gap": avg_gap(reference, reference)}, "seconds": retrain_s,
                          "time_ratio": 1.0, "preparation_s": 0.0, "steps": ref_training["steps"],
                          "settings": {k: v for k, v in ref_training.items() if k not in ("seconds", "steps")},
                          "status": "ok"}
    del reference_model
    save()

    failed = []
    for name in chosen:
        if profile.time_budget_s is not None and clock.elapsed() > profile.time_budget_s:
            clock.log(f"{name}: skipped (time budget of {profile.time_budget_s:.0f}s spent)")
            results[name] = {"status": "skipped (time budget)", "settings": METHOD_SETTINGS.get(name, {})}
            continue
        try:
            with clock.phase(name):
                model, record = run_method(bench, name, original)
            with clock.phase(f"score {name}"):
                metrics = bench.score(model)
            metrics["avg_gap"] = avg_gap(metrics, reference)
            results[name] = {"metrics": metrics, **record, "time_ratio": record["seconds"] / retrain_s, "status": "ok"}
            row = {**metrics, "seconds": record["seconds"], "time_ratio": results[name]["time_ratio"]}
            clock.log(f"{name}: " + ", ".join(f"{label} {row[k]:.3f}" for k, label in COLUMNS))
            del model
        except Exception as error:  # one method failing must not lose the others' results
            traceback.print_exc()
            failed.append(name)
            results[name] = {"status": f"failed: {type(error).__name__}", "error": repr(error)[:2000],
                             "settings": METHOD_SETTINGS.get(name, {})}
        if on_gpu:
            torch.cuda.empty_cache()
        save()

    report = save()
    print("\n" + report, flush=True)
    clock.log(f"done; wrote {out_dir / stem}.md and .json" + (f"; FAILED: {failed}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
