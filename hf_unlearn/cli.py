"""`hf-unlearn` command line: `quickstart`, `run`, `benchmark`, `audit` (YAML recipes with overrides) and `methods`."""

from __future__ import annotations

import argparse
import os
import sys
from typing import Any

from transformers import HfArgumentParser

from .arguments import RunArguments, as_dict, load_splits, parse_recipe
from .config import UnlearningConfig
from .data import DataError
from .forget import ForgetSetError

#: Errors caused by the request (data, forget set, options): reported in one line, exit code 2.
USER_ERRORS = (ForgetSetError, DataError, OSError, ValueError)


def run_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load data (and model), then unlearn (or, in benchmark mode, compare original / retrained / unlearned)."""
    from transformers import AutoModelForImageClassification

    from .data import vit_image_processor
    from .experiment import ClassifierRecipe, format_table, run_comparison, scratch_model_factory
    from .trainer import UnlearningTrainer

    train, test = load_splits(run_args)

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

    model_config = as_dict(run_args.model_config)
    if not model_config:
        raise SystemExit("error: give model_name_or_path (a trained model) or model_config (benchmark mode).")
    make_model = scratch_model_factory(model_config, train, config)
    processor = vit_image_processor(**(as_dict(run_args.image_processor) or {}))

    recipe = ClassifierRecipe(run_args.original_epochs, run_args.original_learning_rate, run_args.original_batch_size)
    summary = run_comparison(make_model, processor, train, test, config, recipe, dataset_name=run_args.dataset_name)
    if config.should_save:
        print("\n" + format_table(summary["metrics"], summary["timings"]))
    return summary


def describe_methods() -> str:
    """Every registered method, its summary and its options with defaults."""
    from .methods import available_methods, describe_options, get_method

    lines = []
    for name in available_methods():
        cls = get_method(name)
        lines.append(f"{name}: {(cls.__doc__ or '').strip().splitlines()[0]}")
        for option, default, help_text in describe_options(cls.Options):
            lines.append(f"    method_args.{option} = {default!r}: {help_text}")
    return "\n".join(lines)


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
    sub.add_parser("benchmark", add_help=False,
                   help="Compare methods over seeds and forget settings: `hf-unlearn benchmark recipe.yaml [...]`.")
    sub.add_parser("audit", add_help=False,
                   help="Membership-inference audit of saved models: `hf-unlearn audit recipe.yaml [...]`.")
    sub.add_parser("methods", help="List the unlearning methods and their options (`method_args`).")

    try:
        if argv and argv[0] in ("run", "benchmark", "audit"):
            from .audit.command import AuditArguments, run_audit
            from .benchmark import BenchmarkArguments, run_benchmark

            kinds = {"run": (RunArguments, run_from_args), "benchmark": (BenchmarkArguments, run_benchmark),
                     "audit": (AuditArguments, run_audit)}
            types = (kinds[argv[0]][0], UnlearningConfig)
            if len(argv) == 1 or argv[1] in ("-h", "--help"):
                HfArgumentParser(types).print_help()
                return 0
            parsed = parse_recipe(argv[1:], types, command=argv[0])
            if argv[0] == "benchmark" and parsed[0].command is None:  # recorded in the report
                parsed[0].command = "hf-unlearn " + " ".join(argv)
            kinds[argv[0]][1](*parsed)
            return 0
        args = parser.parse_args(argv)
        if args.command == "quickstart":
            from .quickstart import run_quickstart

            run_quickstart(args.output_dir, method=args.method)
        elif args.command == "methods":
            print(describe_methods())
        return 0
    except USER_ERRORS as err:
        if os.environ.get("HF_UNLEARN_DEBUG"):
            raise
        print(f"hf-unlearn: error: {err}\n(set HF_UNLEARN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
