"""`hf-unlearn run RECIPE.yaml`: unlearn a trained model (`model_name_or_path`), or, in benchmark mode
(`model_config` / `pretrained_model`), train the original and the retrained reference here and compare."""

from __future__ import annotations

from typing import Any

from transformers import AutoModelForImageClassification

from ..config import UnlearningConfig
from ..errors import UsageError
from ..safety import load_pretrained
from ..trainer import UnlearningTrainer
from .arguments import RunArguments, as_dict, load_holdout, load_splits
from .experiment import format_table, run_comparison, scratch_setup


def run_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load data (and model), then unlearn (or, in benchmark mode, compare original / retrained / unlearned)."""
    train, test = load_splits(run_args)

    if run_args.model_name_or_path:
        ignored = [name for name in ("model_config", "pretrained_model") if getattr(run_args, name)]
        if ignored:
            import warnings

            warnings.warn(f"{' and '.join(ignored)} {'is' if len(ignored) == 1 else 'are'} ignored: model_name_or_path "
                          f"= {run_args.model_name_or_path!r} names the trained model to unlearn ({ignored[0]} only "
                          "describes a model trained here from scratch, in benchmark mode). Remove one of them.",
                          UserWarning, stacklevel=2)
        reference = (load_pretrained(AutoModelForImageClassification, run_args.reference_model_path,
                                     config.allow_pickle_weights) if run_args.reference_model_path else None)
        trainer = UnlearningTrainer(model=run_args.model_name_or_path, args=config, train_dataset=train,
                                    eval_dataset=test, reference_model=reference, dataset_name=run_args.dataset_name,
                                    command=run_args.command, holdout_dataset=load_holdout(run_args))
        result = trainer.unlearn()
        names = {"original": "original", "retrained": "retrained", "unlearned": config.method}
        if config.should_save:  # main process only
            print("\n" + format_table({names[k]: v for k, v in result.metrics.items()}))
        return result.to_dict()

    if not (as_dict(run_args.model_config) or run_args.pretrained_model):
        raise UsageError("give model_name_or_path (a trained model), or model_config / pretrained_model "
                         "(benchmark mode).")
    make_model, processor = scratch_setup(run_args, train, config)

    recipe = run_args.classifier_recipe()
    summary = run_comparison(make_model, processor, train, test, config, recipe, dataset_name=run_args.dataset_name,
                             command=run_args.command)
    if config.should_save:
        print("\n" + format_table(summary["metrics"], summary["timings"]))
    return summary
