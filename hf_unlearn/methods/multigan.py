"""`multigan`: Multi-GAN unlearning (Hatua, Nguyen & Sung, 2024).

Data reorganization: a DCGAN learns the retain set and another the forget set; the original model labels
their samples; forget labels (real and synthetic) are inverted; the model is fine-tuned on
retain + synthetic retain + inverted forget + inverted synthetic forget with the ordinary loss.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time

import numpy as np
import torch
from datasets import Dataset

from ..constants import GENERATORS_DIR
from ..data import common_image_format, images_to_dataset
from ..gan import (
    DCGANGenerator,
    GANImages,
    GANSamplingPipeline,
    GANSettings,
    default_gan_resolution,
    train_gan,
)
from ..synthesis import combine_sources, invert_labels, with_source
from .base import UnlearningMethod
from .registry import register_method

TRAINING_KEY_FILE = "training_key.json"


def _read_key(folder: str) -> str | None:
    try:
        with open(os.path.join(folder, TRAINING_KEY_FILE)) as f:
            return json.load(f)["key"]
    except (OSError, ValueError, KeyError):
        return None


@register_method
class MultiGAN(UnlearningMethod):
    """Fine-tune on real and GAN-synthesised retain data plus label-inverted real and synthetic forget data."""

    name = "multigan"

    def validate(self) -> None:
        path = self.trainer.args.retain_generator_path
        if path is not None and not os.path.isfile(os.path.join(path, "config.json")):
            raise FileNotFoundError(
                f"retain_generator_path {path!r} holds no generator (config.json missing). Point it at the "
                f"`{GENERATORS_DIR}/retain` folder of an earlier run, or leave it unset to train one."
            )

    # ------------------------------------------------------------------ generators
    def _data_format(self) -> tuple[str, tuple[int, int], int]:
        """(mode, size, GAN resolution) of the synthetic images, from the images both GANs learn (forget, then
        retain): "RGB" if any is in colour, else "L"; the most common size, so that one huge image does not
        size every sample (and slow the run tenfold); the resolution from that size unless `gan_resolution`.
        On data of one size and mode, that is the first forget image's, as before."""
        mode, size = common_image_format(self.trainer.forget_dataset, self.trainer.retain_dataset)
        resolution = self.trainer.args.gan_resolution or default_gan_resolution(size)
        return mode, size, resolution

    def _generator(self, part: str, dataset: Dataset, resolution: int, channels: int) -> DCGANGenerator:
        args = self.trainer.args
        if part == "retain" and args.retain_generator_path:
            generator = DCGANGenerator.from_pretrained(args.retain_generator_path)
            if (generator.config.num_channels, generator.config.resolution) != (channels, resolution):
                raise ValueError(
                    f"The retain generator at {args.retain_generator_path} makes {generator.config.num_channels}-channel "
                    f"{generator.config.resolution}px images but this data needs {channels}-channel {resolution}px: "
                    "train it on this dataset (leave retain_generator_path unset)."
                )
            self.trainer.log_phase(f"gan_{part}", 0.0, reused=args.retain_generator_path)
            return generator
        settings = GANSettings.from_config(args)
        seed = args.seed + (0 if part == "retain" else 1)
        precision = "bf16" if args.bf16 else ("fp16" if args.fp16 else "no")
        key = self._training_key(part, settings, seed, resolution, channels, precision)
        out = os.path.join(args.output_dir, GENERATORS_DIR, part)
        if _read_key(out) == key:  # an interrupted run already trained this very generator: resume from it
            self.trainer.log_phase(f"gan_{part}", 0.0, resumed=out)
            return DCGANGenerator.from_pretrained(out)
        start = time.perf_counter()
        # images decoded batch by batch (GANImages); dataloader_num_workers decodes in workers, same numbers
        generator = train_gan(GANImages(dataset, resolution, channels), settings, seed=seed, mixed_precision=precision,
                              cpu=args.use_cpu, description=f"GAN ({part} set)", disable_progress=args.disable_tqdm,
                              num_workers=args.dataloader_num_workers, sync_batchnorm=args.sync_batchnorm)
        if self.trainer.args.should_save:  # atomically: a half-written generator is never taken for a finished one
            generator.save_pretrained(out + ".tmp")
            with open(os.path.join(out + ".tmp", TRAINING_KEY_FILE), "w") as f:
                json.dump({"key": key}, f)
            if os.path.isdir(out):
                os.rename(out, out + ".old")
            os.replace(out + ".tmp", out)
            shutil.rmtree(out + ".old", ignore_errors=True)
        self.trainer.log_phase(f"gan_{part}", time.perf_counter() - start, images=len(dataset))
        return generator

    def _training_key(self, part: str, settings: GANSettings, seed: int, resolution: int, channels: int,
                      precision: str) -> str:
        """What a trained generator depends on: its images (the training data's SHA-256, already computed by the
        trainer, and the rows of this part), settings, seed and format."""
        rows = self.trainer.retain_indices if part == "retain" else self.trainer.forget_indices
        processes = self.trainer.args.world_size
        payload = {"data": self.trainer.data_sha256,
                   "rows": hashlib.sha256(np.asarray(rows, dtype=np.int64).tobytes()).hexdigest(),
                   "settings": settings.__dict__, "seed": seed, "resolution": resolution,
                   "channels": channels, "precision": precision, "processes": processes}
        if processes > 1:  # how several processes train (one process trains alike either way)
            payload["sync_batchnorm"] = self.trainer.args.sync_batchnorm
        payload = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    # ------------------------------------------------------------------ dataset
    def build_train_dataset(self) -> Dataset:
        trainer, args = self.trainer, self.trainer.args
        retain, forget = trainer.retain_dataset, trainer.forget_dataset
        mode, size, resolution = self._data_format()
        channels = 1 if mode == "L" else 3
        num_classes = trainer.num_labels
        n_retain = len(forget) if args.num_synthetic_retain is None else args.num_synthetic_retain
        n_forget = len(forget) if args.num_synthetic_forget is None else args.num_synthetic_forget
        # a GAN whose samples are not asked for is not trained
        gen_retain = self._generator("retain", retain, resolution, channels) if n_retain else None
        gen_forget = self._generator("forget", forget, resolution, channels) if n_forget else None

        start = time.perf_counter()
        parts = {"retain": with_source(trainer.retain_train_dataset(), "retain")}

        forget_preds = trainer.original_predictions("forget", forget)
        parts["forget"] = with_source(forget, "forget", invert_labels(
            forget_preds.labels, num_classes, args.label_inversion, forget_preds.probabilities, seed=args.seed))

        for part, generator, count in (("synthetic_retain", gen_retain, n_retain),
                                       ("synthetic_forget", gen_forget, n_forget)):
            if count == 0:
                continue
            seed = args.seed + (101 if part == "synthetic_retain" else 202)
            pipe = GANSamplingPipeline(generator)
            pipe.set_progress_bar_config(desc=f"sampling {part}", leave=False,
                                         disable=args.disable_tqdm or not trainer.is_world_process_zero())
            images = pipe(count, generator=torch.Generator().manual_seed(seed), image_size=size, mode=mode).images
            unlabeled = images_to_dataset(images, np.zeros(count, dtype=np.int64)).remove_columns("label")
            preds = trainer.predict_logits(unlabeled)  # the original model, in eval mode, same processor
            synthetic = images_to_dataset(images, preds.predicted)
            if part == "synthetic_forget":
                inverted = invert_labels(preds.predicted, num_classes, args.label_inversion, preds.probabilities,
                                         seed=args.seed + 1)
                parts[part] = with_source(synthetic, part, inverted)
            else:
                parts[part] = with_source(synthetic, part)
        combined = combine_sources(parts)
        counts = {name: len(ds) for name, ds in parts.items()}
        trainer.log_phase("synthesis", time.perf_counter() - start, **counts)
        if args.should_save:
            os.makedirs(os.path.join(args.output_dir, GENERATORS_DIR), exist_ok=True)
            with open(os.path.join(args.output_dir, GENERATORS_DIR, "synthesis.json"), "w") as f:
                json.dump({"resolution": resolution, "mode": mode, "image_size": list(size),
                           "label_inversion": args.label_inversion, "counts": counts}, f, indent=2)
        return combined
