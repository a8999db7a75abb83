"""Command-line and recipe arguments shared by `hf-unlearn run` and `hf-unlearn benchmark`.

A recipe is a YAML file whose keys are fields of these dataclasses and of `UnlearningConfig`; command-line
options override it (HfArgumentParser style). Unknown keys are refused, so a typo never silently falls back
to a default.
"""

from __future__ import annotations

import copy
import json
import os
import types
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from ..errors import DataError, UsageError

if TYPE_CHECKING:
    from datasets import Dataset

    from ..scratch import ClassifierRecipe


@dataclass
class DataArguments:
    """Which data: the training split the model learnt from and a held-out split."""

    dataset_name: str = field(default=None, metadata={"help": "Hub dataset id, parquet file/folder or image folder."})
    train_split: str = field(default="train", metadata={"help": "Split the model was trained on."})
    test_split: str = field(default="test", metadata={"help": "Held-out split for test accuracy and the MIA."})
    max_train_samples: int | None = field(default=None, metadata={"help": "Use only the first N training rows."})
    max_test_samples: int | None = field(default=None, metadata={"help": "Use only the first N test rows."})
    holdout_split: str | None = field(
        default=None,
        metadata={"help": "Rows the model never trained on, other than the test split: the target of "
                          "stop_when=indistinguishable, e.g. `validation`, or a row range of a split such as "
                          "`train[10000:12000]` when the model saw only the first 10,000 rows."},
    )


@dataclass
class ScratchModelArguments:
    """Benchmark mode: a model trained here from scratch, as the original and as the retrained reference."""

    model_config: dict | str | None = field(
        default=None,
        metadata={"help": "A transformers config (with `model_type`) for a model trained here from scratch, as "
                          "original and as retrained reference (benchmark mode)."},
    )
    pretrained_model: str | None = field(
        default=None,
        metadata={"help": "Benchmark mode from a pretrained backbone (Hub id or folder, e.g. microsoft/resnet-18): "
                          "original and retrained reference both start from it with a new head sized to the data, "
                          "and use its image processor. Replaces model_config."},
    )
    image_processor: dict | str | None = field(
        default=None, metadata={"help": "ViTImageProcessor settings for benchmark mode (size, image_mean, image_std); "
                                        "default with pretrained_model: the model's own processor."}
    )
    original_epochs: float = field(default=30.0, metadata={"help": "Benchmark mode: epochs of the original/retrain."})
    original_learning_rate: float = field(default=0.05, metadata={"help": "Benchmark mode: their learning rate."})
    original_batch_size: int = field(default=128, metadata={"help": "Benchmark mode: their batch size."})
    original_augmentation: str = field(
        default="none", metadata={"help": "Benchmark mode: \"flip\" mirrors each training image left-right with "
                                          "probability 1/2 (original and retrained reference alike); \"none\"."}
    )
    original_max_grad_norm: float = field(
        default=0.0, metadata={"help": "Benchmark mode: gradient clipping of the original and the retrain (0 = none)."}
    )

    def classifier_recipe(self) -> ClassifierRecipe:
        """How the original model and the retrained reference are trained from scratch."""
        from ..scratch import ClassifierRecipe

        return ClassifierRecipe(self.original_epochs, self.original_learning_rate, self.original_batch_size,
                                augmentation=self.original_augmentation, max_grad_norm=self.original_max_grad_norm)


@dataclass
class RunArguments(DataArguments, ScratchModelArguments):
    """What `hf-unlearn run` unlearns from: the data and the model (the `UnlearningConfig` says how)."""

    model_name_or_path: str | None = field(
        default=None, metadata={"help": "Trained classifier to unlearn from (Hub id or local folder)."}
    )
    reference_model_path: str | None = field(
        default=None, metadata={"help": "Optional model retrained on the retain set, scored beside the others."}
    )
    command: str | None = field(
        default=None, metadata={"help": "Command line shown in the model card to reproduce the run (default: argv)."}
    )


def as_dict(value: dict | str | None) -> dict[str, Any] | None:
    """A mapping given in YAML (already a dict) or on the command line (JSON text)."""
    return json.loads(value) if isinstance(value, str) else value


def recipe_parser(dataclass_types: tuple[type, ...], command: str = "run") -> Any:
    """An `HfArgumentParser` for `hf-unlearn <command>`: its help names the subcommand, and a malformed option
    raises `UsageError` (one line, exit 2) instead of printing the whole usage."""
    from transformers import HfArgumentParser

    class Parser(HfArgumentParser):
        def error(self, message: str) -> None:  # argparse would print every option's usage first
            raise UsageError(f"{message} (see `hf-unlearn {command} --help`).")

        @staticmethod
        def _parse_dataclass_field(parser: Any, field: Any) -> None:
            """An option's range and choices, declared in its field's metadata, shown in `--help` (argparse takes
            only its own keywords: the rest of the metadata stays with the field, for validation)."""
            declared = {k: v for k, v in field.metadata.items() if k not in ("range", "example", "choices")}
            if declared != dict(field.metadata):
                help_text = declared.get("help", "")
                if "range" in field.metadata:
                    help_text += f" Allowed: {field.metadata['range'][1]}."
                if "choices" in field.metadata:
                    choices = field.metadata["choices"]
                    help_text += f" Choices: {', '.join(map(str, choices() if callable(choices) else choices))}."
                field = copy.copy(field)
                field.metadata = types.MappingProxyType({**declared, "help": help_text})
            HfArgumentParser._parse_dataclass_field(parser, field)

    parser = Parser(dataclass_types, prog=f"hf-unlearn {command}",
                    usage=f"hf-unlearn {command} RECIPE.yaml [--option value ...]")
    for action in parser._actions:  # argparse %-formats help texts: a literal "95%" in one would crash --help
        if action.help and "%" in action.help:
            action.help = action.help.replace("%", "%%")
    return parser


def read_recipe(path: str) -> dict[str, Any]:
    """A YAML recipe as a mapping; a missing file, invalid YAML or a non-mapping is refused in one line."""
    import yaml

    if not os.path.isfile(path):
        raise UsageError(f"recipe {path} does not exist.")
    with open(path) as f:
        try:
            recipe = yaml.safe_load(f) or {}
        except yaml.YAMLError as err:
            raise UsageError(f"recipe {path} is not valid YAML: {str(err).splitlines()[0]} "
                             f"({str(err).splitlines()[-1].strip()}).") from None
    if not isinstance(recipe, dict):
        raise UsageError(f"recipe {path} must be a mapping of option: value, got {type(recipe).__name__}.")
    return recipe


def parse_recipe(argv: list[str], dataclass_types: tuple[type, ...], command: str = "run",
                 recipe: dict[str, Any] | None = None) -> tuple[Any, ...]:
    """A YAML recipe (first argument; `recipe` when already read) with command-line overrides, HfArgumentParser
    style. Unknown recipe keys are refused."""
    parser = recipe_parser(dataclass_types, command)
    check_row_numbers(argv)
    from ..methods.multigan_options import LEGACY_OPTIONS

    known = {a.dest for a in parser._actions}
    old_names: dict[str, Any] = {}
    if argv and argv[0].endswith((".yaml", ".yml")):
        recipe = read_recipe(argv[0]) if recipe is None else recipe
        # keys starting with "_" hold YAML anchors for the recipe itself (e.g. `_stop_rule: &stop {...}`)
        recipe = {k: v for k, v in recipe.items() if not str(k).startswith("_")}
        if "method_args" in known:  # Multi-GAN's old names: moved into method_args below
            old_names = {k: recipe.pop(k) for k in list(recipe) if k in LEGACY_OPTIONS}
        unknown = sorted(set(recipe) - known)
        if unknown:
            raise UsageError(f"recipe {argv[0]} has unknown keys {unknown}; see `hf-unlearn {command} --help`.")
        parser.set_defaults(**recipe)
        argv = argv[1:]
    argv = migrate_old_options(parser, recipe or {}, old_names, argv)
    return tuple(parser.parse_args_into_dataclasses(argv))


def migrate_old_options(parser: Any, recipe: dict[str, Any], old_in_recipe: dict[str, Any], argv: list[str]) -> list[str]:
    """Multi-GAN's old top-level options, in the recipe or on the command line (`--gan_epochs 5`), moved into
    method_args (a FutureWarning names the new spelling); the command line's over the recipe's."""
    from ..methods.multigan_options import LEGACY_OPTIONS, merge_method_args, migrate_legacy

    if "method_args" not in {a.dest for a in parser._actions}:
        return argv
    given, rest, i = {}, [], 0
    while i < len(argv):
        name, _, inline = argv[i].removeprefix("--").partition("=")
        if argv[i].startswith("--") and name in LEGACY_OPTIONS:
            if inline or i + 1 >= len(argv):
                given[name], i = inline, i + 1
            else:
                given[name], i = argv[i + 1], i + 2
        else:
            rest.append(argv[i])
            i += 1
    if not given and not old_in_recipe:
        return argv
    method = _last_value(rest, "method") or recipe.get("method") or parser.get_default("method") or "multigan"
    where = "the recipe and command line" if given and old_in_recipe else ("the command line" if given else "the recipe")
    moved = migrate_legacy({**old_in_recipe, **given}, method, where).get("method_args") or {}
    command_line = _last_value(rest, "method_args")
    if command_line is not None:  # --method_args '{...}' given too: the old names join it
        index = len(rest) - 1 - rest[::-1].index("--method_args")
        rest[index + 1] = json.dumps(merge_method_args(moved, command_line))
    elif moved:
        parser.set_defaults(method_args=merge_method_args(recipe.get("method_args"), moved))
    return rest


def _last_value(argv: list[str], name: str) -> str | None:
    """The value of the last `--name value` in argv, or None."""
    for i in range(len(argv) - 2, -1, -1):
        if argv[i] == f"--{name}":
            return argv[i + 1]
    return None


def check_row_numbers(argv: list[str]) -> None:
    """`--forget_indices ids.txt`: a file where row numbers belong is named, with the option that reads it (argparse
    would only say "invalid int value")."""
    for i, token in enumerate(argv[:-1]):
        if token == "--forget_indices":
            for value in argv[i + 1:]:
                if value.startswith("--"):
                    break
                if not value.lstrip("-").isdigit():
                    file = os.path.isfile(value) or value.lower().endswith((".txt", ".csv", ".json"))
                    raise UsageError(f"--forget_indices {value}: " + (
                        f"a file; --forget_indices takes row numbers (--forget_indices 3 17 42), --forget_file "
                        f"{value} reads a file of ids or row numbers." if file else
                        "not a row number; give row numbers of the training set (--forget_indices 3 17 42)."))


def load_splits(args: DataArguments) -> tuple[Dataset, Dataset]:
    """The training and held-out datasets named by `args`, cut to the requested sizes."""
    from ..data import load_image_dataset

    if args.dataset_name is None:
        raise UsageError("no dataset: set dataset_name in the recipe or pass --dataset_name.")
    for name in ("max_train_samples", "max_test_samples"):
        value = getattr(args, name)
        if value is not None and value < 1:
            raise UsageError(f"{name} = {value} keeps no rows: nothing would be unlearned or measured. Give a "
                             f"number >= 1 (e.g. {name}: 5000) or leave it unset for every row.")
    try:
        train = load_image_dataset(args.dataset_name, split=args.train_split)
        test = load_image_dataset(args.dataset_name, split=args.test_split)
    except Exception as err:
        raise DataError(f"Could not load dataset {args.dataset_name!r} (splits {args.train_split!r}, {args.test_split!r}): "
                        f"{type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}. Give a Hub dataset id, "
                        "a parquet file or folder, or an image folder, with those splits.") from None
    if args.max_train_samples is not None:
        train = train.select(range(min(args.max_train_samples, len(train))))
    if args.max_test_samples is not None:
        test = test.select(range(min(args.max_test_samples, len(test))))
    return train, test


def load_holdout(args: DataArguments) -> Dataset | None:
    """The `holdout_split` rows (the stopping rule's target), or None; never the test split."""
    from ..data import load_image_dataset

    split = args.holdout_split
    if not split:
        return None
    if split.replace(" ", "") == str(args.test_split).replace(" ", ""):
        raise UsageError(f"holdout_split = {split!r} is the test split: the stopping rule must never read the split "
                         "the run is reported on. Give rows the model never trained on, e.g. a validation split or "
                         "'train[10000:12000]' when the model saw only the first 10,000 training rows.")
    try:
        return load_image_dataset(args.dataset_name, split=split)
    except Exception as err:
        raise DataError(f"Could not load holdout_split {split!r} of {args.dataset_name!r}: {type(err).__name__}: "
                        f"{str(err).splitlines()[0] if str(err) else ''}. Give a split name or a row range such as "
                        "'train[10000:12000]'.") from None
