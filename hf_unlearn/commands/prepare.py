"""`hf-unlearn prepare RECIPE.yaml`: make once, for a trained model and its training set (the recipe's
`model_name_or_path` and data), what its method's deletion requests then only read: the method's preparation
(`UnlearningMethod.prepare`; Multi-GAN: the data generator, so no GAN is trained from scratch per request; AMUN: the
adversarial example of every training image), written to `method_args.prepared_path`, else `output_dir`; and the
verdict's reference models (`verdict.references`). With `push_to_hub`, a publishable preparation is also uploaded
into `prepared_generator/` of `hub_model_id` (the model's own repository)."""

from __future__ import annotations

from typing import Any

from transformers import AutoImageProcessor, AutoModelForImageClassification

from ..config import UnlearningConfig, parse_verdict
from ..errors import UsageError
from ..methods import available_methods, get_method
from ..safety import load_pretrained
from .arguments import RunArguments, load_splits


def prepare_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load the model and its training split, make what the recipe asks for once (the verdict's references, the
    method's preparation), save it; the record of the last one made."""
    if not run_args.model_name_or_path:
        raise UsageError("hf-unlearn prepare needs model_name_or_path (the trained model whose deletion requests "
                         "the preparation will serve), e.g. model_name_or_path: my-org/resnet-cifar10.")
    method = get_method(config.method)
    out = getattr(config.method_options, "prepared_path", None)
    verdict = parse_verdict(config.verdict)
    if not verdict.references and method.prepares is None:
        preparing = sorted(m for m in available_methods() if get_method(m).prepares)
        raise UsageError(f"method {config.method!r} has nothing to prepare: give verdict.references (the verdict's "
                         f"reference models), or a method that prepares something ({', '.join(preparing)}).")
    if config.push_to_hub and method.prepares and not method.preparation_publishable:
        raise UsageError(f"push_to_hub = true with method {config.method}: its {method.prepares} is made of the "
                         "training images (nearly unchanged), so it is never uploaded; keep it beside your data, and "
                         f"leave push_to_hub unset for `hf-unlearn prepare` with method {config.method}.")
    train, _ = load_splits(run_args)
    model = load_pretrained(AutoModelForImageClassification, run_args.model_name_or_path, config.allow_pickle_weights)
    if verdict.references:
        record = prepare_references(run_args, config, model, train, verdict)
        if not out or method.prepares is None:  # only the references were asked for
            return record
    prepared = method.prepare(model, config, train, out or config.output_dir,
                              model_source=run_args.model_name_or_path, dataset_name=run_args.dataset_name,
                              command=run_args.command, log=lambda text: print(f"[hf-unlearn] {text}", flush=True),
                              processor=load_pretrained(AutoImageProcessor, run_args.model_name_or_path, weights=False))
    record = prepared.record
    if config.should_save:
        print(f"[hf-unlearn] {method.prepares} prepared in {record['preparation_s']:.1f}s on {record['num_rows']} of "
              f"{record['num_train']} training rows: {prepared.path}\n"
              f"Deletion requests on this model use it with `method_args: {{prepared_path: {prepared.path}}}` "
              f"(method {config.method}).", flush=True)
    if config.push_to_hub and config.should_save:  # beside the model it serves, in its repository
        from ..publish import PREPARED_DIR, push_preparation

        push_preparation(prepared.path, config.hub_model_id, token=config.hub_token,
                         private=config.hub_private_repo, revision=config.hub_revision)
        print(f"[hf-unlearn] pushed to {config.hub_model_id}/{PREPARED_DIR}: download it with "
              f"huggingface_hub.snapshot_download({config.hub_model_id!r}, allow_patterns='{PREPARED_DIR}/*') and "
              "point method_args.prepared_path at that folder.", flush=True)
    return record


def prepare_references(run_args: RunArguments, config: UnlearningConfig, model: Any, train: Any,
                       verdict: Any) -> dict[str, Any]:
    """The verdict's reference models (`audit/verdict_references.py`): `verdict.folds` models of the model's
    architecture trained as the recipe's `original_*` options say the original was, each without one fold of whole
    groups (`verdict.group_column`). Resumable; never uploaded (they say nothing a card needs, and cost retrains)."""
    import numpy as np

    from ..audit.verdict_references import prepare_verdict_references
    from ..data import content_digest, find_columns, to_standard_columns

    if verdict.group_column and verdict.group_column not in train.column_names:
        raise UsageError(f"verdict.group_column = {verdict.group_column!r} is not a column of the training data "
                         f"(columns: {train.column_names}); name the column whose values are persons (e.g. owner).")
    from ..safety import check_output_apart

    check_output_apart(verdict.references, {"the model's folder": run_args.model_name_or_path,
                                            "the dataset's folder": run_args.dataset_name}, "verdict.references")
    image_col, label_col = find_columns(train, config.image_column, config.label_column)
    standard = to_standard_columns(train, image_col, label_col)
    processor = load_pretrained(AutoImageProcessor, run_args.model_name_or_path, weights=False)
    groups = np.asarray(train[verdict.group_column]) if verdict.group_column else None
    references = prepare_verdict_references(
        lambda: AutoModelForImageClassification.from_config(model.config), processor, standard, verdict.references,
        run_args.classifier_recipe(), config, content_digest(standard, verify="training set"), groups,
        verdict.group_column, verdict.folds, config.seed, log=lambda text: print(f"[hf-unlearn] {text}", flush=True))
    record = references.record
    print(f"[hf-unlearn] {record['folds']} verdict references prepared in {record['preparation_s']:.1f}s "
          f"(groups: {record['group_column'] or 'each row'}): {references.path}\nRequests on this model use them with "
          f"`verdict: {{references: {references.path}}}` and held-out rows (--holdout_split).", flush=True)
    return record
