"""Sample grids and latent interpolations of a trained generator (``qagen sample``), for every
generator recipe.

Both are built on :func:`qagen.train.restore_run` (the trainer's own construction code, the
checkpoint's weights and EMA copies) and :meth:`qagen.train.restore.RestoredRun.generate`; they
use only the recipe's public ``sample_inputs`` / ``sample``, never its internals:

* :func:`sample_images`: ``n`` images from the run's latent distribution (seeded).
* :func:`interpolate_latents` / :func:`interpolation_images`: for ``pairs`` random pairs of
  latent vectors ``(z_a, z_b)`` drawn from the recipe's own ``sample_inputs``, the ``k`` points
  ``z = (1 - t) z_a + t z_b`` with ``t = 0, 1/(k-1), ..., 1`` (linear interpolation in z, as
  in BEGAN-IQA's Figure 5 and the GAN literature); row ``i`` of the grid goes from ``z_a`` to
  ``z_b`` of pair ``i``. Only recipes whose sample inputs are latent vectors (a floating tensor
  ``[n, d]`` or ``[n, d, 1, 1]``) can be interpolated; conditional recipes (whose inputs are
  images or batches) are refused with a clear error.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from qagen.errors import InputError

__all__ = [
    "interpolate_latents",
    "interpolation_images",
    "sample_command",
    "sample_images",
    "save_grid",
]


def _restored(run: Any, checkpoint: str | int = "last", device: str = "cpu") -> Any:
    from qagen.train import restore_run

    return restore_run(run, checkpoint, device=device) if isinstance(run, (str, Path)) else run


def sample_images(
    run: Any,
    n: int,
    *,
    seed: int = 0,
    ema: bool | None = None,
    checkpoint: str | int = "last",
    device: str = "cpu",
    batch_size: int = 64,
) -> torch.Tensor:
    """``n`` images ``N x C x H x W`` in [0, 1] from ``run`` (a run directory or a
    :class:`~qagen.train.restore.RestoredRun`); ``ema=False`` uses the raw weights, ``True`` the EMA copy (an error for a run that keeps
    none), ``None`` the EMA copy when the run keeps one (as the sample grids)."""
    restored = _restored(run, checkpoint, device)
    return restored.generate(n, seed=seed, ema=ema, batch_size=batch_size)


def interpolate_latents(z_a: torch.Tensor, z_b: torch.Tensor, k: int) -> torch.Tensor:
    """``[pairs * k, ...]``: ``(1 - t) z_a + t z_b`` for ``t = linspace(0, 1, k)``, pair-major
    (the ``k`` points of pair 0 first)."""
    if k < 2:
        raise InputError(f"--interpolate needs at least 2 points (the two ends), got {k}")
    if z_a.shape != z_b.shape:
        raise InputError(
            f"z_a and z_b must have the same shape, got {tuple(z_a.shape)} and {tuple(z_b.shape)}"
        )
    t = torch.linspace(0.0, 1.0, k, dtype=z_a.dtype, device=z_a.device)
    t = t.view(1, k, *([1] * (z_a.dim() - 1)))
    z = (1.0 - t) * z_a.unsqueeze(1) + t * z_b.unsqueeze(1)
    return z.reshape(z_a.shape[0] * k, *z_a.shape[1:])


def _latent_inputs(restored: Any, n: int, seed: int) -> torch.Tensor:
    inputs = restored.sample_inputs(n, seed)
    ok = (
        isinstance(inputs, torch.Tensor)
        and inputs.is_floating_point()
        and (inputs.dim() == 2 or (inputs.dim() == 4 and inputs.shape[-2:] == (1, 1)))
    )
    if not ok:
        what = (
            f"a tensor of shape {tuple(inputs.shape)}"
            if isinstance(inputs, torch.Tensor)
            else type(inputs).__name__
        )
        raise InputError(
            f"recipe {restored.run.recipe!r} is not sampled from latent vectors (its sample inputs "
            f"are {what}), so there is no z to interpolate in"
        )
    return inputs


def interpolation_images(
    run: Any,
    pairs: int,
    k: int,
    *,
    seed: int = 0,
    ema: bool | None = None,
    checkpoint: str | int = "last",
    device: str = "cpu",
    batch_size: int = 64,
) -> torch.Tensor:
    """``pairs * k`` images: row ``i`` (``k`` images) interpolates linearly in z between the two
    latent vectors of random pair ``i`` (drawn with ``seed`` from the recipe's own latent
    distribution)."""
    if pairs < 1:
        raise InputError(f"the number of pairs must be >= 1, got {pairs}")
    restored = _restored(run, checkpoint, device)
    z = _latent_inputs(restored, 2 * pairs, seed)
    zi = interpolate_latents(z[:pairs], z[pairs:], k)
    return restored.generate(zi.shape[0], inputs=zi, seed=seed, ema=ema, batch_size=batch_size)


def save_grid(images: torch.Tensor, out: str | Path, nrow: int, padding: int = 2) -> Path:
    """Write ``images`` (N x C x H x W in [0, 1]) as one PNG grid of ``nrow`` images per row."""
    from torchvision.utils import save_image

    out = Path(out)
    if out.suffix.lower() not in (".png", ".jpg", ".jpeg"):
        raise InputError(f"--out {out}: expected a .png or .jpg file name")
    if out.parent and not out.parent.exists():
        out.parent.mkdir(parents=True, exist_ok=True)
    save_image(images.float().clamp(0, 1), out, nrow=max(1, nrow), padding=padding)
    return out


def sample_command(
    run_dir: str | Path,
    out: str | Path,
    *,
    n: int | None = None,
    interpolate: int | None = None,
    seed: int = 0,
    raw: bool = False,
    checkpoint: str | int = "last",
    device: str = "cpu",
    nrow: int | None = None,
) -> tuple[Path, str]:
    """The ``qagen sample`` command: a grid of ``n`` samples (default 64), or with
    ``interpolate=K`` ``n`` rows (default 8) of ``K`` images interpolating in z between random
    pairs. Returns the file written and a one-line description."""
    import math

    restored = _restored(Path(run_dir), checkpoint, device)
    ema = False if raw else None  # the grids' choice: the EMA copy when the run keeps one
    which = "EMA" if ema is None and restored.has_ema else "raw"
    if interpolate is not None:
        rows = 8 if n is None else n
        images = interpolation_images(restored, rows, interpolate, seed=seed, ema=ema)
        path = save_grid(images, out, interpolate)
        text = (f"{rows} interpolations of {interpolate} images in z between random pairs "
                f"(seed {seed}, {which} generator, step {restored.step})")  # fmt: skip
        return path, text
    count = 64 if n is None else n
    if count < 1:
        raise InputError(f"--n must be >= 1, got {count}")
    images = sample_images(restored, count, seed=seed, ema=ema)
    path = save_grid(images, out, nrow or max(1, math.ceil(math.sqrt(count))))
    return path, f"{count} samples (seed {seed}, {which} generator, step {restored.step})"
