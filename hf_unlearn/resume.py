"""Resuming an interrupted request: fine-tuning checkpoints are kept only for the very request that wrote them
(same config, model, data, fine-tuning set and forget set, recorded as a key beside them), the newest
complete one is resumed, and what was kept only for resuming is removed when the run finishes."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from typing import Any

from transformers.trainer_utils import SaveStrategy

from .config import public_config
from .constants import RESUME_KEY_FILE
from .safety import write_json_atomic


def resumable_checkpoint(args: Any, request_key: dict[str, Any]) -> tuple[str | None, bool]:
    """With `args.resume`: the checkpoint to resume from (or None) and whether hf-unlearn checkpoints only for
    resuming (every epoch, the last one kept, when the user chose no save_strategy: `args` is changed so).

    `request_key` names what the run depends on besides its config (model, data, fine-tuning set, forget
    set); a checkpoint whose key differs belongs to another run and is not resumed."""
    if not args.resume:
        return None, False
    own_checkpoints = args.save_strategy in ("no", SaveStrategy.NO)
    if own_checkpoints:
        args.save_strategy = SaveStrategy.EPOCH
        args.save_total_limit = 1
    public = {k: v for k, v in public_config(args).items() if k not in ("logging_dir",)}
    key = hashlib.sha256(json.dumps({"config": public, **request_key}, sort_keys=True, default=str).encode()).hexdigest()
    path = os.path.join(args.output_dir, RESUME_KEY_FILE)
    previous = None
    if os.path.isfile(path):
        with open(path) as f:
            previous = json.load(f).get("key")
    last = last_complete_checkpoint(args.output_dir)
    if args.should_save:
        os.makedirs(args.output_dir, exist_ok=True)
        write_json_atomic(path, {"key": key})
    if last and previous == key:
        if args.should_log:
            print(f"[hf-unlearn] resuming fine-tuning from {last}", flush=True)
        return last, own_checkpoints
    if last and args.should_log:
        print(f"[hf-unlearn] {last} belongs to a different run (config, model or data changed): starting over",
              flush=True)
    return None, own_checkpoints


def remove_resume_state(args: Any, own_checkpoints: bool) -> None:
    """After a finished run: the checkpoints hf-unlearn made only for resuming, and the resume key."""
    if not args.should_save:
        return
    if own_checkpoints:
        for name in os.listdir(args.output_dir):
            if name.startswith("checkpoint-"):
                shutil.rmtree(os.path.join(args.output_dir, name), ignore_errors=True)
    if os.path.isfile(os.path.join(args.output_dir, RESUME_KEY_FILE)):
        os.remove(os.path.join(args.output_dir, RESUME_KEY_FILE))


def last_complete_checkpoint(output_dir: str) -> str | None:
    """The newest `checkpoint-N` whose trainer state was written (the Trainer writes it last): a checkpoint
    cut short by a kill is skipped, and the one before it (kept until the new one is complete) is used."""
    if not os.path.isdir(output_dir):
        return None
    steps = sorted((int(name.split("-")[1]), name) for name in os.listdir(output_dir)
                   if name.startswith("checkpoint-") and name.split("-")[1].isdigit())
    for _, name in reversed(steps):
        if os.path.isfile(os.path.join(output_dir, name, "trainer_state.json")):
            return os.path.join(output_dir, name)
    return None
