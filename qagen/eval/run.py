"""Evaluate a training run directory (the ``qagen eval RUN_DIR`` command).

:func:`evaluate_run` rebuilds the run's recipe through the recipe registry, loads a checkpoint
(``torch.load(weights_only=True)``), samples ``n_samples`` images from its generator (the EMA
copy by default) with a fixed seed, draws the same number of real images (by default from the
run's own dataset, held-out split when the dataset has one), scores them with
:func:`qagen.eval.generation.evaluate_images` (SWD, FID, KID, IS, GLCM) and :func:`niqe_set`
(NIQE at a block size fitted to small samples), and writes ``RUN_DIR/eval.json``: one record per
metric, under the metric's name, each with its protocol (checkpoint step, EMA or raw
generator, n_fake, n_real, reference and split, seeds, library versions; for FID/KID/IS also the
Inception protocol of :mod:`qagen.eval.fid`). Each evaluation is also appended to
``RUN_DIR/eval_history.jsonl`` (the report plots it against the checkpoint step), and an
existing ``RUN_DIR/report.html`` is rewritten with the new tables.

See ``docs/evaluation.md`` ("Evaluating a run").
"""

from __future__ import annotations

import copy
import datetime as _dt
import hashlib
import json
import sys
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import torch
from torch import nn

from qagen.eval.fid import InceptionWeightsError, _library_versions, resolve_inception_weights
from qagen.eval.generation import GENERATION_METRICS, evaluate_images, write_eval_json

__all__ = [
    "DEFAULT_METRICS",
    "LoadedRun",
    "eval_command",
    "evaluate_run",
    "load_reference",
    "load_run",
    "niqe_block_size",
    "niqe_set",
    "parse_metrics",
    "resolve_run_checkpoint",
    "sample_run",
]

#: Metrics of :func:`evaluate_run` when none are named: those that need no weight file.
DEFAULT_METRICS = "swd,niqe,glcm"
#: The metrics that need the Inception weights.
INCEPTION_METRICS = ("fid", "kid", "is")
#: Largest NIQE block side (the LIVE release's 96).
NIQE_MAX_BLOCK = 96


# ----------------------------------------------------------------------------- metric names


def parse_metrics(metrics: str | Sequence[str] | None) -> tuple[list[str], set[str]]:
    """``(names, implicit)``: the metric names in evaluation order, and those that came from
    ``"all"`` (``None`` means :data:`DEFAULT_METRICS`). Unknown names raise ``ValueError``."""
    if metrics is None:
        metrics = DEFAULT_METRICS
    items = metrics.split(",") if isinstance(metrics, str) else list(metrics)
    items = [str(m).strip().lower() for m in items if str(m).strip()]
    names: list[str] = []
    implicit: set[str] = set()
    for m in items:
        if m == "all":
            for g in GENERATION_METRICS:
                if g not in names:
                    names.append(g)
                    implicit.add(g)
        elif m in GENERATION_METRICS:
            implicit.discard(m)
            if m not in names:
                names.append(m)
        else:
            raise ValueError(
                f"unknown metric {m!r}; available: {', '.join(GENERATION_METRICS)} (or 'all')"
            )
    if not names:
        raise ValueError("no metric given")
    return names, implicit


# ----------------------------------------------------------------------------- loading a run


def _resolve_device(device: str | torch.device) -> torch.device:
    if str(device) == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def resolve_run_checkpoint(run_dir: str | Path, checkpoint: str | int | Path = "last") -> Path:
    """The checkpoint file of ``run_dir``: ``"last"`` (the newest ``checkpoints/step_*.pt``), a
    step number (``30`` or ``"30"``) or a path. ``FileNotFoundError`` names what is missing."""
    from qagen.train.checkpoint import checkpoint_path, latest_checkpoint, list_checkpoints

    run_dir = Path(run_dir)
    ckdir = run_dir / "checkpoints"
    if isinstance(checkpoint, str) and checkpoint == "last":
        path = latest_checkpoint(ckdir)
        if path is None:
            raise FileNotFoundError(
                f"no checkpoint in {ckdir} (expected step_XXXXXXXX.pt files written by qagen train)"
            )
        return path
    if isinstance(checkpoint, int) or (isinstance(checkpoint, str) and checkpoint.isdigit()):
        path = checkpoint_path(ckdir, int(checkpoint))
        if not path.is_file():
            have = ", ".join(str(s) for s, _ in list_checkpoints(ckdir)) or "none"
            raise FileNotFoundError(
                f"no checkpoint {path.name} in {ckdir}; steps available: {have}"
            )
        return path
    path = Path(checkpoint)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    return path


class _LazyDataset(torch.utils.data.Dataset):
    """The run's training dataset, built on first use (most recipes never touch it)."""

    def __init__(self, data: Any) -> None:
        self.data = data
        self._ds: Any = None

    def _get(self) -> Any:
        if self._ds is None:
            from qagen.train.main import build_training_dataset

            self._ds = build_training_dataset(self.data)
        return self._ds

    def __len__(self) -> int:
        return len(self._get())

    def __getitem__(self, i: int) -> Any:
        return self._get()[i]


@dataclass
class LoadedRun:
    """A run's recipe rebuilt from a checkpoint, ready to sample."""

    run_dir: Path
    recipe: Any
    run: Any  # qagen.train.RunConfig
    checkpoint: Path
    step: int
    ema: dict[str, nn.Module]
    generator: str  # "ema" or "raw"
    generator_note: str = ""
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    config: dict = field(default_factory=dict)


def _read_config_toml(run_dir: Path) -> dict | None:
    p = run_dir / "config.toml"
    if not p.is_file():
        return None
    from qagen.train.config import load_toml

    return load_toml(p)


def load_run(
    run_dir: str | Path,
    checkpoint: str | int | Path = "last",
    *,
    use_ema: bool = True,
    device: str | torch.device = "cpu",
) -> LoadedRun:
    """Rebuild the recipe of ``run_dir`` and load a checkpoint into it (``weights_only=True``).

    The recipe class comes from the registry under the configuration's ``recipe`` name. The
    configuration is the one stored in the checkpoint (it made those weights; ``config.toml``
    holds the same unless the run was resumed with changed settings), else ``config.toml``.
    With ``use_ema`` the EMA copies of the recipe's ``ema_modules()`` are loaded; a run that
    kept no EMA falls back to the raw weights, and ``generator_note`` says so.
    """
    from qagen.train.checkpoint import load_checkpoint
    from qagen.train.config import run_config_from_dict
    from qagen.train.ema import unwrap
    from qagen.train.loader import BatchStream, derive_seed
    from qagen.train.recipe import TrainContext, get_recipe

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise FileNotFoundError(f"run directory not found: {run_dir}")
    path = resolve_run_checkpoint(run_dir, checkpoint)
    ckpt = load_checkpoint(path, map_location="cpu")
    cfg = ckpt.get("config") or _read_config_toml(run_dir)
    if not cfg:
        raise ValueError(f"{path} holds no configuration and {run_dir}/config.toml is missing")
    cls = get_recipe(cfg["recipe"])
    run = run_config_from_dict(cfg, cls.Config)
    dev = _resolve_device(device)

    def stream_factory(name: str, dataset: Any, global_batch: int, **kw: Any) -> BatchStream:
        return BatchStream(
            dataset,
            global_batch,
            seed=run.train.seed,
            device=dev,
            num_workers=0,
            stream=name,
            shuffle=kw.get("shuffle", True),
            collate_fn=kw.get("collate_fn"),
        )

    gen = torch.Generator(device=dev).manual_seed(derive_seed(run.train.seed, "shared"))
    ctx = TrainContext(
        run,
        device=dev,
        rank=0,
        world_size=1,
        local_rank=0,
        dataset=_LazyDataset(run.data),
        generator=gen,
        batches_per_epoch=1,
        stream_factory=stream_factory,
    )
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(derive_seed(run.train.seed, "init"))
        recipe = cls(run.hparams, ctx)
    ctx._stream_factory = None
    modules = recipe.modules()
    saved = ckpt.get("modules", {})
    missing = [n for n in modules if n not in saved]
    if missing:
        raise ValueError(f"{path} has no weights for {missing} of recipe {run.recipe!r}")
    try:
        for name, m in modules.items():
            unwrap(m).load_state_dict(saved[name])
        recipe.load_state_dict(ckpt.get("recipe", {}))
    except (RuntimeError, KeyError) as err:
        raise ValueError(f"{path} does not fit recipe {run.recipe!r} as configured: {err}") from err
    ema: dict[str, nn.Module] = {}
    kind, note = "raw", ""
    if use_ema:
        names = list(recipe.ema_modules())
        saved_ema = ckpt.get("ema") or {}
        if names and all(n in saved_ema for n in names):
            for n in names:
                shadow = copy.deepcopy(unwrap(modules[n]))
                shadow.load_state_dict(saved_ema[n])
                shadow.requires_grad_(False)
                ema[n] = shadow
            kind = "ema"
        else:
            note = "EMA requested, but the checkpoint holds no EMA of the generator: raw weights"
    return LoadedRun(
        run_dir=run_dir,
        recipe=recipe,
        run=run,
        checkpoint=path,
        step=int(ckpt.get("step", -1)),
        ema=ema,
        generator=kind,
        generator_note=note,
        device=dev,
        config=dict(cfg),
    )


def _slice(inputs: Any, lo: int, hi: int) -> Any:
    if isinstance(inputs, torch.Tensor):
        return inputs[lo:hi]
    if isinstance(inputs, Mapping):
        return {k: _slice(v, lo, hi) for k, v in inputs.items()}
    if isinstance(inputs, (list, tuple)):
        return type(inputs)(_slice(v, lo, hi) for v in inputs)
    return inputs


def _count(inputs: Any) -> int | None:
    if isinstance(inputs, torch.Tensor):
        return int(inputs.shape[0])
    if isinstance(inputs, Mapping):
        for v in inputs.values():
            n = _count(v)
            if n is not None:
                return n
    if isinstance(inputs, (list, tuple)):
        for v in inputs:
            n = _count(v)
            if n is not None:
                return n
    return None


@torch.no_grad()
def sample_run(
    loaded: LoadedRun,
    n: int,
    *,
    seed: int = 0,
    batch_size: int = 64,
    key: str | None = None,
) -> torch.Tensor:
    """``n`` images ``N x C x H x W`` (float32, CPU, in [0, 1]) from the loaded generator.

    The inputs come from the recipe's ``sample_inputs(n, torch.Generator().manual_seed(seed))``
    (for a GAN: ``n`` latent vectors), the images from ``sample(inputs, ema)`` in batches of
    ``batch_size`` (a generator whose batch norm uses batch statistics when sampling, as the
    QAGAN ResNet does, depends on the batch size: it is recorded). The global RNG is seeded with
    ``seed`` meanwhile and restored afterwards. A recipe that returns several grids
    (``{name: images}``) needs ``key`` (default: the first).
    """
    from qagen.train.loader import to_device

    if n < 1:
        raise ValueError(f"n_samples must be >= 1, got {n}")
    recipe = loaded.recipe
    inputs = recipe.sample_inputs(n, torch.Generator().manual_seed(int(seed)))
    if inputs is None:
        raise ValueError(
            f"recipe {loaded.run.recipe!r} has no sample inputs (sample_inputs returned None), "
            "so it cannot be sampled for evaluation"
        )
    inputs = to_device(inputs, loaded.device)
    total = _count(inputs) or n
    devices = [loaded.device.index or 0] if loaded.device.type == "cuda" else []
    out = []
    with torch.random.fork_rng(devices=devices):
        torch.manual_seed(int(seed))
        for lo in range(0, min(total, n), batch_size):
            img = recipe.sample(_slice(inputs, lo, min(lo + batch_size, n)), loaded.ema)
            if isinstance(img, Mapping):
                name = key if key is not None else next(iter(img))
                if name not in img:
                    raise ValueError(f"the recipe's samples have no grid {name!r}: {list(img)}")
                img = img[name]
            out.append(img.detach().float().clamp(0.0, 1.0).cpu())
    return torch.cat(out)


# ----------------------------------------------------------------------------- real images


def _dataset_images(ds: Any, n: int, seed: int) -> tuple[torch.Tensor, int]:
    total = len(ds)
    if total < 1:
        raise ValueError("the reference dataset is empty")
    if total > n:
        idx = torch.randperm(total, generator=torch.Generator().manual_seed(int(seed)))[:n]
        idx = idx.tolist()
    else:
        idx = list(range(total))
    items = []
    for i in idx:
        x = ds[i]
        if isinstance(x, (list, tuple)):
            x = x[0]
        items.append(torch.as_tensor(x))
    return torch.stack(items).float().clamp(0.0, 1.0), total


def _build_split(spec: str, resolution: int, preferred: Sequence[str]) -> tuple[Any, str]:
    from qagen.data import build_dataset

    errors = []
    for split in dict.fromkeys(preferred):
        try:
            return build_dataset(spec, resolution, split, value_range=(0.0, 1.0)), split
        except ValueError as err:  # this dataset has no such split
            errors.append(f"{split}: {err}")
    raise ValueError(f"no usable split of {spec!r}: " + "; ".join(errors))


def load_reference(
    real: object,
    run: Any,
    n: int,
    *,
    seed: int = 0,
    split: str | None = None,
) -> tuple[torch.Tensor, dict]:
    """``n`` real images (float32 in [0, 1], 8-bit values) and a record of where they came from.

    ``real``: ``None`` (the run's own ``data.spec`` at its resolution), a dataset spec for
    :func:`qagen.data.build_dataset` (``"cifar10:ROOT"``, ``"builtin"``, ...), an image folder
    (read as ``folder:PATH`` at the run's resolution, the whole folder), or a tensor
    ``N x C x H x W`` in [0, 1]. The split is ``split`` when given, else the held-out ``test``
    split when the dataset has one, else the run's training split. From a larger set ``n``
    images are drawn without replacement by ``randperm`` seeded with ``seed``.
    """
    res = int(run.data.resolution)
    if isinstance(real, torch.Tensor):
        t = real.detach().float().cpu()
        if t.dim() != 4:
            raise ValueError(f"real must be N x C x H x W, got shape {tuple(t.shape)}")
        if t.shape[0] > n:
            idx = torch.randperm(t.shape[0], generator=torch.Generator().manual_seed(int(seed)))
            t = t[idx[:n]]
        info = {"reference": "tensor given to evaluate_run", "reference_split": split}
        return t, {**info, "reference_n_available": int(real.shape[0])}
    if real is None:
        spec = run.data.spec
        if not spec:
            raise ValueError("the run's configuration names no dataset (data.spec): pass real=")
        order = [split] if split else ["test", run.data.split]
    else:
        text = str(real)
        if Path(text).expanduser().is_dir():
            spec = f"folder:{Path(text).expanduser()}"
            order = [split] if split else ["all"]
        else:
            spec = text
            order = [split] if split else ["test", run.data.split]
    ds, used = _build_split(spec, res, order)
    images, total = _dataset_images(ds, n, seed)
    return images, {
        "reference": f"{spec} at {res}x{res}",
        "reference_split": used,
        "reference_n_available": int(total),
    }


# ----------------------------------------------------------------------------- NIQE


def niqe_block_size(height: int, width: int) -> int:
    """NIQE block side for ``height x width`` images: the largest even number <= min(H, W) / 2,
    capped at the release's 96 (32x32 -> 16, 64x64 -> 32, 128x128 -> 64, >= 192 -> 96).

    Every image then holds at least 2 x 2 blocks at scale 1 (so a per-image NIQE is defined),
    and the scale-2 blocks keep at least 4 x 4 pixels."""
    b = min(NIQE_MAX_BLOCK, (min(int(height), int(width)) // 2) // 2 * 2)
    if b < 4:
        raise ValueError(f"images of {height}x{width} are too small for NIQE (need >= 8x8)")
    return b


def _niqe_features(x: torch.Tensor, block: int, batch_size: int) -> tuple[torch.Tensor, ...]:
    from qagen.color import rgb_to_gray
    from qagen.iqa.naturalness import niqe_features

    feats, valid = [], []
    for lo in range(0, x.shape[0], batch_size):
        b = x[lo : lo + batch_size].double()
        g = rgb_to_gray(b, "rgb2gray", 1.0) * 255.0 if b.shape[1] == 3 else b * 255.0
        f = niqe_features(g, block)
        feats.append(f.features)
        valid.append(f.valid)
    return torch.cat(feats), torch.cat(valid)


class _OneThread:
    """Run small batched linear algebra (many 36 x 36 pseudo-inverses) on one thread: with
    several threads on a busy machine the batched eigendecompositions are 100x slower."""

    def __enter__(self) -> None:
        self.before = torch.get_num_threads()
        torch.set_num_threads(1)

    def __exit__(self, *exc: object) -> None:
        torch.set_num_threads(self.before)


def _niqe_scores(feats: torch.Tensor, valid: torch.Tensor, model: Any) -> dict:
    with _OneThread():
        return _niqe_scores_impl(feats, valid, model)


def _niqe_scores_impl(feats: torch.Tensor, valid: torch.Tensor, model: Any) -> dict:
    from qagen.iqa.naturalness import mvg_distance, mvg_fit

    mu_p, cov_p = model.mu, model.cov
    mu_i, cov_i = mvg_fit(feats, valid)  # one test model per image
    per_image = mvg_distance(mu_p, cov_p, mu_i, cov_i).double()
    n, b, d = feats.shape
    mu_s, cov_s = mvg_fit(feats.reshape(1, n * b, d), valid.reshape(1, n * b, d))
    pooled = float(mvg_distance(mu_p, cov_p, mu_s, cov_s)[0])
    return {
        "value": pooled,
        "per_image_mean": float(per_image.mean()),
        "per_image_std": float(per_image.std(unbiased=False)),
        "n_blocks": int(n * b),
        "_mvg": (mu_s, cov_s),
    }


def niqe_set(
    fake: torch.Tensor,
    real: torch.Tensor | None = None,
    *,
    block_size: int | None = None,
    batch_size: int = 256,
) -> dict:
    """NIQE of a set of (small) generated images, against the LIVE pristine model.

    The 36 NIQE features (:func:`qagen.iqa.naturalness.niqe_features`, MATLAB ``rgb2gray`` on 8-bit
    values) of every non-overlapping ``block_size`` block (default :func:`niqe_block_size`) of
    every image are pooled into **one** test Gaussian for the set, and ``value`` is its NIQE
    distance to the LIVE pristine model (lower is better). A 32x32 image has only four 16x16
    blocks, so a per-image test covariance has rank <= 3 in 36 dimensions and per-image NIQE is
    noisy; pooling N x 4 blocks gives a full-rank, stable estimate (the batch pooling QAGAN's
    NIQE penalty uses). The mean and standard deviation of the per-image NIQE at the same block
    size are reported too. With ``real``, the same numbers for the real images (``real``) and
    the NIQE distance between the two pooled Gaussians (``fake_vs_real``, QMF eq. 6) are added.

    The LIVE model was fitted on 96x96 blocks of full-size photographs: at other block sizes the
    values are not comparable with published NIQE numbers, only with each other (same block
    size): compare the generated set with the real set.
    """
    from qagen.iqa.naturalness import NIQEModel, mvg_distance

    if fake.dim() != 4:
        raise ValueError(f"fake must be N x C x H x W, got shape {tuple(fake.shape)}")
    h, w = fake.shape[-2:]
    block = int(block_size) if block_size is not None else niqe_block_size(h, w)
    model = NIQEModel.official()
    f = _niqe_scores(*_niqe_features(fake, block, batch_size), model)
    mvg_f = f.pop("_mvg")
    rec: dict = {"metric": "niqe", **f}
    protocol = {
        "lower_is_better": True,
        "pristine_model": f"LIVE release modelparameters.mat (fitted at block {model.block_size})",
        "features": "LIVE NIQE (36 per block, 2 scales), MATLAB rgb2gray on 8-bit values",
        "block_size": block,
        "blocks_per_image": int((h // block) * (w // block)),
        "value": "NIQE of the set: features of all blocks of all images pooled into one Gaussian",
        "per_image": "mean and std of per-image NIQE at the same block size",
        "comparable_with": "NIQE at the same block size only (not published full-size NIQE)",
        "n_fake": int(fake.shape[0]),
    }
    if real is not None:
        r = _niqe_scores(*_niqe_features(real, block, batch_size), model)
        mvg_r = r.pop("_mvg")
        rec["real"] = r
        with _OneThread():
            rec["fake_vs_real"] = float(mvg_distance(*mvg_f, *mvg_r)[0])
        protocol["n_real"] = int(real.shape[0])
        protocol["fake_vs_real"] = "NIQE distance between the pooled fake and real Gaussians"
    rec["protocol"] = protocol
    return rec


# ----------------------------------------------------------------------------- evaluate_run


def _content_sha(t: torch.Tensor) -> str:
    u = torch.round(t * 255).clamp(0, 255).to(torch.uint8).contiguous()
    return hashlib.sha256(u.numpy().tobytes()).hexdigest()


def _read_json(path: Path) -> dict:
    if not path.is_file():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _history_rows(results: Mapping[str, Any], when: str) -> Iterator[dict]:
    for name, rec in results.items():
        if not isinstance(rec, Mapping) or rec.get("skipped"):
            continue
        p = rec.get("protocol", {})
        value = rec.get("average") if name == "swd" else rec.get("value")
        if name == "glcm":
            for k, v in (rec.get("fake") or {}).items():
                yield {
                    "time": when,
                    "metric": f"glcm.{k}",
                    "value": v,
                    "checkpoint_step": p.get("checkpoint_step"),
                    "generator": p.get("generator"),
                    "n_fake": p.get("n_fake"),
                }
            continue
        if value is None:
            continue
        yield {
            "time": when,
            "metric": name,
            "value": value,
            "std": rec.get("std"),
            "checkpoint_step": p.get("checkpoint_step"),
            "generator": p.get("generator"),
            "n_fake": p.get("n_fake"),
            "n_real": p.get("n_real"),
        }


def evaluate_run(
    run_dir: str | Path,
    metrics: str | Sequence[str] | None = DEFAULT_METRICS,
    n_samples: int = 1000,
    checkpoint: str | int | Path = "last",
    use_ema: bool = True,
    real: object = None,
    inception_weights: str | Path | None = None,
    seed: int = 0,
    device: str | torch.device = "cpu",
    *,
    split: str | None = None,
    batch_size: int = 64,
    niqe_block: int | None = None,
    cache_dir: str | Path | bool | None = None,
    fid_kwargs: dict | None = None,
    swd_kwargs: dict | None = None,
    write: bool = True,
    update_report: bool = True,
    log: TextIO | None = None,
) -> dict:
    """Evaluate the generator of a training run; returns ``{metric: record}``.

    * ``metrics``: names from ``swd, fid, kid, is, niqe, glcm`` (comma string or list), or
      ``"all"``. FID/KID/IS need the Inception weights (``inception_weights`` or
      ``$QAGEN_INCEPTION_WEIGHTS``): when they are missing, metrics named explicitly raise
      :class:`qagen.eval.InceptionWeightsError`, while those that came from ``"all"`` are
      skipped, with the reason in the result (``{"skipped": true, "reason": ...}``) and on
      ``log`` (stderr).
    * Generated images: ``n_samples`` from the checkpoint ``checkpoint`` (``"last"``, a step or
      a path), the EMA generator unless ``use_ema=False`` (:func:`load_run`,
      :func:`sample_run` with ``seed`` and ``batch_size``).
    * Real images: ``n_samples`` from ``real`` (default: the run's dataset; see
      :func:`load_reference`, which also explains ``split``), drawn with ``seed``.
    * ``niqe``: :func:`niqe_set` (block ``niqe_block``, default :func:`niqe_block_size`).
      The other metrics go through :func:`qagen.eval.generation.evaluate_images`, with
      ``kid_subset_size = min(1000, n)`` and ``isc_splits = min(10, n_fake)`` unless
      ``fid_kwargs`` sets them (also ``verify_hash``, ``fid_method``, ``feature_layer``, ...);
      ``cache_dir`` is the reference-statistics cache (``False``: off).
    * ``write``: merge the records into ``RUN_DIR/eval.json`` (records of metrics not evaluated
      now are kept; each carries its own checkpoint step), append them to
      ``RUN_DIR/eval_history.jsonl``, and with ``update_report`` rewrite ``RUN_DIR/report.html``
      when it exists.
    """
    log = log if log is not None else sys.stderr
    run_dir = Path(run_dir)
    names, implicit = parse_metrics(metrics)
    results: dict = {}
    skipped: dict = {}
    inception = [m for m in names if m in INCEPTION_METRICS]
    extractor = (fid_kwargs or {}).get("extractor")
    if inception and extractor is None:
        try:
            resolve_inception_weights(inception_weights)
        except InceptionWeightsError as err:
            if any(m not in implicit for m in inception):
                raise
            reason = f"no Inception weights: {err}"
            for m in inception:
                skipped[m] = {"metric": m, "skipped": True, "reason": reason}
            print(f"qagen eval: {', '.join(inception)} skipped, {reason}", file=log)
            names = [m for m in names if m not in inception]

    loaded = load_run(run_dir, checkpoint, use_ema=use_ema, device=device)
    # 8-bit quantisation, as in a saved PNG (and in every FID code): all metrics see the same
    fake = torch.round(sample_run(loaded, n_samples, seed=seed, batch_size=batch_size) * 255) / 255
    real_t, ref = load_reference(real, loaded.run, fake.shape[0], seed=seed, split=split)
    when = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0).isoformat()
    extra = {
        "run_dir": str(run_dir),
        "recipe": loaded.run.recipe,
        "checkpoint": checkpoint if isinstance(checkpoint, str) else str(checkpoint),
        "checkpoint_file": loaded.checkpoint.name,
        "checkpoint_step": loaded.step,
        "generator": loaded.generator,
        "ema_decay": float(loaded.run.train.ema_decay),
        "sample_seed": int(seed),
        "sample_batch_size": int(batch_size),
        "reference_selection_seed": int(seed),
        "reference_n_available": ref["reference_n_available"],
        "reference_content_sha256": _content_sha(real_t),
        "evaluated_at": when,
        "libraries": _library_versions(),
    }
    if loaded.generator_note:
        extra["generator_note"] = loaded.generator_note
    sha16 = extra["reference_content_sha256"][:16]
    reference_name = f"{ref['reference']}, {real_t.shape[0]} images (sha256 {sha16})"
    n_f, n_r = int(fake.shape[0]), int(real_t.shape[0])
    fkw = {"kid_subset_size": min(1000, n_f, n_r), "isc_splits": min(10, n_f)}
    fkw.update(fid_kwargs or {})
    fkw.pop("extractor", None)
    core = [m for m in names if m != "niqe"]
    if core:
        out = evaluate_images(
            fake,
            real_t,
            metrics=core,
            inception_weights=inception_weights,
            reference_name=reference_name,
            reference_split=ref["reference_split"],
            cache_dir=cache_dir,
            device=loaded.device,
            batch_size=batch_size,
            seed=seed,
            extractor=extractor,
            fid_kwargs=fkw,
            swd_kwargs=swd_kwargs,
            extra_protocol=extra,
        )
        results.update(out)
    if "niqe" in names:
        rec = niqe_set(fake, real_t, block_size=niqe_block)
        rec["protocol"].update(
            {"reference": reference_name, "reference_split": ref["reference_split"], **extra}
        )
        results["niqe"] = rec
    for m in ("swd", "glcm"):
        if m in results:
            results[m]["protocol"]["reference"] = reference_name
            results[m]["protocol"]["reference_split"] = ref["reference_split"]
    ordered = {m: results[m] for m in names if m in results}
    ordered.update(skipped)
    if write:
        path = run_dir / "eval.json"
        merged = {**_read_json(path), **ordered}
        write_eval_json(merged, path)
        with (run_dir / "eval_history.jsonl").open("a") as fh:
            for row in _history_rows(ordered, when):
                fh.write(json.dumps(row, default=str) + "\n")
        if update_report and (run_dir / "report.html").is_file():
            from qagen.eval.report import write_report

            write_report(run_dir, device=device)
    return ordered


# ----------------------------------------------------------------------------- CLI entry


def _fmt(v: object) -> str:
    if isinstance(v, float):
        return f"{v:.5g}"
    return "-" if v is None else str(v)


def summary_lines(results: Mapping[str, Any]) -> list[str]:
    """One line per metric: its headline value (and spread), for the terminal."""
    lines = []
    for name, rec in results.items():
        if rec.get("skipped"):
            lines.append(f"{name:6s} skipped (no Inception weights)")
        elif name == "swd":
            levels = ", ".join(f"{k}: {v:.4g}" for k, v in rec.get("per_level", {}).items())
            lines.append(f"{'swd':6s} {rec['average']:.5g} (x1e3; per level {levels})")
        elif name == "glcm":
            f, r = rec.get("fake", {}), rec.get("real", {})
            keys = ("contrast", "correlation", "energy", "homogeneity", "entropy")
            parts = [f"{k} {_fmt(f.get(k))}/{_fmt(r.get(k))}" for k in keys if k in f]
            lines.append(f"{'glcm':6s} fake/real: " + ", ".join(parts))
        elif name == "niqe":
            real = rec.get("real", {})
            lines.append(
                f"{'niqe':6s} {rec['value']:.5g} (real {_fmt(real.get('value'))}; per image "
                f"{rec['per_image_mean']:.4g} +- {rec['per_image_std']:.3g}; block "
                f"{rec['protocol']['block_size']})"
            )
        else:
            std = rec.get("std")
            lines.append(
                f"{name:6s} {rec['value']:.5g}" + (f" +- {std:.3g}" if std is not None else "")
            )
    return lines


def eval_command(
    run_dir: str | Path,
    metrics: str | None = None,
    n_samples: int = 1000,
    checkpoint: str = "last",
    inception_weights: str | Path | None = None,
    device: str = "cpu",
    *,
    use_ema: bool = True,
    real: str | None = None,
    seed: int = 0,
    stream: TextIO | None = None,
) -> int:
    """CLI entry of ``qagen eval RUN_DIR [--metrics ...]``: evaluate, print one line per metric,
    write ``RUN_DIR/eval.json`` (and refresh ``report.html`` if present); returns 0.

    ``metrics=None`` means ``"all"``: every metric, FID/KID/IS only when Inception weights are
    available (else skipped with a message). Errors (no run directory or checkpoint, explicitly
    requested FID without weights, bad metric names) raise ``ValueError`` /
    ``FileNotFoundError`` with a message for the user."""
    stream = stream if stream is not None else sys.stdout
    res = evaluate_run(
        run_dir,
        metrics="all" if metrics is None else metrics,
        n_samples=n_samples,
        checkpoint=checkpoint,
        use_ema=use_ema,
        real=real,
        inception_weights=inception_weights,
        seed=seed,
        device=device,
    )
    first = next((r for r in res.values() if not r.get("skipped")), None)
    if first is not None:
        p = first["protocol"]
        stream.write(
            f"{p['recipe']} step {p['checkpoint_step']} ({p['generator']} generator), "
            f"{p.get('n_fake')} generated vs {p.get('n_real')} real from {p.get('reference')} "
            f"[{p.get('reference_split')}]\n"
        )
    for line in summary_lines(res):
        stream.write(line + "\n")
    stream.write(f"wrote {Path(run_dir) / 'eval.json'}\n")
    if (Path(run_dir) / "report.html").is_file():
        stream.write(f"updated {Path(run_dir) / 'report.html'}\n")
    return 0
