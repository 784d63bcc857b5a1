"""Seeded, resumable, rank-sharded data order.

Order: epoch ``e`` is the permutation ``randperm(N)`` drawn from a generator seeded with
``derive_seed(seed, stream, e)``. Epoch ``e`` holds ``N // B`` global batches of ``B`` samples
(the remainder of each permutation is dropped). Global batch ``b`` (counted over epochs) is split
into ``W`` contiguous shards of ``B / W`` samples; rank ``r`` loads shard ``r``. The whole order is
therefore a function of ``(seed, N, B)`` and of the number of global batches consumed, which is
the only thing a checkpoint has to store; it is the same for any number of ranks and workers.

Augmentation: before loading the sample at global position ``p`` (``p = b * B + offset``), the
loading process seeds torch's CPU generator, ``numpy.random`` and ``random`` with
``derive_seed(seed, stream, "sample", p)``. Random flips, crops or dequantisation noise drawn
from those generators inside ``dataset[i]`` are then a function of the position alone: identical
with or without workers, across resumes, and between a DDP run and the single-process run with
the same global batch. In the training process the generators' states are saved and restored
around the loading, so data loading never perturbs the training random stream.
"""

from __future__ import annotations

import random
import zlib
from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, get_worker_info
from torch.utils.data._utils.collate import default_collate

__all__ = ["derive_seed", "ResumableBatchSampler", "SeededDataset", "BatchStream", "to_device"]

_MASK = (1 << 64) - 1


def _splitmix64(x: int) -> int:
    x = (x + 0x9E3779B97F4A7C15) & _MASK
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK
    return x ^ (x >> 31)


def derive_seed(*parts: int | str) -> int:
    """A 63-bit seed mixing integers and strings (SplitMix64; stable across processes)."""
    h = 0x243F6A8885A308D3
    for part in parts:
        value = zlib.crc32(part.encode()) if isinstance(part, str) else int(part) & _MASK
        h = _splitmix64(h ^ value)
    return h >> 1


class ResumableBatchSampler:
    """Infinite batch sampler yielding ``[(index, sample_seed), ...]`` shards of global batches.

    ``start_batch`` global batches are skipped (resume). See the module docstring for the order.
    """

    def __init__(
        self,
        n: int,
        global_batch: int,
        *,
        seed: int,
        rank: int = 0,
        world_size: int = 1,
        stream: str = "main",
        start_batch: int = 0,
        shuffle: bool = True,
    ) -> None:
        if global_batch <= 0:
            raise ValueError(f"batch size must be positive, got {global_batch}")
        if global_batch % world_size:
            raise ValueError(
                f"the global batch size {global_batch} is not divisible by the number of ranks "
                f"{world_size}"
            )
        if n < global_batch:
            raise ValueError(
                f"the dataset has {n} samples, fewer than one global batch of {global_batch}"
            )
        self.n, self.global_batch = int(n), int(global_batch)
        self.local_batch = global_batch // world_size
        self.rank, self.world_size = rank, world_size
        self.seed, self.stream, self.shuffle = int(seed), stream, shuffle
        self.start_batch = int(start_batch)
        self.batches_per_epoch = self.n // self.global_batch
        self._perm_epoch = -1
        self._perm: torch.Tensor | None = None

    def permutation(self, epoch: int) -> torch.Tensor:
        """The sample order of ``epoch``."""
        if epoch != self._perm_epoch:
            if self.shuffle:
                g = torch.Generator().manual_seed(
                    derive_seed(self.seed, self.stream, "order", epoch)
                )
                self._perm = torch.randperm(self.n, generator=g)
            else:
                self._perm = torch.arange(self.n)
            self._perm_epoch = epoch
        assert self._perm is not None
        return self._perm

    def global_batch_indices(self, batch: int) -> list[tuple[int, int]]:
        """``(index, sample_seed)`` of the whole global batch number ``batch``."""
        return self._slice(batch, 0, self.global_batch)

    def _slice(self, batch: int, lo: int, hi: int) -> list[tuple[int, int]]:
        epoch, j = divmod(batch, self.batches_per_epoch)
        perm = self.permutation(epoch)
        base = j * self.global_batch
        idx = perm[base + lo : base + hi].tolist()
        pos0 = batch * self.global_batch + lo
        return [
            (i, derive_seed(self.seed, self.stream, "sample", pos0 + t)) for t, i in enumerate(idx)
        ]

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        batch = self.start_batch
        lo = self.rank * self.local_batch
        while True:
            yield self._slice(batch, lo, lo + self.local_batch)
            batch += 1


def _seed_generators(seed: int) -> None:
    torch.default_generator.manual_seed(seed)  # CPU only: CUDA generators are not touched
    np.random.seed(seed % (1 << 32))
    random.seed(seed)


class SeededDataset(Dataset):
    """Wraps a map-style dataset; items are ``(index, seed)`` pairs (see the module docstring)."""

    def __init__(self, base: Any) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, item: tuple[int, int]) -> Any:
        return self.__getitems__([item])[0]

    def __getitems__(self, items: Sequence[tuple[int, int]]) -> list[Any]:
        in_main = get_worker_info() is None
        if in_main:
            saved = (torch.default_generator.get_state(), np.random.get_state(), random.getstate())
        try:
            out = []
            for index, seed in items:
                _seed_generators(seed)
                out.append(self.base[index])
            return out
        finally:
            if in_main:
                torch.default_generator.set_state(saved[0])
                np.random.set_state(saved[1])
                random.setstate(saved[2])


def _ignore_stop_signals(worker_id: int) -> None:
    """``worker_init_fn`` of the training loaders: workers ignore SIGINT and SIGTERM.

    Ctrl-C reaches every process of the terminal's process group and a scheduler's SIGTERM often
    the whole job. The trainer answers the first one by finishing the step and checkpointing,
    which needs the workers alive; they stop when the training process closes the loader (or
    dies: DataLoader workers watch their parent).
    """
    import signal

    for sig in (signal.SIGINT, signal.SIGTERM):
        signal.signal(sig, signal.SIG_IGN)


def to_device(batch: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """Move every tensor of a (nested tuple/list/dict) batch to ``device``."""
    if isinstance(batch, torch.Tensor):
        return batch.to(device, non_blocking=non_blocking)
    if isinstance(batch, dict):
        return {k: to_device(v, device, non_blocking) for k, v in batch.items()}
    if isinstance(batch, tuple) and hasattr(batch, "_fields"):  # namedtuple
        return type(batch)(*(to_device(v, device, non_blocking) for v in batch))
    if isinstance(batch, (list, tuple)):
        return type(batch)(to_device(v, device, non_blocking) for v in batch)
    return batch


class BatchStream:
    """Iterator of this rank's shards of consecutive global batches, already on ``device``.

    ``consumed`` counts the global batches handed out; it is all a checkpoint needs to restart
    the stream at the same place (``start_batch=consumed``).
    """

    def __init__(
        self,
        dataset: Any,
        global_batch: int,
        *,
        seed: int,
        device: torch.device,
        rank: int = 0,
        world_size: int = 1,
        num_workers: int = 0,
        stream: str = "main",
        start_batch: int = 0,
        shuffle: bool = True,
        collate_fn: Any = None,
    ) -> None:
        self.dataset = dataset
        self.name = stream
        self.device = device
        self.sampler = ResumableBatchSampler(
            len(dataset),
            global_batch,
            seed=seed,
            rank=rank,
            world_size=world_size,
            stream=stream,
            start_batch=start_batch,
            shuffle=shuffle,
        )
        self.consumed = int(start_batch)
        self._non_blocking = device.type == "cuda"
        self._loader = DataLoader(
            SeededDataset(dataset),
            batch_sampler=self.sampler,
            num_workers=num_workers,
            collate_fn=collate_fn or default_collate,
            pin_memory=device.type == "cuda",
            worker_init_fn=_ignore_stop_signals if num_workers > 0 else None,
            # A private generator: creating the iterator must not draw from the global RNG.
            generator=torch.Generator().manual_seed(0),
        )
        self._it: Iterator[Any] | None = None

    @property
    def batches_per_epoch(self) -> int:
        return self.sampler.batches_per_epoch

    @property
    def local_batch(self) -> int:
        return self.sampler.local_batch

    def __iter__(self) -> BatchStream:
        return self

    def __next__(self) -> Any:
        if self._it is None:
            self._it = iter(self._loader)
        batch = next(self._it)
        self.consumed += 1
        return to_device(batch, self.device, self._non_blocking)

    def seek(self, consumed: int) -> None:
        """Restart at global batch ``consumed`` (only before the first batch is drawn)."""
        if self._it is not None:
            raise RuntimeError(f"data stream '{self.name}' has already started")
        self.sampler.start_batch = self.consumed = int(consumed)

    def close(self) -> None:
        """Stop the loader's worker processes."""
        self._it = None
