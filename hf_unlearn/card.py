"""Model cards: the unlearning evidence, rendered from `model_cards/template.md` in the form the Hub reads.

What is published is redacted first (`redacted_report`): forget-set row ids, the seed that draws a random
forget set, earlier requests' file paths and tokens never reach a card or a pushed file.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import yaml
from huggingface_hub import EvalResult, ModelCard, ModelCardData

from .constants import CARD_TAGS, EVIDENCE_DIR, REPORT_FILE, __version__
from .forget.ledger import card_rows, read_ledger
from .gate import gate_metrics, parse_gate
from .methods.multigan_options import recorded_options
from .methods.registry import get_method
from .mia.stats import auc_interval, wilson_interval
from .safety import is_secret_key, write_json_atomic

METRIC_LABELS = {
    "forget_accuracy": "Forget accuracy",
    "retain_accuracy": "Retain accuracy",
    "test_accuracy": "Test accuracy",
    "mia_auc": "MIA AUC (loss attack)",
    "mia_score": "MIA score (challenge kit)",
    "mia_efficacy": "MIA-efficacy (SalUn)",
    "avg_gap": "Avg Gap to retrained model",
}
SPLITS = {"mia_auc": "forget vs test", "mia_score": "forget vs test",
          "mia_efficacy": "forget (attack trained on retain vs test)", "avg_gap": "forget, retain and test"}
ROW_NAMES = {"original": "original (before unlearning)", "retrained": "retrained from scratch (reference)",
             "unlearned": "unlearned (this model)"}
#: What the published report leaves out: forget-set ids and the seed that redraws them, local paths of
#: earlier requests, credentials.
PRIVATE_CONFIG_KEYS = ("forget_indices", "forget_seed", "previous_forget_sets", "forget_where", "forget_file",
                       "forget_filter", "forget_images")
PRIVATE_FORGET_KEYS = ("indices", "seed", "path", "where", "filter", "image_digests", "description",
                       "public_description")
#: Groups of a person-level request shown one by one in the card (the rest are summarised).
CARD_GROUPS = 20


def template_path() -> Path:
    """The shipped Jinja template (inside the wheel, or `model_cards/` in a source checkout)."""
    here = Path(__file__).resolve().parent
    for candidate in (here / "model_card_template.md", here.parent / "model_cards" / "template.md"):
        if candidate.is_file():
            return candidate
    raise FileNotFoundError("The model-card template is missing from the installation; reinstall hf-unlearn.")


def redact_command(command: str | None) -> str | None:
    """A command line with the value of every token-like option (`--hub_token X`, `--token=X`) replaced."""
    if not command:
        return command
    out, hide_next = [], False
    for arg in command.split(" "):
        key = arg.split("=", 1)[0]
        if hide_next:
            out.append("<redacted>")
            hide_next = False
        elif arg.startswith("--") and is_secret_key(key.lstrip("-")):
            out.append(f"{key}=<redacted>" if "=" in arg else arg)
            hide_next = "=" not in arg
        else:
            out.append(arg)
    return " ".join(out)


def redacted_report(result: dict[str, Any]) -> dict[str, Any]:
    """The run's results as they may be published: no forget ids or forget seed, no tokens."""
    report = json.loads(json.dumps(result, default=str))
    report["command"] = redact_command(report.get("command"))
    report["dataset_name"] = public_dataset_name(result)  # a local path is never published
    source = (report.get("input_model") or {}).get("source")
    if is_local_path(source):
        report["input_model"]["source"] = "(a local folder)"
    report["config"] = {k: v for k, v in report.get("config", {}).items()
                        if k not in PRIVATE_CONFIG_KEYS and not is_secret_key(k)}
    verdict_options = report["config"].get("verdict")
    if isinstance(verdict_options, dict) and is_local_path(verdict_options.get("references")):
        report["config"]["verdict"] = {**verdict_options, "references": "(a local folder)"}
    original = report.get("forget_set", {})
    forget = {k: v for k, v in original.items() if k not in PRIVATE_FORGET_KEYS}
    if forget.get("kind") == "fraction":
        forget["description"] = f"a random {100 * float(forget.get('fraction', 0)):.1f}% of the training rows"
    elif "public_description" in original:  # where / images / filter: counts, never the values
        forget["description"] = original["public_description"]
    elif "description" in original:
        forget["description"] = original["description"]
    matched = {k: v for k, v in (forget.pop("matched", None) or {}).items() if k.startswith("images_")}
    if matched:  # image counts only: no per-value row counts
        forget["matched"] = matched
    report["forget_set"] = forget
    synthetic_forget = ((report.get("synthetic") or {}).get("sources") or {}).get("synthetic_forget")
    if synthetic_forget and forget.get("kind") != "classes":  # per-class counts would describe the deleted images
        synthetic_forget.pop("class_counts", None)
    return report


def _intervals(name: str, key: str, metrics: dict[str, float], counts: dict[str, int]) -> str:
    """A table cell: value and its 95% interval (Wilson for accuracies, Hanley-McNeil for the AUC)."""
    if key == "avg_gap" and name == "retrained":
        return "0"
    if key not in metrics:
        return "n/a"
    value = float(metrics[key])
    sizes = {"forget_accuracy": counts.get("forget", 0), "retain_accuracy": counts.get("eval_retain", 0),
             "test_accuracy": counts.get("test", 0), "mia_efficacy": counts.get("forget", 0)}
    if key in sizes:
        low, high = wilson_interval(value / 100.0, sizes[key])
        return f"{value:.2f} [{100 * low:.1f}, {100 * high:.1f}]"
    if key == "mia_auc":
        low, high = auc_interval(value, counts.get("forget", 0), counts.get("test", 0))
        return f"{value:.3f} [{low:.3f}, {high:.3f}]"
    if key == "mia_score":
        std = metrics.get("mia_score_std")
        return f"{value:.3f}" + (f" ± {float(std):.3f}" if std is not None else "")
    return f"{value:.2f}"


def eval_results(metrics: dict[str, float], dataset_name: str, dataset_type: str,
                 audit: dict[str, Any] | None = None, audit_model: str = "unlearned") -> list[EvalResult]:
    """One `EvalResult` per reported number of the unlearned model (the Hub shows these), audit included."""
    results = []
    for key, label in METRIC_LABELS.items():
        if key not in metrics:
            continue
        split = key.split("_")[0] if key.endswith("_accuracy") else SPLITS[key]
        results.append(EvalResult(
            task_type="image-classification", task_name="Image classification (unlearning)",
            dataset_type=dataset_type, dataset_name=dataset_name, dataset_split=split,
            metric_type="accuracy" if key.endswith("_accuracy") else key, metric_name=label,
            metric_value=round(float(metrics[key]), 4),
        ))
    if audit and audit_model in audit.get("models", {}):
        for attack, stats in audit["models"][audit_model].items():
            if not isinstance(stats, dict) or "auc" not in stats:
                continue
            for stat, label in (("auc", "AUC"), ("tpr_at_1pct_fpr", "TPR at 1% FPR")):
                results.append(EvalResult(
                    task_type="image-classification", task_name="Membership-inference audit",
                    dataset_type=dataset_type, dataset_name=dataset_name, dataset_split="forget vs held-out",
                    metric_type=f"mia_{attack}_{stat}", metric_name=f"{attack} {label} (tier {stats['tier']})",
                    metric_value=round(float(stats[stat]["value"]), 4),
                ))
    return results


def _audit_rows(audit: dict[str, Any]) -> tuple[list[str], list[dict[str, Any]]]:
    models = list(audit["models"])
    rows = []
    for attack, tier in audit.get("attacks", {}).items():
        cells = []
        for m in models:
            stats = audit["models"][m].get(attack, {})
            if "auc" not in stats:
                cells += [f"kit score {stats['mia_score']:.3f}" if "mia_score" in stats else "n/a", ""]
                continue
            for key in ("auc", "tpr_at_1pct_fpr"):
                s = stats[key]
                cells.append(f"{s['value']:.3f} [{s['low']:.3f}, {s['high']:.3f}]")
        rows.append({"attack": attack, "tier": str(tier).replace("tier ", ""), "cells": cells})
    return models, rows


def card_options(result: dict[str, Any], tags: tuple[str, ...] | list[str] = CARD_TAGS) -> dict[str, Any]:
    """How a run's card names the model, its base, data, tags and command, from its results (as written by
    `UnlearningTrainer`): the same card whether rendered by the run or later by `hf-unlearn card`."""
    hub_model_id = result.get("config", {}).get("hub_model_id") or ""
    return {"base_model": result.get("base_model_id") or result.get("base_model"),
            "dataset_name": public_dataset_name(result),
            "tags": list(tags) + [result["method"]], "model_name": hub_model_id.split("/")[-1] or None,
            "command": result.get("command")}


def is_local_path(name: str | None) -> bool:
    """Whether `name` is a path on this machine (never published) rather than a Hub id or a plain name."""
    return bool(name) and (os.path.exists(name) or name.startswith((".", "/", "~")) or "\\" in name
                           or name.endswith((".parquet", ".csv", ".json", ".arrow")))


def public_dataset_name(result: dict[str, Any]) -> str | None:
    """How the card names the training data: `card_dataset`, else `dataset_name` when it is a Hub id or a name,
    else the local folder's name (a path is never published)."""
    named = result.get("config", {}).get("card_dataset")
    name = result.get("dataset_name")
    if named or not name:
        return named or None
    if not is_local_path(name):
        return name
    base = os.path.basename(os.path.normpath(name))
    return os.path.splitext(base)[0] or None


def render_model_card(result: dict[str, Any], *, base_model: str | None = None, tags: list[str] | None = None,
                      model_name: str | None = None, dataset_name: str | None = None,
                      audit: dict[str, Any] | None = None, audit_model: str = "unlearned",
                      files: dict[str, str] | None = None, command: str | None = None,
                      in_progress: int | None = None, ledger: list[dict[str, Any]] | None = None) -> ModelCard:
    """Render the card of one unlearning run (`UnlearningResult.to_dict()` or `unlearning_results.json`),
    optionally with a privacy audit (`audit_report.json`) and evidence files (paths relative to the card)."""
    report = redacted_report(result)
    metrics, counts = report["metrics"], {"eval_retain": 0, "test": 0, **report["counts"]}
    method = report["method"]
    base = base_model if base_model and not is_local_path(base_model) else None
    dataset_name = dataset_name if dataset_name and not is_local_path(dataset_name) else None
    dataset = dataset_name or "the model's training data"
    card_data = ModelCardData(
        model_name=model_name or f"{method}-unlearned",
        base_model=base,
        library_name="transformers",
        pipeline_tag="image-classification",
        tags=sorted(set(tags or []) | {"hf-unlearn", "machine-unlearning", method}),
        eval_results=eval_results(metrics.get("unlearned", {}), dataset_name or "training data",
                                  dataset_name or "imagefolder", audit, audit_model) or None,
    )
    rows = [{"name": ROW_NAMES[k], **{m: _intervals(k, m, metrics[k], counts) for m in METRIC_LABELS}}
            for k in ("original", "retrained", "unlearned") if k in metrics]
    audit_models, audit_rows = _audit_rows(audit) if audit else ([], [])
    try:
        summary = (get_method(method).__doc__ or "").strip().splitlines()[0]
    except (KeyError, ValueError, IndexError):
        summary = ""
    config = report["config"]
    gate = _gate_rows(config.get("push_gate"), result, audit, audit_model)
    return ModelCard.from_template(
        card_data, template_path=str(template_path()), model_name=card_data.model_name, method=method,
        method_summary=summary, base_model=base, forget=report["forget_set"], counts=counts, rows=rows,
        timings=report.get("timings"), config=config, multigan=recorded_options(config), dataset_name=dataset,
        version=__version__,
        config_yaml=yaml.safe_dump(config, sort_keys=True).strip(), audit=audit, audit_models=audit_models,
        audit_rows=audit_rows, files=files or {}, command=command, in_progress=in_progress,
        publish_forget_generator=bool(config.get("publish_forget_generator")), gate=gate,
        ledger=card_rows(ledger or []), groups=_group_rows(report.get("groups") or [], report.get("verdict")),
        groups_hidden=max(0, len(report.get("groups") or []) - CARD_GROUPS), verdict=verdict_view(report.get("verdict")),
        synthetic=synthetic_view(report.get("synthetic")),
    )


SYNTHETIC_ROWS = {"synthetic_retain": "synthetic retain", "synthetic_forget": "synthetic forget",
                  "real_retain": "real retain (reference)", "noise": "uniform noise (reference)"}


def synthetic_view(synthetic: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card's quality figure of the synthetic rows (`quality.synthetic_quality`), one row per source."""
    if not synthetic or not synthetic.get("sources"):
        return None
    def cell(v: dict[str, Any], key: str, decimals: int) -> str:
        return f"{v[key]:.{decimals}f}" if key in v else "—"  # a source too small to score has no figure

    rows = [{"name": SYNTHETIC_ROWS.get(name, name), "against": v["against"], "kid": cell(v, "kid", 4),
             "precision": cell(v, "precision", 2), "recall": cell(v, "recall", 2),
             "entropy": cell(v, "class_entropy", 2)} for name, v in synthetic["sources"].items()]
    return {"feature_space": synthetic["feature_space"], "rows": rows}


def verdict_view(verdict: dict[str, Any] | None) -> dict[str, Any] | None:
    """The card's verdict section: the unlearned model's outcome as a headline, every scored model's test."""
    if not verdict or "models" not in verdict:
        return None
    rows = []
    for name in ("original", "retrained", "unlearned"):
        v = verdict["models"].get(name)
        if v:
            rows.append({"name": ROW_NAMES[name], "outcome": v["outcome"].replace("_", " "),
                         "statistic": _statistic(v), "target": v["target"], "images": v["images"],
                         "minimum": v["minimum_images"] if v["minimum_images"] < 10 ** 9 else "more held-out rows",
                         "power": f"{v['power']:.0%}"})
    unlearned = verdict["models"].get("unlearned") or {}
    return {"headline": unlearned.get("reason", "no verdict"), "outcome": unlearned.get("outcome"), "rows": rows,
            **verdict["settings"]}


def _statistic(v: dict[str, Any]) -> str:
    if v["target"] == "none" or v["auc"] != v["auc"]:
        return "n/a"
    if v["target"] == "class":
        return f"{v['auc']:.2%} of the class's rows (bound {v['high']:.2%})"
    return f"{v['auc']:.3f} [{v['low']:.3f}, {v['high']:.3f}]"


def _group_rows(groups: list[dict[str, Any]], verdict: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """A person-level request's groups as card rows: accuracy and loss-attack AUC per model, and the unlearned model's
    verdict on the group (numbers only)."""
    rows = []
    verdicts = {g["group"]: g["models"].get("unlearned") for g in (verdict or {}).get("groups", [])}
    for g in groups[:CARD_GROUPS]:
        cells = {}
        for model in ("original", "unlearned", "retrained"):
            m = g["models"].get(model)
            cells[f"{model}_accuracy"] = (f"{m['accuracy']:.1f} [{m['accuracy_low']:.0f}, {m['accuracy_high']:.0f}]"
                                          if m else "n/a")
            cells[f"{model}_mia"] = (f"{m['mia_auc']:.2f} [{m['mia_auc_low']:.2f}, {m['mia_auc_high']:.2f}]"
                                     if m and "mia_auc" in m else "n/a")
        v = verdicts.get(g["group"])
        cells["verdict"] = (v["outcome"].replace("_", " ") + (f" ({_statistic(v)})" if _statistic(v) != "n/a" else "")
                            if v else "n/a")
        rows.append({"group": g["group"], "images": g["images"], **cells})
    return rows


def _gate_rows(gate: Any, result: dict[str, Any], audit: dict[str, Any] | None, audit_model: str) -> list[dict]:
    """The publishing gate's thresholds beside the measured values (for the card)."""
    if not gate or "unlearned" not in result.get("metrics", {}):
        return []
    try:
        measured = gate_metrics(result, audit, audit_model)
    except ValueError:
        measured = gate_metrics(result)
    rows = []
    for t in parse_gate(gate):
        value = measured.get(t.metric)
        rows.append({"name": t.name, "threshold": f"{t.value:g}",
                     "measured": "not measured" if value is None else f"{value:.4g}",
                     "passed": value is not None and t.passes(value)})
    return rows


def evidence_files(output_dir: str) -> dict[str, str]:
    """The evidence files present in `output_dir`, as card-relative links."""
    names = {"roc_curves": "roc_curves.png", "histograms": "loss_histograms.png",
             "synthetic_samples": "synthetic_samples.png", "audit_roc_curves": "audit/roc_curves.png",
             "audit_histograms": "audit/loss_histograms.png", "audit_report": "audit/audit_report.json"}
    return {k: f"{EVIDENCE_DIR}/{v}" for k, v in names.items() if os.path.isfile(os.path.join(output_dir, EVIDENCE_DIR, v))}


def write_report(output_dir: str, result: dict[str, Any]) -> Path:
    """`unlearning_report.json`: the redacted results that are published beside the card."""
    path = Path(output_dir) / REPORT_FILE
    write_json_atomic(str(path), redacted_report(result))
    return path


def write_model_card(output_dir: str, result: dict[str, Any], **kwargs: Any) -> Path:
    """Render `README.md` in `output_dir` (atomically), linking the evidence files found there."""
    kwargs.setdefault("files", evidence_files(output_dir))
    kwargs.setdefault("ledger", read_ledger(output_dir))
    path = Path(output_dir) / "README.md"
    tmp = Path(output_dir) / "README.md.tmp"
    render_model_card(result, **kwargs).save(str(tmp))
    os.replace(tmp, path)
    return path


def write_run_card(output_dir: str, result: dict[str, Any], **kwargs: Any) -> Path:
    """The one card writer of hf-unlearn: a run's card from its results (`UnlearningResult.to_dict()` or
    `unlearning_results.json`), named and tagged by `card_options`, whether written at the end of the run,
    into a checkpoint (`in_progress=step`) or later by `hf-unlearn card` (`audit=...`)."""
    return write_model_card(output_dir, result, **card_options(result), **kwargs)
