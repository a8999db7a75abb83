"""`hf-unlearn` command line: `quickstart` and `run <recipe.yaml> [--option value ...]`."""

from __future__ import annotations

import argparse
import json
import os
import sys
from dataclasses import dataclass, field
from typing import Any

import yaml
from transformers import HfArgumentParser

from .config import UnlearningConfig
from .data import DataError
from .forget import ForgetSetError

#: Errors caused by the request (data, forget set, options): reported in one line, exit code 2.
USER_ERRORS = (ForgetSetError, DataError, OSError, ValueError)


@dataclass
class RunArguments:
    """What to unlearn from: the data and the model (the `UnlearningConfig` says how)."""

    dataset_name: str = field(default=None, metadata={"help": "Hub dataset id, parquet file/folder or image folder."})
    train_split: str = field(default="train", metadata={"help": "Split the model was trained on."})
    test_split: str = field(default="test", metadata={"help": "Held-out split for test accuracy and the MIA."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training rows."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Use only the first N test rows."})
    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Trained classifier to unlearn from (Hub id or local folder)."}
    )
    reference_model_path: str | None = field(
        default=None, metadata={"help": "Optional model retrained on the retain set, scored beside the others."}
    )
    model_config: dict | str | None = field(
        default=None,
        metadata={"help": "Benchmark mode, instead of model_name_or_path: a transformers config (with `model_type`) "
                          "for a model trained here from scratch, as original and as retrained reference."},
    )
    image_processor: dict | str | None = field(
        default=None, metadata={"help": "ViTImageProcessor settings for benchmark mode (size, image_mean, image_std)."}
    )
    original_epochs: float = field(default=30.0, metadata={"help": "Benchmark mode: epochs of the original/retrain."})
    original_learning_rate: float = field(default=0.05, metadata={"help": "Benchmark mode: their learning rate."})
    original_batch_size: int = field(default=128, metadata={"help": "Benchmark mode: their batch size."})


def _as_dict(value: dict | str | None) -> dict[str, Any] | None:
    return json.loads(value) if isinstance(value, str) else value


def parse_recipe(argv: list[str]) -> tuple[RunArguments, UnlearningConfig]:
    """A YAML recipe (first argument) with command-line overrides, HfArgumentParser style."""
    parser = HfArgumentParser((RunArguments, UnlearningConfig))
    if argv and argv[0].endswith((".yaml", ".yml")):
        with open(argv[0]) as f:
            recipe = yaml.safe_load(f) or {}
        known = {a.dest for a in parser._actions}
        unknown = sorted(set(recipe) - known)
        if unknown:
            raise SystemExit(f"error: recipe {argv[0]} has unknown keys {unknown}; see `hf-unlearn run --help`.")
        parser.set_defaults(**recipe)
        argv = argv[1:]
    run_args, config = parser.parse_args_into_dataclasses(argv)
    return run_args, config


def run_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load data (and model), then unlearn (or, in benchmark mode, compare original / retrained / unlearned)."""
    import torch
    from transformers import AutoConfig, AutoModelForImageClassification

    from .data import load_image_dataset, vit_image_processor
    from .experiment import ClassifierRecipe, format_table, run_comparison
    from .trainer import UnlearningTrainer

    if run_args.dataset_name is None:
        raise SystemExit("error: no dataset: set dataset_name in the recipe or pass --dataset_name.")
    train = load_image_dataset(run_args.dataset_name, split=run_args.train_split)
    test = load_image_dataset(run_args.dataset_name, split=run_args.test_split)
    if run_args.max_train_samples:
        train = train.select(range(min(run_args.max_train_samples, len(train))))
    if run_args.max_test_samples:
        test = test.select(range(min(run_args.max_test_samples, len(test))))

    if run_args.model_name_or_path:
        reference = (AutoModelForImageClassification.from_pretrained(run_args.reference_model_path)
                     if run_args.reference_model_path else None)
        trainer = UnlearningTrainer(model=run_args.model_name_or_path, args=config, train_dataset=train,
                                    eval_dataset=test, reference_model=reference, dataset_name=run_args.dataset_name)
        result = trainer.unlearn()
        names = {"original": "original", "retrained": "retrained", "unlearned": config.method}
        if config.should_save:  # main process only
            print("\n" + format_table({names[k]: v for k, v in result.metrics.items()}))
        return result.to_dict()

    model_config = _as_dict(run_args.model_config)
    if not model_config:
        raise SystemExit("error: give model_name_or_path (a trained model) or model_config (benchmark mode).")
    from .data import class_names, find_columns

    _, label_col = find_columns(train, config.image_column, config.label_column)
    names = class_names(train, label_col) or [str(i) for i in sorted(set(train[label_col]))]
    model_config = {**model_config, "num_labels": len(names), "id2label": dict(enumerate(names)),
                    "label2id": {n: i for i, n in enumerate(names)}}
    kind = model_config.pop("model_type")
    hf_config = AutoConfig.for_model(kind, **model_config)
    processor = vit_image_processor(**(_as_dict(run_args.image_processor) or {}))

    def make_model() -> torch.nn.Module:
        return AutoModelForImageClassification.from_config(hf_config)

    recipe = ClassifierRecipe(run_args.original_epochs, run_args.original_learning_rate, run_args.original_batch_size)
    summary = run_comparison(make_model, processor, train, test, config, recipe, dataset_name=run_args.dataset_name)
    if config.should_save:
        print("\n" + format_table(summary["metrics"], summary["timings"]))
    return summary


def main(argv: list[str] | None = None) -> int:
    import datasets

    datasets.disable_progress_bars()  # keep the training and GAN progress bars readable
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="hf-unlearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    quick = sub.add_parser("quickstart", help="Whole pipeline on scikit-learn's digits (offline, a few CPU minutes).")
    quick.add_argument("--output_dir", default="outputs/quickstart", help="Where to write models, generators, cards.")
    quick.add_argument("--method", default="multigan", help="Unlearning method to compare with the retrained reference.")
    sub.add_parser("run", help="Run a YAML recipe: `hf-unlearn run recipe.yaml [--option value ...]`.", add_help=False)

    try:
        if argv and argv[0] == "run":
            if len(argv) == 1 or argv[1] in ("-h", "--help"):
                HfArgumentParser((RunArguments, UnlearningConfig)).print_help()
                return 0
            run_from_args(*parse_recipe(argv[1:]))
            return 0
        args = parser.parse_args(argv)
        if args.command == "quickstart":
            from .quickstart import run_quickstart

            run_quickstart(args.output_dir, method=args.method)
        return 0
    except USER_ERRORS as err:
        if os.environ.get("HF_UNLEARN_DEBUG"):
            raise
        print(f"hf-unlearn: error: {err}\n(set HF_UNLEARN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
