"""`negate_layers` (NoT: Khalil et al., "NoT: Federated Unlearning via Weight Negation", CVPR 2025): multiply the
weights of chosen layers by -1, then fine-tune on the retain set.

Negating a layer's weights breaks the co-adaptation between it and the layers after it (so the model forgets)
while keeping its parameters' magnitudes (so it relearns the retain data quickly); the paper proves that negating
a set of layers that excludes the output layer keeps each layer optimal given the others, and finds the first
layer the best choice (Avg Gap 0.29 on a CIFAR-10 CNN against 0.84 for all layers and 1.12 for the last). No
forget data is used and nothing is stored.

As it is run: the authors' code is not public (the paper says none; the index holds none). We follow the paper and
the centralised setting of CoUn's harness (Khalil, Setayesh & Li, arXiv 2509.16391, Appendix E.2: "the first CNN
layer (index: 0) is negated" for every CNN, indices 0 and 4 for a ViT), where "index" is the position in the
model's parameter list: `parameter_indices` (default [0]: for an HF ResNet its stem convolution's weight, which
has no bias; BatchNorm parameters are not negated). Then fine-tuning on the retain set with cross-entropy under
the shared recipe (SGD, momentum 0.9, weight decay 5e-4, cosine; their 50 epochs and lr in [0.01, 0.1] are tuned
to this benchmark's budget like every method's). Deliberate differences: none in the step itself; their
fine-tuning augments the retain images (crop and flip), not done here, as for every method.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch

from ..options import OptionError, option
from .base import UnlearningMethod
from .registry import register_method


@dataclass
class NegateLayersOptions:
    parameter_indices: list[int] = option(
        default_factory=lambda: [0],
        help="Positions in the model's parameter list (model.named_parameters()) whose weights are multiplied by "
             "-1 before fine-tuning: [0], the first layer, in the paper and in CoUn's harness for CNNs ([0, 4] for "
             "a ViT).",
        range=(lambda v: bool(v) and len(set(v)) == len(v) and min(v) >= 0, "a non-empty list of distinct "
               "indices >= 0"))


def check_indices(model: torch.nn.Module, indices: list[int]) -> list[str]:
    """The names of the parameters at `indices` (positions in `model.named_parameters()`); an index past the last
    parameter is an error naming the model's first ones."""
    names = [name for name, _ in model.named_parameters()]
    wrong = [i for i in indices if i >= len(names)]
    if wrong:
        first = ", ".join(f"{i}: {name}" for i, name in enumerate(names[:6]))
        raise OptionError(f"method_args.parameter_indices = {indices}: the model has {len(names)} parameters, so "
                          f"{wrong} do not exist; its first are {first}, ... (use [0] for the first layer).")
    return [names[i] for i in indices]


def negate_parameters(model: torch.nn.Module, indices: list[int]) -> list[str]:
    """Multiply the parameters at `indices` (positions in `model.named_parameters()`) by -1, in place; their
    names."""
    names = check_indices(model, indices)
    parameters = list(model.parameters())
    with torch.no_grad():
        for i in indices:
            parameters[i].neg_()
    return names


@register_method
class NegateLayers(UnlearningMethod):
    """Negate the weights of the first layer (NoT), then fine-tune on the retain set."""

    name = "negate_layers"
    paper = 'Khalil et al., CVPR 2025 ("NoT: Federated Unlearning via Weight Negation")'
    Options = NegateLayersOptions

    def __init__(self, trainer: Any):
        super().__init__(trainer)
        self.negated: list[str] = []

    def validate(self) -> None:
        check_indices(self.trainer.model, self.options.parameter_indices)  # before any work

    def change_starting_model(self) -> None:
        self.negated = negate_parameters(self.trainer.model, self.options.parameter_indices)
        self.trainer.log_phase("negate_layers", 0.0, negated=",".join(self.negated))

