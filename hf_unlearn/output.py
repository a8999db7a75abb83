"""What an unlearning run writes into its output folder, in one place: the model and its processor (staged,
then moved into place), `unlearning_results.json`, `forget_set.json`, the evidence plots, the redacted
report and the model card (through the one card writer, `card.write_run_card`), and a card in progress in
every checkpoint."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from datasets import Dataset
from transformers import TrainerCallback

from .card import is_local_path, write_report, write_run_card
from .config import public_config
from .constants import EVIDENCE_DIR, FORGET_SET_FILE, RESULTS_FILE
from .evaluation import Predictions
from .evidence import plot_membership_evidence, plot_synthetic_samples, plot_trajectory
from .forget.ledger import ledger_entry, write_ledger
from .safety import weights_digest, write_json_atomic


@dataclass
class UnlearningResult:
    """What `UnlearningTrainer.unlearn()` returns (and writes to `unlearning_results.json`)."""

    method: str
    metrics: dict[str, dict[str, float]]
    timings: dict[str, float]
    counts: dict[str, int]
    forget_set: dict[str, Any]
    config: dict[str, Any] = field(default_factory=dict)
    command: str | None = None
    base_model: str | None = None
    dataset_name: str | None = None
    input_model: dict[str, Any] = field(default_factory=dict)
    data_sha256: str | None = None
    stopping: dict[str, Any] | None = None  # the stopping rule's record and trajectory (`stop_when`)
    groups: list[dict[str, Any]] | None = None  # a person-level request: each group's scores (`group_scores`)
    base_model_id: str | None = None  # the original model's Hub id, for the card (`card_base_model`, the ledger)
    verdict: dict[str, Any] | None = None  # the equivalence verdict of each scored model (`verdict.py`)
    synthetic: dict[str, Any] | None = None  # the quality figure of each synthetic source (`quality.py`)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def save_model_staged(save_model: Callable[[str], None], output_dir: str, should_save: bool) -> None:
    """`save_model(folder)` (every process calls it) into a staging folder, then each file moved into place by
    the main process: a killed run never leaves half a model in `output_dir`."""
    staging = os.path.join(output_dir, "_saving")
    save_model(staging)
    if not should_save:
        return
    for name in os.listdir(staging):
        os.replace(os.path.join(staging, name), os.path.join(output_dir, name))
    os.rmdir(staging)


def write_run_files(output_dir: str, result: UnlearningResult, forget_file: dict[str, Any],
                    predictions: dict[str, dict[str, Predictions]], combined: Dataset, class_names: list[str] | None,
                    publish_forget_generator: bool, seed: int, ledger: list[dict[str, Any]] | None = None) -> None:
    """Results, forget-set specification, the model's request ledger (`ledger`: every request so far, this one
    last), evidence plots, redacted report and card (main process only).

    The evidence grid shows synthetic retain rows; the forget GAN's samples only with consent to publish it
    (`publish_forget_generator`: that GAN was trained on the deleted images), and so are all samples of a
    prepared generator that was trained on some of them."""
    payload = result.to_dict()
    write_json_atomic(os.path.join(output_dir, RESULTS_FILE), payload)
    write_json_atomic(os.path.join(output_dir, FORGET_SET_FILE), forget_file)
    if ledger:
        write_ledger(output_dir, ledger)
    evidence = os.path.join(output_dir, EVIDENCE_DIR)
    plot_membership_evidence(predictions, evidence)
    sources = ("synthetic_retain", "synthetic_forget") if publish_forget_generator else ("synthetic_retain",)
    if result.counts.get("prepared_seen_forget") and not publish_forget_generator:
        sources = ()  # every sample came from a generator that saw the deleted images
    plot_synthetic_samples(combined, evidence, class_names, sources, seed=seed)
    if result.stopping:
        plot_trajectory(result.stopping, evidence)
    write_report(output_dir, payload)
    write_run_card(output_dir, payload)


class CheckpointCardCallback(TrainerCallback):
    """Writes a card into every checkpoint folder, marked as in progress (the unlearned numbers come later).
    `partial_result()` returns the run's result so far."""

    def __init__(self, partial_result: Callable[[], UnlearningResult]):
        self.partial_result = partial_result

    def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
        folder = os.path.join(args.output_dir, f"checkpoint-{state.global_step}")
        if not (args.should_save and os.path.isdir(folder)):
            return
        write_run_card(folder, self.partial_result().to_dict(), in_progress=state.global_step, files={})


def run_result(run: Any, metrics: dict[str, dict[str, float]]) -> UnlearningResult:
    """The `UnlearningResult` of a run (an `UnlearningTrainer`) with `metrics` so far: counts of every row source,
    timings, the resolved config, the forget-set record, the stopping trajectory, groups and verdict."""
    counts = {**run.request.counts(), "eval_retain": len(run.evaluation_datasets()["retain"]), **run.parameter_counts}
    if run.combined_dataset is not None:
        sources, source_counts = np.unique(np.asarray(run.combined_dataset["source"]), return_counts=True)
        counts.update({f"finetune_{k}": int(v) for k, v in zip(sources, source_counts, strict=True)})
        counts.update(run.method.counts())
    return UnlearningResult(
        method=run.args.method, metrics=metrics, timings=dict(run.timings), counts=counts,
        forget_set=run.request.forget_record(), config=public_config(run.args), command=run.command,
        base_model=getattr(run.model.config, "_name_or_path", None) or None, dataset_name=run.dataset_name,
        input_model=dict(run.input_model), data_sha256=run.data_sha256,
        stopping=run.stopping.record() if run.stopping is not None and run.stopping.trajectory else None,
        groups=run.groups, base_model_id=base_model_id(run.args, run.ledger, run.input_model), verdict=run.verdict,
        synthetic=run.synthetic_quality,
    )


def base_model_id(args: Any, ledger: list[dict[str, Any]], input_model: dict[str, Any]) -> str | None:
    """The original model's Hub id for the card: `card_base_model`, else the original named by this model's
    ledger (a later request), else the input model's Hub id (never a local folder)."""
    named = [e.get("base_model") for e in ledger if e.get("base_model")]
    source = input_model.get("source") or ""
    return args.card_base_model or (named[-1] if named else None) or (
        source if source and not is_local_path(source) else None)


def ledger_with_request(run: Any, result: UnlearningResult) -> list[dict[str, Any]]:
    """The model's ledger with this request appended (written beside the model)."""
    counts = dict(result.counts)
    if run.request.groups:
        counts["groups"] = len(run.request.groups)
    entry = ledger_entry(len(run.ledger) + 1, run.forget_set, counts, run.args.method, result.metrics,
                         run.input_model.get("weights_sha256"), weights_digest(run.model), run.data_sha256,
                         run.ledger[-1] if run.ledger else None, run.request.matched, result.base_model_id,
                         run.ledger_override, (run.verdict or {}).get("outcome"))
    return [*run.ledger, entry]


def save_run(run: Any, result: UnlearningResult) -> None:
    """Model and processor (staged; every process takes part), then on the main process results, forget-set
    specification, ledger, evidence and card, into the run's `output_dir`."""
    out = run.args.output_dir
    save_model_staged(run.save_model, out, run.args.should_save)
    if not run.args.should_save:
        return
    write_run_files(out, result, run.request.forget_file(), run.evaluation_predictions, run.combined_dataset,
                    run.class_names, run.args.publish_forget_generator, run.args.seed, ledger_with_request(run, result))
    print(f"[hf-unlearn] model, results and card written to {out} (process {run.args.process_index})", flush=True)
