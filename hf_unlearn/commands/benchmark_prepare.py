"""The benchmark's once-per-seed preparations: what a method's `hf-unlearn prepare` makes (Multi-GAN's prepared
generator, AMUN's adversarial set), asked for by a variant with `method_args.prepared_path: per_seed`, made once
from the seed's original and training set through the method's own contract (`prepare`, `load_prepared`,
`preparation_identity`, `preparation_folder`), reused by every variant, setting and request that asks for the same
one while its key holds, and counted as one-time cost (`prepared_s` of a record), apart from each request's own."""

from __future__ import annotations

import os
from types import SimpleNamespace
from typing import Any

import torch

from ..config import UnlearningConfig
from ..methods import get_method
from .arguments import as_dict
from .benchmark_keys import artefact_key
from .benchmark_plan import configure

#: `method_args.prepared_path: per_seed` in a method's settings: the seed's preparation, made by the benchmark.
PER_SEED = "per_seed"


class SeedPreparations:
    """The preparations of a `Benchmark` (which provides root, keys, base, args, train, processor, original(),
    scratch_identity() and log())."""

    preparations: dict[str, Any]  # folder -> its preparation

    def prepared(self, config: UnlearningConfig, original: torch.nn.Module | None = None) -> Any:
        """The preparation `config`'s method asks for, of its seed's original and training set: made once
        (`UnlearningMethod.prepare`, as `hf-unlearn prepare` does) with the benchmark's base settings under the
        variant's method_args, and reused while its key (the original's, the method's `preparation_identity`)
        holds. Its cost is one-time: `prepared_s` of a record."""
        method, seed = get_method(config.method), config.seed
        own = {**(as_dict(config.method_args) or {}), "prepared_path": None}
        settings = configure(self.base, "", seed, config.method, {"method_args": own})  # no forget set of its own
        identity = method.preparation_identity(settings, as_dict(self.args.image_processor))
        folder = os.path.join(self.root, f"seed{seed}", method.preparation_folder(identity))
        if folder in self.preparations:
            return self.preparations[folder]
        settings.output_dir = folder
        payload = {"original": artefact_key(self.scratch_identity(seed)), **identity}

        def make() -> Any:
            model = original if original is not None else self.original(seed)[0]
            return method.prepare(model, settings, self.train, folder, model_source=None,
                                  dataset_name=self.args.dataset_name, command=None, log=self.log,
                                  processor=self.processor)

        made = self.keys.get_or_make(folder, payload, method.preparation_file, make,
                                     lambda: method.load_prepared(folder),
                                     planned=lambda: SimpleNamespace(path=folder, record={"preparation_s": 0.0}))
        self.preparations[folder] = made
        if not self.keys.dry_run:
            self.log(f"seed {seed}: {method.prepares} prepared ({made.record['preparation_s']:.0f}s, once)")
        return made

    def resolve_preparation(self, config: UnlearningConfig, original: torch.nn.Module | None = None,
                            first_request: bool = True) -> float:
        """`method_args.prepared_path: per_seed` becomes the seed's preparation; its one-time seconds (else 0).
        A later request starts from an unlearned model: a method whose preparation serves only the original (AMUN:
        its adversarial examples are the original's) prepares nothing for it."""
        method = get_method(config.method)
        method_args = as_dict(config.method_args) or {}
        if method.prepares is None or method_args.get("prepared_path") != PER_SEED:
            return 0.0
        if not first_request and not method.preparation_serves_later_requests:
            config.method_args = {k: v for k, v in method_args.items() if k != "prepared_path"}
            return 0.0
        prepared = self.prepared(config, original)
        config.method_args = {**method_args, "prepared_path": prepared.path}
        return float(prepared.record["preparation_s"])
