"""The benchmark's once-per-seed preparations: Multi-GAN's prepared generator (`method_args.prepared_path:
per_seed`) and amun's adversarial set (`method_args.prepared_path: per_seed`), each made once from the seed's
original and training set, reused by every variant, setting and request that asks for it while its key holds,
and counted as one-time cost (`prepared_s` of a record), apart from each request's own."""

from __future__ import annotations

import copy
import os
from typing import Any

import torch

from ..config import UnlearningConfig
from ..data import ImageTransform, model_num_channels
from ..gan.preparation import PREPARATION_FILE, Preparation, load_preparation, prepare_generator
from ..methods.adversarial import ATTACK_FIELDS, AdversarialSet, load_adversarial, prepare_adversarial
from ..methods.adversarial import PREPARATION_FILE as ADVERSARIAL_FILE
from ..methods.amun import AmunOptions
from ..methods.base import parse_method_args
from ..methods.multigan_options import legacy_values
from .arguments import as_dict
from .benchmark_keys import artefact_key

#: `method_args.prepared_path: per_seed` in a method's settings: the seed's preparation, made by the benchmark.
PER_SEED = "per_seed"
#: Options a preparation depends on (besides the original model and the data), in their old top-level names (the
#: preparation's key, unchanged since they moved into Multi-GAN's method_args).
PREPARATION_FIELDS = ("gan_latent_dim", "gan_generator_channels", "gan_discriminator_channels", "gan_resolution",
                      "gan_epochs", "gan_min_steps", "gan_batch_size", "gan_learning_rate", "gan_beta1", "gan_beta2",
                      "bf16", "fp16")


class SeedPreparations:
    """The preparations of a `Benchmark` (which provides root, keys, base, args, train, processor, original(),
    scratch_identity() and log())."""

    preparations: dict[Any, Any]  # seed -> its prepared generator; folder -> an amun adversarial set

    def prepared(self, seed: int, original: torch.nn.Module | None = None) -> Preparation:
        """The data generator of `seed`'s original and training set, prepared once (`hf-unlearn prepare`) and
        used by every variant asking `method_args.prepared_path: per_seed`, in every setting and request; reused
        while its key (the original's, the GAN options) holds. Its cost is one-time: `prepared_s` of a record."""
        if seed in self.preparations:
            return self.preparations[seed]
        folder = os.path.join(self.root, f"seed{seed}", "prepared")
        config = copy.deepcopy(self.base)
        config.seed = seed
        config.method, config.method_args = "multigan", as_dict(config.method_args) if config.method == "multigan" else None
        values = {**legacy_values(config.method_options), "bf16": config.bf16, "fp16": config.fp16}
        payload = {"original": artefact_key(self.scratch_identity(seed)),
                   "gan": {k: values[k] for k in PREPARATION_FIELDS}, "seed": seed}

        def make() -> Preparation:
            model = original if original is not None else self.original(seed)[0]
            return prepare_generator(model, config, self.train, folder, dataset_name=self.args.dataset_name)

        self.preparations[seed] = self.keys.get_or_make(folder, payload, PREPARATION_FILE, make,
                                                        lambda: load_preparation(folder))
        self.log(f"seed {seed}: generator prepared ({self.preparations[seed].record['preparation_s']:.0f}s, once)")
        return self.preparations[seed]

    def prepared_adversarial(self, seed: int, method_args: dict[str, Any],
                             original: torch.nn.Module | None = None) -> AdversarialSet:
        """amun's adversarial set of `seed`'s original (every training row), made once and read by every amun
        variant asking `method_args.prepared_path: per_seed` with the same attack settings."""
        options = parse_method_args(AmunOptions, {**method_args, "prepared_path": None}, "amun")
        attack = {name: getattr(options, name) for name in ATTACK_FIELDS}
        folder = os.path.join(self.root, f"seed{seed}", "prepared_amun_" + artefact_key(attack)[:8])
        if folder in self.preparations:
            return self.preparations[folder]
        payload = {"original": artefact_key(self.scratch_identity(seed)), "attack": attack,
                   "processor": as_dict(self.args.image_processor)}

        def make() -> AdversarialSet:
            model = original if original is not None else self.original(seed)[0]
            transform = ImageTransform(self.processor, model_num_channels(model))
            return prepare_adversarial(model, transform, self.base, options, self.train, folder,
                                       dataset_name=self.args.dataset_name, log=self.log)

        self.preparations[folder] = self.keys.get_or_make(folder, payload, ADVERSARIAL_FILE, make,
                                                          lambda: load_adversarial(folder))
        self.log(f"seed {seed}: adversarial set prepared ({self.preparations[folder].record['preparation_s']:.0f}s, "
                 "once)")
        return self.preparations[folder]

    def resolve_preparation(self, config: UnlearningConfig, original: torch.nn.Module | None = None,
                            first_request: bool = True) -> float:
        """`method_args.prepared_path: per_seed` (multigan, amun) becomes this seed's
        preparation; its one-time seconds (else 0). A second request starts from an unlearned model, which has
        other adversarial examples than the original: its amun run attacks its own forget rows."""
        method_args = as_dict(config.method_args) or {}
        if config.method == "amun" and method_args.get("prepared_path") == PER_SEED:
            if not first_request:
                config.method_args = {k: v for k, v in method_args.items() if k != "prepared_path"}
                return 0.0
            adversarial = self.prepared_adversarial(config.seed, method_args, original)
            config.method_args = {**method_args, "prepared_path": adversarial.path}
            return float(adversarial.record["preparation_s"])
        if config.method != "multigan" or method_args.get("prepared_path") != PER_SEED:
            return 0.0
        preparation = self.prepared(config.seed, original)
        config.method_args = {**method_args, "prepared_path": preparation.path}
        return float(preparation.record["preparation_s"])
