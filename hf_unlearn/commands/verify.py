"""`hf-unlearn verify MODEL`: what a data-protection officer or a downstream user runs on an unlearned model (a local
folder or a Hub id) to check its deletion history: the ledger parses, its entries chain (none edited, removed or
reordered), the weights are the output of its last request, and, in the data owner's own folder, every request's
private specification is there and matches its hash. Prints each request; exits 1 when anything breaks."""

from __future__ import annotations

import os
from typing import Any

from ..constants import FORGET_SET_FILE, LEDGER_FILE
from ..errors import LedgerError
from ..forget.ledger import (
    KIND_NAMES,
    is_legacy,
    ledger_problems,
    ledger_requests,
    read_ledger_file,
    unrecorded_history,
)


def model_weights_digest(source: str, revision: str | None = None) -> str | None:
    """SHA-256 of the weights of the model at `source` (as a run records them), or None when it holds none."""
    from transformers import AutoModelForImageClassification

    from ..safety import load_pretrained, weights_digest

    if os.path.isdir(source) and not any(os.path.isfile(os.path.join(source, f)) for f in
                                         ("model.safetensors", "model.safetensors.index.json")):
        return None
    model = load_pretrained(AutoModelForImageClassification, source, False, **({"revision": revision} if revision
                                                                                 else {}))
    return weights_digest(model)


def spec_problems(source: str, entries: list[dict[str, Any]]) -> tuple[list[str], int]:
    """In a folder that keeps the private specifications: each request's must be there with its hash."""
    from ..forget.ledger import private_specs

    if not os.path.isfile(os.path.join(source, FORGET_SET_FILE)):
        return [], 0
    hashes = {spec.spec_hash() for spec in private_specs(source)}
    missing = [e.get("request") for e in entries if e.get("spec_sha256") not in hashes]
    return ([f"request(s) {missing}: no specification in {FORGET_SET_FILE} matches the ledger's hash (missing, edited "
             "or another request's)"] if missing else []), len(entries) - len(missing)


def verify_model(source: str, revision: str | None = None, check_weights: bool = True,
                 out: Any = print) -> bool:
    """Check `source`'s deletion history and print it; True when it holds."""
    problems: list[str] = []
    try:
        raw = read_ledger_file(source, revision)
        entries = [] if raw is None else ledger_requests(raw, source)
    except LedgerError as err:
        out(f"BROKEN: {err}")
        return False
    lost = unrecorded_history(source)
    if lost:
        problems.append(f"the folder holds an earlier request's {', '.join(lost)} but no {LEDGER_FILE}: its history is lost")
    if not entries and not lost:
        out(f"{source}: no {LEDGER_FILE}: no deletion request was recorded for this model.")
        return True
    weights = model_weights_digest(source, revision) if check_weights else None
    legacy = is_legacy(raw)
    problems += ledger_problems(entries, weights, legacy)
    specs, matched = spec_problems(source, entries) if os.path.isdir(source) else ([], 0)
    problems += specs
    out(f"{source}: {len(entries)} deletion request(s) in {LEDGER_FILE}")
    for e in entries:
        counts = e.get("counts", {})
        verdict = f", verdict {e['verdict'].replace('_', ' ')}" if e.get("verdict") else ""
        published = ", published to " + ", ".join(p["repo_id"] for p in e["published"]) if e.get("published") else ""
        override = f", WENT ON DESPITE A BROKEN HISTORY: {e['ledger_override']['reason']!r}" if e.get(
            "ledger_override") else ""
        out(f"  #{e.get('request')} {str(e.get('date', ''))[:10]} {KIND_NAMES.get(e.get('kind'), e.get('kind'))}: "
            f"{counts.get('forget', '?')} forgotten, {counts.get('retain', '?')} retained, method {e.get('method')}"
            f"{verdict}; model {str(e.get('model_sha256'))[:12]}{published}{override}")
    if weights is None:
        out("  weights: not checked (no model weights here)" if check_weights else "  weights: not checked")
    elif not [p for p in problems if "weights" in p]:
        out(f"  weights: {weights[:12]} = the last request's output")
    out(f"  specifications: {matched} of {len(entries)} present and matching" if matched or specs else
        "  specifications: private (kept by the data owner, not in this folder): not checked")
    if problems:
        out("BROKEN: " + "; ".join(problems))
        return False
    chained = ("the requests are numbered in order (a format-1 ledger, written before entries were chained: their "
               "contents cannot be checked)" if legacy else "every entry is chained to the one before it")
    out(f"OK: {chained}" + (" and the weights are the last request's output" if weights else ""))
    return True
