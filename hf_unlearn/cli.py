"""`hf-unlearn` command line: `quickstart`, `run`, `benchmark`, `audit` (YAML recipes with overrides), `card`,
`push` and `methods`."""

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
from .gan.train import GANTrainingError
from .safety import TrainingDivergedError

#: Errors caused by the request (data, forget set, options): reported in one line, exit code 2.
USER_ERRORS = (ForgetSetError, DataError, OSError, ValueError, TrainingDivergedError, GANTrainingError)


def run_from_args(run_args: RunArguments, config: UnlearningConfig) -> dict[str, Any]:
    """Load data (and model), then unlearn (or, in benchmark mode, compare original / retrained / unlearned)."""
    from transformers import AutoModelForImageClassification

    from .experiment import ClassifierRecipe, format_table, run_comparison, scratch_setup
    from .trainer import UnlearningTrainer

    train, test = load_splits(run_args)

    if run_args.model_name_or_path:
        from .safety import load_pretrained

        reference = (load_pretrained(AutoModelForImageClassification, run_args.reference_model_path,
                                     config.allow_pickle_weights) if run_args.reference_model_path else None)
        trainer = UnlearningTrainer(model=run_args.model_name_or_path, args=config, train_dataset=train,
                                    eval_dataset=test, reference_model=reference, dataset_name=run_args.dataset_name,
                                    command=run_args.command)
        result = trainer.unlearn()
        names = {"original": "original", "retrained": "retrained", "unlearned": config.method}
        if config.should_save:  # main process only
            print("\n" + format_table({names[k]: v for k, v in result.metrics.items()}))
        return result.to_dict()

    if not (as_dict(run_args.model_config) or run_args.pretrained_model):
        raise SystemExit("error: give model_name_or_path (a trained model), or model_config / pretrained_model "
                         "(benchmark mode).")
    make_model, processor = scratch_setup(run_args, train, config)

    recipe = ClassifierRecipe(run_args.original_epochs, run_args.original_learning_rate, run_args.original_batch_size)
    summary = run_comparison(make_model, processor, train, test, config, recipe, dataset_name=run_args.dataset_name,
                             command=run_args.command)
    if config.should_save:
        print("\n" + format_table(summary["metrics"], summary["timings"]))
    return summary


def refresh_card(folder: str, audit_path: str | None = None, audit_model: str = "unlearned") -> str:
    """Re-render `folder`'s card and report; with an audit, copy its report and plots under evidence/audit/."""
    import shutil

    from .card import EVIDENCE_DIR, card_options, write_model_card, write_report
    from .publish import load_audit, load_results
    from .trainer import UnlearningTrainer

    results = load_results(folder)
    audit = load_audit(audit_path)
    if audit is not None:
        if audit_model not in audit["models"]:
            raise ValueError(f"The audit has no model {audit_model!r} (it has {sorted(audit['models'])}): "
                             "pass --audit_model with this model's name in the audit recipe.")
        source = audit_path if os.path.isdir(audit_path) else os.path.dirname(audit_path)
        target = os.path.join(folder, EVIDENCE_DIR, "audit")
        os.makedirs(target, exist_ok=True)
        for name in ("audit_report.json", "roc_curves.png", "loss_histograms.png"):
            if os.path.isfile(os.path.join(source, name)):
                shutil.copyfile(os.path.join(source, name), os.path.join(target, name))
    write_report(folder, results)
    return str(write_model_card(folder, results, **card_options(results, UnlearningTrainer._tag_names), audit=audit,
                                audit_model=audit_model))


def push_command(args: argparse.Namespace) -> None:
    """`hf-unlearn push`: gate first (the run's push_gate unless --gate), then the upload."""
    from .publish import load_audit, load_results, push_folder

    results = load_results(args.folder)
    config = results.get("config", {})
    audit = load_audit(args.audit)
    if audit is not None:
        refresh_card(args.folder, args.audit, args.audit_model)
    commit = push_folder(
        args.folder, args.repo_id, token=args.token or None, private=args.private or config.get("hub_private_repo"),
        gate=args.gate if args.gate is not None else config.get("push_gate"), audit=audit,
        audit_model=args.audit_model, include_generators=args.push_generators or config.get("push_generators", False),
        include_forget_generator=args.publish_forget_generator or config.get("publish_forget_generator", False),
        revision=args.revision)
    print(f"Pushed {args.folder} to {args.repo_id}: {getattr(commit, 'commit_url', commit)}")


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
    card = sub.add_parser("card", help="Re-render an unlearned model folder's card, e.g. with a privacy audit.")
    card.add_argument("folder", help="Output folder of an unlearning run (holds unlearning_results.json).")
    push = sub.add_parser("push", help="Check the unlearning gate, then push an unlearned model folder to the Hub.")
    push.add_argument("folder", help="Output folder of an unlearning run (holds unlearning_results.json).")
    push.add_argument("--repo_id", required=True, help="Hub repository, e.g. my-org/resnet-cifar10-unlearned.")
    push.add_argument("--private", action="store_true", help="Create the repository as private.")
    push.add_argument("--gate", default=None, help="Thresholds as JSON (default: the run's push_gate), e.g. "
                                                   "'{\"max_avg_gap\": 3, \"max_mia_auc\": 0.6}'.")
    push.add_argument("--push_generators", action="store_true", help="Also push the retain-set generator.")
    push.add_argument("--publish_forget_generator", action="store_true",
                      help="Also push the forget-set generator (trained on the deleted images: only with consent).")
    push.add_argument("--token", default=None,
                      help="Hub token (default: HF_TOKEN or `hf auth login`; prefer those: a token typed here lands "
                           "in the shell history). Never written anywhere by hf-unlearn.")
    push.add_argument("--revision", default=None, help="Branch to push to.")
    for p in (card, push):
        p.add_argument("--audit", default=None, help="Output folder (or audit_report.json) of `hf-unlearn audit`.")
        p.add_argument("--audit_model", default="unlearned", help="This model's name in the audit's `models`.")

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
            if argv[0] in ("run", "benchmark") and parsed[0].command is None:  # recorded in the report / card
                parsed[0].command = "hf-unlearn " + " ".join(argv)  # tokens are redacted where it is written
            kinds[argv[0]][1](*parsed)
            return 0
        args = parser.parse_args(argv)
        if args.command == "quickstart":
            from .quickstart import run_quickstart

            run_quickstart(args.output_dir, method=args.method)
        elif args.command == "methods":
            print(describe_methods())
        elif args.command == "card":
            print(f"Card written: {refresh_card(args.folder, args.audit, args.audit_model)}")
        elif args.command == "push":
            push_command(args)
        return 0
    except USER_ERRORS as err:
        if os.environ.get("HF_UNLEARN_DEBUG"):
            raise
        print(f"hf-unlearn: error: {err}\n(set HF_UNLEARN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
