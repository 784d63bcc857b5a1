"""``qagen study make``: a self-contained ranking page of reconstructions (the MS-SSIM loss
poster's human judgement: people ranked the reconstructions of three autoencoders).

Every trial shows one held-out original and its reconstructions by the models in a random
order (seeded; the order is recorded), the person ranks them (click them in order of
preference, or drag them within the ranking), and the answers download as ``answers.json``.

Output folder::

    OUT/index.html      the page: images as data URIs, no server, no network
    OUT/study.json      the study: models, runs, data, and per trial the image files and the
                        display order (the model at each position)
    OUT/images/         the original and each reconstruction as 8-bit PNGs (what is scored)

``OUT`` must be new or empty (a study already there is never replaced: the answers collected
for it would no longer match); the files go to a hidden folder beside it that becomes ``OUT``
when all are written, so an error leaves nothing half-written.
"""

from __future__ import annotations

import base64
import datetime as _dt
import hashlib
import io
import json
import re
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from qagen.errors import InputError
from qagen.files import atomic_folder, dumps_json, write_atomic, write_json_atomic

__all__ = [
    "STUDY_FORMAT", "ANSWERS_FORMAT", "check_out_folder", "make_study", "write_study", "model_name",
]  # fmt: skip

STUDY_FORMAT = "qagen-study/1"
ANSWERS_FORMAT = "qagen-study-answers/1"

_LOSS_NAMES = {"mse": "MSE", "mae": "MAE", "msssim": "MS-SSIM"}


def _png(img: torch.Tensor) -> bytes:
    """8-bit PNG of ``1 x H x W`` (or ``3 x H x W``) on [0, 1]."""
    from PIL import Image

    a = torch.floor(img.clamp(0, 1) * 255 + 0.5).to(torch.uint8)
    arr = a[0].numpy() if a.shape[0] == 1 else a.permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format="PNG")
    return buf.getvalue()


def _key(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-") or "model"


def model_name(run: Any, run_dir: Path) -> str:
    """A model's display name in the results: the loss of an autoencoder run (``MS-SSIM``),
    else the run folder's name."""
    loss = getattr(run.hparams, "loss", None)
    return _LOSS_NAMES.get(loss, run_dir.name) if loss else run_dir.name


def check_out_folder(out: str | Path) -> Path:
    """``out`` as a path when it is new or an empty folder; else an :class:`InputError` that
    names the study it holds (``study.json``), as ``qagen distort`` refuses a non-empty folder."""
    out = Path(out)
    if not out.exists() or (out.is_dir() and not any(out.iterdir())):
        return out
    held = ""
    try:
        rec = json.loads((out / "study.json").read_text(encoding="utf-8"))
        held = f" (it holds study {rec.get('study_id')!r}: its answers would no longer score)"
    except (OSError, ValueError, AttributeError):
        pass
    raise InputError(f"--out {out} already exists and is not empty{held}; choose a new folder")


def write_study(
    out: str | Path,
    originals: torch.Tensor,
    reconstructions: Mapping[str, torch.Tensor],
    *,
    seed: int = 0,
    meta: Mapping[str, Any] | None = None,
    title: str = "Which reconstruction is closest to the original?",
) -> dict[str, Any]:
    """Write ``index.html``, ``study.json`` and ``images/`` for ``originals`` (``N x C x H x W``
    on [0, 1]) and one tensor of reconstructions per model name; returns the study record."""
    names = list(reconstructions)
    if len(names) < 2:
        raise InputError(f"a study needs at least 2 models, got {len(names)}")
    for name, rec in reconstructions.items():
        if rec.shape != originals.shape:
            raise InputError(
                f"reconstructions of {name!r} have shape {tuple(rec.shape)}, the originals "
                f"{tuple(originals.shape)}"
            )
    keys = {name: _key(name) for name in names}
    if len(set(keys.values())) != len(names):
        raise InputError(f"model names must differ after lower-casing: {names}")
    out = check_out_folder(out)
    with atomic_folder(out) as stage:  # empty (checked above)
        return _write_files(stage, originals, reconstructions, names, keys, seed, meta, title)


def _write_files(
    out: Path,
    originals: torch.Tensor,
    reconstructions: Mapping[str, torch.Tensor],
    names: Sequence[str],
    keys: Mapping[str, str],
    seed: int,
    meta: Mapping[str, Any] | None,
    title: str,
) -> dict[str, Any]:
    """The study's files in ``out`` (the staging folder of :func:`write_study`)."""
    n = len(originals)
    (out / "images").mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    trials, pages, digest = [], [], hashlib.sha256()
    for i in range(n):
        files = {"original": f"images/{i:04d}_original.png"}
        blobs = {"original": _png(originals[i])}
        for name in names:
            files[keys[name]] = f"images/{i:04d}_{keys[name]}.png"
            blobs[keys[name]] = _png(reconstructions[name][i])
        for k, path in files.items():
            (out / path).write_bytes(blobs[k])
            digest.update(blobs[k])
        order = [keys[names[j]] for j in rng.permutation(len(names))]
        trials.append({"trial": i, "files": files, "order": order})
        uri = {k: "data:image/png;base64," + base64.b64encode(b).decode() for k, b in blobs.items()}
        pages.append({"trial": i, "original": uri["original"],
                      "candidates": [uri[k] for k in order], "order": order,
                      "image": files["original"]})  # fmt: skip
    study_id = digest.hexdigest()[:16] + f"-s{seed}"
    record = {
        "format": STUDY_FORMAT,
        "study_id": study_id,
        "created": _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat(),
        "seed": seed,
        "models": [{"key": keys[nm], "name": nm} for nm in names],
        "n_trials": n,
        "image_size": list(originals.shape[-2:]),
        "answers_format": ANSWERS_FORMAT,
        **dict(meta or {}),
        "trials": trials,
    }
    write_json_atomic(out / "study.json", record)
    write_atomic(
        out / "index.html", render_page(study_id, pages, len(names), title, originals.shape[-1])
    )
    return record


def render_page(study_id: str, trials: Sequence[dict], n_models: int, title: str, size: int) -> str:
    """The page: the template (package data ``qagen/study/template.html``) with the trials as
    JSON (escaped for a ``<script>`` element)."""
    from importlib.resources import files

    template = files("qagen.study").joinpath("template.html").read_text(encoding="utf-8")
    payload = {"study_id": study_id, "answers_format": ANSWERS_FORMAT, "n_models": n_models,
               "title": title, "trials": trials}  # fmt: skip
    data = dumps_json(payload).replace("<", "\\u003c").replace(">", "\\u003e")
    scale = max(1, min(4, 240 // max(size, 1)))
    import html

    return (
        template.replace("__TITLE__", html.escape(title))
        .replace("__SCALE__", str(scale * size))
        .replace("__STUDY_DATA__", data)
    )


def make_study(
    runs: Sequence[str | Path],
    n_images: int,
    out: str | Path,
    *,
    seed: int = 0,
    split: str | None = None,
    device: str = "cpu",
    checkpoint: str = "last",
) -> dict[str, Any]:
    """A study of ``n_images`` held-out images reconstructed by every run in ``runs``
    (``autoencoder`` runs on the same data and resolution); see the module docstring."""
    from qagen.methods.msssim.reconstruction import held_out_images, load_autoencoder, reconstruct

    if len(runs) < 2:
        raise InputError(f"qagen study make needs at least 2 runs, got {len(runs)}")
    if n_images < 1:
        raise InputError(f"--images must be >= 1, got {n_images}")
    check_out_folder(out)  # before any run is loaded
    loaded = []
    for r in runs:
        net, restored = load_autoencoder(r, checkpoint, device=device)
        loaded.append((Path(r), net, restored))
    first = loaded[0][2].run.data
    for path, _net, restored in loaded[1:]:
        d = restored.run.data
        if (d.spec, d.resolution) != (first.spec, first.resolution):
            raise InputError(
                f"all runs must share their data: {loaded[0][0]} has {first.spec!r} at "
                f"{first.resolution} px, {path} has {d.spec!r} at {d.resolution} px"
            )
    x, used = held_out_images(first, n_images, seed=seed, split=split)
    recs: dict[str, torch.Tensor] = {}
    sources = []
    for path, net, restored in loaded:
        name = model_name(restored.run, path)
        if name in recs:
            name = path.name
        if name in recs:
            raise InputError(
                f"two runs would both be called {name!r}: {[str(p) for p, *_ in loaded]}"
            )
        recs[name] = reconstruct(net, x).clamp(0, 1)
        sources.append({"name": name, "run": str(path), "checkpoint": str(restored.checkpoint),
                        "step": restored.step})  # fmt: skip
    meta = {"runs": sources, "data": first.spec, "split": used, "resolution": first.resolution}
    return write_study(out, x, recs, seed=seed, meta=meta)
