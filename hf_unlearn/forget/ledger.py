"""The request ledger: every deletion request applied to a model, kept with the model (`unlearning_ledger.json`,
published with it) so that its owner can answer "what has this model forgotten, when, and how well?".

An entry holds the request's number, date, kind, specification hash, row counts, method, key metrics, and the
SHA-256 of the model's weights before and after: hashes, counts and numbers only, never an id, a value or an
image. The specifications themselves stay with the data owner, in the run's private `forget_set.json` (this
request's, and every earlier one under `earlier`). A sequential request on a model reads its ledger and those
specifications (`earlier_requests`) instead of needing `previous_forget_sets` by hand; specifications given by
hand are checked against the ledger's hashes.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from typing import Any

from ..constants import FORGET_SET_FILE, LEDGER_FILE, __version__
from ..errors import ForgetSetError
from ..safety import write_json_atomic
from .spec import ForgetSet, load_forget_set

#: How the card names each kind of request.
KIND_NAMES = {"where": "by id value", "images": "by image", "filter": "by filter", "indices": "listed rows",
              "classes": "whole class", "fraction": "random rows"}
#: The metrics of the unlearned model (and of the retrained reference, when scored) a ledger entry keeps.
LEDGER_METRICS = ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_auc", "mia_efficacy", "avg_gap")


def read_ledger(source: str | None, revision: str | None = None) -> list[dict[str, Any]]:
    """The ledger entries of the model at `source` (a local folder, or a Hub id: downloaded when reachable);
    [] when the model has none."""
    if not source:
        return []
    if os.path.isdir(source):
        path = os.path.join(source, LEDGER_FILE)
        if not os.path.isfile(path):
            return []
    else:
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(source, LEDGER_FILE, revision=revision)
        except Exception as err:  # no ledger in the repo, or the Hub is unreachable (offline with a cached model)
            if type(err).__name__ not in ("EntryNotFoundError", "RemoteEntryNotFoundError", "RepositoryNotFoundError"):
                print(f"[hf-unlearn] warning: could not read {LEDGER_FILE} of {source!r} ({type(err).__name__}): "
                      "earlier deletion requests of this model must be given with previous_forget_sets.", flush=True)
            return []
    with open(path) as f:
        try:
            ledger = json.load(f)
        except json.JSONDecodeError as err:
            raise ForgetSetError(f"The model's {LEDGER_FILE} ({path}) is not valid JSON ({err.msg}): restore it from "
                                 "the model's repository.") from None
    return list(ledger.get("requests", [])) if isinstance(ledger, dict) else []


def private_specs(source: str | None) -> list[ForgetSet]:
    """Every request's specification kept in the model folder's private `forget_set.json` (earlier ones first);
    [] when the folder has none (e.g. a model downloaded from the Hub: the file is never published)."""
    path = os.path.join(source or "", FORGET_SET_FILE)
    if not source or not os.path.isfile(path):
        return []
    with open(path) as f:
        record = json.load(f)
    return [ForgetSet.from_dict(spec) for spec in record.get("earlier", [])] + [ForgetSet.from_dict(record)]


def earlier_requests(source: str | None, given: list[str] | None,
                     entries: list[dict[str, Any]]) -> list[ForgetSet]:
    """The specifications of every request already applied to the model: from the ledger's private companion in
    the model folder and from `given` (`previous_forget_sets` paths), one per hash. Each request the ledger
    lists must be among them (else refused, naming the missing ones)."""
    found: dict[str, ForgetSet] = {}
    for spec in private_specs(source) + [load_forget_set(p) for p in given or []]:
        found.setdefault(spec.spec_hash(), spec)
    missing = [e for e in entries if e.get("spec_sha256") not in found]
    if missing:
        listed = "; ".join(f"request {e.get('request')} of {e.get('date', '?')[:10]} ({e.get('kind')}, "
                           f"{e.get('counts', {}).get('forget', '?')} rows, spec sha256 {str(e.get('spec_sha256'))[:12]})"
                           for e in missing[:10])
        raise ForgetSetError(
            f"The model's {LEDGER_FILE} lists {len(missing)} earlier deletion request(s) whose specification is not "
            f"here: {listed}. A ledger published with a model holds hashes only: pass each request's {FORGET_SET_FILE} "
            "with previous_forget_sets (each is checked against these hashes), or run on the output folder of the "
            "last request, which keeps them.")
    ordered = [found[e["spec_sha256"]] for e in entries]
    ordered += [spec for h, spec in found.items() if h not in {e["spec_sha256"] for e in entries}]
    return ordered


def ledger_entry(number: int, forget_set: ForgetSet, counts: dict[str, int], method: str,
                 metrics: dict[str, dict[str, float]], model_before: str | None, model_after: str | None,
                 data_sha256: str | None, previous: dict[str, Any] | None, matched: dict[str, Any] | None = None,
                 base_model: str | None = None) -> dict[str, Any]:
    """One request as the ledger keeps it (publishable: hashes, counts and metrics only)."""
    kept = {name: {k: round(float(v), 4) for k, v in metrics[name].items() if k in LEDGER_METRICS}
            for name in ("unlearned", "retrained") if name in metrics}
    counted = {k: int(counts[k]) for k in ("train", "forget", "retain", "groups") if k in counts}
    counted.update({k: int(v) for k, v in (matched or {}).items() if k.startswith("images_")})
    return {
        "request": number, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kind": forget_set.kind, "description": forget_set.public_description(),
        "spec_sha256": forget_set.spec_hash(), "method": method, "counts": counted, "metrics": kept,
        "previous_model_sha256": model_before, "model_sha256": model_after, "data_sha256": data_sha256,
        "follows_previous_model": None if previous is None else previous.get("model_sha256") == model_before,
        "base_model": base_model, "hf_unlearn_version": __version__,
    }


def write_ledger(folder: str, entries: list[dict[str, Any]]) -> str:
    """Write `unlearning_ledger.json` into `folder` (atomically)."""
    path = os.path.join(folder, LEDGER_FILE)
    write_json_atomic(path, {"format": 1, "requests": entries})
    return path


def mark_published(folder: str, repo_id: str) -> dict[str, Any] | None:
    """Record in the folder's ledger that its last request was published to `repo_id` (before the upload, so
    that the pushed ledger says so); returns the ledger as it was, to restore if the upload fails."""
    path = os.path.join(folder, LEDGER_FILE)
    if not os.path.isfile(path):
        return None
    with open(path) as f:
        before = json.load(f)
    after = json.loads(json.dumps(before))
    if after.get("requests"):
        date = dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds")
        after["requests"][-1].setdefault("published", []).append({"repo_id": repo_id, "date": date})
        write_ledger(folder, after["requests"])
    return before


def restore_ledger(folder: str, before: dict[str, Any] | None) -> None:
    """Undo `mark_published` (the upload failed)."""
    if before is not None:
        write_ledger(folder, before.get("requests", []))


def card_rows(entries: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The ledger as the card's history table: counts and metrics only."""
    rows = []
    for e in entries:
        m = e.get("metrics", {}).get("unlearned", {})
        ref = e.get("metrics", {}).get("retrained", {})

        def cell(key: str, fmt: str = "{:.2f}", m: dict = m, ref: dict = ref) -> str:
            text = fmt.format(m[key]) if key in m else "n/a"
            return text + (f" ({fmt.format(ref[key])})" if key in ref and key != "avg_gap" else "")

        counts = e.get("counts", {})
        rows.append({"request": e.get("request"), "date": str(e.get("date", ""))[:10],
                     "kind": KIND_NAMES.get(e.get("kind"), e.get("kind")),
                     "forget": counts.get("forget", "?"), "retain": counts.get("retain", "?"),
                     "method": e.get("method"), "forget_accuracy": cell("forget_accuracy"),
                     "test_accuracy": cell("test_accuracy"), "mia_auc": cell("mia_auc", "{:.3f}"),
                     "avg_gap": cell("avg_gap"), "model": str(e.get("model_sha256") or "")[:12],
                     "follows": e.get("follows_previous_model"),
                     "published": ", ".join(p["repo_id"] for p in e.get("published", []))})
    return rows
