"""Resuming an interrupted request: every fine-tuning checkpoint carries the key of the request that wrote it
(config, model, data, fine-tuning set and forget set, hashed) inside its `trainer_state.json`, the file the
Trainer writes last (as the state of an `ExportableState` callback); only the newest checkpoint with this
request's key is resumed, so a checkpoint of another run, or one cut short by a kill, never is. What was kept
only for resuming is removed at the end."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from transformers import TrainerCallback
from transformers.trainer_callback import ExportableState
from transformers.trainer_utils import SaveStrategy

from .config import public_config
from .constants import RESUME_KEY_FILE


class CheckpointKeyCallback(TrainerCallback, ExportableState):
    """Saves the request's key with every checkpoint (in `trainer_state.json`, under `stateful_callbacks`)."""

    def __init__(self, key: str | None = None):
        self.key = key  # None: resuming is off

    def state(self) -> dict[str, Any]:
        return {"args": {"key": self.key}, "attributes": {}}


def resumable_checkpoint(args: Any, request_key: dict[str, Any]) -> tuple[str | None, bool, TrainerCallback]:
    """With `args.resume`: the checkpoint to resume from (or None), whether hf-unlearn checkpoints only for
    resuming (every epoch, the last one kept, when the user chose no save_strategy: `args` is changed so), and
    the callback that marks each new checkpoint with this request's key (add it to the Trainer).

    `request_key` names what the run depends on besides its config (model, data, fine-tuning set, forget
    set); a checkpoint marked with another key, or with none, belongs to another run and is not resumed."""
    if not args.resume:
        return None, False, CheckpointKeyCallback(None)
    own_checkpoints = args.save_strategy in ("no", SaveStrategy.NO)
    if own_checkpoints:
        args.save_strategy = SaveStrategy.EPOCH
        args.save_total_limit = 1
    public = {k: v for k, v in public_config(args).items() if k not in ("logging_dir",)}
    key = hashlib.sha256(json.dumps({"config": public, **request_key}, sort_keys=True, default=str).encode()).hexdigest()
    mine = last_complete_checkpoint(args.output_dir, key)
    if mine:
        if args.should_log:
            print(f"[hf-unlearn] resuming fine-tuning from {mine}", flush=True)
        return mine, own_checkpoints, CheckpointKeyCallback(key)
    other = last_complete_checkpoint(args.output_dir)
    if other and args.should_log:
        print(f"[hf-unlearn] {other} belongs to a different run (config, model or data changed): starting over",
              flush=True)
    return None, own_checkpoints, CheckpointKeyCallback(key)


def remove_resume_state(args: Any, own_checkpoints: bool) -> None:
    """After a finished run: the checkpoints hf-unlearn made only for resuming (and the resume key file an
    older version kept at the top of the folder)."""
    if not args.should_save:
        return
    if own_checkpoints:
        for name in os.listdir(args.output_dir):
            if name.startswith("checkpoint-"):
                shutil.rmtree(os.path.join(args.output_dir, name), ignore_errors=True)
    if os.path.isfile(os.path.join(args.output_dir, RESUME_KEY_FILE)):
        os.remove(os.path.join(args.output_dir, RESUME_KEY_FILE))


def checkpoint_key(folder: str) -> str | None:
    """The request key a checkpoint was saved with (None: none, or the checkpoint is incomplete)."""
    try:
        with open(os.path.join(folder, "trainer_state.json")) as f:
            saved = json.load(f).get("stateful_callbacks", {}).get(CheckpointKeyCallback.__name__, {})
        return (saved[-1] if isinstance(saved, list) else saved).get("args", {}).get("key")
    except (OSError, ValueError, AttributeError, IndexError):
        return None


def last_complete_checkpoint(output_dir: str, key: str | None = None) -> str | None:
    """The newest `checkpoint-N` whose trainer state was written (the Trainer writes it last), and, with `key`,
    that was marked with this request's key: a checkpoint cut short by a kill is skipped, and the one before
    it (kept until the new one is complete) is used."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted((int(name.split("-")[1]), name) for name in os.listdir(output_dir)
                   if name.startswith("checkpoint-") and name.split("-")[1].isdigit())
    for _, name in reversed(steps):
        folder = os.path.join(output_dir, name)
        if os.path.isfile(os.path.join(folder, "trainer_state.json")) and (key is None or checkpoint_key(folder) == key):
            return folder
    return None
