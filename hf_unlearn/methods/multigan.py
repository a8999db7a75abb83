"""`multigan`: Multi-GAN unlearning (Hatua, Nguyen & Sung, 2024).

Data reorganization: a DCGAN learns the retain set and another the forget set; the original model labels
their samples; forget labels (real and synthetic) are inverted; the model is fine-tuned on
retain + synthetic retain + inverted forget + inverted synthetic forget with the ordinary loss.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import shutil
import time
from typing import Any

import numpy as np
import torch
from datasets import Dataset

from ..constants import GENERATORS_DIR
from ..data import common_image_format, images_to_dataset
from ..evaluation import Predictions
from ..gan import (
    DCGANGenerator,
    GANImages,
    GANSamplingPipeline,
    GANSettings,
    default_gan_resolution,
    train_gan,
)
from ..gan.preparation import Preparation, load_preparation, model_lineage, prepare_generator
from ..options import OptionError
from ..quality import generator_quality, noise_images
from ..synthesis import combine_sources, drop_contradictions, invert_labels, with_source
from .base import UnlearningMethod
from .multigan_options import PREPARATION_FIELDS, PREPARED_RETAIN_PER_FORGET, MultiGANOptions, legacy_values
from .registry import register_method

TRAINING_KEY_FILE = "training_key.json"
#: Rounds of sampling a class request draws from a prepared generator before it settles for fewer images.
MAX_CLASS_ROUNDS = 20


def _in_format(image: Any, size: tuple[int, int], mode: str) -> Any:
    """A real image in the synthetic images' mode and size (as the generators' samples are made)."""
    image = image if image.mode == mode else image.convert(mode)
    return image if image.size == tuple(size) else image.resize(tuple(size))


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
    paper = 'Hatua, Nguyen & Sung, 2024'
    Options = MultiGANOptions

    prepares = "generator"  # a DCGAN of the whole training set, trained once (`hf-unlearn prepare`)
    preparation_publishable = True
    extra_output_bytes = 60_000_000  # the generators
    one_time_phases = ("gan_retain",)  # the retain GAN: trainable once, when the model is published
    preparation: Preparation | None = None  # this request's, when method_args.prepared_path names one
    reusable_output = (os.path.join(GENERATORS_DIR, "retain"), "retain_generator_path")  # the retain GAN
    scores_synthetic_rows = True  # its samples (or a control's images): their quality figure in every result

    @classmethod
    def reads_holdout(cls, options: MultiGANOptions) -> bool:
        return options.synthetic_source == "holdout"  # the oracle control's images

    @classmethod
    def reads_reusable_output(cls, options: MultiGANOptions) -> bool:
        """A run trains a retain GAN (so may read one trained before) unless it names one or a preparation, or a
        control replaces the generators."""
        return options.synthetic_source == "gan" and not (options.retain_generator_path or options.prepared_path)

    @classmethod
    def prepare(cls, model: Any, config: Any, train: Dataset, output_dir: str, *, model_source: str | None,
                dataset_name: str | None, command: str | None, log: Any, processor: Any = None) -> Preparation:
        """The data generator of the model's training set (`gan.preparation.prepare_generator`)."""
        # with the model's processor: the generator's quality figure, in the model's own feature space
        quality = functools.partial(generator_quality, model, processor, config) if processor is not None else None
        return prepare_generator(model, config, train, output_dir, options=config.method_options,
                                 model_source=model_source, dataset_name=dataset_name, command=command,
                                 quality=quality)

    @classmethod
    def load_prepared(cls, folder: str) -> Preparation:
        return load_preparation(folder)

    @classmethod
    def preparation_identity(cls, config: Any, processor: Any) -> dict[str, Any]:
        """The GAN's settings (in their old top-level names, as benchmark keys held them), precision and seed."""
        values = {**legacy_values(config.method_options), "bf16": config.bf16, "fp16": config.fp16}
        return {"gan": {k: values[k] for k in PREPARATION_FIELDS}, "seed": config.seed}

    @classmethod
    def preparation_folder(cls, identity: dict[str, Any]) -> str:
        return "prepared"  # one per seed: every variant of a benchmark shares the base's GAN settings

    @classmethod
    def default_retain_per_forget(cls, options: MultiGANOptions) -> float | None:
        """On a prepared generator: `PREPARED_RETAIN_PER_FORGET` real retain rows per forget row (measured)."""
        return PREPARED_RETAIN_PER_FORGET if options.prepared_path else None

    def validate(self) -> None:
        if self.options.synthetic_source == "holdout":
            self._check_holdout()
        path = self.options.retain_generator_path
        if path is not None and not os.path.isfile(os.path.join(path, "config.json")):
            raise FileNotFoundError(
                f"method_args.retain_generator_path {path!r} holds no generator (config.json missing). Point it at the "
                f"`{GENERATORS_DIR}/retain` folder of an earlier run, or leave it unset to train one."
            )
        if self.options.prepared_path:  # before any work: the preparation exists and is this model's and data's
            self.preparation = load_preparation(self.options.prepared_path)
            model = self.trainer.input_model
            self.preparation.check(self.trainer.data_sha256, model["weights_sha256"], model_lineage(model["source"]))
            made = self.preparation.record["resolution"]
            if self.options.resolution is not None and self.options.resolution != made:
                raise OptionError(f"method_args.resolution = {self.options.resolution} but the generator at method_args."
                                  f"prepared_path makes {made}px images: leave resolution unset, or prepare again "
                                  "with it.")

    def _check_holdout(self) -> None:
        """The `holdout` control draws its images from the run's held-out rows: enough of them, none also read by
        the stopping rule (its target would then be trained on)."""
        held, wanted = self.trainer.holdout_dataset, sum(self._synthetic_counts())
        if self.trainer.args.stop_when:
            raise OptionError(f"method_args.synthetic_source = 'holdout' trains on the held-out rows that stop_when = "
                              f"{self.trainer.args.stop_when!r} compares the forget set with: use one or the other.")
        if held is None or len(held) < wanted:
            given = "none were given" if held is None else f"only {len(held)} were given"
            raise OptionError(f"method_args.synthetic_source = 'holdout' draws {wanted} images from the run's held-out "
                              f"rows (real images no model trained on), but {given}: pass holdout_dataset=... (or "
                              f"--holdout_split; holdout_samples in a benchmark) with at least {wanted} rows, or lower "
                              "method_args.num_synthetic_retain / num_synthetic_forget.")

    def _synthetic_counts(self) -> tuple[int, int]:
        """Synthetic retain and forget images asked for (each default: as many as the forget set has rows)."""
        n = len(self.trainer.forget_indices)
        retain, forget = self.options.num_synthetic_retain, self.options.num_synthetic_forget
        return (n if retain is None else retain), (n if forget is None else forget)

    # ------------------------------------------------------------------ generators
    def _data_format(self) -> tuple[str, tuple[int, int], int]:
        """(mode, size, GAN resolution) of the synthetic images, from the images both GANs learn (forget, then
        retain): "RGB" if any is in colour, else "L"; the most common size, so that one huge image does not
        size every sample (and slow the run tenfold); the resolution from that size unless `method_args.resolution`.
        On data of one size and mode, that is the first forget image's, as before."""
        if self.preparation is not None:  # the prepared generator's format (it learned the whole training set)
            record = self.preparation.record
            return record["mode"], tuple(record["image_size"]), record["resolution"]
        mode, size = common_image_format(self.trainer.forget_dataset, self.trainer.retain_dataset)
        resolution = self.options.resolution or default_gan_resolution(size)
        return mode, size, resolution

    def _generator(self, part: str, dataset: Dataset, resolution: int, channels: int) -> DCGANGenerator:
        args = self.trainer.args
        if part == "retain" and self.options.retain_generator_path:
            generator = DCGANGenerator.from_pretrained(self.options.retain_generator_path)
            if (generator.config.num_channels, generator.config.resolution) != (channels, resolution):
                raise ValueError(
                    f"The retain generator at {self.options.retain_generator_path} makes {generator.config.num_channels}-channel "
                    f"{generator.config.resolution}px images but this data needs {channels}-channel {resolution}px: "
                    "train it on this dataset (leave method_args.retain_generator_path unset)."
                )
            self.trainer.log_phase(f"gan_{part}", 0.0, reused=self.options.retain_generator_path)
            return generator
        if self.preparation is not None:  # no GAN from scratch: the prepared one, or a copy adapted to the forget set
            if part == "retain":
                self.trainer.log_phase("gan_retain", 0.0, prepared=self.preparation.path)
                return self.preparation.generator()
            start_pair: tuple[Any, Any] | None = (self.preparation.generator(), self.preparation.discriminator())
            steps: int | None = self.options.adapt_steps
        else:
            start_pair, steps = None, None
        settings = self.options.gan
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
                              cpu=args.use_cpu, description=f"GAN ({part} set)" + (" adapted" if steps else ""),
                              disable_progress=args.disable_tqdm, num_workers=args.dataloader_num_workers,
                              sync_batchnorm=args.sync_batchnorm, start=start_pair, steps=steps)
        if self.trainer.args.should_save:  # atomically: a half-written generator is never taken for a finished one
            generator.save_pretrained(out + ".tmp")
            with open(os.path.join(out + ".tmp", TRAINING_KEY_FILE), "w") as f:
                json.dump({"key": key}, f)
            if os.path.isdir(out):
                os.rename(out, out + ".old")
            os.replace(out + ".tmp", out)
            shutil.rmtree(out + ".old", ignore_errors=True)
        info = {"adapted_from": self.preparation.path, "steps": steps} if self.preparation is not None else {}
        self.trainer.log_phase(f"gan_{part}", time.perf_counter() - start, images=len(dataset), **info)
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
        if self.preparation is not None:  # adapted from a prepared pair for this many steps
            payload["prepared"] = {"rows": self.preparation.record["rows_sha256"],
                                   "model": self.preparation.record["model_sha256"],
                                   "steps": self.options.adapt_steps}
        payload = json.dumps(payload, sort_keys=True, default=str)
        return hashlib.sha256(payload.encode()).hexdigest()

    # ------------------------------------------------------------------ dataset
    def build_train_dataset(self) -> Dataset:
        trainer, args = self.trainer, self.trainer.args
        retain, forget = trainer.retain_dataset, trainer.forget_dataset
        mode, size, resolution = self._data_format()
        channels = 1 if mode == "L" else 3
        num_classes = trainer.num_labels
        n_retain, n_forget = self._synthetic_counts()
        # a GAN whose samples are not asked for is not trained (nor any, for a control source); a class request on
        # a prepared generator takes its synthetic forget images from the prepared one too (those the original
        # model puts in the classes)
        gan = self.options.synthetic_source == "gan"
        by_class = self.preparation is not None and trainer.forget_set.kind == "classes"
        gen_retain = self._generator("retain", retain, resolution, channels) \
            if gan and (n_retain or (n_forget and by_class)) else None
        gen_forget = self._generator("forget", forget, resolution, channels) \
            if gan and n_forget and not by_class else None

        start = time.perf_counter()
        parts = {"retain": with_source(trainer.retain_train_dataset(), "retain")}

        forget_preds = trainer.original_predictions("forget", forget)
        parts["forget"] = with_source(forget, "forget", invert_labels(
            forget_preds.labels, num_classes, self.options.label_inversion, forget_preds.probabilities, seed=args.seed))

        if not gan:
            labelled = self._control_samples(n_retain, n_forget, size, mode)
        elif by_class:
            forget_classes = np.unique(np.asarray(forget["label"]))
            labelled = self._sample_by_class(gen_retain, n_retain, n_forget, forget_classes, size, mode)
        else:
            labelled = {part: self._sample(generator, count, args.seed + offset, size, mode)
                        for part, generator, count, offset in (("synthetic_retain", gen_retain, n_retain, 101),
                                                               ("synthetic_forget", gen_forget, n_forget, 202))
                        if count}
        for part, (images, preds) in labelled.items():
            if not images:
                continue
            synthetic = images_to_dataset(images, preds.predicted)
            if part == "synthetic_forget":
                inverted = invert_labels(preds.predicted, num_classes, self.options.label_inversion, preds.probabilities,
                                         seed=args.seed + 1)
                parts[part] = with_source(synthetic, part, inverted)
            else:
                parts[part] = with_source(synthetic, part)
        parts, contradictions = drop_contradictions(parts)  # no image fed with a label and its inversion
        combined = combine_sources(parts)
        counts = {name: len(ds) for name, ds in parts.items()}
        if contradictions:
            counts["contradictions_dropped"] = contradictions
        trainer.log_phase("synthesis", time.perf_counter() - start, **counts)
        if args.should_save:
            os.makedirs(os.path.join(args.output_dir, GENERATORS_DIR), exist_ok=True)
            with open(os.path.join(args.output_dir, GENERATORS_DIR, "synthesis.json"), "w") as f:
                json.dump({"source": self.options.synthetic_source, "resolution": resolution, "mode": mode,
                           "image_size": list(size),
                           "label_inversion": self.options.label_inversion, "counts": counts}, f, indent=2)
        return combined

    def counts(self) -> dict[str, int]:
        """With a prepared generator: the rows it was trained on and how many of this request's forget rows were
        among them (the card says so; its samples are then not published, like the forget GAN's)."""
        if self.preparation is None:
            return {}
        return {"prepared_rows": int(self.preparation.record["num_rows"]),
                "prepared_seen_forget": self.preparation.seen(self.trainer.forget_indices)}

    # ------------------------------------------------------------------ sampling
    def _sample(self, generator: DCGANGenerator, count: int, seed: int, size: tuple[int, int], mode: str,
                ) -> tuple[list[Any], Predictions]:
        """`count` images of `generator` (seeded) in the data's format, and the original model's predictions."""
        trainer = self.trainer
        pipe = GANSamplingPipeline(generator)
        pipe.set_progress_bar_config(desc="sampling", leave=False,
                                     disable=trainer.args.disable_tqdm or not trainer.is_world_process_zero())
        images = pipe(count, generator=torch.Generator().manual_seed(seed), image_size=size, mode=mode).images
        return images, self._label(images)  # the original model, in eval mode, same processor

    def _control_samples(self, n_retain: int, n_forget: int, size: tuple[int, int], mode: str,
                         ) -> dict[str, tuple[list[Any], Predictions]]:
        """The controls in place of the generators (issue 31), labelled by the original model like samples:
        `noise`, uniform random pixels (seeded as the samples are); `holdout`, the run's held-out rows in a seeded
        order: on a class request those the original model puts in the forgotten classes are the synthetic
        forget images (as a prepared generator's are chosen) and the others the synthetic retain ones, else the
        first `n_retain` rows and the next `n_forget`."""
        trainer, seed = self.trainer, self.trainer.args.seed
        if self.options.synthetic_source == "noise":
            out = {}
            for part, count, offset in (("synthetic_retain", n_retain, 101), ("synthetic_forget", n_forget, 202)):
                if count:
                    images = noise_images(count, size, mode, seed + offset)
                    out[part] = (images, self._label(images))
            return out
        held = trainer.holdout_dataset
        order = np.random.default_rng(seed + 101).permutation(len(held))
        if trainer.forget_set.kind == "classes":
            preds = self._label(held.select(order)["image"])
            in_classes = np.isin(preds.predicted, np.unique(np.asarray(trainer.forget_dataset["label"])))
            chosen = {"synthetic_retain": np.flatnonzero(~in_classes)[:n_retain],
                      "synthetic_forget": np.flatnonzero(in_classes)[:n_forget]}
        else:
            chosen = {"synthetic_retain": np.arange(n_retain), "synthetic_forget": np.arange(n_retain, n_retain + n_forget)}
        out = {}
        for part, positions in chosen.items():
            if len(positions):
                images = [_in_format(img, size, mode) for img in held.select(order[positions])["image"]]
                out[part] = (images, self._label(images))
        return out

    def _label(self, images: list[Any]) -> Predictions:
        """The original model's predictions on `images` (eval mode, same processor)."""
        unlabeled = images_to_dataset(images, np.zeros(len(images), dtype=np.int64)).remove_columns("label")
        return self.trainer.predict_logits(unlabeled)

    def _sample_by_class(self, generator: DCGANGenerator, n_retain: int, n_forget: int, classes: np.ndarray,
                         size: tuple[int, int], mode: str) -> dict[str, tuple[list[Any], Predictions]]:
        """Samples of the prepared generator sorted by the original model's prediction: into the forgotten
        `classes` (synthetic forget) or not (synthetic retain), drawn in seeded rounds until both counts are met
        or `MAX_CLASS_ROUNDS` rounds have been drawn (a class the generator rarely makes then gives fewer)."""
        chunk = max(n_retain, n_forget, 1)
        kept: dict[str, list[tuple[Any, np.ndarray, Any]]] = {"synthetic_retain": [], "synthetic_forget": []}
        wanted = {"synthetic_retain": n_retain, "synthetic_forget": n_forget}
        for round_index in range(MAX_CLASS_ROUNDS):
            if all(len(kept[p]) >= wanted[p] for p in kept):
                break
            images, preds = self._sample(generator, chunk, self.trainer.args.seed + 303 + round_index, size, mode)
            for image, logits, label, predicted in zip(images, preds.logits, preds.labels, preds.predicted, strict=True):
                part = "synthetic_forget" if predicted in classes else "synthetic_retain"
                if len(kept[part]) < wanted[part]:
                    kept[part].append((image, logits, label))
        out = {}
        for part, rows in kept.items():
            if rows:
                out[part] = ([r[0] for r in rows], Predictions(np.stack([r[1] for r in rows]),
                                                               np.asarray([r[2] for r in rows])))
        return out
