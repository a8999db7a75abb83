"""Preparation: the data generator of one model and its training set, trained once (`hf-unlearn prepare`) and
reused by every deletion request on that model, so that a request trains no GAN from scratch.

A preparation folder holds the generator and its discriminator (diffusers models, `generator/` and
`discriminator/`: the discriminator lets a request warm-start a short adaptation to its forget set), the rows it
was trained on (`rows.npy`) and `preparation.json`: the SHA-256 of the training data (as a request computes
it), of the model's weights, of the rows, the GAN settings, the image format and the one-time cost.

A request refuses a preparation made for other data or another model (`Preparation.check`). A generator
prepared on rows that a request forgets has seen them: it is never copied into the request's output (so
never published with the unlearned model); the card says so, and a preparation made after the request
(`previous_forget_sets`: the rows forgotten so far are left out) never saw them and may be published.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..constants import RESULTS_FILE
from ..data import class_names, common_image_format, content_digest, find_columns, to_standard_columns
from ..forget import exclude_previous, load_forget_set
from ..options import OptionError
from ..safety import (
    check_output_apart,
    check_output_dir,
    check_replaceable,
    replace_folder,
    weights_digest,
    write_json_atomic,
)
from .discriminator import DCGANDiscriminator
from .generator import DCGANGenerator
from .train import GANImages, default_gan_resolution, train_gan

PREPARATION_FILE = "preparation.json"
ROWS_FILE = "rows.npy"
FORMAT_VERSION = 1


def rows_digest(rows: np.ndarray) -> str:
    """SHA-256 of a set of row indices (as sorted int64)."""
    return hashlib.sha256(np.sort(np.asarray(rows, dtype=np.int64)).tobytes()).hexdigest()


@dataclass
class Preparation:
    """A prepared generator folder and its record (`load_preparation` reads one, `prepare_generator` makes one)."""

    path: str
    record: dict[str, Any]

    @property
    def rows(self) -> np.ndarray:
        """The training rows the generator was trained on."""
        return np.load(os.path.join(self.path, ROWS_FILE))

    def generator(self) -> DCGANGenerator:
        return DCGANGenerator.from_pretrained(os.path.join(self.path, "generator")).eval()

    def discriminator(self) -> DCGANDiscriminator:
        return DCGANDiscriminator.from_pretrained(os.path.join(self.path, "discriminator")).eval()

    def seen(self, rows: np.ndarray) -> int:
        """How many of `rows` the generator was trained on."""
        return int(np.isin(np.asarray(rows, dtype=np.int64), self.rows).sum())

    def check(self, data_sha256: str, model_sha256: str, lineage: list[str] | tuple[str, ...] = (),
              option: str = "method_args.prepared_path") -> None:
        """Refuse a preparation made for other training data or another model, naming the option and the fix.
        `lineage`: the weights of the models this one was unlearned from (`model_lineage`): a sequential request
        on an unlearned model may use the preparation of the model it came from."""
        fix = (f"run `hf-unlearn prepare` with this model and training set and point {option} at its output "
               f"folder, or leave {option} unset (a GAN is then trained for this request)")
        if self.record["data_sha256"] != data_sha256:
            raise OptionError(f"{option} = {self.path!r} was prepared on other training data (sha256 "
                              f"{self.record['data_sha256'][:12]}…, this run's data {data_sha256[:12]}…): {fix}.")
        if self.record["model_sha256"] != model_sha256 and self.record["model_sha256"] not in lineage:
            raise OptionError(f"{option} = {self.path!r} was prepared for another model (weights sha256 "
                              f"{self.record['model_sha256'][:12]}…, this model's {model_sha256[:12]}…): {fix}.")


def model_lineage(source: str | None, limit: int = 100) -> list[str]:
    """The weights SHA-256 of each model `source` was unlearned from, newest first: read from the
    `unlearning_results.json` of each output folder along the chain of input models (empty for a model that
    no hf-unlearn run wrote)."""
    chain: list[str] = []
    while source and os.path.isfile(os.path.join(source, RESULTS_FILE)) and len(chain) < limit:
        with open(os.path.join(source, RESULTS_FILE)) as f:
            parent = json.load(f).get("input_model") or {}
        if parent.get("weights_sha256"):
            chain.append(parent["weights_sha256"])
        source = parent.get("source") if parent.get("source") != source else None
    return chain


def load_preparation(path: str, option: str = "method_args.prepared_path") -> Preparation:
    """The preparation in folder `path`, or an error naming `option` when the folder holds none."""
    record_file = os.path.join(path, PREPARATION_FILE)
    missing = [name for name in (PREPARATION_FILE, ROWS_FILE, "generator/config.json", "discriminator/config.json")
               if not os.path.isfile(os.path.join(path, name))]
    if missing:
        raise OptionError(f"{option} = {path!r} holds no prepared generator ({', '.join(missing)} missing): point it "
                          "at the output folder of `hf-unlearn prepare`, or leave it unset.")
    with open(record_file) as f:
        record = json.load(f)
    if record.get("format_version") != FORMAT_VERSION:
        raise OptionError(f"{option} = {path!r} was written by another version of hf-unlearn (format "
                          f"{record.get('format_version')}, expected {FORMAT_VERSION}): run `hf-unlearn prepare` again.")
    return Preparation(os.path.abspath(path), record)


def prepare_generator(model: Any, args: Any, train_dataset: Any, output_dir: str, *, options: Any = None,
                      model_source: str | None = None, dataset_name: str | None = None,
                      command: str | None = None, quality: Any = None) -> Preparation:
    """Train the data generator of `model` and its training set `train_dataset` once and save it in `output_dir`.

    `args` is an `UnlearningConfig`; `options` Multi-GAN's (default: `args.method_options`, a multigan config's):
    their `gan` settings size and train the GAN (`epochs` passes over the
    training rows, seed `args.seed`), `image_column` / `label_column` find the columns, and the rows of its
    `previous_forget_sets` (requests already unlearned) are left out, so a generator prepared after a request
    never sees the rows it forgot. `output_dir` must lie apart from the model's and the data's folders.
    `quality(generator, images, size, mode)`, when given, scores the trained generator's samples against the
    training images (Multi-GAN's: `quality.quality_figure` in the model's feature space): into the record.
    """
    check_output_apart(output_dir, {"the model's folder": model_source, "the dataset's folder": dataset_name})
    check_output_dir(output_dir, 60_000_000)
    check_replaceable(output_dir, PREPARATION_FILE)
    image_col, label_col = find_columns(train_dataset, args.image_column, args.label_column)
    names = class_names(train_dataset, label_col)
    full = to_standard_columns(train_dataset, image_col, label_col)
    labels = np.asarray(full["label"])
    rows = np.arange(len(full))
    previous = [load_forget_set(p) for p in args.previous_forget_sets or []]
    if previous:
        rows, _ = exclude_previous(rows, np.array([], dtype=np.int64), previous, labels, names, train_dataset)
    data_sha256 = content_digest(full, verify="training set")  # as a request computes it
    images = full.select(rows)
    mode, size = common_image_format(images)
    options = options if options is not None else args.method_options  # the GAN's settings and resolution
    resolution = options.resolution or default_gan_resolution(size)
    channels = 1 if mode == "L" else 3
    settings = options.gan
    precision = "bf16" if args.bf16 else ("fp16" if args.fp16 else "no")

    start = time.perf_counter()
    generator, discriminator = train_gan(
        GANImages(images, resolution, channels), settings, seed=args.seed, mixed_precision=precision,
        cpu=args.use_cpu, description="GAN (training set, prepared once)", disable_progress=args.disable_tqdm,
        num_workers=args.dataloader_num_workers, sync_batchnorm=args.sync_batchnorm, with_discriminator=True)
    seconds = time.perf_counter() - start
    record = {"format_version": FORMAT_VERSION, "data_sha256": data_sha256, "model_sha256": weights_digest(model),
              "model_source": model_source, "dataset_name": dataset_name, "num_train": len(full),
              "num_rows": len(rows), "rows_sha256": rows_digest(rows),
              "excluded_forget_sets": [p.spec_hash() for p in previous], "settings": settings.__dict__,
              "seed": args.seed, "resolution": resolution, "channels": channels, "mode": mode,
              "image_size": list(size), "precision": precision, "processes": args.world_size,
              "preparation_s": seconds, "command": command}
    if quality is not None:
        start = time.perf_counter()
        record["quality"] = quality(generator, images, size, mode)
        record["quality_s"] = time.perf_counter() - start
    if args.should_save:  # atomically: a half-written preparation is never taken for a finished one
        staging = output_dir.rstrip("/") + ".tmp"
        shutil.rmtree(staging, ignore_errors=True)
        generator.save_pretrained(os.path.join(staging, "generator"))
        discriminator.save_pretrained(os.path.join(staging, "discriminator"))
        np.save(os.path.join(staging, ROWS_FILE), rows.astype(np.int64))
        write_json_atomic(os.path.join(staging, PREPARATION_FILE), record)
        replace_folder(staging, output_dir)
    return Preparation(os.path.abspath(output_dir), record)
