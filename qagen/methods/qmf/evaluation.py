"""Evaluation of an image-to-image QMF run (paired or attribute translation) on held-out items:
FSIM between each output and its reference, beside two baselines computed on the same items,
and optionally FID / KID / IS of the outputs against the references.

* ``fsim``: FSIM (Zhang et al. 2011, ``FeatureSIM.m``; :func:`qagen.iqa.fsim`, luminance) of
  the output against X_ref (paired: the target; attribute translation: the input image), on the
  8-bit values of the images;
* ``fsim_source``: FSIM of the generator's input itself against X_ref (paired data: e.g. the
  edge image against the photo; not reported for attribute translation, where the input *is*
  X_ref);
* ``fsim_untrained``: FSIM of the untrained generator's output (the run's initial weights,
  rebuilt with the run's seed by the trainer's own construction code).

Used by ``qagen reproduce qmf-table3`` (FSIM x 100) and the QMF demo check; the record is
cached in ``RUN_DIR/eval_translation.json`` per checkpoint step, split, n and seed.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import torch

from qagen.errors import InputError
from qagen.files import write_json_atomic

__all__ = ["evaluate_translation"]


def _fsim_stats(x: torch.Tensor, y: torch.Tensor) -> dict[str, float]:
    from qagen.iqa import fsim

    v = fsim(x.double(), y.double(), 1.0)
    return {"mean": float(v.mean()), "std": float(v.std(unbiased=False)), "n": int(v.numel())}


def _q8(t: torch.Tensor) -> torch.Tensor:
    """[-1, 1] -> [0, 1] on the 8-bit grid (as a saved PNG)."""
    return torch.round(((t.float() + 1) / 2).clamp(0, 1) * 255) / 255


@torch.no_grad()
def _outputs(recipe: Any, g: torch.nn.Module, inputs: dict, batch: int) -> torch.Tensor:
    from qagen.train.build import preserved_rng

    n = inputs["target"].shape[0]
    outs = []
    with preserved_rng(None):
        g.eval()
        for lo in range(0, n, batch):
            part = {k: v[lo : lo + batch] for k, v in inputs.items()}
            outs.append(recipe.generate(part, g)[0].cpu())
    return torch.cat(outs)


def evaluate_translation(
    run_dir: str | Path,
    *,
    n: int = 256,
    split: str = "test",
    seed: int = 0,
    checkpoint: str | int = "last",
    device: str = "cpu",
    metrics: tuple[str, ...] = (),
    inception_weights: str | None = None,
    batch_size: int = 32,
    cache: bool = True,
    generator: str = "raw",
) -> dict[str, Any]:
    """FSIM of a QMF image-to-image run's outputs on ``n`` items of ``split`` (module
    docstring) and, with ``metrics`` (``"fid"``, ``"kid"``, ``"is"``), the Inception metrics of
    the outputs against the references (needs ``inception_weights``). ``generator``: ``"raw"``
    (the paper keeps no EMA) or ``"ema"`` (an error for a run without one). The items are the first
    ``n`` of ``randperm`` seeded with ``seed``. Returns ``{"fsim", "fsim_source",
    "fsim_untrained", <metrics>, "protocol"}``; raises :class:`InputError` for a run that is not
    an image-to-image QMF run."""
    from qagen.train import restore_run
    from qagen.train.build import build_recipe, preserved_rng
    from qagen.train.ema import unwrap
    from qagen.train.recipe import get_recipe

    run_dir = Path(run_dir)
    restored = restore_run(run_dir, checkpoint, device=device)
    recipe = restored.recipe
    if restored.run.recipe != "qmf" or getattr(recipe, "mode", None) not in (
        "paired",
        "attributes",
    ):
        raise InputError(
            f"{run_dir} is not an image-to-image qmf run (recipe {restored.run.recipe!r}, mode "
            f"{getattr(recipe, 'mode', None)!r})"
        )
    if generator not in ("raw", "ema"):
        raise InputError(f"generator must be 'raw' or 'ema', got {generator!r}")
    if generator == "ema" and "G" not in restored.ema:
        raise InputError(f"run {run_dir} keeps no EMA of its generator: use generator='raw'")
    key = {"step": restored.step, "n": int(n), "split": split, "seed": int(seed),
           "metrics": sorted(metrics), "generator": generator}  # fmt: skip
    path = run_dir / "eval_translation.json"
    if cache and path.is_file():
        try:
            old = json.loads(path.read_text())
        except (OSError, ValueError):
            old = {}
        if old.get("protocol", {}).get("key") == key:
            return old
    ds = restored.dataset(split)
    if len(ds) < 1:
        raise InputError(f"the {split!r} split of {restored.run.data.spec!r} is empty")
    gen = torch.Generator().manual_seed(int(seed))
    idx = torch.randperm(len(ds), generator=gen)[: int(n)].tolist()
    inputs = recipe.inputs_from_items([ds[i] for i in idx], gen)
    g = restored.ema["G"] if generator == "ema" else unwrap(recipe.G)
    out = _q8(_outputs(recipe, g, inputs, batch_size))
    ref, src = _q8(inputs["target"]), _q8(inputs["source"])
    with preserved_rng(restored.device):
        untrained = build_recipe(
            restored.run, get_recipe("qmf"), device=restored.device, dataset=restored.recipe.ctx.dataset,
            batches_per_epoch=1, stream_factory=None,
        ).recipe  # fmt: skip
    out0 = _q8(_outputs(untrained, unwrap(untrained.G), inputs, batch_size))
    result: dict[str, Any] = {
        "fsim": _fsim_stats(out, ref),
        "fsim_untrained": _fsim_stats(out0, ref),
    }
    if recipe.mode == "paired":
        result["fsim_source"] = _fsim_stats(src, ref)
    if metrics:
        from qagen.eval.generation import generation_metrics

        scores = generation_metrics(out, ref, metrics=tuple(metrics),
                                    inception_weights=inception_weights,
                                    reference_name=f"{restored.run.data.spec} [{split}] references",
                                    reference_split=split, cache_dir=False,
                                    kid_subset_size=min(1000, out.shape[0]),
                                    isc_splits=min(10, out.shape[0]))  # fmt: skip
        result.update({k: v.to_dict() for k, v in scores.items()})
    result["protocol"] = {
        "key": key, "run_dir": str(run_dir), "checkpoint_step": restored.step,
        "generator": generator, "mode": recipe.mode,
        "data": restored.run.data.spec, "split": split, "n": len(idx),
        "fsim": "qagen.iqa.fsim (luminance FSIM, FeatureSIM.m) on 8-bit values, output vs X_ref",
        "x_ref": "the target image" if recipe.mode == "paired" else "the input image",
    }  # fmt: skip
    if cache:
        write_json_atomic(path, result, indent=2)
    return result
