"""`hf-unlearn` command line: `quickstart`, `run`, `prepare`, `benchmark`, `audit` (YAML recipes with
overrides), `card`, `push`, `verify` and `methods`."""

from __future__ import annotations

import argparse
import os
import signal
import sys

# Only the standard library and the leaf of error classes at import time: `hf-unlearn --help` and a mistyped
# command answer without loading torch; each subcommand imports what it runs (hf_unlearn.commands.*).
from .errors import USER_ERRORS

#: Subcommands whose options are a YAML recipe plus dataclass fields (HfArgumentParser style):
#: name -> (module under hf_unlearn.commands, arguments dataclass, function).
RECIPE_COMMANDS = {"run": ("run", "RunArguments", "run_from_args"),
                   "benchmark": ("benchmark_main", "BenchmarkArguments", "run_benchmark"),
                   "audit": ("audit", "AuditArguments", "run_audit"),
                   "prepare": ("prepare", "RunArguments", "prepare_from_args")}


def run_recipe_command(argv: list[str]) -> int:
    """`hf-unlearn run|prepare|benchmark|audit RECIPE.yaml [--option value ...]`."""
    import importlib

    from .commands.arguments import parse_recipe, read_recipe, recipe_parser

    name = argv[0]
    recipe = read_recipe(argv[1]) if len(argv) > 1 and argv[1].endswith((".yaml", ".yml")) else None  # fast checks
    if len(argv) > 1 and argv[1] not in ("-h", "--help"):
        from .config_options import check_values

        check_values(recipe or {}, argv[2:] if recipe is not None else argv[1:])  # a bad value: refused now
    _quiet_datasets()
    from .config import UnlearningConfig
    module_name, arguments_name, function_name = RECIPE_COMMANDS[name]
    module = importlib.import_module(f"{__package__}.commands.{module_name}")
    types = (getattr(module, arguments_name), UnlearningConfig)
    if len(argv) == 1 or argv[1] in ("-h", "--help"):
        recipe_parser(types, name).print_help()
        return 0
    parsed = parse_recipe(argv[1:], types, command=name, recipe=recipe)
    if name in ("run", "benchmark", "prepare") and parsed[0].command is None:  # recorded in the report / card
        parsed[0].command = "hf-unlearn " + " ".join(argv)  # tokens are redacted where it is written
    getattr(module, function_name)(*parsed)
    return 0


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    parser = argparse.ArgumentParser(prog="hf-unlearn", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    quick = sub.add_parser("quickstart", help="Whole pipeline on scikit-learn's digits (offline, a few CPU minutes).")
    quick.add_argument("--output_dir", default="outputs/quickstart", help="Where to write models, generators, cards.")
    quick.add_argument("--method", default="multigan", help="Unlearning method to compare with the retrained reference.")
    sub.add_parser("run", help="Run a YAML recipe: `hf-unlearn run recipe.yaml [--option value ...]`.", add_help=False)
    sub.add_parser("prepare", add_help=False,
                   help="Train a model's data generator once, for cheap Multi-GAN requests: `hf-unlearn prepare "
                        "recipe.yaml [...]`.")
    sub.add_parser("benchmark", add_help=False,
                   help="Compare methods over seeds and forget settings: `hf-unlearn benchmark recipe.yaml [...]`.")
    sub.add_parser("audit", add_help=False,
                   help="Membership-inference audit of saved models: `hf-unlearn audit recipe.yaml [...]`.")
    methods = sub.add_parser("methods", help="List the unlearning methods and their options (`method_args`).")
    methods.add_argument("--markdown", action="store_true",
                         help="Print the methods page instead (docs/methods.md is this output).")
    card = sub.add_parser("card", help="Re-render an unlearned model folder's card, e.g. with a privacy audit.")
    card.add_argument("folder", help="Output folder of an unlearning run (holds unlearning_results.json), or a "
                                     "published card's folder (its unlearning_report.json).")
    card.add_argument("--card_dataset", default=None,
                      help="The training data's Hub dataset id (or a name) for the card's model-index, e.g. "
                           "uoft-cs/cifar10 (default: the run's).")
    card.add_argument("--card_base_model", default=None, help="The original model's Hub id (default: the run's).")
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
    verify = sub.add_parser("verify", help="Check an unlearned model's deletion history: the ledger's chain, the weights "
                                           "against its last request, the private specifications when present.")
    verify.add_argument("model", help="A model folder (an unlearning run's output, or a downloaded repository) or a "
                                      "Hub id, e.g. my-org/resnet-cifar10-unlearned.")
    verify.add_argument("--revision", default=None, help="Hub revision (branch, tag or commit) of a Hub id.")
    verify.add_argument("--no_weights", action="store_true", help="Check the ledger only (do not load the weights).")
    for p in (card, push):
        p.add_argument("--audit", default=None, help="Output folder (or audit_report.json) of `hf-unlearn audit`.")
        p.add_argument("--audit_model", default="unlearned", help="This model's name in the audit's `models`.")

    previous = _catch_sigterm()
    try:
        if argv and argv[0] in RECIPE_COMMANDS:
            return run_recipe_command(argv)
        args = parser.parse_args(argv)
        _quiet_datasets()
        if args.command == "quickstart":
            from .commands.quickstart import run_quickstart

            run_quickstart(args.output_dir, method=args.method)
        elif args.command == "methods":
            from .methods.registry import describe_methods, describe_methods_markdown

            sys.stdout.write(describe_methods_markdown() if args.markdown else describe_methods() + "\n")
        elif args.command == "card":
            from .commands.publish import refresh_card

            names = {"card_dataset": args.card_dataset, "card_base_model": args.card_base_model}
            print(f"Card written: {refresh_card(args.folder, args.audit, args.audit_model, names)}")
        elif args.command == "push":
            from .commands.publish import push_command

            push_command(args)
        elif args.command == "verify":
            from .commands.verify import verify_model

            return 0 if verify_model(args.model, args.revision, not args.no_weights) else 1
        return 0
    except USER_ERRORS as err:
        if os.environ.get("HF_UNLEARN_DEBUG"):
            raise
        print(f"hf-unlearn: error: {err}\n(set HF_UNLEARN_DEBUG=1 for the traceback)", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C, or SIGTERM (turned into this by the handler below)
        if os.environ.get("HF_UNLEARN_DEBUG"):
            raise
        name = _received.get("signal", "SIGINT")
        print(f"hf-unlearn: interrupted ({name}); run the same command again to resume: trained generators and the "
              "last complete fine-tuning checkpoint are kept.", file=sys.stderr)
        return 143 if name == "SIGTERM" else 130
    finally:
        if previous is not None:
            signal.signal(signal.SIGTERM, previous)


_received: dict[str, str] = {}


def _on_sigterm(signum: int, frame: object) -> None:
    _received["signal"] = "SIGTERM"
    raise KeyboardInterrupt


def _catch_sigterm() -> object:
    """SIGTERM (a job scheduler's stop, `kill`) ends the run like Ctrl-C: one line and the resume hint. Returns
    the previous handler (None where signals cannot be set: not the main thread)."""
    try:
        return signal.signal(signal.SIGTERM, _on_sigterm)
    except ValueError:
        return None


def _quiet_datasets() -> None:
    import datasets

    datasets.disable_progress_bars()  # keep the training and GAN progress bars readable


if __name__ == "__main__":
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    raise SystemExit(main())
