"""The model as hf-unlearn fine-tunes it: which `AutoModelForImageClassification` classes it can unlearn, the loss
of those whose forward computes none, and the model the Trainer loop starts from.

Every class of transformers' image-classification mapping is either unlearned as it is, or refused by
`check_supported` before any work (nothing hashed, trained or written) with the reason and what to do.

DeiT's and LeViT's `...ForImageClassificationWithTeacher` (the "distilled" checkpoints) hold two heads, a class
head and a distillation head, and predict with their average, `logits = (cls_logits + distillation_logits) / 2`;
their forward takes no `labels` and returns no loss (transformers marks them inference-only). They are unlearned as
they are, the same class with both heads, on the cross-entropy of the very logits they predict with. Converting
them to `...ForImageClassification` would not be faithful: DeiT's reads the class token only and LeViT's has a
single head, so the distillation head, half of every prediction, would be dropped.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from typing import Any

import torch

from .lora import wrap_with_lora

__all__ = ["UnsupportedModelError", "check_supported", "configure_loss", "loss_from_logits", "model_to_fine_tune"]

#: What hf-unlearn feeds a model: the image processor's `pixel_values` (and `labels` when training).
PIXELS = "pixel_values"


class UnsupportedModelError(ValueError):
    """A model hf-unlearn cannot unlearn; raised before any work, the message says why and what to do."""


def _base(model: Any) -> Any:
    """The transformers model under a peft wrapper (the model itself otherwise)."""
    get_base_model = getattr(model, "get_base_model", None)
    return get_base_model() if callable(get_base_model) else model


def forward_parameters(model: Any) -> set[str]:
    """Names of the parameters the model's forward takes."""
    return set(inspect.signature(_base(model).forward).parameters) - {"self"}


def returns_logits(model: Any) -> bool:
    """Whether the forward's declared output has `logits` (True when it declares none that can be read)."""
    try:
        returned = typing.get_type_hints(type(_base(model)).forward).get("return")
    except Exception:  # annotations that do not resolve: give the model the benefit of the doubt
        return True
    outputs = [t for t in (typing.get_args(returned) or (returned,)) if dataclasses.is_dataclass(t)]
    return not outputs or any("logits" in {f.name for f in dataclasses.fields(t)} for t in outputs)


def check_supported(model: Any, processor: Any = None) -> None:
    """Raise `UnsupportedModelError` for a model hf-unlearn cannot unlearn: one that needs inputs beside the image
    processor's `pixel_values` (token ids, variable-resolution patches), or whose output holds no class logits."""
    name = type(_base(model)).__name__
    params = forward_parameters(model)
    takes_any = any(p.kind is p.VAR_KEYWORD for p in inspect.signature(_base(model).forward).parameters.values())
    extra = [k for k in getattr(processor, "model_input_names", None) or [PIXELS] if k != PIXELS]
    if "input_ids" in params or not (PIXELS in params or takes_any):
        why = ("its forward reads token ids (input_ids: colour-cluster tokens or a text prompt) "
               + ("beside" if PIXELS in params else "instead of") + " pixel_values")
    elif "spatial_shapes" in params or extra:
        why = (f"it needs {extra or ['pixel_attention_mask', 'spatial_shapes']} beside pixel_values (variable-"
               "resolution patches); for SigLIP 2, SiglipForImageClassification (fixed resolution) is supported")
    elif not returns_logits(model):
        why = "its forward returns no logits (the class scores are its last_hidden_state) and computes no loss"
    else:
        return
    raise UnsupportedModelError(
        f"{name} cannot be unlearned: {why}. hf-unlearn feeds a model its image processor's pixel_values alone and "
        "trains on the logits it returns. Unlearn a classifier that maps pixel_values to logits instead (e.g. ViT, "
        "DeiT, ConvNeXt, ResNet or Swin for AutoModelForImageClassification) fine-tuned on your data.")


def loss_from_logits(model: Any, label_smoother: Any) -> Any:
    """The Trainer's loss for a model whose forward takes no `labels` (DeiT's and LeViT's WithTeacher classes):
    cross-entropy on `outputs.logits`, the Trainer's own label-smoothing loss with the configured epsilon (0 unless
    `label_smoothing_factor` is set), normalised over the batch as the Trainer normalises a model's own loss.
    Models that take labels keep the Trainer's default (`label_smoother` as it is)."""
    if label_smoother is not None or "labels" in forward_parameters(model):
        return label_smoother
    from transformers.trainer_pt_utils import LabelSmoother

    return LabelSmoother(epsilon=0.0)


def configure_loss(trainer: Any) -> None:
    """How the Trainer computes and scales an `UnlearningTrainer`'s loss. Every method's loss is a per-batch
    mean, and image classifiers take `num_items_in_batch` but ignore it: left on, the Trainer's rescaling for it
    would multiply gradients by the number of processes and skip gradient accumulation's division. A model
    whose forward takes no labels gets the loss of the logits it predicts with (`loss_from_logits`)."""
    trainer.model_accepts_loss_kwargs, trainer.loss_is_scaled_for_ga = False, False
    trainer.label_smoother = loss_from_logits(trainer.model, trainer.label_smoother)


def model_to_fine_tune(model: torch.nn.Module, args: Any, reinitialize: bool) -> torch.nn.Module:
    """The model the Trainer loop fine-tunes: freshly initialised weights of the same class when the method
    retrains from scratch (`reinitialize`), with LoRA adapters when `args.use_peft`."""
    if reinitialize:
        torch.manual_seed(args.seed)
        model = type(model)(model.config)
    return wrap_with_lora(model, args) if args.use_peft else model
