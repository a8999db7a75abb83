"""`hf-unlearn benchmark` with `persons:`: the request people actually send, one person's tens of photos.

Per seed: the original (shared by key with the other benchmarks of the same data and model); the persons of
`persons.py` (validation persons on the first seed only, kept apart from the reported ones); ONE model retrained
from scratch without every person of the seed (the reference of all of them: a request of one person is scored on
that person's images against it) and a SECOND one with another training seed (the noise floor: what a model that
behaves exactly like retraining still differs from one retrained model); the verdict's reference models (folds of
whole persons, `audit/verdict_references.py`); then each person's request, unlearned from the original on its
own, by every method. Optionally a few persons retrained on their own (is one reference for all of them the same
as one per person?) and a random 10% request for the verdict's calibration on exchangeable rows.

Every model is scored from its logits on fixed rows: the person's images, `retain_eval` retain rows outside every
person, the test split (validation persons: held-out training rows instead, never the test split) and the held-out
population the verdict compares with. The logits are kept (`logits.npz`), so every figure of the report is
computed again from them without a model (`benchmark_persons_report.py`).
"""

from __future__ import annotations

import copy
import json
import os
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from datasets import Dataset
from transformers import AutoModelForImageClassification

from ..audit.verdict_references import (
    RECORD_FILE,
    VerdictReferences,
    load_verdict_references,
    prepare_verdict_references,
)
from ..evaluation import predict
from ..methods import get_method
from ..trainer import UnlearningTrainer
from .arguments import DataArguments, as_dict, load_splits
from .benchmark import Benchmark
from .benchmark_keys import artefact_key, fingerprint, run_payloads
from .benchmark_plan import configure
from .benchmark_prepare import PER_SEED
from .experiment import one_time_phases, request_seconds, scratch_setup
from .persons import Person, PersonSpec, draw_persons, group_ids, thumbnail_clusters, thumbnails

RUN_FILE = "person_run.json"
LOGITS_FILE = "logits.npz"


@dataclass
class PersonsPlan:
    """`persons:` of a benchmark recipe: how persons are drawn (`PersonSpec`) and what runs around them."""

    spec: PersonSpec
    run: str = "report"  # "report": the report persons; "validation": the validation persons (tuning)
    retain_eval: int = 1000  # retain rows scored (outside every person of the seed)
    second_retrain: bool = True
    verdict_folds: int = 4
    per_person_retrain: int = 0  # persons of the first seed also retrained on their own (the reference check)
    random_request: dict[str, Any] = field(default_factory=dict)  # e.g. {fraction: 0.1, chunks: 5, seeds: [0]}

    @classmethod
    def from_recipe(cls, persons: dict[str, Any]) -> PersonsPlan:
        persons = dict(persons)
        own = {k: persons.pop(k) for k in list(persons) if k in cls.__dataclass_fields__ and k != "spec"}
        plan = cls(PersonSpec(**persons), **own)
        if plan.run not in ("report", "validation"):
            raise ValueError(f"persons.run = {plan.run!r}: choose report or validation.")
        return plan


class PersonBenchmark(Benchmark):
    """Runs (or resumes) every (seed, person, method) of a persons recipe; records per-person scores."""

    def __init__(self, args: Any, base: Any):
        super().__init__(args, base)
        self.plan_persons = PersonsPlan.from_recipe(as_dict(args.persons))
        if not args.holdout_samples:
            raise ValueError("A persons benchmark needs holdout_samples (e.g. 2000): the held-out rows the verdict "
                             "compares every request with (never trained on, never the test split).")
        self.tune_rows: Dataset | None = None
        self.person_records: list[dict[str, Any]] = []
        self.checks: list[dict[str, Any]] = []
        #: (seed, run name) -> the retain generator its first person's request trained (reused by the others)
        self.retain_generators: dict[tuple[int, str], str] = {}
        self.persons: dict[int, list[Person]] = {}

    # ------------------------------------------------------------------------------------------------ data
    def load_data(self) -> tuple[Dataset, Dataset]:
        train, test = super().load_data()
        args = self.args
        full = load_splits(DataArguments(args.dataset_name, args.train_split, args.test_split))[0]
        start = len(train) + (args.validation_samples or 0) + args.holdout_samples
        stop = start + min(len(test), 2000)
        if stop > len(full):
            raise ValueError(f"persons: validation persons are scored on {stop - start} training rows after the "
                             "held-out rows; the training split is too short. Lower max_train_samples.")
        self.tune_rows = full.select(range(start, stop))  # the validation persons' "test" rows: never the test split
        return train, test

    def person_clusters(self) -> np.ndarray:
        """Thumbnail clusters of the training rows, computed once and kept under a key of the data."""
        spec = self.plan_persons.spec
        path = os.path.join(self.root, f"clusters_{artefact_key([self.train_digest, spec.images_per_person, spec.thumbnail])}.npy")
        if os.path.isfile(path):
            return np.load(path)
        from ..data import find_columns

        image_col, label_col = find_columns(self.train, self.base.image_column, self.base.label_column)
        start = time.perf_counter()
        clusters = thumbnail_clusters(thumbnails(self.train, image_col, spec.thumbnail),
                                      np.asarray(self.train[label_col]), spec.images_per_person)
        if self.base.should_save:
            os.makedirs(self.root, exist_ok=True)
            np.save(path, clusters)
        self.log(f"persons: thumbnail clusters of {len(clusters)} rows ({time.perf_counter() - start:.0f}s)")
        return clusters

    # ------------------------------------------------------------------------------------------------ scoring
    def scoring_sets(self, seed: int, persons: list[Person]) -> dict[str, Any]:
        """The fixed rows every model of a seed is scored on: retain rows outside every person, test, the validation
        persons' test rows, the held-out population."""
        taken = np.concatenate([p.rows for p in persons])
        free = np.setdiff1d(np.arange(len(self.train)), taken)
        retain = np.sort(np.random.default_rng(seed).choice(free, min(self.plan_persons.retain_eval, len(free)),
                                                            replace=False))
        return {"retain": self.train.select(retain), "test": self.test, "tune": self.tune_rows,
                "population": self.holdout, "retain_rows": retain}

    def logits(self, model: torch.nn.Module, sets: dict[str, Dataset]) -> dict[str, np.ndarray]:
        from ..data import find_columns, to_standard_columns

        transform = self.transform_for(model)
        out = {}
        for name, data in sets.items():
            image_col, label_col = find_columns(data, self.base.image_column, self.base.label_column)
            out[name] = predict(model, to_standard_columns(data, image_col, label_col), transform, self.base).logits
        return out

    def transform_for(self, model: torch.nn.Module) -> Any:
        from ..data import ImageTransform, model_num_channels

        return ImageTransform(self.processor, model_num_channels(model))

    def model_logits(self, folder: str, payload: dict[str, Any], model: Any, sets: dict[str, Dataset]) -> dict[str, np.ndarray]:
        """Logits of a model on named sets, kept in `folder` under a key (`model()` loads the model when needed)."""
        def make() -> dict[str, np.ndarray]:
            out = self.logits(model(), sets)
            if self.base.should_save:
                os.makedirs(folder, exist_ok=True)
                np.savez(os.path.join(folder, LOGITS_FILE), **out)
            return out

        return self.keys.get_or_make(folder, payload, LOGITS_FILE, make,
                                     lambda: dict(np.load(os.path.join(folder, LOGITS_FILE))))

    # ------------------------------------------------------------------------------------------------ runs
    def execute(self) -> dict[str, Any]:
        self.load_keyed_data()
        self.make_model, self.processor = scratch_setup(self.args, self.train, self.base)
        clusters = self.person_clusters()
        plan = self.plan_persons
        seeds = list(self.args.seeds)
        drawn = self.persons = {seed: draw_persons(clusters, plan.spec, seed, with_validation=seed == seeds[0])
                                for seed in seeds}
        for seed in seeds:  # every seed's requests first; the checks (more retrains) after
            original, original_s = self.original(seed)
            self.log(f"seed {seed}: original model ready ({original_s:.0f}s to train)")
            self.seed_persons(seed, original, original_s, drawn[seed])
        random_seeds = plan.random_request.get("seeds", seeds) if plan.random_request else []
        for seed in seeds:
            if (seed == seeds[0] and plan.per_person_retrain) or seed in random_seeds:
                original = self.original(seed)[0]
                self.seed_checks(seed, original, drawn[seed], first=seed == seeds[0])
        return self.person_summary()

    def seed_setup(self, seed: int, persons: list[Person]) -> tuple[str, dict[str, Any], dict[str, Any], Dataset,
                                                                       dict[str, Any]]:
        """The seed's folder, the scoring sets (and their rows), the persons' rows and the sets' identity in keys."""
        base_dir = os.path.join(self.root, f"seed{seed}", "persons")
        sets = self.scoring_sets(seed, persons)
        union = np.sort(np.concatenate([p.rows for p in persons]))
        ident = {"sets": {"retain": sets["retain_rows"].tolist(), "test": self.evaluation,
                          "tune": fingerprint(self.tune_rows), "population": self.holdout_digest}}
        return base_dir, sets, {k: v for k, v in sets.items() if k != "retain_rows"}, self.train.select(union), ident

    def seed_checks(self, seed: int, original: torch.nn.Module, persons: list[Person], first: bool) -> None:
        """The checks of a seed: a few persons retrained on their own (first seed), a random request."""
        base_dir, _, scored, union_rows, ident = self.seed_setup(seed, persons)
        if first and self.plan_persons.per_person_retrain:
            self.per_person_retrains(seed, base_dir, persons, union_rows, scored, ident)
        if seed in self.plan_persons.random_request.get("seeds", [seed]) and self.plan_persons.random_request:
            self.random_request(seed, original, self.verdict_references(seed, original, persons), scored, ident)

    def seed_persons(self, seed: int, original: torch.nn.Module, original_s: float, persons: list[Person]) -> None:
        plan = self.plan_persons
        base_dir, sets, scored, union_rows, ident = self.seed_setup(seed, persons)
        union = np.sort(np.concatenate([p.rows for p in persons]))
        forget = {"persons": artefact_key([p.to_dict() for p in persons])}

        retrains = {"retrained": seed}
        if plan.second_retrain:
            retrains["retrained_b"] = seed + 100
        models: dict[str, dict[str, np.ndarray]] = {}
        retrain_s = 0.0
        for name, training_seed in retrains.items():
            config = configure(self.base, os.path.join(base_dir, name), training_seed, "retrain",
                               {"forget_indices": union.tolist()})
            config.eval_retain_samples = 10  # scored below, on the seed's fixed rows
            result = self.retrained(config, forget)
            if name == "retrained":
                retrain_s = request_seconds(result["timings"])
            folder = config.output_dir
            models[name] = self.model_logits(
                os.path.join(folder, "scores"), {"model": self.keys.key_of(folder), **ident},
                lambda folder=folder: AutoModelForImageClassification.from_pretrained(folder),
                {"persons": union_rows, **scored})
        models["original"] = self.model_logits(
            os.path.join(base_dir, "original_scores"), {"model": artefact_key(self.scratch_identity(seed)), **ident},
            lambda: original, {"persons": union_rows, **scored})
        references = self.verdict_references(seed, original, persons)
        ref_logits = [self.model_logits(os.path.join(references.path, f"ref_{k}", "scores"),
                                        {"reference": self.keys.key_of(references.path), "fold": k, **ident},
                                        lambda model=model: model, {"persons": union_rows, "population": self.holdout})
                      for k, model in enumerate(references.models())]
        seed_info = {"seed": seed, "union": union.tolist(), "persons": [p.to_dict() for p in persons],
                     "retain_rows": sets["retain_rows"].tolist(), "retrain_s": retrain_s, "original_s": original_s,
                     "folds": references.folds[union].tolist(), "verdict_preparation_s": references.record["preparation_s"]}
        self.person_records.append({"kind": "seed", **seed_info, "models": models, "references": ref_logits})

        runs = [p for p in persons if p.validation == (plan.run == "validation")]
        start = {"original": artefact_key(self.scratch_identity(seed))}
        for name, (method, overrides) in self.variants.items():
            for person in runs:
                self.person_request(seed, base_dir, name, method, overrides, person, original, start, scored, ident)

    def verdict_references(self, seed: int, original: torch.nn.Module, persons: list[Person]) -> VerdictReferences:
        """The verdict's references for the seed's persons: folds of whole persons (every other row its own group),
        each reference trained as the original was, without its fold."""
        folder = os.path.join(self.root, f"seed{seed}", "persons", "verdict_references")
        groups = group_ids(len(self.train), persons)
        payload = {"scratch": artefact_key(self.scratch_identity(seed)), "groups": artefact_key(groups.tolist()),
                   "folds": self.plan_persons.verdict_folds}

        def make() -> VerdictReferences:
            from .benchmark_keys import fingerprint as digest

            return prepare_verdict_references(self.make_model, self.processor, self.train, folder, self.recipe,
                                              self.base, digest(self.train), groups, "person",
                                              self.plan_persons.verdict_folds, seed, self.log)

        return self.keys.get_or_make(folder, payload, RECORD_FILE, make, lambda: load_verdict_references(folder))

    def person_request(self, seed: int, base_dir: str, name: str, method: str, overrides: dict[str, Any],
                       person: Person, original: torch.nn.Module, start: dict[str, str], scored: dict[str, Dataset],
                       ident: dict[str, Any]) -> None:
        folder = os.path.join(base_dir, name, person.name)
        config = configure(self.base, folder, seed, method, {**overrides, "forget_indices": person.rows.tolist()})
        config.eval_retain_samples = 10  # scored below, on the seed's fixed rows
        prepared_s = self.resolve_preparation(config, original)
        verdict = as_dict(config.verdict) or {}
        if verdict.get("references") == PER_SEED:  # the seed's verdict references (the stopping rule's target)
            config.verdict = {**verdict, "references": self.verdict_references(seed, original, self.persons[seed]).path}
        shared, kind = self.retain_generators.get((seed, name)), get_method(method)
        if shared and kind.reads_reusable_output(config.method_options):  # made once per seed (one-time), as the
            config.method_args = {**(as_dict(config.method_args) or {}), kind.reusable_output[1]: shared}  # main one
        payload, aliases = run_payloads(method, overrides, lambda keyed: {
            "from": start, "method": method, "overrides": keyed, "person": person.to_dict(), "seed": seed,
            "config": self.keys.config_identity(config, keyed), **ident})  # keyed: the old layout's overrides
        sets = {"persons": self.train.select(person.rows), "retain": scored["retain"],
                ("tune" if person.validation else "test"): scored["tune" if person.validation else "test"],
                "population": scored["population"]}

        def make() -> dict[str, Any]:
            trainer = UnlearningTrainer(model=copy.deepcopy(original), args=config, train_dataset=self.train,
                                        eval_dataset=None, processing_class=self.processor,
                                        dataset_name=self.args.dataset_name,
                                        holdout_dataset=self.holdout if config.stop_when else None)
            result = trainer.unlearn(evaluate_original=False).to_dict()
            logits = self.logits(trainer.model, sets)
            record = {"timings": result["timings"], "counts": result["counts"], "request_s":
                      request_seconds(result["timings"], one_time_phases(method)), "prepared_s": prepared_s,
                      "method_args": result["config"].get("method_args"),
                      "max_steps": result["config"].get("max_steps"), "stopping": result.get("stopping")}
            if config.should_save:
                np.savez(os.path.join(folder, LOGITS_FILE), **logits)
                for leftover in ("model.safetensors",):  # the logits say all the report needs
                    path = os.path.join(folder, leftover)
                    if os.path.isfile(path):
                        os.remove(path)
                with open(os.path.join(folder, RUN_FILE), "w") as f:
                    json.dump(record, f)
            return {**record, "logits": logits}

        def load() -> dict[str, Any]:
            with open(os.path.join(folder, RUN_FILE)) as f:
                record = json.load(f)
            return {**record, "logits": dict(np.load(os.path.join(folder, LOGITS_FILE)))}

        run = self.keys.get_or_make(folder, payload, RUN_FILE, make, load, aliases)
        if kind.reusable_output and (seed, name) not in self.retain_generators and os.path.isdir(
                os.path.join(folder, kind.reusable_output[0])):
            self.retain_generators[(seed, name)] = os.path.join(folder, kind.reusable_output[0])
        self.person_records.append({"kind": "request", "seed": seed, "name": name, "method": method,
                                    "person": person.name, "person_kind": person.kind,
                                    "validation": person.validation, **run})
        self.log(f"seed {seed} {name} {person.name} ({len(person.rows)} images): {run['request_s']:.1f}s")

    def per_person_retrains(self, seed: int, base_dir: str, persons: list[Person], union_rows: Dataset,
                            scored: dict[str, Dataset], ident: dict[str, Any]) -> None:
        """A few persons retrained on their own: the check that one reference for every person gives the same
        per-person numbers as one retrain per person, within noise."""
        chosen = [p for p in persons if not p.validation]
        by_kind = {kind: [p for p in chosen if p.kind == kind] for kind in dict.fromkeys(p.kind for p in chosen)}
        picks = [group[i] for i in range(self.plan_persons.per_person_retrain) for group in by_kind.values()
                 if i < len(group)][: self.plan_persons.per_person_retrain]
        for person in picks:
            config = configure(self.base, os.path.join(base_dir, "own_retrain", person.name), seed, "retrain",
                               {"forget_indices": person.rows.tolist()})
            config.eval_retain_samples = 10
            result = self.retrained(config, {"person": person.name})
            folder = config.output_dir
            logits = self.model_logits(
                os.path.join(folder, "scores"), {"model": self.keys.key_of(folder), **ident},
                lambda folder=folder: AutoModelForImageClassification.from_pretrained(folder),
                {"persons": union_rows, **scored})
            self.checks.append({"kind": "own_retrain", "seed": seed, "person": person.name, "logits": logits,
                                "retrain_s": request_seconds(result["timings"])})

    def random_request(self, seed: int, original: torch.nn.Module, references: VerdictReferences,
                       scored: dict[str, Dataset], ident: dict[str, Any]) -> None:
        """A random request (default 10%) retrained without, for the verdict's calibration on exchangeable rows."""
        spec = self.plan_persons.random_request
        fraction = float(spec.get("fraction", 0.1))
        folder = os.path.join(self.root, f"seed{seed}", "persons", f"random_{fraction:g}", "retrain")
        config = configure(self.base, folder, seed, "retrain", {"forget_fraction": fraction, "forget_seed": seed})
        config.eval_retain_samples = 10
        result = self.retrained(config, {"forget_fraction": fraction, "forget_seed": seed})
        rows = np.asarray(result["forget_set"].get("indices") or [], dtype=np.int64)
        if not len(rows):  # resolve the draw as the run did
            from ..forget import ForgetSet

            rows = np.asarray(ForgetSet.from_dict(result["forget_set"]).split(len(self.train), np.asarray(
                self.train["label"]), None, self.train)[1], dtype=np.int64)
        forget_rows = self.train.select(rows)
        logits = {"retrained": self.model_logits(
            os.path.join(folder, "scores"), {"model": self.keys.key_of(folder), **ident},
            lambda: AutoModelForImageClassification.from_pretrained(folder),
            {"forget": forget_rows, "population": scored["population"]}),
            "original": self.model_logits(
            os.path.join(os.path.dirname(folder), "original_scores"),
            {"model": artefact_key(self.scratch_identity(seed)), "rows": artefact_key(rows.tolist()), **ident},
            lambda: original, {"forget": forget_rows, "population": scored["population"]})}
        refs = [self.model_logits(os.path.join(os.path.dirname(folder), f"ref_{k}_scores"),
                                  {"reference": self.keys.key_of(references.path), "fold": k,
                                   "rows": artefact_key(rows.tolist()), **ident},
                                  lambda model=model: model, {"forget": forget_rows, "population": scored["population"]})
                for k, model in enumerate(references.models())]
        self.checks.append({"kind": "random_request", "seed": seed, "fraction": fraction, "rows": rows.tolist(),
                            "folds": references.folds[rows].tolist(), "chunks": int(spec.get("chunks", 10)),
                            "logits": logits, "references": refs, "retrain_s": request_seconds(result["timings"])})

    # ------------------------------------------------------------------------------------------------ report
    def person_summary(self) -> dict[str, Any]:
        from .benchmark_persons_report import summarise

        return summarise(self)
