"""`hf-unlearn audit`: every attack tier against saved models, side by side, on one forget set.

    hf-unlearn audit recipe.yaml [--option value ...]

The recipe names the data (as for `run`), the models to audit (`models: {original: DIR, retrained: DIR,
unlearned: DIR}`), the forget set (`forget_set: DIR/forget_set.json`, or the forget options of
`UnlearningConfig`), and how the reference models are trained (`model_config` + `original_*`, or the
audited model's own architecture). Writes `audit_report.json`, `roc_curves.png` and `loss_histograms.png`
to `output_dir`.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from tqdm.auto import tqdm
from transformers import AutoImageProcessor, AutoModelForImageClassification

from ..audit.reference_models import ReferenceSpec, load_reference_models, train_reference_models
from ..audit.run import ATTACKS, AuditData, audit_model, predictions_by_group, write_report
from ..config import UnlearningConfig
from ..data import (
    ImageTransform,
    class_names,
    find_columns,
    model_num_channels,
    to_standard_columns,
    vit_image_processor,
)
from ..evidence import loss_and_confidence, plot_roc_and_histograms
from ..forget import ForgetSet, load_forget_set
from ..safety import load_pretrained
from ..scratch import scratch_model_factory
from .arguments import DataArguments, ScratchModelArguments, as_dict, load_splits


@dataclass
class AuditArguments(DataArguments, ScratchModelArguments):
    """What to audit: models, forget set, reference models."""

    models: dict | str | None = field(
        default=None, metadata={"help": "Name -> saved model folder, e.g. {original: ..., retrained: ..., unlearned: ...}."}
    )
    forget_set: str | None = field(
        default=None,
        metadata={"help": "forget_set.json of the unlearning run (or its folder); else the forget options given."},
    )
    num_reference_models: int = field(default=8, metadata={"help": "Reference models for LiRA / RMIA (even)."})
    reference_cache_dir: str = field(
        default="outputs/reference_models", metadata={"help": "Where reference models are cached and reused."}
    )
    n_bootstrap: int = field(default=1000, metadata={"help": "Bootstrap replicates of each confidence interval."})
    audit_retain_samples: int = field(default=2000, metadata={"help": "Retain rows scored (loss histograms)."})


def run_audit(args: AuditArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Audit every model of `args.models`; returns the report (also written to `config.output_dir`)."""
    started = time.perf_counter()

    def log(message: str) -> None:
        if config.should_log:
            print(f"[audit {time.perf_counter() - started:6.0f}s] {message}", flush=True)

    models = as_dict(args.models) or {}
    if not models:
        raise ValueError("No models to audit: set `models: {name: folder}` in the recipe or --models as JSON.")
    for name, folder in models.items():
        if not os.path.isfile(os.path.join(folder, "config.json")):
            raise FileNotFoundError(f"Model {name!r}: {folder!r} holds no saved model (config.json missing).")
    train, test = load_splits(args)
    image_col, label_col = find_columns(train, config.image_column, config.label_column)
    names = class_names(train, label_col)
    columns = train  # every column: id values, filters and images are matched there
    train = to_standard_columns(train, image_col, label_col)
    test = to_standard_columns(test, *find_columns(test, config.image_column, config.label_column))
    labels = np.asarray(train.select_columns(["label"])[:]["label"])
    forget = load_forget_set(args.forget_set, "forget_set") if args.forget_set else ForgetSet.from_config(config)
    retain_idx, forget_idx = forget.split(len(train), labels, names, columns)
    data = AuditData.build(train, test, forget_idx, retain_idx, args.audit_retain_samples, config.seed)
    log(f"forget set {forget.describe()} ({len(forget_idx)} rows, sha256 {forget.spec_hash()[:12]}); "
        f"{len(data.nonmember)} held-out non-members, {len(data.population)} population rows; "
        f"{config.world_size} process{'es' if config.world_size > 1 else ''}")

    first = next(iter(models.values()))
    if args.image_processor:
        processor = vit_image_processor(**as_dict(args.image_processor))
    else:
        processor = AutoImageProcessor.from_pretrained(first)
    loaded = {name: load_pretrained(AutoModelForImageClassification, folder, config.allow_pickle_weights)
              for name, folder in models.items()}
    transform = ImageTransform(processor, model_num_channels(next(iter(loaded.values()))))
    if args.model_config or args.pretrained_model:  # references trained like the audited models were
        make_model = scratch_model_factory(as_dict(args.model_config), train, config, args.pretrained_model)
    else:
        template = next(iter(loaded.values())).config

        def make_model() -> Any:
            return AutoModelForImageClassification.from_config(template)

    show = config.should_log and not config.disable_tqdm  # progress bars on the main process
    spec = ReferenceSpec(args.num_reference_models, args.original_epochs, args.original_learning_rate,
                         args.original_batch_size, config.seed, args.original_augmentation)
    folders, membership = train_reference_models(data.pool, make_model, processor, spec, config,
                                                 args.reference_cache_dir, log=log, progress=show)
    log(f"{len(folders)} reference models ready ({os.path.dirname(folders[0])})")
    refs = [predictions_by_group(m, data, transform, config)
            for m in tqdm(load_reference_models(folders), desc="scoring reference models", disable=not show)]
    report: dict[str, Any] = {"forget_set": {**forget.to_dict(), "sha256": forget.spec_hash(),
                                             "num_forget": int(len(forget_idx))},
                              "counts": {k: int(len(v)) for k, v in data.groups().items()},
                              "reference_models": {**asdict(spec), "cache": os.path.dirname(folders[0]),
                                                   "pool_rows": int(len(data.pool))},
                              "attacks": {k: f"tier {v}" for k, v in ATTACKS.items()}, "models": {}}
    curves, histograms = {}, {}
    for name, model in tqdm(loaded.items(), desc="auditing models", disable=not show):
        target = predictions_by_group(model, data, transform, config)
        report["models"][name], curves[name] = audit_model(target, refs, membership, data, args.n_bootstrap, config.seed)
        report["models"][name]["folder"] = models[name]
        histograms[name] = loss_and_confidence({"forget": target["forget"], "retain": target["retain"],
                                                "held-out": target["nonmember"]})
        log(f"{name}: " + ", ".join(f"{a} AUC {s['auc']['value']:.3f}" for a, s in report["models"][name].items()
                                     if isinstance(s, dict) and "auc" in s))
    if config.should_save:
        report["files"] = [write_report(report, config.output_dir)] + plot_roc_and_histograms(curves, histograms, config.output_dir)
        print("\n" + format_audit(report))
    return report


def format_audit(report: dict[str, Any]) -> str:
    """Markdown: one row per attack, a column per model: AUC and TPR at 1% FPR with 95% intervals (and
    SalUn's MIA-efficacy for the SVC attacks)."""
    models = list(report["models"])
    lines = ["| attack | tier | " + " | ".join(f"{m} AUC | {m} TPR@1%FPR" for m in models) + " |",
             "|---|---|" + "---|---|" * len(models)]
    for attack, tier in ATTACKS.items():
        cells = []
        for m in models:
            stats = report["models"][m][attack]
            if "auc" not in stats:
                cells += [f"kit score {stats['mia_score']:.3f}", ""]
                continue
            for key in ("auc", "tpr_at_1pct_fpr"):
                s = stats[key]
                cells.append(f"{s['value']:.3f} [{s['low']:.3f}, {s['high']:.3f}]")
            if "mia_efficacy" in stats:
                cells[-2] += f" (MIA-eff. {stats['mia_efficacy']:.1f}%)"
        lines.append(f"| {attack} | {tier} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
