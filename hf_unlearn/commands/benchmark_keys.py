"""Keys of the benchmark's reusable artefacts: a finished run is reused only while its recipe is unchanged.

Every artefact the benchmark may reuse (the original model of a seed, each retrained reference, each method
run, each second-request run) has a key: the first 16 hex digits of the SHA-256 of a canonical JSON (sorted
keys) of everything that determines it. Once the artefact is finished, the key and that JSON (for humans) are
written to `benchmark_key.json` in its folder. A rerun reuses the folder only when that file holds the same
key; a finished artefact with another key, or with none (written before keys existed), is stale: its folder
is never emptied on its own: the benchmark stops there, naming the folder and the settings that changed, unless
`--redo` asks to make it again. A folder that never finished is left as it is: an interrupted run resumes from
its own checkpoints, which the trainer keys itself (`resume.py`).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from collections.abc import Callable
from typing import Any, TypeVar

from ..config import UnlearningConfig, public_config
from ..constants import RESULTS_FILE
from ..data import content_digest, find_columns
from ..errors import DataError, UsageError
from ..methods import get_method
from ..methods.multigan_options import old_layout, old_overrides
from ..safety import write_json_atomic

KEY_FILE = "benchmark_key.json"

#: Config fields that say where a run is written, which process runs it, how it is logged or published: not
#: what it computes (with those starting with `UNKEYED_PREFIXES`). Any other field is part of a run's key.
UNKEYED_FIELDS = ("output_dir", "run_name", "local_rank", "resume_from_checkpoint", "report_to", "disable_tqdm",
                  "project")
UNKEYED_PREFIXES = ("logging_", "log_", "hub_", "push_", "publish_", "trackio_")

#: Options added after benchmarks were keyed, with the value a key leaves them out at (their defaults when they
#: were added): runs computing what they did before the options existed keep their keys. A key without one of
#: them means this value.
KEYED_WHEN_SET = {"prepared_generator_path": None, "gan_adapt_steps": 100, "retain_samples_per_forget": None,
                  "stop_when": None, "forget_where": None, "forget_images": None, "forget_images_partial": False,
                  "forget_file": None, "forget_file_column": None, "forget_filter": None, "card_dataset": None,
                  "card_base_model": None, "min_train_steps": None, "verdict": None, "ledger_override": None,
                  "stop_class_accuracy_drop": None, "training_augmentation": None}
#: Options that only act with another one set: left out of a key without it (they change nothing there).
ONLY_WITH = {"gan_adapt_steps": "prepared_generator_path", "stop_check_steps": "stop_when",
             "stop_max_samples": "stop_when", "stop_confidence": "stop_when", "stop_class_rate": "stop_when",
             "stop_accuracy_drop": "stop_when", "stop_keep_closest": "stop_when"}

#: Options the original's recipe takes from the unlearning config (`ClassifierRecipe.training_args` starts
#: from it) that change the original's weights; the rest of that config is about unlearning.
ORIGINAL_TRAINING_FIELDS = ("optim", "optim_args", "adam_beta1", "adam_beta2", "adam_epsilon",
                            "gradient_accumulation_steps", "label_smoothing_factor", "bf16", "fp16", "tf32",
                            "full_determinism", "data_seed", "dataloader_drop_last")

T = TypeVar("T")


def canonical_json(payload: Any) -> str:
    """The one text of `payload` that its key hashes: sorted keys, no spaces, non-JSON values as `str`."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)


def artefact_key(payload: Any) -> str:
    """The key of an artefact determined by `payload`: 16 hex digits of the SHA-256 of its canonical JSON."""
    return hashlib.sha256(canonical_json(payload).encode()).hexdigest()[:16]


def fingerprint(dataset: Any, image_column: str | None = None, label_column: str | None = None) -> Any:
    """The identity of a loaded split in a key: the SHA-256 of its images' encoded bytes and labels in row order
    (`content_digest`, the `data_sha256` a run records for its training set), so the same rows key alike
    wherever and whenever they were loaded from. (A `datasets` fingerprint follows the source files' paths and
    modification times: data copied or provisioned again under the same name changed every key.) Its length
    when it has no image and label columns."""
    try:
        image, label = find_columns(dataset, image_column, label_column)
    except DataError:
        return len(dataset)
    return content_digest(dataset, image, label)


def load_result(folder: str) -> dict[str, Any] | None:
    """The results of the unlearning run in `folder`, or None when it has not finished."""
    path = os.path.join(folder, RESULTS_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        return json.load(f)


def read_key_record(folder: str) -> dict[str, Any]:
    """`benchmark_key.json` of `folder` ({"key", "payload"}), or {} (no key file, or an unreadable one)."""
    try:
        with open(os.path.join(folder, KEY_FILE)) as f:
            record = json.load(f)
    except (OSError, ValueError):
        return {}
    return record if isinstance(record, dict) else {}


def changed_settings(old: Any, new: Any, limit: int = 6) -> str:
    """The settings that differ between two key payloads, as dotted paths (`a.b: old -> new`), for a message."""
    if old is None:
        return "no key recorded (made before keys existed)"
    diffs: list[str] = []

    def walk(a: Any, b: Any, path: str) -> None:
        if isinstance(a, dict) and isinstance(b, dict):
            for name in sorted(set(a) | set(b)):
                walk(a.get(name, "<unset>"), b.get(name, "<unset>"), f"{path}.{name}" if path else name)
        elif canonical_json(a) != canonical_json(b):
            diffs.append(f"{path or 'payload'}: {canonical_json(a)[:60]} -> {canonical_json(b)[:60]}")

    walk(old, new, "")
    shown = "; ".join(diffs[:limit]) + (f"; and {len(diffs) - limit} more" if len(diffs) > limit else "")
    return shown or "the key's recipe (no setting differs in the payload)"


class ArtefactKeys:
    """Reuse or (re)make the artefacts under the benchmark's output folder `root`, by key."""

    #: Multi-GAN's options of the benchmark's base config (old names): what every run's key held before they
    #: moved into method_args (they were top-level fields of every config, whatever its method).
    base_gan: dict[str, Any] | None = None

    def __init__(self, root: str, should_save: bool, log: Callable[[str], None], redo: bool = False,
                 dry_run: bool = False):
        self.root = os.path.abspath(root)
        self.should_save, self.log, self.redo, self.dry_run = should_save, log, redo, dry_run
        #: absolute folder -> key of every artefact met so far in this benchmark
        self.keys: dict[str, str] = {}
        #: with `dry_run`: (what would happen: reuse / make / remake, folder, why) of every artefact met
        self.plan: list[tuple[str, str, str]] = []

    def key_of(self, folder: str) -> str:
        """The key of the artefact in `folder` (met earlier in this benchmark)."""
        return self.keys[os.path.abspath(folder)]

    def get_or_make(self, folder: str, payload: dict[str, Any], finished_file: str, make: Callable[[], T],
                    load: Callable[[], T], aliases: tuple[dict[str, Any], ...] = (),
                    planned: Callable[[], T] | None = None) -> T:
        """`load()` when `folder` holds this artefact finished (`finished_file` is there) under the key of
        `payload` (or of one of its `aliases`: the same settings as an older layout wrote them); otherwise
        `make()` it and record the key once it is made. A finished artefact under another key is emptied and made
        again only with `redo`; without it `UsageError` names it and nothing is removed. With `dry_run` nothing
        is made or removed: what would happen is added to `plan`, and an artefact that would be made is stood in
        for by `planned()`."""
        folder = os.path.abspath(folder)
        key = self.keys[folder] = artefact_key(payload)
        if os.path.isfile(os.path.join(folder, finished_file)):
            record = read_key_record(folder)
            stored = record.get("key")
            if stored == key or stored in {artefact_key(alias) for alias in aliases}:
                self.keys[folder] = stored  # what later artefacts made from this one were keyed on
                if self.dry_run:
                    self.plan.append(("reuse", folder, f"finished under key {stored}"))
                return load()
            changed = changed_settings(record.get("payload"), payload)
            if self.dry_run:
                self.plan.append(("remake", folder, f"made with other settings (key {stored or 'none'} -> {key}; "
                                  f"changed: {changed}); " + ("--redo remakes it" if self.redo else
                                                               "the benchmark stops here without --redo")))
                return self.stand_in(planned)
            if not self.redo:
                raise UsageError(
                    f"{folder} holds a finished run made with other settings (key {stored or 'none'} -> {key}; "
                    f"changed: {changed}). Nothing was removed. Restore the recipe's settings to reuse it, or rerun "
                    "with --redo to remake it and every other such run.")
            self.log(f"{folder}: the recipe changed since this run (key {stored or 'none'} -> {key}; changed: "
                     f"{changed}): rerunning (--redo)")
            self.remove(folder)
        if self.dry_run:
            self.plan.append(("make", folder, "interrupted: resumes from its own checkpoints" if os.path.isdir(folder)
                              else "not made yet"))
            return self.stand_in(planned)
        made = make()
        if self.should_save:
            os.makedirs(folder, exist_ok=True)
            write_json_atomic(os.path.join(folder, KEY_FILE), {"key": key, "payload": payload})
        return made

    def plan_report(self) -> str:
        """A dry run's listing: one line per artefact met (reuse / make / remake, its folder under the root, why),
        then the counts."""
        lines = [f"{action:7s} {os.path.relpath(folder, self.root)}  ({why})" for action, folder, why in self.plan]
        counts = {action: sum(1 for a, _, _ in self.plan if a == action) for action in ("reuse", "make", "remake")}
        lines.append(f"dry run: {counts['reuse']} to reuse, {counts['make']} to make, {counts['remake']} to remake "
                     "(made with other settings); nothing was trained, written or removed.")
        return "\n".join(lines)

    @staticmethod
    def stand_in(planned: Callable[[], T] | None) -> T:
        if planned is None:
            raise RuntimeError("a dry run met an artefact without a stand-in")
        return planned()

    def remove(self, folder: str) -> None:
        """Empty a stale artefact's folder (always one of the benchmark's own, under `root`)."""
        if os.path.commonpath([self.root, folder]) != self.root or folder == self.root:
            raise RuntimeError(f"refusing to remove {folder}: it is not a run folder under {self.root}")
        if self.should_save:
            shutil.rmtree(folder)

    def identity(self, path: str | None) -> Any:
        """How a path of a config enters a key. Inside an artefact of this benchmark (a retain generator, an
        earlier forget set): that artefact's key and the path within it, so the key follows what that run made
        and not where the benchmark folder lies; a run reusing it is redone when it is. Elsewhere: the path."""
        if not path:
            return path
        absolute = folder = os.path.abspath(path)
        while folder not in self.keys:
            parent = os.path.dirname(folder)
            if parent == folder:
                return path
            folder = parent
        return {"artefact": self.keys[folder], "path": os.path.relpath(absolute, folder)}

    def config_identity(self, config: UnlearningConfig, overrides: dict[str, Any] | None = None) -> dict[str, Any]:
        """A run's resolved config as it enters its key: the public fields but the `UNKEYED_FIELDS`, with the
        paths to other artefacts (retain generator, earlier forget sets) as their `identity`; in the layout keys
        had before Multi-GAN's options moved into method_args (`old_layout`), so finished runs keep their keys."""
        public = {k: v for k, v in old_layout(public_config(config), config, self.base_gan, overrides).items()
                  if k not in UNKEYED_FIELDS and not k.startswith(UNKEYED_PREFIXES)
                  and not (k in KEYED_WHEN_SET and v == KEYED_WHEN_SET[k])}
        for option, needs in ONLY_WITH.items():
            if not public.get(needs):
                public.pop(option, None)
        if not get_method(config.method).reads_training_augmentation:  # what no other method reads keys nothing
            public.pop("training_augmentation", None)
        public["retain_generator_path"] = self.identity(public.get("retain_generator_path"))
        if public.get("prepared_generator_path"):
            public["prepared_generator_path"] = self.identity(public["prepared_generator_path"])
        method_args = public.get("method_args")
        if isinstance(method_args, dict) and method_args.get("prepared_path"):  # amun's prepared set
            public["method_args"] = {**method_args, "prepared_path": self.identity(method_args["prepared_path"])}
        if public.get("previous_forget_sets"):
            public["previous_forget_sets"] = [self.identity(p) for p in public["previous_forget_sets"]]
        return public


def run_payloads(method: str, overrides: dict[str, Any], build: Callable[[dict[str, Any]], dict[str, Any]]
                 ) -> tuple[dict[str, Any], tuple[dict[str, Any], ...]]:
    """A run's key payload (`build(overrides in the old layout)`) and its aliases: the other reading of the old
    layout, where there are two."""
    first, second = (build(old_overrides(method, overrides, keep)) for keep in (False, True))
    return first, (() if second == first else (second,))


def planned_result(method: str) -> dict[str, Any]:
    """What a dry run stands in for a method run it would make: its fields, nothing measured."""
    return {"method": method, "metrics": {"unlearned": {}, "original": {}}, "timings": {}, "counts": {}, "config": {}}
