"""`hf-unlearn card FOLDER [--audit DIR]` and `hf-unlearn push FOLDER --repo_id ...`: re-render a run's card
(e.g. with its privacy audit) and push it to the Hub behind the unlearning gate."""

from __future__ import annotations

import argparse
import os
import shutil

from ..card import write_report, write_run_card
from ..constants import EVIDENCE_DIR
from ..publish import load_audit, load_results, push_folder


def refresh_card(folder: str, audit_path: str | None = None, audit_model: str = "unlearned") -> str:
    """Re-render `folder`'s card and report; with an audit, copy its report and plots under evidence/audit/."""
    results = load_results(folder)
    audit = load_audit(audit_path)
    if audit is not None:
        if audit_model not in audit["models"]:
            raise ValueError(f"The audit has no model {audit_model!r} (it has {sorted(audit['models'])}): "
                             "pass --audit_model with this model's name in the audit recipe.")
        source = audit_path if os.path.isdir(audit_path) else os.path.dirname(audit_path)
        target = os.path.join(folder, EVIDENCE_DIR, "audit")
        os.makedirs(target, exist_ok=True)
        for name in ("audit_report.json", "roc_curves.png", "loss_histograms.png"):
            if os.path.isfile(os.path.join(source, name)):
                shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
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
