"""Sample grids and latent interpolations of a trained generator (``qagen sample``), for every
generator recipe.

A grid is one image file: at most :data:`MAX_GRID_IMAGES` images and
:data:`MAX_GRID_PIXELS` pixels (larger requests are refused before sampling, with the limit);
a conditional recipe that gives fewer samples than asked for is refused with the number it
gives (the default ``--n`` takes what it gives and says so).

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
    "MAX_GRID_IMAGES",
    "MAX_GRID_PIXELS",
    "interpolate_latents",
    "interpolation_images",
    "sample_command",
    "sample_images",
    "save_grid",
]


#: The most images one grid file holds (``qagen sample --n``, or rows x K with --interpolate).
MAX_GRID_IMAGES = 1024
#: The most pixels of one grid file (8192 x 8192: 200 MB as 8-bit RGB, 800 MB while drawn).
MAX_GRID_PIXELS = 8192 * 8192
#: The grids' padding between images, in pixels (torchvision's default).
PADDING = 2


def check_grid_count(count: int, what: str = "--n") -> None:
    """Refuse a grid of more than :data:`MAX_GRID_IMAGES` images (or fewer than 1)."""
    if count < 1:
        raise InputError(f"{what} must be >= 1, got {count}")
    if count > MAX_GRID_IMAGES:
        raise InputError(
            f"{what} asks for a grid of {count} images; one grid file holds at most "
            f"{MAX_GRID_IMAGES} (use several --seed values for more, or qagen eval to score many)"
        )


def grid_size(count: int, nrow: int, height: int, width: int) -> tuple[int, int]:
    """``(H, W)`` in pixels of a grid of ``count`` images of ``height x width``, ``nrow`` per
    row (torchvision's ``make_grid`` with :data:`PADDING`)."""
    cols = min(max(1, nrow), count)
    rows = -(-count // cols)
    return rows * (height + PADDING) + PADDING, cols * (width + PADDING) + PADDING


def _check_grid_pixels(count: int, nrow: int, probe: torch.Tensor, what: str) -> None:
    """Refuse a grid of more than :data:`MAX_GRID_PIXELS` pixels (``probe``: one image)."""
    h, w = probe.shape[-2:]
    gh, gw = grid_size(count, nrow, h, w)
    if gh * gw > MAX_GRID_PIXELS:
        fits = max(1, MAX_GRID_PIXELS // ((h + PADDING) * (w + PADDING)))
        raise InputError(
            f"{what}: a grid of {count} images of {w} x {h} px would be {gw} x {gh} px, more "
            f"than {MAX_GRID_PIXELS / 1e6:.0f} megapixels; ask for about {fits} or fewer"
        )


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
    progress: bool = False,
) -> tuple[Path, str]:
    """The ``qagen sample`` command: a grid of ``n`` samples (default 64), or with
    ``interpolate=K`` ``n`` rows (default 8) of ``K`` images interpolating in z between random
    pairs. Returns the file written and a one-line description that gives the number of
    images written.

    One grid holds at most :data:`MAX_GRID_IMAGES` images and :data:`MAX_GRID_PIXELS` pixels
    (refused before sampling, with the limit). A conditional recipe that gives fewer samples
    than ``n`` is refused with the number it gives; without ``n`` the grid holds what it gives
    (at most 64) and the description says so. ``progress``: a bar over the batches on stderr.
    """
    import math

    rows = 8 if n is None else n
    if interpolate is not None:
        check_grid_count(rows * max(interpolate, 1), f"--n {rows} x --interpolate {interpolate}")
    else:
        check_grid_count(64 if n is None else n)
    restored = _restored(Path(run_dir), checkpoint, device)
    ema = False if raw else None  # the grids' choice: the EMA copy when the run keeps one
    which = "EMA" if ema is None and restored.has_ema else "raw"
    if interpolate is not None:
        _check_grid_pixels(rows * interpolate, interpolate,
                           restored.generate(1, seed=seed, ema=ema), "--n x --interpolate")  # fmt: skip
        images = interpolation_images(restored, rows, interpolate, seed=seed, ema=ema)
        path = save_grid(images, out, interpolate)
        text = (f"{rows} interpolations of {interpolate} images in z between random pairs "
                f"(seed {seed}, {which} generator, step {restored.step})")  # fmt: skip
        return path, text
    count = 64 if n is None else n
    probe = restored.generate(1, seed=seed, ema=ema)
    per_row = nrow or max(1, math.ceil(math.sqrt(count)))
    _check_grid_pixels(count, per_row, probe, "--n")
    images = restored.generate(count, seed=seed, ema=ema, allow_fewer=n is None,
                               progress=progress and count > 64)  # fmt: skip
    got = images.shape[0]
    path = save_grid(images, out, nrow or max(1, math.ceil(math.sqrt(got))))
    text = f"{got} samples (seed {seed}, {which} generator, step {restored.step})"
    if got < count:
        text += (f"; recipe {restored.run.recipe!r} gives at most {got} (its samples are "
                 "conditional on its data)")  # fmt: skip
    return path, text
