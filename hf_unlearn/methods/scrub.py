"""`scrub` (Kurmanji et al. 2023, "Towards Unbounded Machine Unlearning"): the original model, frozen, teaches
the unlearned one: stay close to the teacher on the retain set (KL + cross-entropy) while moving away from it
on the forget set (maximised KL). The paper alternates max-steps (forget) and min-steps (retain) in separate
passes; here both terms share each mixed batch, and the forget term is active during the first `max_phase`
share of training only, as the paper's max-steps stop before its last min-steps."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from datasets import Dataset

from ..synthesis import combine_sources, with_source
from .base import UnlearningMethod
from .losses import FrozenModel, distillation_kl, masked_mean
from .registry import register_method


@dataclass
class ScrubOptions:
    temperature: float = field(default=4.0, metadata={"help": "Distillation temperature (the paper's kd_T = 4)."})
    kl_weight: float = field(default=0.001, metadata={"help": "Weight of the retain KL term (the paper's alpha)."})
    ce_weight: float = field(default=0.99, metadata={"help": "Weight of the retain cross-entropy (the paper's gamma)."})
    forget_weight: float = field(default=1.0, metadata={"help": "Weight of the maximised forget KL term."})
    max_phase: float = field(
        default=0.5, metadata={"help": "Share of training steps that include the forget (max) term."}
    )

    def check(self) -> None:
        if self.temperature <= 0 or not 0.0 <= self.max_phase <= 1.0:
            raise ValueError("scrub needs temperature > 0 and 0 <= max_phase <= 1.")


@register_method
class Scrub(UnlearningMethod):
    """SCRUB: min KL + CE to the teacher on retain rows, max KL on forget rows."""

    name = "scrub"
    Options = ScrubOptions

    def build_train_dataset(self) -> Dataset:
        self.teacher = FrozenModel(self.trainer.model)
        return combine_sources({"retain": with_source(self.trainer.retain_train_dataset(), "retain"),
                                "forget": with_source(self.trainer.forget_dataset, "forget")})

    def compute_loss(self, model: Any, inputs: dict[str, Any], forget_mask: torch.Tensor | None,
                     return_outputs: bool = False, num_items_in_batch: Any = None) -> Any:
        o = self.options
        outputs = model(pixel_values=inputs["pixel_values"])
        kl = distillation_kl(outputs.logits, self.teacher.logits(inputs["pixel_values"]), o.temperature)
        ce = F.cross_entropy(outputs.logits, inputs["labels"], reduction="none")
        retain = ~forget_mask
        loss = o.ce_weight * masked_mean(ce, retain) + o.kl_weight * masked_mean(kl, retain)
        state = self.trainer.state
        if state.max_steps and state.global_step < o.max_phase * state.max_steps:
            loss = loss - o.forget_weight * masked_mean(kl, forget_mask)
        return (loss, outputs) if return_outputs else loss
