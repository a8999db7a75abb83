"""`bad_teacher` (Chundawat et al. 2023, "Can Bad Teaching Induce Forgetting?"): distil from the competent
teacher (the original model, frozen) on a share of the retain set and from an incompetent teacher (randomly
initialised, same architecture) on the forget set.

As the authors' code runs it (vikram2000b/bad-teaching-unlearning, `unlearn.py::UnlearnerLoss`): one shuffled
mix of the forget set and the retain share; the loss is `F.kl_div(log_softmax(student / T), teacher_probs)` with
torch's default reduction, the mean over every (row, class) element, i.e. the batch-mean KL divided by the
number of classes, and no T^2 factor; no gradient clipping. Their optimizer (Adam, lr 1e-4) and epochs come from
the config like every method's."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from datasets import Dataset

from ..options import option, positive
from ..synthesis import combine_sources, with_source
from .base import UnlearningMethod
from .losses import FrozenModel, distillation_kl
from .registry import register_method


@dataclass
class BadTeacherOptions:
    temperature: float = option(1.0, help="Distillation temperature (the paper's KL_temperature = 1).",
                                range=(positive, "> 0"))
    retain_fraction: float = option(
        0.3, help="Share of the retain set distilled from the competent teacher (the paper's 30%).",
        range=(lambda x: 0 < x <= 1, "in (0, 1]"))


@register_method
class BadTeacher(UnlearningMethod):
    """Competent teacher on retain rows, randomly initialised teacher on forget rows."""

    name = "bad_teacher"
    paper = 'Chundawat et al., AAAI 2023'
    Options = BadTeacherOptions

    def build_train_dataset(self) -> Dataset:
        trainer = self.trainer
        model = trainer.model
        self.competent = FrozenModel(model)
        torch.manual_seed(trainer.args.seed)
        self.incompetent = FrozenModel(type(model)(model.config))
        retain = trainer.retain_train_dataset()
        keep = max(1, int(round(self.options.retain_fraction * len(retain))))
        retain = retain.shuffle(seed=trainer.args.seed).select(range(keep))
        return combine_sources({"retain": with_source(retain, "retain"),
                                "forget": with_source(trainer.forget_dataset, "forget")})

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        pixels = inputs["pixel_values"]
        outputs = model(pixel_values=pixels)
        teacher = torch.where(forget_mask[:, None], self.incompetent.logits(pixels), self.competent.logits(pixels))
        temperature = self.options.temperature  # their reduction: mean over rows and classes, no T^2 factor
        kl = distillation_kl(outputs.logits, teacher, temperature) / temperature**2
        loss = kl.mean() / outputs.logits.shape[1]
        return (loss, outputs) if return_outputs else loss
