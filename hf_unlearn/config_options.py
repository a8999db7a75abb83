"""`UnlearningOptions`: every option an unlearning run adds to `transformers.TrainingArguments` (and the defaults
it changes there), each declared once with its help, range, example and choices in the field's metadata. Light on
purpose (no torch, no transformers): the command line checks a recipe's values against these declarations before
anything heavy is imported, and `UnlearningConfig` (config.py) is these options on top of TrainingArguments."""

from __future__ import annotations

import typing
from dataclasses import dataclass, field
from typing import Any

from .constants import STOP_RULES, TRAINING_AUGMENTATIONS
from .methods.registry import available_methods
from .options import (
    at_least,
    check_choices,
    check_range,
    coerce,
    field_choices,
    non_negative,
    positive,
    unit_interval,
)


@dataclass
class UnlearningOptions:
    """The options of an unlearning run beyond (and the defaults it changes in) `TrainingArguments`."""

    # ----- method -----
    method: str = field(
        default="multigan",
        metadata={"example": "multigan", "choices": available_methods,
                  "help": "Unlearning method, by registered name (one registered with "
                          "hf_unlearn.methods.register_method too; `hf-unlearn methods` describes each)."},
    )

    method_args: dict | str | None = field(
        default=None,
        metadata={"help": "The method's own options, e.g. {\"retain_weight\": 0.99} for neggrad_plus or "
                          "{\"mask_ratio\": 0.5} for salun (JSON on the command line); `hf-unlearn methods` lists them."},
    )
    training_augmentation: str | None = field(
        default=None,
        metadata={"choices": TRAINING_AUGMENTATIONS, "example": "flip",
                  "help": "How the model to unlearn was trained (its training augmentation): \"none\", \"flip\" "
                          "(random left-right flips) or \"crop_flip\" (random crops of the padded image and flips). "
                          "Methods that make views of images follow it (CoUn's views: \"original\"); benchmark mode "
                          "sets it from original_augmentation. Unset: not known (CoUn then uses the paper's crop_flip)."},
    )

    # ----- forget set (exactly one of forget_indices, _classes, _fraction, _where, _images, _file, _filter) -----
    forget_indices: list[int] | None = field(
        default=None, metadata={"example": [0, 5, 17],
                  "help": "Row indices of the training set to forget."}
    )
    forget_classes: list[str] | None = field(
        default=None, metadata={"example": ["cat"],
                  "help": "Class names or integer ids whose every training image is forgotten."}
    )
    forget_fraction: float | None = field(
        default=None,
        metadata={"example": 0.1,
                  "help": "Forget this fraction (0 < f < 1) of the training set, drawn at random with `forget_seed`."},
    )
    forget_seed: int = field(default=0, metadata={"range": (non_negative, ">= 0"), "example": 0,
                  "help": "Seed of the random forget-set draw."})
    forget_where: dict | str | None = field(
        default=None,
        metadata={"help": "A person- or id-level request: forget every row whose value in a column is one of the "
                          "given values, e.g. {\"user_id\": [\"u17\", \"u42\"]} (JSON on the command line; several "
                          "columns: rows matching any). A column the training set lacks, or a value matching no row, "
                          "is an error naming it. The card reports each value's rows as a group, anonymised."},
    )
    forget_images: list[str] | None = field(
        default=None,
        metadata={"help": "Forget the training rows holding these images: a folder, image files, or the parquet file "
                          "of a dataset with an image column. Matched by "
                          "decoded pixels (same size and 8-bit RGB values), so a losslessly re-encoded copy (another "
                          "format, compression or metadata) matches; a resized or re-compressed (JPEG) copy does not. "
                          "Images that match no row are listed and the request refused (see forget_images_partial)."},
    )
    forget_images_partial: bool = field(
        default=False,
        metadata={"help": "With forget_images: forget the images that match training rows and report the others "
                          "(counted in the results and the ledger) instead of refusing the request."},
    )
    forget_file: str | None = field(
        default=None,
        metadata={"help": "A forget-spec file: .txt (one id per line, # comments), .csv (a header row) or .json (a "
                          "list, or {\"user_id\": [...]}). Its values are row indices when the column is `index` "
                          "(the default for a headerless list), else values of that column, as forget_where."},
    )
    forget_file_column: str | None = field(
        default=None,
        metadata={"help": "With forget_file: the dataset column its values are (e.g. user_id; `index` for row "
                          "numbers); default: the CSV header or JSON key, else `index`."},
    )
    forget_filter: str | None = field(
        default=None,
        metadata={"help": "Forget every row a filter over the dataset's columns selects, e.g. 'source == \"scraped\"' "
                          "or 'licence in [\"cc-by-nc\"] and year < 2020' (comparisons, in, and / or / not; ISO dates "
                          "compare with date columns; nothing is run as code). A filter selecting no row is an error."},
    )
    ledger_override: str | None = field(
        default=None,
        metadata={"help": "Go on although the model's deletion history does not hold (a ledger that does not parse or "
                          "whose chain is broken, weights that are not its last request's output, an earlier request's "
                          "files without a ledger): the reason you give is recorded in the new ledger entry and shown "
                          "on the card. Default: such a request is refused before any work."},
    )
    previous_forget_sets: list[str] | None = field(
        default=None,
        metadata={"help": "Sequential deletion requests: `forget_set.json` files (or output folders) of earlier "
                          "requests already unlearned from this model. Their rows leave the retain set."},
    )

    # ----- data columns -----
    image_column: str | None = field(
        default=None, metadata={"help": "Image column of the dataset (default: the first `datasets.Image` column)."}
    )
    label_column: str | None = field(
        default=None, metadata={"help": "Label column of the dataset (default: the first `ClassLabel` column)."}
    )

    # ----- the fine-tuning set's budget (Multi-GAN's own options: method_args, `hf-unlearn methods`) -----
    num_retain_samples: int | None = field(
        default=None,
        metadata={"range": (at_least(1), ">= 1 (or unset: all)"), "example": 5000,
                  "help": "Real retain images in the fine-tuning set (default: all of them), drawn at random with the seed."},
    )
    retain_samples_per_forget: float | None = field(
        default=None,
        metadata={"range": (positive, "> 0 (or unset: all)"), "example": 2,
                  "help": "A fine-tuning budget that scales with the request: this many real retain images per "
                          "forget image (e.g. 2: twice the forget set), drawn at random with the seed; default: "
                          "all of them, or the method's own default (Multi-GAN with method_args.prepared_path: 8, "
                          "the best of 2, 4, 6, 8 on CIFAR-10 "
                          "validation, both forget settings: docs/benchmarks/prepared.md). Exclusive with "
                          "num_retain_samples."},
    )

    min_train_steps: int | None = field(
        default=None,
        metadata={"range": (at_least(1), ">= 1 (or unset)"), "example": 30,
                  "help": "A floor on the fine-tuning's optimizer steps, for small requests: when num_train_epochs "
                          "over the method's fine-tuning set gives fewer, the epochs are raised to reach it (the "
                          "schedule spans the raised budget; max_steps, when set, wins). Default: none."},
    )

    # ----- evaluation -----
    eval_retain_samples: int | None = field(
        default=2000,
        metadata={"range": (at_least(1), ">= 1 (or unset: all)"), "example": 2000,
                  "help": "Retain images scored in the evaluation (random, seeded); None scores all of them."},
    )
    mia_splits: int = field(default=10, metadata={"range": (at_least(2), ">= 2"), "example": 10,
                  "help": "Cross-validation splits of the membership-inference attack."})

    # ----- stopping rule (any method) -----
    stop_when: str | None = field(
        default=None,
        metadata={"example": "indistinguishable", "choices": STOP_RULES,
                  "help": "`indistinguishable`: stop fine-tuning when the forget set looks like data the model never "
                          "saw, as it would to a model retrained without it. Every `stop_check_steps` the forget rows "
                          "are compared with held-out rows of the same classes (the trainer's `holdout_dataset`, "
                          "`--holdout_split` on the command line: never the test split; against verdict references when "
                          "verdict.references is set) by the verdict's equivalence test, its alpha split over the checks; "
                          "fine-tuning stops when the verdict certifies the forget set and the held-out accuracy is within "
                          "stop_accuracy_drop of the original's (class "
                          "requests: when the class is no longer predicted; sequential requests: every earlier forget "
                          "set is checked too), or when the interval falls below 0.5 (over-forgotten: the model goes "
                          "back to the check closest to the targets). Never runs past the budget (num_train_epochs / "
                          "max_steps). Default: off (the fixed budget); `none` turns a recipe's rule off."},
    )
    stop_check_steps: float = field(
        default=0.25,
        metadata={"range": (positive, "> 0"), "example": 0.25,
                  "help": "With stop_when: check every N fine-tuning steps (N >= 1), or every fraction N of the "
                          "budget (0 < N < 1, like eval_steps). Default 0.25: 4 checks."},
    )
    stop_max_samples: int = field(
        default=800,
        metadata={"range": (at_least(10), ">= 10"), "example": 800,
                  "help": "With stop_when: forget rows and held-out rows scored at each check (seeded samples of "
                          "at most this many each): more rows, a tighter interval and a costlier check."},
    )
    stop_confidence: float = field(
        default=0.95, metadata={"range": (lambda x: 0 < x < 1, "in (0, 1)"), "example": 0.95,
                  "help": "Deprecated and ignored: the rule stops when the verdict certifies the forget "
                                        "set, at the verdict's alpha split over its checks (set verdict: {alpha: ...})."}
    )
    stop_accuracy_drop: float = field(
        default=3.0,
        metadata={"range": (non_negative, ">= 0"), "example": 3.0,
                  "help": "With stop_when: the most the held-out accuracy (every class but a forgotten one) may fall "
                          "below the original model's on the same rows, in points, for the rule to stop. A retrained "
                          "model keeps about the original's accuracy on unseen data; a model broken by fine-tuning "
                          "would otherwise pass, as it treats forget and held-out rows alike (both wrong)."},
    )
    stop_class_accuracy_drop: float | None = field(
        default=None,
        metadata={"range": (non_negative, ">= 0"),
                  "help": "With stop_when: also the most the held-out accuracy of the forget rows' own classes may "
                          "fall below the original's on the same rows, in points (default: not checked). A person's "
                          "photos are close to each other; fine-tuning them away can take their whole class with "
                          "them (on CIFAR-10 a cluster of 30 photos took its class's held-out accuracy from about 60 "
                          "to 40 percent in 3 steps, while the loss attack saw nothing: forget and held-out rows fell "
                          "together), which retraining never does. Counts in the distance the rule keeps the closest "
                          "check by."},
    )
    stop_keep_closest: bool = field(
        default=False,
        metadata={"help": "With stop_when: when the budget runs out before any check meets the targets, go back to "
                          "the check closest to them (default: end at the budget, as without the rule: keeping the "
                          "closest check made finetune worse on CIFAR-10; docs/benchmarks/stopping.md)."},
    )
    stop_class_rate: float = field(
        default=0.01,
        metadata={"range": (unit_interval(True), "in [0, 1)"), "example": 0.01,
                  "help": "With stop_when on a class request: the largest share of the forgotten class's rows "
                          "(forget and held-out) still predicted as that class when the rule stops."},
    )

    verdict: dict | str | None = field(
        default=None,
        metadata={"help": "The verdict: an equivalence test that the forget set is treated as a model that never saw it "
                          "would treat it, within a margin (results, card, push gate, stopping rule). Options: margin "
                          "(0.1, on the attack's AUC), alpha (0.05), power (0.9: below the size a model at the target "
                          "passes with this probability the verdict is 'cannot certify'), references (folder of "
                          "verdict references from `hf-unlearn prepare`: needed for any request not drawn at random, "
                          "e.g. a person's photos), population_samples (2000 held-out rows), class_rate (0.01); for "
                          "`hf-unlearn prepare`: folds (4), group_column (the person column). Needs held-out rows "
                          "(holdout_dataset / --holdout_split). JSON on the command line."},
    )

    # ----- parameter-efficient fine-tuning (ViT-sized models) -----
    use_peft: bool = field(
        default=False,
        metadata={"help": "Fine-tune LoRA adapters (peft) instead of every weight; the saved model is merged back "
                          "into a plain transformers model. Needs `pip install hf-unlearn[peft]`."},
    )
    lora_r: int = field(default=16, metadata={"range": (at_least(1), ">= 1"), "example": 16,
                  "help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"range": (positive, "> 0"), "example": 32,
                  "help": "LoRA scaling numerator (alpha / r scales the update)."})
    lora_dropout: float = field(default=0.0, metadata={"range": (unit_interval(True), "in [0, 1)"), "example": 0.0,
                  "help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "Modules that get adapters (default: every linear layer, peft's all-linear)."}
    )
    lora_modules_to_save: list[str] | None = field(
        default_factory=lambda: ["classifier"],
        metadata={"help": "Modules trained in full beside the adapters (the classification head)."},
    )

    # ----- the card's names for the data and the model -----
    card_dataset: str | None = field(
        default=None,
        metadata={"help": "The training data's Hub dataset id (e.g. uoft-cs/cifar10) or a name, for the card and its "
                          "model-index when the data was loaded from a local copy (a local path is never published; "
                          "default: dataset_name when it is a Hub id, else the folder's name)."},
    )
    card_base_model: str | None = field(
        default=None,
        metadata={"help": "The original model's Hub id, for the card's base_model (default: the model's Hub id; "
                          "for a later request on an unlearned model, the original named in its ledger)."},
    )

    # ----- safety -----
    allow_pickle_weights: bool = field(
        default=False,
        metadata={"help": "Load a model whose weights exist only as pickle files (pytorch_model.bin). Off by default: "
                          "unpickling can run arbitrary code; safetensors is required otherwise."},
    )

    sync_batchnorm: bool = field(
        default=True,
        metadata={"help": "Under several processes, BatchNorm layers (of the model and of the GANs) normalise with the "
                          "statistics of the global batch, and the GANs draw the global batch's latent vectors, so N "
                          "processes train what one process of the same global batch trains (torch's SyncBatchNorm "
                          "runs on GPUs only; this runs on any backend). Off: each process normalises its own shard."},
    )

    resume: bool = field(
        default=True,
        metadata={"help": "Make an interrupted run resumable: trained generators are kept with a key of what they "
                          "were trained on, and fine-tuning checkpoints every epoch (when save_strategy is `no`); "
                          "running the same command again picks up from there. The checkpoints are removed when "
                          "the run ends."},
    )

    # ----- publishing -----
    push_gate: dict | str | None = field(
        default=None,
        metadata={"help": "Thresholds the unlearned model must meet before anything is pushed, e.g. "
                          "{\"max_avg_gap\": 3, \"min_test_accuracy\": 40, \"max_mia_auc\": 0.6} (JSON on the command "
                          "line; keys max_/min_ + forget_accuracy, retain_accuracy, test_accuracy, mia_auc, mia_score, "
                          "mia_efficacy, avg_gap, mia_tpr_at_1pct_fpr). A missed threshold stops the push."},
    )
    push_generators: bool = field(
        default=False, metadata={"help": "Also push the retain-set generator (under generators/retain)."}
    )
    publish_forget_generator: bool = field(
        default=False,
        metadata={"help": "Also publish the forget-set generator and its samples. It was trained on the deleted "
                          "images and can reproduce them: leave off unless the data owner agrees."},
    )

    # ----- sensible defaults for unlearning (overriding TrainingArguments) -----
    num_train_epochs: float = field(default=2.0, metadata={"range": (non_negative, ">= 0"), "example": 2,
                  "help": "Fine-tuning epochs over the combined dataset."})
    learning_rate: float = field(default=0.05, metadata={"range": (positive, "> 0"), "example": 0.05,
                  "help": "Fine-tuning learning rate (SGD; the paper's 0.05)."})
    optim: str = field(default="sgd", metadata={"help": "Optimizer (the paper uses SGD)."})
    optim_args: str | None = field(
        default=None,
        metadata={"help": "Optimizer arguments (default: momentum=0.9 for SGD, the paper's; none for other optimizers)."},
    )
    weight_decay: float = field(default=5e-4, metadata={"range": (non_negative, ">= 0"), "example": 5e-4,
                  "help": "Weight decay."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    max_grad_norm: float | None = field(
        default=None,
        metadata={"range": (non_negative, ">= 0"), "example": 1.0,
                  "help": "Gradient clipping (max norm; 0 = none). Unset: the method's reference setting, which is "
                          "no clipping for every built-in method (none of their authors' code clips). The value used "
                          "is recorded in the results."},
    )
    per_device_train_batch_size: int = field(default=64, metadata={"range": (at_least(1), ">= 1"), "example": 64,
                  "help": "Fine-tuning batch size per process."})
    per_device_eval_batch_size: int = field(default=256, metadata={"range": (at_least(1), ">= 1"), "example": 256,
                  "help": "Evaluation batch size per process."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep the image column: images are decoded on the fly by the transform."}
    )
    save_strategy: str = field(default="no", metadata={"help": "Checkpointing strategy of the fine-tuning loop."})
    logging_steps: float = field(default=10, metadata={"range": (positive, "> 0"), "example": 10,
                  "help": "Log every N fine-tuning steps."})


#: Ranges (rule, in words) and examples of the inherited TrainingArguments options a recipe commonly sets; every
#: option declared here carries its own in its field's metadata (`range`, `example`, `choices`).
INHERITED_LIMITS: dict[str, tuple[Any, str, Any]] = {
    "gradient_accumulation_steps": (at_least(1), ">= 1", 1), "seed": (non_negative, ">= 0", 0),
    "warmup_steps": (non_negative, ">= 0", 0), "dataloader_num_workers": (non_negative, ">= 0", 0)}
_INHERITED_TYPES = {"gradient_accumulation_steps": int, "seed": int, "warmup_steps": int, "dataloader_num_workers": int}


#: Allowed ranges (rule, in words) and the examples messages show, read from the declarations above: every
#: option of `UnlearningOptions` that declares them, and the inherited ones of `INHERITED_LIMITS`.
_FIELDS = UnlearningOptions.__dataclass_fields__
LIMITS: dict[str, tuple[Any, str]] = {**{name: f.metadata["range"] for name, f in _FIELDS.items() if "range" in f.metadata},
                                      **{name: (rule, words) for name, (rule, words, _) in INHERITED_LIMITS.items()}}
EXAMPLES: dict[str, Any] = {**{name: f.metadata["example"] for name, f in _FIELDS.items() if "example" in f.metadata},
                            **{name: example for name, (_, _, example) in INHERITED_LIMITS.items()}}


#: The options that declare their allowed values (`choices`: a collection, or a callable giving one).
CHOICES = [name for name, f in _FIELDS.items() if "choices" in f.metadata]


def check_declared(name: str, value: Any, hint: Any = None) -> Any:
    """One option's value, brought to the type `hint` (when given) and checked against its declared range and
    choices (when it declares them); messages name the option, the value, what is allowed and an example."""
    if hint is not None:
        value = coerce(name, value, hint, EXAMPLES.get(name))
    if name in LIMITS:
        check_range(name, value, *LIMITS[name], EXAMPLES.get(name))
    if name in CHOICES:
        check_choices(name, value, field_choices(_FIELDS[name]), EXAMPLES.get(name))
    return value


#: Options whose own check (when the config is built) says more than their choices: the fast pre-check leaves them.
OWN_CHECKS = ("method", "stop_when")


def check_values(recipe: dict[str, Any], argv: list[str]) -> None:
    """Check the options with a declared range or choices that a recipe and its command line give (`--name value`,
    `--name=value`; the command line's over the recipe's), before anything heavy is imported: a bad value is
    refused in a fraction of a second. The config checks every option again, these included, when it is built."""
    values = dict(recipe)
    for i, token in enumerate(argv):
        if token.startswith("--"):
            name, eq, inline = token[2:].replace("-", "_").partition("=")
            if eq:
                values[name] = inline
            elif i + 1 < len(argv) and not argv[i + 1].startswith("--"):
                values[name] = argv[i + 1]
    hints = {**typing.get_type_hints(UnlearningOptions), **_INHERITED_TYPES}
    for name, value in values.items():
        if name in LIMITS or (name in CHOICES and name not in OWN_CHECKS):
            check_declared(name, value, hints[name])
