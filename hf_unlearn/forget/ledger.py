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
import hashlib
import json
import os
from typing import Any

from ..constants import FORGET_SET_FILE, LEDGER_FILE, __version__
from ..errors import ForgetSetError, LedgerError
from ..safety import write_json_atomic
from .spec import ForgetSet, load_forget_set

#: How the card names each kind of request.
KIND_NAMES = {"where": "by id value", "images": "by image", "filter": "by filter", "indices": "listed rows",
              "classes": "whole class", "fraction": "random rows"}
#: The metrics of the unlearned model (and of the retrained reference, when scored) a ledger entry keeps.
LEDGER_METRICS = ("forget_accuracy", "retain_accuracy", "test_accuracy", "mia_auc", "mia_efficacy", "avg_gap")


def read_ledger(source: str | None, revision: str | None = None) -> list[dict[str, Any]]:
    """The ledger entries of the model at `source` (a local folder, or a Hub id: downloaded when reachable);
    [] when the model has none. A ledger that is not one (not JSON, not a mapping with a list of requests) is an
    error: a history that cannot be read must never pass for "no earlier request"."""
    raw = read_ledger_file(source, revision)
    return [] if raw is None else ledger_requests(raw, source or "")


def read_ledger_file(source: str | None, revision: str | None = None) -> Any:
    """The parsed `unlearning_ledger.json` of the model at `source`, or None when it has none."""
    if not source:
        return None
    if os.path.isdir(source):
        path = os.path.join(source, LEDGER_FILE)
        if not os.path.isfile(path):
            return None
    else:
        try:
            from huggingface_hub import hf_hub_download

            path = hf_hub_download(source, LEDGER_FILE, revision=revision)
        except Exception as err:  # no ledger in the repo, or the Hub is unreachable (offline with a cached model)
            if type(err).__name__ not in ("EntryNotFoundError", "RemoteEntryNotFoundError", "RepositoryNotFoundError"):
                print(f"[hf-unlearn] warning: could not read {LEDGER_FILE} of {source!r} ({type(err).__name__}): "
                      "earlier deletion requests of this model must be given with previous_forget_sets.", flush=True)
            return None
    with open(path, "rb") as f:
        data = f.read()
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as err:
        raise LedgerError(f"The model's {LEDGER_FILE} ({path}) is not valid JSON ({type(err).__name__}): restore it "
                          f"from the model's repository or a backup{OVERRIDE_HINT}") from None


def ledger_requests(raw: Any, where: str) -> list[dict[str, Any]]:
    """The requests of a parsed ledger, checked for shape (a mapping whose `requests` is a list of entries)."""
    entries = raw.get("requests") if isinstance(raw, dict) else None
    if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
        shape = type(raw).__name__ if not isinstance(raw, dict) else f"a mapping whose requests is {type(entries).__name__}"
        raise LedgerError(f"The model's {LEDGER_FILE} ({where}) is {shape}, not a ledger ({{\"format\": 2, "
                          f"\"requests\": [...]}}): its history cannot be read, so the rows of earlier requests could "
                          f"return to training. Restore it from the model's repository or a backup{OVERRIDE_HINT}")
    return list(entries)


def is_legacy(raw: Any) -> bool:
    """A ledger written before entries were chained (format 1, or no format)."""
    return isinstance(raw, dict) and int(raw.get("format", 1) or 1) < 2


#: How each refusal of a broken history ends: the two ways out.
OVERRIDE_HINT = (", or, knowing what was lost, set ledger_override to the reason (recorded in the new entry and "
                 "shown on the card).")
#: Files an unlearning run writes beside the model: a folder holding one has a history, so it must have a ledger.
RUN_FILES = ("unlearning_results.json", "unlearning_report.json", FORGET_SET_FILE)


def entry_digest(entry: dict[str, Any]) -> str:
    """SHA-256 of an entry as written (canonical JSON, without its own digest and the publication marks, which a
    push adds later)."""
    body = {k: v for k, v in entry.items() if k not in ("entry_sha256", "published")}
    return hashlib.sha256(json.dumps(body, sort_keys=True, separators=(",", ":"), default=str).encode()).hexdigest()


def chain(entry: dict[str, Any], previous: dict[str, Any] | None) -> dict[str, Any]:
    """`entry` linked to the one before it and sealed with its own digest."""
    entry = dict(entry)
    entry["previous_entry_sha256"] = previous.get("entry_sha256") if previous else None
    entry["entry_sha256"] = entry_digest(entry)
    return entry


def ledger_problems(entries: list[dict[str, Any]], weights_sha256: str | None = None, legacy: bool = False) -> list[str]:
    """What breaks the chain: a number out of sequence (an entry removed or inserted), an entry whose digest does
    not match its content (edited), a link to another entry than the one before it (removed, reordered, swapped),
    and the model's weights not being the last request's output (replaced). [] when it holds. `legacy`: a ledger
    written before entries were chained (format 1): its entries carry no digests to check (the numbering and the
    weights still are)."""
    problems = []
    for index, entry in enumerate(entries):
        number = entry.get("request")
        if number != index + 1:
            problems.append(f"entry {index + 1} is numbered {number!r}: an entry was removed, inserted or reordered")
        if "entry_sha256" not in entry and legacy:
            continue
        if "entry_sha256" not in entry:
            problems.append(f"request {number} carries no digest (a ledger written before hf-unlearn chained its "
                            "entries, or an entry added by hand): its content cannot be checked")
            continue
        if entry_digest(entry) != entry["entry_sha256"]:
            problems.append(f"request {number}'s content does not match its digest: the entry was edited")
        expected = entries[index - 1].get("entry_sha256") if index else None
        if entry.get("previous_entry_sha256") != expected:
            problems.append(f"request {number} does not follow the entry before it in the file: an entry was "
                            "removed, inserted or reordered")
    if entries and weights_sha256 is not None and entries[-1].get("model_sha256") != weights_sha256:
        problems.append(f"the model's weights (SHA-256 {weights_sha256[:12]}) are not the output of the ledger's last "
                        f"request ({str(entries[-1].get('model_sha256'))[:12]}): the weights were replaced, or the "
                        "ledger belongs to another model")
    return problems


def unrecorded_history(folder: str | None) -> list[str]:
    """The run files of an earlier request in a model folder that has no ledger (its history is lost)."""
    if not folder or not os.path.isdir(folder) or os.path.isfile(os.path.join(folder, LEDGER_FILE)):
        return []
    return [name for name in RUN_FILES if os.path.isfile(os.path.join(folder, name))]


def verified_ledger(source: str | None, weights_sha256: str | None, override: str | None,
                    revision: str | None = None) -> tuple[list[dict[str, Any]], dict[str, Any] | None]:
    """The model's ledger, verified before any work: it parses, its chain holds, the weights are its last output,
    and a folder with an earlier request's files has one. Refused (`LedgerError`, naming what broke and how to
    repair it) unless `override` gives a reason: then the readable entries are kept and the override (reason and
    problems) is returned for the new entry to record."""
    problems: list[str] = []
    entries: list[dict[str, Any]] = []
    legacy = False
    try:
        raw = read_ledger_file(source, revision)
        entries = [] if raw is None else ledger_requests(raw, source or "")
        legacy = is_legacy(raw)
    except LedgerError as err:
        problems.append(str(err).split(": restore")[0].split(". Restore")[0])
    lost = unrecorded_history(source)
    if lost:
        problems.append(f"the model folder holds an earlier request's {', '.join(lost)} but no {LEDGER_FILE}: its "
                        "history is lost, so the rows it forgot could return to training")
    problems += ledger_problems(entries, weights_sha256, legacy)
    if not problems:
        if legacy and entries:
            print(f"[hf-unlearn] note: {LEDGER_FILE} of {source} was written before entries were chained (format 1): "
                  "its weights and numbering were checked, its entries' contents cannot be; this request's entry "
                  "starts the chain.", flush=True)
        return entries, None
    if override:
        print(f"[hf-unlearn] warning: ledger_override ({override!r}): going on despite: " + "; ".join(problems),
              flush=True)
        return entries, {"reason": str(override), "problems": problems}
    raise LedgerError(f"The model's deletion history does not hold ({source}): " + "; ".join(problems) + ". Restore "
                      f"the model folder's files (weights, {LEDGER_FILE}, {FORGET_SET_FILE}) from the model's repository "
                      f"or a backup{OVERRIDE_HINT}")


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
                 base_model: str | None = None, override: dict[str, Any] | None = None,
                 verdict: str | None = None) -> dict[str, Any]:
    """One request as the ledger keeps it (publishable: hashes, counts and metrics only)."""
    kept = {name: {k: round(float(v), 4) for k, v in metrics[name].items() if k in LEDGER_METRICS}
            for name in ("unlearned", "retrained") if name in metrics}
    counted = {k: int(counts[k]) for k in ("train", "forget", "retain", "groups") if k in counts}
    counted.update({k: int(v) for k, v in (matched or {}).items() if k.startswith("images_")})
    entry = {
        "request": number, "date": dt.datetime.now(dt.timezone.utc).isoformat(timespec="seconds"),
        "kind": forget_set.kind, "description": forget_set.public_description(),
        "spec_sha256": forget_set.spec_hash(), "method": method, "counts": counted, "metrics": kept,
        "previous_model_sha256": model_before, "model_sha256": model_after, "data_sha256": data_sha256,
        "follows_previous_model": None if previous is None else previous.get("model_sha256") == model_before,
        "base_model": base_model, "hf_unlearn_version": __version__,
    }
    if verdict:
        entry["verdict"] = verdict
    if override:  # the history did not hold and the user went on: said in the entry, and so on the card
        entry["ledger_override"] = override
    return chain(entry, previous)


def write_ledger(folder: str, entries: list[dict[str, Any]]) -> str:
    """Write `unlearning_ledger.json` into `folder` (atomically)."""
    path = os.path.join(folder, LEDGER_FILE)
    write_json_atomic(path, {"format": 2, "requests": entries})
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
                     "published": ", ".join(p["repo_id"] for p in e.get("published", [])),
                     "override": e.get("ledger_override")})
    return rows
