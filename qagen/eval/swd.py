"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al., ICLR 2018, §5).

The progressive-GAN protocol, reimplemented from its description (no weights needed):

1. Laplacian pyramid of every image with the 5x5 binomial kernel (outer([1,4,6,4,1])/16,
   mirror borders): ``down(x) = blur(x)[::2, ::2]``, ``up(x) = blur4(zero-insert(x))``, level
   l = G_l - up(G_{l+1}); the last level is the low-pass residual. Levels go from the full
   resolution down to 16 x 16 (``min_resolution``): 4 levels for 128 x 128, 2 for 32 x 32.
2. From every level of every image, 128 random 7 x 7 patches (``patches_per_image``,
   ``patch_size``) as descriptors of C x 7 x 7 values.
3. Per level and per set, each colour channel of the descriptors is normalised by its mean and
   standard deviation over all descriptors of that set (the real and generated sets are
   normalised separately, as in the original code).
4. Per level, SWD = mean over ``dir_repeats`` rounds of the mean over ``dirs_per_repeat``
   random unit directions of the mean |sorted(A d) - sorted(B d)| (the 1-D Wasserstein-1
   distance of the projections). Karras et al. use 4 rounds of 128 directions (512 in all);
   both are arguments. Reported x 1e3 per level, and their average.

Determinism: patch positions come from a generator seeded with ``seed`` (per level, the same
for both sets, so identical sets give exactly 0 and SWD(A, B) = SWD(B, A)); the directions
from a generator seeded with ``seed + 1``. Results are independent of ``batch_size``.

Because of step 3, a global brightness offset or contrast gain that is the same for every image
does not change the SWD (it is removed by the normalisation); the metric measures the
distribution of local structure (noise, blur, textures, edges) at each scale.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import asdict, dataclass, field

import torch
import torch.nn.functional as F

from qagen.errors import InputError
from qagen.eval._progress import progress as _progress

__all__ = [
    "SWDDescriptors",
    "SWDResult",
    "laplacian_pyramid",
    "sliced_wasserstein",
    "swd",
    "swd_descriptors",
]

_BINOMIAL = (1.0, 4.0, 6.0, 4.0, 1.0)


def _kernel(channels: int, dtype: torch.dtype, device: torch.device, gain: float) -> torch.Tensor:
    k1 = torch.tensor(_BINOMIAL, dtype=dtype, device=device) / 16.0
    k2 = torch.outer(k1, k1) * gain
    return k2.expand(channels, 1, 5, 5).contiguous()


def _blur(x: torch.Tensor, gain: float = 1.0) -> torch.Tensor:
    c = x.shape[1]
    xp = F.pad(x, (2, 2, 2, 2), mode="reflect")  # scipy.ndimage 'mirror' (edge not repeated)
    return F.conv2d(xp, _kernel(c, x.dtype, x.device, gain), groups=c)


def _pyr_down(x: torch.Tensor) -> torch.Tensor:
    return _blur(x)[:, :, ::2, ::2]


def _pyr_up(x: torch.Tensor) -> torch.Tensor:
    n, c, h, w = x.shape
    z = x.new_zeros(n, c, 2 * h, 2 * w)
    z[:, :, ::2, ::2] = x
    return _blur(z, gain=4.0)


def laplacian_pyramid(x: torch.Tensor, num_levels: int) -> list[torch.Tensor]:
    """Laplacian pyramid ``[L_0 (full res), ..., L_{k-1} (low-pass residual)]`` of ``N x C x H x W``.

    H and W must be divisible by 2^(num_levels - 1) and at least 3 at the coarsest level.
    """
    if num_levels < 1:
        raise InputError(f"num_levels must be >= 1, got {num_levels}")
    f = 2 ** (num_levels - 1)
    if x.shape[-2] % f or x.shape[-1] % f:
        raise InputError(
            f"image size {x.shape[-2]} x {x.shape[-1]} must be divisible by 2^(levels-1) = {f}"
        )
    gauss = [x]
    for _ in range(1, num_levels):
        gauss.append(_pyr_down(gauss[-1]))
    return [gauss[i] - _pyr_up(gauss[i + 1]) for i in range(num_levels - 1)] + [gauss[-1]]


def _num_levels(h: int, w: int, min_resolution: int) -> int:
    res, levels = min(h, w), 0
    while res >= min_resolution:
        levels += 1
        if res % 2:
            break
        res //= 2
    return levels


def _batches(
    images: torch.Tensor | Iterable[torch.Tensor], batch_size: int
) -> Iterable[torch.Tensor]:
    if isinstance(images, torch.Tensor):
        if images.dim() != 4:
            raise InputError(f"images must be N x C x H x W, got shape {tuple(images.shape)}")
        for i in range(0, images.shape[0], batch_size):
            yield images[i : i + batch_size]
    else:
        for b in images:
            if isinstance(b, (tuple, list)):  # (images, labels) from a DataLoader
                b = b[0]
            if not isinstance(b, torch.Tensor) or b.dim() != 4:
                raise InputError("an iterable of images must yield N x C x H x W tensors")
            yield b


class SWDDescriptors(list):
    """Per-level descriptor tensors (a list) with the levels' ``resolutions`` (min(H, W))."""

    resolutions: list[int]


def swd_descriptors(
    images: torch.Tensor | Iterable[torch.Tensor],
    *,
    patch_size: int = 7,
    patches_per_image: int = 128,
    min_resolution: int = 16,
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> SWDDescriptors:
    """Normalised patch descriptors per pyramid level: ``[M x (C * patch_size^2)]`` per level.

    ``images``: a float tensor ``N x C x H x W`` (any value range; unsigned-integer tensors are
    converted to float) or an iterable of such batches. Descriptors are computed in float32
    (float64 input stays float64).
    """
    levels = None
    gens: list[tuple[torch.Generator, torch.Generator]] = []
    per_level: list[list[torch.Tensor]] = []
    shape = None
    for batch in _batches(images, batch_size):
        if device is not None:
            batch = batch.to(device)
        if not batch.is_floating_point():
            batch = batch.float()
        elif batch.dtype not in (torch.float32, torch.float64):
            batch = batch.float()
        if shape is None:
            shape = tuple(batch.shape[1:])
            c, h, w = shape
            levels = _num_levels(h, w, min_resolution)
            if levels == 0:
                raise InputError(
                    f"images must be at least {min_resolution} x {min_resolution}, got {h} x {w}"
                )
            if min(h, w) // 2 ** (levels - 1) < patch_size:
                raise InputError(f"coarsest level smaller than patch_size={patch_size}")
            # one generator per level and axis: the positions of image i do not depend on batching
            gens = [
                (
                    torch.Generator().manual_seed(int(seed) * 1000 + 2 * lv),
                    torch.Generator().manual_seed(int(seed) * 1000 + 2 * lv + 1),
                )
                for lv in range(levels)
            ]
            per_level = [[] for _ in range(levels)]
        elif tuple(batch.shape[1:]) != shape:
            raise InputError(
                f"all images must share one shape, got {shape} and {tuple(batch.shape[1:])}"
            )
        n = batch.shape[0]
        pyr = laplacian_pyramid(batch, levels)
        offs = torch.arange(patch_size, device=batch.device)
        for lv, level in enumerate(pyr):
            _, c, hh, ww = level.shape
            ys = torch.randint(
                0, hh - patch_size + 1, (n, patches_per_image), generator=gens[lv][0]
            )
            xs = torch.randint(
                0, ww - patch_size + 1, (n, patches_per_image), generator=gens[lv][1]
            )
            ys, xs = ys.to(batch.device), xs.to(batch.device)
            rows = (ys[..., None] + offs)[..., :, None]  # n x P x S x 1
            cols = (xs[..., None] + offs)[..., None, :]  # n x P x 1 x S
            img = torch.arange(n, device=batch.device)[:, None, None, None]
            patches = level.permute(0, 2, 3, 1)[img, rows, cols]  # n x P x S x S x C
            per_level[lv].append(patches.reshape(-1, patch_size, patch_size, c).permute(0, 3, 1, 2))
    if shape is None:
        raise InputError("images is empty")
    out = SWDDescriptors()
    out.resolutions = [min(shape[1], shape[2]) // 2**lv for lv in range(len(per_level))]
    for chunks in per_level:
        d = torch.cat(chunks, 0)
        mean = d.mean(dim=(0, 2, 3), keepdim=True)
        std = d.std(dim=(0, 2, 3), keepdim=True, unbiased=False)
        d = (d - mean) / std.clamp_min(torch.finfo(d.dtype).tiny)
        out.append(d.reshape(d.shape[0], -1))
    return out


def sliced_wasserstein(
    a: torch.Tensor,
    b: torch.Tensor,
    *,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 128,
    seed: int = 1,
    chunk: int = 64,
) -> float:
    """Mean over random unit directions of the 1-D Wasserstein-1 distance of the projections.

    ``a`` and ``b`` are ``M x D`` with the same M (equal-size samples: the distance of the
    sorted projections is then exactly the 1-D W1 of the empirical distributions). Directions
    are drawn (standard normal, normalised) from a generator seeded with ``seed``, in
    ``dir_repeats`` rounds of ``dirs_per_repeat``; projected ``chunk`` directions at a time.
    """
    if a.dim() != 2 or a.shape != b.shape:
        raise InputError(
            f"a and b must be M x D with equal shapes, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    gen = torch.Generator().manual_seed(int(seed))
    rounds = []
    for _ in range(dir_repeats):
        dirs = torch.randn(a.shape[1], dirs_per_repeat, generator=gen, dtype=torch.float64)
        dirs = (dirs / dirs.norm(dim=0, keepdim=True)).to(device=a.device, dtype=a.dtype)
        total = 0.0
        for s in range(0, dirs_per_repeat, chunk):
            d = dirs[:, s : s + chunk]
            pa = torch.sort(a @ d, dim=0).values
            pb = torch.sort(b @ d, dim=0).values
            total += float((pa - pb).abs().double().sum())
        rounds.append(total / (a.shape[0] * dirs_per_repeat))
    return float(sum(rounds) / len(rounds))


@dataclass
class SWDResult:
    """SWD x 1e3 per pyramid level (keyed by resolution), their average, and the protocol."""

    per_level: dict[int, float]
    average: float
    protocol: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        d = asdict(self)
        d["per_level"] = {str(k): v for k, v in self.per_level.items()}
        return d


def _subsample(d: torch.Tensor, m: int, seed: int) -> torch.Tensor:
    if d.shape[0] == m:
        return d
    g = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(d.shape[0], generator=g)[:m].to(d.device)
    return d[idx]


def swd(
    x: torch.Tensor | Iterable[torch.Tensor] | list[torch.Tensor],
    y: torch.Tensor | Iterable[torch.Tensor] | list[torch.Tensor],
    *,
    patch_size: int = 7,
    patches_per_image: int = 128,
    min_resolution: int = 16,
    dir_repeats: int = 4,
    dirs_per_repeat: int = 128,
    seed: int = 0,
    batch_size: int = 64,
    device: str | torch.device | None = None,
    progress: bool = False,
    desc: str = "SWD",
) -> SWDResult:
    """Sliced Wasserstein distance x 1e3 between two image sets (module docstring).

    ``x``, ``y``: image tensors ``N x C x H x W`` of the same size (any value range), iterables
    of batches, or precomputed :func:`swd_descriptors` lists (e.g. cached reference
    descriptors). When the sets differ in size, the larger set's descriptors are randomly
    subsampled (seeded) to the smaller count, and the protocol says so. ``progress`` shows a
    bar (named ``desc``) over the pyramid levels of the sliced Wasserstein step (each level
    costs the same: the same number of descriptors).
    """
    kw = dict(
        patch_size=patch_size,
        patches_per_image=patches_per_image,
        min_resolution=min_resolution,
        seed=seed,
        batch_size=batch_size,
        device=device,
    )
    dx = x if _is_descriptor_list(x) else swd_descriptors(x, **kw)
    dy = y if _is_descriptor_list(y) else swd_descriptors(y, **kw)
    if len(dx) != len(dy):
        raise InputError(
            f"x and y give different pyramid depths ({len(dx)} vs {len(dy)}): sizes differ"
        )
    per_level: dict[int, float] = {}
    m_used = []
    levels = _progress(
        enumerate(zip(dx, dy, strict=True)),
        desc=f"{desc}: sliced Wasserstein per pyramid level",
        total=len(dx),
        unit="level",
        enabled=progress,
    )
    for lv, (a, b) in levels:
        if a.shape[1] != b.shape[1]:
            raise InputError(
                f"descriptor sizes differ at level {lv} ({a.shape[1]} vs {b.shape[1]}): channels differ"
            )
        m = min(a.shape[0], b.shape[0])
        a, b = _subsample(a, m, seed + 2), _subsample(b, m, seed + 3)
        b = b.to(a.device, a.dtype)
        m_used.append(m)
        value = sliced_wasserstein(
            a, b, dir_repeats=dir_repeats, dirs_per_repeat=dirs_per_repeat, seed=seed + 1
        )
        per_level[lv] = value * 1e3
    res = getattr(dx, "resolutions", None) or getattr(dy, "resolutions", None)
    if res is not None and len(res) == len(per_level):
        per_level = {res[lv]: v for lv, v in per_level.items()}
    average = float(sum(per_level.values()) / len(per_level))
    protocol = {
        "metric": "SWD x 1e3 (Karras et al. 2018 Laplacian-pyramid patches)",
        "patch_size": patch_size,
        "patches_per_image": patches_per_image,
        "min_resolution": min_resolution,
        "levels": len(per_level),
        "level_keys": "resolution" if res is not None else "level index",
        "descriptor_normalisation": "per set, per channel mean/std",
        "dir_repeats": dir_repeats,
        "dirs_per_repeat": dirs_per_repeat,
        "seed": seed,
        "descriptors_per_level": m_used,
        "subsampled": any(d.shape[0] != m for d, m in zip(dx, m_used, strict=True))
        or any(d.shape[0] != m for d, m in zip(dy, m_used, strict=True)),
        "torch": torch.__version__,
    }
    return SWDResult(per_level, average, protocol)


def _is_descriptor_list(v: object) -> bool:
    return (
        isinstance(v, list)
        and len(v) > 0
        and all(isinstance(t, torch.Tensor) and t.dim() == 2 for t in v)
    )
