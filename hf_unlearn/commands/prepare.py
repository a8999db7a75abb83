"""`hf-unlearn prepare RECIPE.yaml`: train the data generator of a trained model and its training set once (the
recipe's `model_name_or_path` and data), so that every later Multi-GAN deletion request on that model trains
no GAN from scratch. Written to `prepared_generator_path` (the folder requests then read), else `output_dir`;
with `push_to_hub`, also uploaded into `prepared_generator/` of `hub_model_id` (the model's own repository)."""

from __future__ import annotations

from typing import Any

from transformers import AutoModelForImageClassification

from ..config import UnlearningConfig
from ..errors import UsageError
from ..gan.preparation import prepare_generator
from ..safety import load_pretrained
from .arguments import RunArguments, load_splits


def prepare_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load the model and its training split, train the generator, save it; the preparation's record."""
    if not run_args.model_name_or_path:
        raise UsageError("hf-unlearn prepare needs model_name_or_path (the trained model whose deletion requests "
                         "the generator will serve), e.g. model_name_or_path: my-org/resnet-cifar10.")
    out = config.prepared_generator_path or config.output_dir
    train, _ = load_splits(run_args)
    model = load_pretrained(AutoModelForImageClassification, run_args.model_name_or_path, config.allow_pickle_weights)
    preparation = prepare_generator(model, config, train, out, model_source=run_args.model_name_or_path,
                                    dataset_name=run_args.dataset_name, command=run_args.command)
    record = preparation.record
    if config.should_save:
        print(f"[hf-unlearn] generator prepared in {record['preparation_s']:.1f}s on {record['num_rows']} of "
              f"{record['num_train']} training rows: {preparation.path}\n"
              f"Deletion requests on this model use it with `prepared_generator_path: {preparation.path}` "
              "(method multigan).", flush=True)
    if config.push_to_hub and config.should_save:  # beside the model it serves, in its repository
        from ..publish import PREPARED_DIR, push_preparation

        push_preparation(preparation.path, config.hub_model_id, token=config.hub_token,
                         private=config.hub_private_repo, revision=config.hub_revision)
        print(f"[hf-unlearn] pushed to {config.hub_model_id}/{PREPARED_DIR}: download it with "
              f"huggingface_hub.snapshot_download({config.hub_model_id!r}, allow_patterns='{PREPARED_DIR}/*') and "
              "point prepared_generator_path at that folder.", flush=True)
    return record
