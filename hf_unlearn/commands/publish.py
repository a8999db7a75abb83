"""`hf-unlearn card FOLDER [--audit DIR]` and `hf-unlearn push FOLDER --repo_id ...`: re-render a run's card
(e.g. with its privacy audit) and push it to the Hub behind the unlearning gate."""

from __future__ import annotations

import argparse
import json
import os
import shutil

from ..card import write_report, write_run_card
from ..constants import EVIDENCE_DIR, REPORT_FILE, RESULTS_FILE
from ..publish import load_audit, load_results, push_folder
from ..safety import write_json_atomic


def refresh_card(folder: str, audit_path: str | None = None, audit_model: str = "unlearned",
                 names: dict[str, str | None] | None = None) -> str:
    """Re-render `folder`'s card and report; with an audit, copy its report and plots under evidence/audit/.
    A folder holding only a published card and its `unlearning_report.json` (no results) is re-rendered from
    that report. `names`: `card_dataset` / `card_base_model` to set (how the card names data and model)."""
    report_only = not os.path.isfile(os.path.join(folder, RESULTS_FILE)) and os.path.isfile(
        os.path.join(folder, REPORT_FILE))
    if report_only:
        with open(os.path.join(folder, REPORT_FILE)) as f:
            results = json.load(f)  # already redacted
    else:
        results = load_results(folder)
    for key, value in (names or {}).items():
        if value:
            results.setdefault("config", {})[key] = value
            if key == "card_base_model":
                results["base_model_id"] = value
    audit = load_audit(audit_path)
    if audit is not None:
        if audit_model not in audit["models"]:
            raise ValueError(f"The audit has no model {audit_model!r} (it has {sorted(audit['models'])}): "
                             "pass --audit_model with this model's name in the audit recipe.")
        source = audit_path if os.path.isdir(audit_path) else os.path.dirname(audit_path)
        target = os.path.join(folder, EVIDENCE_DIR, "audit")
        os.makedirs(target, exist_ok=True)
        for name in ("audit_report.json", "roc_curves.png", "loss_histograms.png"):
            here, there = os.path.join(source, name), os.path.join(target, name)
            if os.path.isfile(here) and not (os.path.exists(there) and os.path.samefile(here, there)):
                shutil.copyfile(here, there)
    if names and not report_only:  # the names are the run's from now on
        write_json_atomic(os.path.join(folder, RESULTS_FILE), results)
    write_report(folder, results)
    return str(write_run_card(folder, results, audit=audit, audit_model=audit_model))


def push_command(args: argparse.Namespace) -> None:
    """`hf-unlearn push`: gate first (the run's push_gate unless --gate), then the upload."""
    results = load_results(args.folder)
    config = results.get("config", {})
    audit = load_audit(args.audit)
    if audit is not None:
        refresh_card(args.folder, args.audit, args.audit_model)
    commit = push_folder(
        args.folder, args.repo_id, token=args.token or None, private=args.private or config.get("hub_private_repo"),
        gate=args.gate if args.gate is not None else config.get("push_gate"), audit=audit,
        audit_model=args.audit_model, include_generators=args.push_generators or config.get("push_generators", False),
        include_forget_generator=args.publish_forget_generator or config.get("publish_forget_generator", False),
        revision=args.revision)
    print(f"Pushed {args.folder} to {args.repo_id}: {getattr(commit, 'commit_url', commit)}")
