"""Loss pieces shared by several methods: per-row masks, distillation, a frozen teacher."""

from __future__ import annotations

import copy

import torch
import torch.nn.functional as F


def masked_mean(values: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
    """Mean of `values` where `mask` is True; 0 (still differentiable) when no row is selected."""
    mask = mask.to(values.dtype)
    return (values * mask).sum() / mask.sum().clamp_min(1.0)


def distillation_kl(student_logits: torch.Tensor, teacher_logits: torch.Tensor, temperature: float) -> torch.Tensor:
    """Per-row KL(teacher || student) on temperature-softened outputs, scaled by T^2 (Hinton et al.)."""
    log_student = F.log_softmax(student_logits / temperature, dim=1)
    log_teacher = F.log_softmax(teacher_logits / temperature, dim=1)
    return (log_teacher.exp() * (log_teacher - log_student)).sum(dim=1) * temperature**2


class FrozenModel:
    """A frozen copy of a model (eval mode, no gradients), moved to the batch's device on first use."""

    def __init__(self, model: torch.nn.Module):
        self.model = copy.deepcopy(model).eval().requires_grad_(False)

    @torch.no_grad()
    def logits(self, pixel_values: torch.Tensor) -> torch.Tensor:
        device = pixel_values.device
        if next(self.model.parameters()).device != device:
            self.model.to(device)
        return self.model(pixel_values=pixel_values).logits.float()
