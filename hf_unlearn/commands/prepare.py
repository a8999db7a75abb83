"""`hf-unlearn prepare RECIPE.yaml`: train the data generator of a trained model and its training set once (the
recipe's `model_name_or_path` and data), so that every later Multi-GAN deletion request on that model trains
no GAN from scratch. Written to `method_args.prepared_path` (the folder requests then read), else `output_dir`;
with `push_to_hub`, also uploaded into `prepared_generator/` of `hub_model_id` (the model's own repository).

With `method: amun`: the adversarial example of every training image instead (`methods/adversarial.py`),
written to `method_args.prepared_path`, else `output_dir`; amun requests then read their forget rows' examples."""

from __future__ import annotations

from typing import Any

from transformers import AutoImageProcessor, AutoModelForImageClassification

from ..config import UnlearningConfig, parse_verdict
from ..data import ImageTransform, model_num_channels
from ..errors import UsageError
from ..gan.preparation import prepare_generator
from ..methods.multigan_options import multigan_options
from ..safety import load_pretrained
from .arguments import RunArguments, load_splits


def prepare_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load the model and its training split, train the generator, save it; the preparation's record."""
    if not run_args.model_name_or_path:
        raise UsageError("hf-unlearn prepare needs model_name_or_path (the trained model whose deletion requests "
                         "the generator will serve), e.g. model_name_or_path: my-org/resnet-cifar10.")
    train, _ = load_splits(run_args)
    model = load_pretrained(AutoModelForImageClassification, run_args.model_name_or_path, config.allow_pickle_weights)
    if config.method == "amun":
        return prepare_amun(run_args, config, model, train)
    verdict = parse_verdict(config.verdict)
    if verdict.references:
        record = prepare_references(run_args, config, model, train, verdict)
        if not multigan_options(config).prepared_path:  # only the references were asked for
            return record
    out = multigan_options(config).prepared_path or config.output_dir
    preparation = prepare_generator(model, config, train, out, options=multigan_options(config),
                                    model_source=run_args.model_name_or_path,
                                    dataset_name=run_args.dataset_name, command=run_args.command)
    record = preparation.record
    if config.should_save:
        print(f"[hf-unlearn] generator prepared in {record['preparation_s']:.1f}s on {record['num_rows']} of "
              f"{record['num_train']} training rows: {preparation.path}\n"
              f"Deletion requests on this model use it with `method_args: {{prepared_path: {preparation.path}}}` "
              "(method multigan).", flush=True)
    if config.push_to_hub and config.should_save:  # beside the model it serves, in its repository
        from ..publish import PREPARED_DIR, push_preparation

        push_preparation(preparation.path, config.hub_model_id, token=config.hub_token,
                         private=config.hub_private_repo, revision=config.hub_revision)
        print(f"[hf-unlearn] pushed to {config.hub_model_id}/{PREPARED_DIR}: download it with "
              f"huggingface_hub.snapshot_download({config.hub_model_id!r}, allow_patterns='{PREPARED_DIR}/*') and "
              "point method_args.prepared_path at that folder.", flush=True)
    return record


def prepare_amun(run_args: RunArguments, config: UnlearningConfig, model: Any, train: Any) -> dict[str, Any]:
    """AMUN's adversarial set of the model's training set, made once (not uploaded: it holds training images)."""
    from ..methods.adversarial import prepare_adversarial
    from ..methods.amun import AmunOptions
    from ..methods.base import parse_method_args

    if config.push_to_hub:
        raise UsageError("push_to_hub = true with method amun: the adversarial set is made of the training images "
                         "(nearly unchanged), so it is never uploaded; keep it beside your data, and leave "
                         "push_to_hub unset for `hf-unlearn prepare` with method amun.")
    options = parse_method_args(AmunOptions, config.method_args, "amun")
    out = options.prepared_path or config.output_dir
    processor = load_pretrained(AutoImageProcessor, run_args.model_name_or_path, weights=False)
    transform = ImageTransform(processor, model_num_channels(model))
    model.to(config.device)  # the Trainer's device choice (use_cpu, else an accelerator when there is one)

    def log(text: str) -> None:
        print(f"[hf-unlearn] {text}", flush=True)

    prepared = prepare_adversarial(model, transform, config, options, train, out,
                                   model_source=run_args.model_name_or_path, dataset_name=run_args.dataset_name,
                                   command=run_args.command, log=log)
    record = prepared.record
    print(f"[hf-unlearn] adversarial set prepared in {record['preparation_s']:.1f}s on {record['num_rows']} of "
          f"{record['num_train']} training rows (median radius {record['median_radius']:.3g}): {prepared.path}\n"
          f"Deletion requests on this model use it with `method_args: {{prepared_path: {prepared.path}}}` "
          "(method amun).", flush=True)
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
