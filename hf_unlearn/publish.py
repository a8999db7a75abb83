"""Publishing an unlearned model folder to the Hub, behind the unlearning gate.

Uploaded: the model and its processor, the card (`README.md`), the redacted `unlearning_report.json`, the
request ledger (`unlearning_ledger.json`: hashes, counts and metrics; the push records itself in it), the
evidence plots and, on request, the retain generator (the forget generator only with an explicit opt-in:
it was trained on the deleted images). Never uploaded: `forget_set.json`, `unlearning_results.json` (both
hold the forget-set ids), `training_args.bin` and TensorBoard logs (they hold the full config), checkpoints.
"""

from __future__ import annotations

import json
import os
from typing import Any

from huggingface_hub import HfApi

from .constants import FORGET_SET_FILE, GENERATORS_DIR, REPORT_FILE, RESULTS_FILE
from .errors import HubError
from .forget.ledger import mark_published, restore_ledger
from .gate import GateError, enforce_gate, gate_metrics

#: Patterns never uploaded (they hold forget-set ids, the full config, or half-written files).
PRIVATE_PATTERNS = [FORGET_SET_FILE, RESULTS_FILE, "training_args.bin", "runs/*", "checkpoint-*", "_*", "*.tmp",
                    "*.tmp/*"]


def ignore_patterns(include_generators: bool = False, include_forget_generator: bool = False) -> list[str]:
    patterns = list(PRIVATE_PATTERNS)
    if not include_generators:
        patterns.append(f"{GENERATORS_DIR}/*")
    elif not include_forget_generator:
        patterns.append(f"{GENERATORS_DIR}/forget/*")
    return patterns


def load_results(folder: str) -> dict[str, Any]:
    path = os.path.join(folder, RESULTS_FILE)
    if not os.path.isfile(path):
        raise FileNotFoundError(f"{folder!r} holds no {RESULTS_FILE}: give the output folder of an unlearning run "
                                "(hf-unlearn run / UnlearningTrainer.unlearn()).")
    with open(path) as f:
        return json.load(f)


def load_audit(path: str | None) -> dict[str, Any] | None:
    """An audit report from its JSON file or the audit's output folder."""
    if not path:
        return None
    if os.path.isdir(path):
        path = os.path.join(path, "audit_report.json")
    if not os.path.isfile(path):
        raise FileNotFoundError(f"No audit report at {path!r}: give the output folder of `hf-unlearn audit`.")
    with open(path) as f:
        return json.load(f)


def push_folder(folder: str, repo_id: str, *, api: Any = None, token: str | None = None, private: bool | None = None,
                gate: dict[str, Any] | str | None = None, audit: dict[str, Any] | None = None,
                audit_model: str = "unlearned", include_generators: bool = False,
                include_forget_generator: bool = False, commit_message: str = "Unlearned model (hf-unlearn)",
                revision: str | None = None) -> Any:
    """Check the gate, then create the repo (if needed) and upload the folder; returns the commit info.

    `api` is an `HfApi` (default: one built with `token`); nothing is created or uploaded when the gate fails.
    """
    if not repo_id:
        raise ValueError("No repository to push to: set hub_model_id (e.g. my-org/resnet-cifar10-unlearned).")
    results = load_results(folder)
    enforce_gate(gate, gate_metrics(results, audit, audit_model), (results.get("verdict") or {}).get("reason"))
    for required in ("README.md", REPORT_FILE, "config.json"):
        if not os.path.isfile(os.path.join(folder, required)):
            raise GateError(f"{folder!r} has no {required}: rerun the unlearning (or `hf-unlearn card {folder}`) "
                            "before pushing.")
    before = mark_published(folder, repo_id)  # the pushed ledger records where its last request went
    try:
        return upload(folder, repo_id, api=api, token=token, private=private, commit_message=commit_message,
                      revision=revision, ignore_patterns=ignore_patterns(include_generators, include_forget_generator))
    except BaseException:
        restore_ledger(folder, before)
        raise


def upload(folder: str, repo_id: str, *, api: Any = None, token: str | None = None, private: bool | None = None,
           **upload_options: Any) -> Any:
    """Create the model repository (if needed) and upload `folder` with `upload_options` (patterns, path in the
    repo, commit message, revision); a failure at the Hub becomes a one-line `HubError` (`hub_error`)."""
    api = api or HfApi(token=token)
    try:
        repo = api.create_repo(repo_id=repo_id, private=private, exist_ok=True, repo_type="model", token=token)
        return api.upload_folder(repo_id=getattr(repo, "repo_id", repo_id), folder_path=folder, repo_type="model",
                                 token=token, **upload_options)
    except Exception as err:
        mapped = hub_error(err, repo_id)
        if mapped is None:
            raise
        raise mapped from None


#: Where `push_preparation` puts a prepared generator in the model's repository.
PREPARED_DIR = "prepared_generator"


def push_preparation(folder: str, repo_id: str, *, api: Any = None, token: str | None = None,
                     private: bool | None = None, path_in_repo: str = PREPARED_DIR, revision: str | None = None,
                     commit_message: str = "Prepared data generator (hf-unlearn prepare)") -> Any:
    """Upload a preparation (`hf-unlearn prepare`: generator, discriminator, `preparation.json`) into
    `path_in_repo` of the repository of the model it was prepared for, so that any machine can serve that
    model's deletion requests. It has seen the rows that model was trained on, no more; the push of an
    unlearned model never carries it (a request does not copy it into its output). Returns the commit info."""
    from .gan.preparation import PREPARATION_FILE, ROWS_FILE, load_preparation

    if not repo_id:
        raise ValueError("No repository to push the prepared generator to: set hub_model_id (the repository of the "
                         "model it was prepared for, e.g. my-org/resnet-cifar10).")
    load_preparation(folder)  # a folder that holds no finished preparation is refused here, before any upload
    return upload(folder, repo_id, api=api, token=token, private=private, path_in_repo=path_in_repo,
                  commit_message=commit_message, revision=revision,
                  allow_patterns=["generator/*", "discriminator/*", PREPARATION_FILE, ROWS_FILE])


#: Exception class names (anywhere in the chain of causes) that mean the Hub could not be reached; the HTTP
#: clients behind huggingface_hub differ between versions (requests, httpx), so they are matched by name.
NETWORK_ERRORS = ("ConnectError", "ConnectionError", "ConnectTimeout", "ReadTimeout", "TimeoutException",
                  "NameResolutionError", "NewConnectionError", "OfflineModeIsEnabled", "TransportError")


def hub_error(err: BaseException, repo_id: str) -> HubError | None:
    """A one-line `HubError` for a push that failed at the Hub (no network, offline mode, refused token or
    permission), or None for any other error (which then propagates as it is)."""
    chain, cause = [], err
    while cause is not None and len(chain) < 10:
        chain.append(cause)
        cause = cause.__cause__ or cause.__context__
    names = {c.__name__ for e in chain for c in type(e).__mro__}
    first = (str(err).strip().splitlines() or [type(err).__name__])[0]
    if names & set(NETWORK_ERRORS):
        return HubError(f"Could not reach the Hub to push {repo_id!r} ({type(err).__name__}: {first}). Check the "
                        "network (and HF_HUB_OFFLINE / HF_ENDPOINT), then run the same push again: nothing was uploaded "
                        "unless the Hub shows a commit.")
    if "HfHubHTTPError" in names or "HTTPError" in names:
        status = getattr(getattr(err, "response", None), "status_code", "?")
        return HubError(f"The Hub refused the push to {repo_id!r} (HTTP {status}: {first}). Check your token "
                        "(HF_TOKEN or `hf auth login`) and that it may write to that repository or organisation.")
    return None


def push_result(run: Any, token: str | None, private: bool | None, audit: dict[str, Any] | None, audit_model: str,
                commit_message: str | None, revision: str | None) -> Any:
    """`UnlearningTrainer.push_to_hub`: the gate on every process (with the `audit` report's attacks when given),
    then the push of the run's output folder from the main process. A missed threshold raises `GateError` and
    nothing is created or uploaded. Returns the commit info (None on other processes)."""
    if run.result is None:
        raise RuntimeError("Nothing to push yet: call unlearn() first.")
    args = run.args
    enforce_gate(args.push_gate, gate_metrics(run.result.to_dict(), audit, audit_model),  # every rank agrees
                 (run.verdict or {}).get("reason"))
    if not run.is_world_process_zero():
        return None
    repo_id = args.hub_model_id or os.path.basename(os.path.abspath(args.output_dir))
    return push_folder(args.output_dir, repo_id, api=run.hub_api, token=token,
                       private=args.hub_private_repo if private is None else private, gate=args.push_gate, audit=audit,
                       audit_model=audit_model, include_generators=args.push_generators,
                       include_forget_generator=args.publish_forget_generator,
                       commit_message=commit_message or "Unlearned model (hf-unlearn)", revision=revision)
