"""Images with a quality score (MOS/DMOS of an IQA database), split by content, for NR-IQA models.

:class:`ScoredImageDataset` yields ``(x, score, type_index, level)``: ``x`` a ``3 x crop x crop``
float32 crop in [0, 1] (uniform random position drawn from torch's global generator, or the
centre; ``crop=None`` gives the whole image, for batch size 1), ``score`` a 0-d float32 target.
:func:`content_split` is the IQA literature's protocol: the reference images (contents) are
split by a seeded permutation, 80 % train / 20 % test, so no content is seen on both sides.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.errors import InputError

__all__ = ["ScoredImage", "ScoredImageDataset", "content_split"]


@dataclass(frozen=True)
class ScoredImage:
    """One image: file, content key (its reference), subjective score, type code and level."""

    path: Path
    content: str
    score: float
    dist_type: str
    level: int | None = None


def content_split(
    items: Sequence[ScoredImage], split: str, *, test_fraction: float = 0.2, seed: int = 0
) -> list[ScoredImage]:
    """The ``train`` or ``test`` part (or ``all``) of a content-disjoint split: the distinct
    contents in sorted order are permuted with ``numpy.random.default_rng([seed, 3])`` and the
    first ``round(n * test_fraction)`` (at least 1, at most n - 1) are the test contents."""
    if split == "all":
        return list(items)
    if split not in ("train", "test"):
        raise InputError(f"split must be 'train', 'test' or 'all', got {split!r}")
    contents = sorted({it.content for it in items})
    n = len(contents)
    if n < 2:
        raise InputError(f"a content-disjoint split needs at least 2 reference images, got {n}")
    k = min(n - 1, max(1, round(n * test_fraction)))
    perm = np.random.default_rng([int(seed), 3]).permutation(n)
    test = {contents[i] for i in perm[:k]}
    return [it for it in items if (it.content in test) == (split == "test")]


class ScoredImageDataset(Dataset):
    """Scored image files (see the module docstring). ``types``: the type codes in the order
    used for ``type_index`` (default: order of first appearance)."""

    def __init__(
        self,
        items: Sequence[ScoredImage],
        crop: int | None = 224,
        *,
        random_crop: bool = True,
        types: Sequence[str] | None = None,
    ) -> None:
        if not items:
            raise InputError("no scored images")
        if crop is not None and (isinstance(crop, bool) or not isinstance(crop, int) or crop < 1):
            raise InputError(f"crop must be a positive int or None, got {crop!r}")
        self.items = list(items)
        self.crop, self.random_crop = crop, bool(random_crop)
        self.types = (
            list(types)
            if types is not None
            else list(dict.fromkeys(i.dist_type for i in self.items))
        )

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor, int, int]:
        from qagen.data.waterloo import load_uint8

        it = self.items[index]
        img = load_uint8(it.path)
        h, w = img.shape[:2]
        if self.crop is not None:
            c = self.crop
            if min(h, w) < c:
                raise InputError(f"{it.path} ({h} x {w}) is smaller than the {c} x {c} crop")
            if self.random_crop:
                top = int(torch.randint(0, h - c + 1, ()).item())
                left = int(torch.randint(0, w - c + 1, ()).item())
            else:
                top, left = (h - c) // 2, (w - c) // 2
            img = img[top : top + c, left : left + c]
        x = torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float().div_(255.0)
        t = self.types.index(it.dist_type) if it.dist_type in self.types else -1
        return x, torch.tensor(float(it.score), dtype=torch.float32), t, int(it.level or 0)
