"""Several processes computing what one process would.

Under data parallelism each process sees a shard of every batch. Gradients are averaged by DDP, but a
BatchNorm layer in training mode normalises with its own shard's statistics, so N processes of batch b do
not train the model that one process of batch N x b trains (and torch's `SyncBatchNorm` runs on GPUs
only). `sync_batchnorm` makes every BatchNorm layer of a model normalise with the statistics of the global
batch, on any device and backend (gloo included): two differentiable all-reduces per layer (the sum, then
the squared deviations from the global mean, as one process computes them), running statistics updated
from the global batch. `restore_batchnorm` gives the layers their own class back (a saved model is a plain
transformers model). One process: nothing changes.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

_SYNCED: dict[type, type] = {}


def _world_size() -> int:
    dist = torch.distributed
    return dist.get_world_size() if dist.is_available() and dist.is_initialized() else 1


class _GlobalBatchStats:
    """Mixed into a BatchNorm class: training-mode statistics over the batch of every process."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or _world_size() == 1:
            return super().forward(x)  # type: ignore[misc]
        from torch.distributed.nn.functional import all_reduce

        channels = x.shape[1]
        dims = [0, *range(2, x.dim())]
        shape = [1, channels] + [1] * (x.dim() - 2)
        count = torch.full((1,), x.numel() // channels, dtype=x.dtype, device=x.device)
        sums = all_reduce(torch.cat([x.sum(dims), count]))
        n = sums[channels]
        mean = sums[:channels] / n
        var = all_reduce((x - mean.view(shape)).pow(2).sum(dims)) / n  # biased, as BatchNorm normalises
        if self.track_running_stats:
            with torch.no_grad():
                self.num_batches_tracked.add_(1)
                momentum = self.momentum if self.momentum is not None else 1.0 / float(self.num_batches_tracked)
                self.running_mean.mul_(1 - momentum).add_(momentum * mean.detach())
                self.running_var.mul_(1 - momentum).add_(momentum * var.detach() * n / (n - 1).clamp_min(1))
        y = (x - mean.view(shape)) * torch.rsqrt(var.view(shape) + self.eps)
        if self.affine:
            y = y * self.weight.view(shape) + self.bias.view(shape)
        return y


def sync_batchnorm(model: nn.Module) -> list[tuple[nn.Module, type]]:
    """Make every BatchNorm layer of `model` use global-batch statistics while several processes train (in
    place: same parameters and buffers, same state dict). Returns what `restore_batchnorm` undoes."""
    changed = []
    for module in model.modules():
        cls = type(module)
        if isinstance(module, nn.modules.batchnorm._BatchNorm) and not isinstance(module, _GlobalBatchStats):
            if cls not in _SYNCED:
                _SYNCED[cls] = type(f"GlobalStats{cls.__name__}", (_GlobalBatchStats, cls), {})
            module.__class__ = _SYNCED[cls]
            changed.append((module, cls))
    return changed


def restore_batchnorm(changed: list[tuple[nn.Module, type]]) -> None:
    """Give the layers changed by `sync_batchnorm` their own class back."""
    for module, cls in changed:
        module.__class__ = cls


def shard_of_global(draw: Any, global_size: int, rank: int, local_size: int) -> torch.Tensor:
    """Rows `rank * local_size ...` of `draw(global_size)`: every process draws the global batch's random
    numbers from one shared generator and keeps its own slice, so N processes use the numbers one process
    of the global batch would (e.g. a GAN's latent vectors)."""
    return draw(global_size)[rank * local_size:(rank + 1) * local_size]
