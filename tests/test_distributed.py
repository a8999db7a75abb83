"""Two processes compute what one process computes: BatchNorm with global-batch statistics (on CPU / gloo,
where torch's SyncBatchNorm does not run) gives the single-process outputs, gradients and running statistics."""

from __future__ import annotations

import os

import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from torch import nn

from hf_unlearn.distributed import restore_batchnorm, shard_of_global, sync_batchnorm


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.ReLU(), nn.Flatten(), nn.Linear(4 * 6 * 6, 3),
                         nn.BatchNorm1d(3))


def _batch() -> torch.Tensor:
    return torch.randn(8, 3, 8, 8, generator=torch.Generator().manual_seed(1)) * 3 + 1


def _step(model: nn.Module, x: torch.Tensor, scale: float) -> dict[str, torch.Tensor]:
    model.train()
    out = model(x)
    (out.pow(2).mean() * scale).backward()
    return {"out": out.detach(), **{f"grad.{n}": p.grad.detach().clone() for n, p in model.named_parameters()},
            **{f"buf.{n}": b.detach().clone() for n, b in model.named_buffers()}}


def _rank(rank: int, store: str, results: dict) -> None:
    dist.init_process_group("gloo", init_method=f"file://{store}", rank=rank, world_size=2)
    model = _model()
    changed = sync_batchnorm(model)
    x = _batch()[rank * 4:(rank + 1) * 4]
    got = _step(model, x, scale=0.5)  # the mean over 8 rows = half the sum of the two shards' means
    for name, value in got.items():
        if name.startswith("grad."):
            dist.all_reduce(value)  # what DDP does (then averaged: the 0.5 above)
    restore_batchnorm(changed)
    assert all(type(m) in (nn.BatchNorm2d, nn.BatchNorm1d) for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm))
    results[rank] = got
    dist.destroy_process_group()


def test_two_processes_normalise_with_the_global_batch(tmp_path):
    single = _step(_model(), _batch(), scale=1.0)
    manager = mp.Manager()
    results = manager.dict()
    mp.spawn(_rank, args=(str(tmp_path / "store"), results), nprocs=2, join=True)
    for rank in (0, 1):
        got = results[rank]
        torch.testing.assert_close(got["out"], single["out"][rank * 4:(rank + 1) * 4], atol=1e-5, rtol=1e-4)
        for name in single:
            if name != "out":
                torch.testing.assert_close(got[name], single[name], atol=1e-5, rtol=1e-4, msg=name)


def test_one_process_is_unchanged():
    a, b = _model(), _model()
    changed = sync_batchnorm(b)
    assert len(changed) == 2
    torch.testing.assert_close(_step(b, _batch(), 1.0)["out"], _step(a, _batch(), 1.0)["out"])
    state = b.state_dict()
    restore_batchnorm(changed)
    assert list(state) == list(b.state_dict()) and type(b[1]) is nn.BatchNorm2d


def test_each_process_keeps_its_slice_of_the_global_draw():
    def draw(n: int) -> torch.Tensor:
        return torch.randn(n, 5, generator=torch.Generator().manual_seed(7))

    full = draw(8)
    torch.testing.assert_close(torch.cat([shard_of_global(draw, 8, r, 4) for r in (0, 1)]), full)


@pytest.fixture(autouse=True)
def _threads():
    os.environ.setdefault("OMP_NUM_THREADS", "1")
