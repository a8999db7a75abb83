"""`UnlearningConfig`: every option of an unlearning run, on top of `transformers.TrainingArguments`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from transformers import TrainingArguments

from .gate import parse_gate
from .safety import is_secret_key

INVERSION_STRATEGIES = ("complement", "random_other", "least_likely")


@dataclass
class UnlearningConfig(TrainingArguments):
    """Configuration of an unlearning run.

    The fine-tuning defaults follow Hatua, Nguyen & Sung (2024): SGD with momentum 0.9, weight decay 5e-4
    and a cosine schedule. The learning rate, epoch count and synthetic-data sizes are the ones measured
    in BENCHMARKS.md; every field can be set from a YAML recipe or the command line.
    """

    # ----- method -----
    method: str = field(
        default="multigan",
        metadata={"help": "Unlearning method, by registered name (see `hf_unlearn.methods.available_methods()`)."},
    )

    method_args: dict | str | None = field(
        default=None,
        metadata={"help": "The method's own options, e.g. {\"retain_weight\": 0.99} for neggrad_plus or "
                          "{\"mask_ratio\": 0.5} for salun (JSON on the command line); `hf-unlearn methods` lists them."},
    )

    # ----- forget set (exactly one of the three) -----
    forget_indices: list[int] | None = field(
        default=None, metadata={"help": "Row indices of the training set to forget."}
    )
    forget_classes: list[str] | None = field(
        default=None, metadata={"help": "Class names or integer ids whose every training image is forgotten."}
    )
    forget_fraction: float | None = field(
        default=None,
        metadata={"help": "Forget this fraction (0 < f < 1) of the training set, drawn at random with `forget_seed`."},
    )
    forget_seed: int = field(default=0, metadata={"help": "Seed of the random forget-set draw."})
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

    # ----- GAN synthesizer -----
    gan_latent_dim: int = field(default=100, metadata={"help": "Size of the DCGAN latent vector z."})
    gan_generator_channels: int = field(default=64, metadata={"help": "DCGAN generator width (ngf)."})
    gan_discriminator_channels: int = field(default=64, metadata={"help": "DCGAN discriminator width (ndf)."})
    gan_resolution: int | None = field(
        default=None,
        metadata={
            "help": "Side of the square images the GANs model (a power of two >= 8). Default: the data's "
            "resolution rounded up to a power of two; samples are resized back to the data's size."
        },
    )
    gan_epochs: float = field(default=20.0, metadata={"help": "Passes over the retain (resp. forget) set for each GAN."})
    gan_min_steps: int = field(
        default=300, metadata={"help": "Lower bound on GAN optimizer steps, so a tiny forget set still trains its GAN."}
    )
    gan_batch_size: int = field(default=128, metadata={"help": "GAN batch size per process."})
    gan_learning_rate: float = field(default=2e-4, metadata={"help": "Adam learning rate of both GAN networks."})
    gan_beta1: float = field(default=0.5, metadata={"help": "Adam beta1 of both GAN networks."})
    gan_beta2: float = field(default=0.999, metadata={"help": "Adam beta2 of both GAN networks."})
    retain_generator_path: str | None = field(
        default=None,
        metadata={
            "help": "Folder of a retain-set generator trained once beforehand (e.g. when the model was "
            "published). When set, the retain GAN is loaded instead of trained: deletion requests get cheaper."
        },
    )

    # ----- synthetic data and the combined dataset -----
    num_synthetic_retain: int | None = field(
        default=None,
        metadata={"help": "Synthetic images drawn from the retain GAN (default: as many as the forget set has images)."},
    )
    num_synthetic_forget: int | None = field(
        default=None,
        metadata={"help": "Synthetic images drawn from the forget GAN (default: as many as the forget set has images)."},
    )
    label_inversion: str = field(
        default="complement",
        metadata={
            "help": "How forget labels are inverted: `complement` (y' = K-1-y, the paper's), `random_other` "
            "(a random class other than y) or `least_likely` (the class the original model finds least likely)."
        },
    )
    num_retain_samples: int | None = field(
        default=None,
        metadata={"help": "Real retain images in the fine-tuning set (default: all of them), drawn at random with the seed."},
    )

    # ----- evaluation -----
    eval_retain_samples: int | None = field(
        default=2000,
        metadata={"help": "Retain images scored in the evaluation (random, seeded); None scores all of them."},
    )
    mia_splits: int = field(default=10, metadata={"help": "Cross-validation splits of the membership-inference attack."})

    # ----- parameter-efficient fine-tuning (ViT-sized models) -----
    use_peft: bool = field(
        default=False,
        metadata={"help": "Fine-tune LoRA adapters (peft) instead of every weight; the saved model is merged back "
                          "into a plain transformers model. Needs `pip install hf-unlearn[peft]`."},
    )
    lora_r: int = field(default=16, metadata={"help": "LoRA rank."})
    lora_alpha: int = field(default=32, metadata={"help": "LoRA scaling numerator (alpha / r scales the update)."})
    lora_dropout: float = field(default=0.0, metadata={"help": "Dropout on the LoRA input."})
    lora_target_modules: list[str] | None = field(
        default=None, metadata={"help": "Modules that get adapters (default: every linear layer, peft's all-linear)."}
    )
    lora_modules_to_save: list[str] | None = field(
        default_factory=lambda: ["classifier"],
        metadata={"help": "Modules trained in full beside the adapters (the classification head)."},
    )

    # ----- safety -----
    allow_pickle_weights: bool = field(
        default=False,
        metadata={"help": "Load a model whose weights exist only as pickle files (pytorch_model.bin). Off by default: "
                          "unpickling can run arbitrary code; safetensors is required otherwise."},
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
    num_train_epochs: float = field(default=2.0, metadata={"help": "Fine-tuning epochs over the combined dataset."})
    learning_rate: float = field(default=0.05, metadata={"help": "Fine-tuning learning rate (SGD; the paper's 0.05)."})
    optim: str = field(default="sgd", metadata={"help": "Optimizer (the paper uses SGD)."})
    optim_args: str | None = field(
        default=None,
        metadata={"help": "Optimizer arguments (default: momentum=0.9 for SGD, the paper's; none for other optimizers)."},
    )
    weight_decay: float = field(default=5e-4, metadata={"help": "Weight decay."})
    lr_scheduler_type: str = field(default="cosine", metadata={"help": "Learning-rate schedule."})
    per_device_train_batch_size: int = field(default=64, metadata={"help": "Fine-tuning batch size per process."})
    per_device_eval_batch_size: int = field(default=256, metadata={"help": "Evaluation batch size per process."})
    remove_unused_columns: bool = field(
        default=False, metadata={"help": "Keep the image column: images are decoded on the fly by the transform."}
    )
    save_strategy: str = field(default="no", metadata={"help": "Checkpointing strategy of the fine-tuning loop."})
    logging_steps: float = field(default=10, metadata={"help": "Log every N fine-tuning steps."})

    def __post_init__(self) -> None:
        if self.optim_args is None and str(getattr(self.optim, "value", self.optim)) == "sgd":
            self.optim_args = "momentum=0.9"  # the paper's SGD; other optimizers get no SGD-only argument
        super().__post_init__()
        chosen = [x is not None for x in (self.forget_indices, self.forget_classes, self.forget_fraction)]
        if sum(chosen) > 1:
            raise ValueError(
                "Give exactly one of forget_indices, forget_classes or forget_fraction; got "
                f"{sum(chosen)}. Remove the others from the config or command line."
            )
        if self.label_inversion not in INVERSION_STRATEGIES:
            raise ValueError(
                f"Unknown label_inversion {self.label_inversion!r}: choose one of {', '.join(INVERSION_STRATEGIES)}."
            )
        if self.gan_resolution is not None and (self.gan_resolution < 8 or self.gan_resolution & (self.gan_resolution - 1)):
            raise ValueError(f"gan_resolution must be a power of two >= 8, got {self.gan_resolution}.")
        for name in ("num_synthetic_retain", "num_synthetic_forget", "num_retain_samples", "eval_retain_samples"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be >= 0, got {value}.")
        if self.gan_epochs <= 0 or self.gan_batch_size <= 0:
            raise ValueError("gan_epochs and gan_batch_size must be positive.")
        parse_gate(self.push_gate)  # a malformed gate fails now, not after the run
        if self.use_peft and self.lora_r < 1:
            raise ValueError(f"lora_r must be >= 1, got {self.lora_r}.")
        if self.mia_splits < 2:
            raise ValueError(f"mia_splits must be >= 2, got {self.mia_splits}.")


def public_config(args: UnlearningConfig) -> dict[str, Any]:
    """The run's config as JSON-safe values, without secrets."""
    return {k: v for k, v in args.to_dict().items() if not is_secret_key(k)}
