"""Process-group set-up for ``torchrun`` and the collectives the trainer needs.

``torchrun --nproc_per_node N ...`` sets ``RANK``, ``WORLD_SIZE``, ``LOCAL_RANK``, ``MASTER_ADDR``
and ``MASTER_PORT``; :func:`init_distributed` reads them (``env://``) and picks NCCL when the run
is on CUDA, gloo otherwise. Without those variables (or with ``WORLD_SIZE=1``) everything runs
single-process and every collective below is a no-op, so the same code serves both cases.
"""

from __future__ import annotations

import datetime
import os
from dataclasses import dataclass
from typing import Any

import torch
import torch.distributed as dist

__all__ = [
    "DistInfo", "init_distributed", "shutdown_distributed", "resolve_device", "all_gather_cat",
]  # fmt: skip


@dataclass
class DistInfo:
    """Rank layout of this process; ``owns_group`` means the trainer created the process group."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0
    backend: str | None = None
    owns_group: bool = False

    @property
    def distributed(self) -> bool:
        return self.world_size > 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0


def _env_int(name: str, default: int) -> int:
    value = os.environ.get(name)
    if value is None or value == "":
        return default
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"environment variable {name}={value!r} is not an integer") from None


def resolve_device(spec: str, local_rank: int = 0) -> torch.device:
    """``"auto"`` -> ``cuda:LOCAL_RANK`` when CUDA is available, else ``cpu``; ``"cuda"`` ->
    ``cuda:LOCAL_RANK``; anything else is passed to ``torch.device``."""
    spec = (spec or "auto").strip().lower()
    if spec == "auto":
        spec = "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cuda":
        if not torch.cuda.is_available():
            raise ValueError("train.device is 'cuda' but CUDA is not available")
        return torch.device("cuda", local_rank)
    try:
        return torch.device(spec)
    except RuntimeError as err:
        raise ValueError(f"train.device: invalid device {spec!r}: {err}") from None


def init_distributed(device_spec: str = "auto", timeout_minutes: float = 30.0) -> DistInfo:
    """Join the process group described by the ``torchrun`` environment, if any.

    An already initialised default group is reused (and left alone at shutdown).
    """
    if dist.is_available() and dist.is_initialized():
        return DistInfo(
            rank=dist.get_rank(),
            world_size=dist.get_world_size(),
            local_rank=_env_int("LOCAL_RANK", dist.get_rank()),
            backend=str(dist.get_backend()),
            owns_group=False,
        )
    world = _env_int("WORLD_SIZE", 1)
    if world <= 1:
        return DistInfo()
    if not dist.is_available():
        raise RuntimeError("WORLD_SIZE > 1 but torch.distributed is not available in this build")
    rank = _env_int("RANK", 0)
    local_rank = _env_int("LOCAL_RANK", rank)
    device = resolve_device(device_spec, local_rank)
    backend = "nccl" if device.type == "cuda" else "gloo"
    if device.type == "cuda":
        torch.cuda.set_device(device)
    dist.init_process_group(
        backend=backend,
        init_method="env://",
        world_size=world,
        rank=rank,
        timeout=datetime.timedelta(minutes=timeout_minutes),
    )
    return DistInfo(rank, world, local_rank, backend, owns_group=True)


def shutdown_distributed(info: DistInfo) -> None:
    """Destroy the process group if the trainer created it (clean shutdown, no hanging ranks)."""
    if info.owns_group and dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _active() -> bool:
    return dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1


def all_reduce_sum(tensor: torch.Tensor) -> torch.Tensor:
    """In-place sum over ranks (no-op single-process)."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
    return tensor


def all_reduce_mean(tensor: torch.Tensor) -> torch.Tensor:
    """In-place mean over ranks (no-op single-process)."""
    if _active():
        dist.all_reduce(tensor, op=dist.ReduceOp.SUM)
        tensor /= dist.get_world_size()
    return tensor


def all_gather_cat(tensor: torch.Tensor) -> torch.Tensor:
    """Every rank's ``tensor`` (same shape on all ranks) concatenated along dimension 0 in rank
    order, on every rank (the tensor itself single-process); no gradient flows through it."""
    if not _active():
        return tensor
    parts = [torch.empty_like(tensor) for _ in range(dist.get_world_size())]
    dist.all_gather(parts, tensor.contiguous())
    return torch.cat(parts, 0)


def gather_to_main(obj: Any) -> list[Any] | None:
    """Picklable ``obj`` of every rank as a list on rank 0 (``None`` elsewhere)."""
    if not _active():
        return [obj]
    out: list[Any] | None = [None] * dist.get_world_size() if dist.get_rank() == 0 else None
    dist.gather_object(obj, out, dst=0)
    return out


def barrier() -> None:
    """Synchronise all ranks (no-op single-process)."""
    if _active():
        dist.barrier()
