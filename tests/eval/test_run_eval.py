"""evaluate_run / eval_command / EvalOptions on a real run directory written by
``qagen.train.train_main``.

The run comes from a tiny registered recipe (``eval-toy``: a linear + upsampling generator
with an EMA copy) trained for 4 steps on a folder dataset with ``train/`` and ``test/``
subfolders. The checks are independent of the code under test: the sampled images are
recomputed from the checkpoint's EMA (or raw) weights with a fresh network and
``torch.randn(n, z, generator=manual_seed(seed))``; the real images are read with PIL; SWD,
GLCM, NIQE and FID/KID/IS are recomputed by calling the metric functions directly on those
tensors.
"""

from __future__ import annotations

import hashlib
import io
import json
import shutil
import warnings
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image
from torch import nn

from qagen.errors import InputError, UnknownNameError
from qagen.eval.fid import InceptionWeightsError, generation_metrics
from qagen.eval.niqe_set import niqe_block_size, niqe_set
from qagen.eval.options import EvalOptions, parse_metric_names
from qagen.eval.run import eval_command, evaluate_run
from qagen.eval.swd import swd
from qagen.eval.texture import glcm_features
from qagen.iqa.naturalness import niqe
from qagen.train import Recipe, register_recipe, restore_run, train_main

Z, RES = 16, 32
N_TEST = 24


@pytest.fixture(autouse=True)
def _single_thread() -> Iterator[None]:
    """One intra-op thread (tiny tensors; the test machine is shared), restored after."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@dataclass
class EvalToyConfig:
    z_dim: int = Z
    lr: float = 1e-2


def _generator(z_dim: int) -> nn.Module:
    return nn.Sequential(
        nn.Linear(z_dim, 3 * 8 * 8),
        nn.Unflatten(1, (3, 8, 8)),
        nn.Upsample(scale_factor=4, mode="bilinear", align_corners=False),
        nn.Conv2d(3, 3, 3, padding=1),
        nn.Tanh(),
    )


@register_recipe("eval-toy")
class EvalToy(Recipe):
    """A minimal WGAN (no penalty): enough to write real checkpoints, EMA and sample grids."""

    Config = EvalToyConfig

    def __init__(self, cfg: EvalToyConfig, ctx: Any) -> None:
        super().__init__(cfg, ctx)
        self.G = ctx.wrap(_generator(cfg.z_dim))
        self.D = ctx.wrap(
            nn.Sequential(nn.Conv2d(3, 4, 4, stride=4), nn.Flatten(), nn.Linear(256, 1))
        )
        self.opt_g = torch.optim.Adam(self.G.parameters(), lr=cfg.lr)
        self.opt_d = torch.optim.Adam(self.D.parameters(), lr=cfg.lr)

    def modules(self) -> dict[str, nn.Module]:
        return {"G": self.G, "D": self.D}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"G": self.opt_g, "D": self.opt_d}

    def ema_modules(self) -> list[str]:
        return ["G"]

    def train_step(self, batches: Iterator[Any], step: int) -> Mapping[str, Any]:
        n = self.ctx.global_batch_size
        real = next(batches) * 2 - 1
        fake = self.G(self.ctx.randn(n, self.cfg.z_dim)).detach()
        d_loss = self.D(fake).mean() - self.D(real).mean()
        self.opt_d.zero_grad()
        d_loss.backward()
        self.opt_d.step()
        g_loss = -self.D(self.G(self.ctx.randn(n, self.cfg.z_dim))).mean()
        self.opt_g.zero_grad()
        g_loss.backward()
        self.opt_g.step()
        return {"d_loss": d_loss.detach(), "g_loss": g_loss.detach()}

    def sample_inputs(self, n: int, generator: torch.Generator) -> torch.Tensor:
        return torch.randn(n, self.cfg.z_dim, generator=generator)

    def sample(self, inputs: torch.Tensor, ema: Mapping[str, nn.Module]) -> torch.Tensor:
        return (ema.get("G", self.G)(inputs) + 1) / 2


def _write_images(folder: Path, n: int, seed: int) -> None:
    """Smooth colour gradients with a few random rectangles (texture for NIQE and GLCM)."""
    folder.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[0:RES, 0:RES] / RES
    for i in range(n):
        img = np.stack([a * yy + b * xx + c for a, b, c in rng.uniform(0, 0.5, (3, 3))], -1)
        for _ in range(4):
            y0, x0 = rng.integers(0, RES - 8, 2)
            img[y0 : y0 + rng.integers(3, 8), x0 : x0 + rng.integers(3, 8)] = rng.uniform(0, 1, 3)
        img += rng.normal(0, 0.03, img.shape)
        Image.fromarray((np.clip(img, 0, 1) * 255).round().astype(np.uint8)).save(
            folder / f"{i:03d}.png"
        )


def make_toy_run(root: Path, max_steps: int = 4) -> Path:
    """Train ``eval-toy`` for ``max_steps`` steps into ``root/run``; returns the run directory
    (checkpoints at steps 2 and 4, grids at 2 and 4, metrics.csv rows 1..4)."""
    data = root / "data"
    _write_images(data / "train", 40, 1)
    _write_images(data / "test", N_TEST, 2)
    run = root / "run"
    overrides = [
        "train.device=cpu", "train.batch_size=8", "train.log_every=1", "train.sample_every=2",
        "train.n_samples=16", "train.checkpoint_every=2", "train.keep_last=0",
        "train.progress=false", "train.tensorboard=false", "train.ema_decay=0.5",
        "train.rollback=false", "data.num_workers=0", f"data.resolution={RES}",
    ]  # fmt: skip
    status = train_main("eval-toy", data=f"folder:{data}", out=str(run), max_steps=max_steps,
                        overrides=overrides)  # fmt: skip
    assert status == 0
    return run


@pytest.fixture(scope="module")
def toy_run_master(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_toy_run(tmp_path_factory.mktemp("toyrun"))


@pytest.fixture
def toy_run(toy_run_master: Path, tmp_path: Path) -> Path:
    """A private copy of the trained run (tests write eval.json into it); the dataset path in
    its configuration still points at the shared data folder."""
    dst = tmp_path / "run"
    shutil.copytree(toy_run_master, dst)
    return dst


def _expected_fake(run: Path, n: int, seed: int = 0, ema: bool = False) -> torch.Tensor:
    """The generator output recomputed from the checkpoint with a fresh network."""
    ck = torch.load(run / "checkpoints" / "step_00000004.pt", weights_only=True)
    g = _generator(Z)
    g.load_state_dict(ck["ema"]["G"] if ema else ck["modules"]["G"])
    with torch.no_grad():
        z = torch.randn(n, Z, generator=torch.Generator().manual_seed(seed))
        return ((g(z) + 1) / 2).clamp(0, 1)


def _real_test(run: Path) -> torch.Tensor:
    from qagen.train.config import load_toml

    spec = load_toml(run / "config.toml")["data"]["spec"]
    files = sorted((Path(spec.split(":", 1)[1]) / "test").glob("*.png"))
    arr = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    return torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255


def _q(t: torch.Tensor) -> torch.Tensor:
    return torch.round(t * 255) / 255


# ----------------------------------------------------------------------------- tests


def test_parse_metrics_and_block_size() -> None:
    all_names = ["swd", "fid", "kid", "is", "niqe", "glcm"]
    assert parse_metric_names("all", all_names) == all_names
    assert parse_metric_names("fid, all", all_names)[0] == "fid"
    assert parse_metric_names(["GLCM", "swd", "glcm"], all_names) == ["glcm", "swd"]
    with pytest.raises(UnknownNameError, match="unknown metric 'lpips'"):
        parse_metric_names("swd,lpips", all_names)
    with pytest.raises(InputError, match="no metric given"):
        parse_metric_names(" , ", all_names)
    # the documented rule: largest even <= min/2, capped at 96
    assert [niqe_block_size(s, s) for s in (32, 48, 64, 128, 256, 1024)] == [16, 24, 32, 64, 96, 96]
    assert niqe_block_size(32, 64) == 16
    with pytest.raises(InputError, match="too small"):
        niqe_block_size(6, 6)


def test_eval_options_validate_and_match_the_command_line() -> None:
    from qagen.cli import _EVAL_FIELDS, _eval_options, build_parser

    # the defaults of `qagen eval RUN` are EvalOptions' defaults, field by field
    args = build_parser().parse_args(["eval", "RUN"])
    assert _eval_options(args) == EvalOptions()
    assert EvalOptions().metrics == "all"  # the API and the CLI both default to every metric
    eval_parser = build_parser()._subparsers._group_actions[0].choices["eval"]  # noqa: SLF001
    defaults = {a.dest: a.default for a in eval_parser._actions}  # noqa: SLF001
    for name in _EVAL_FIELDS:
        assert defaults[name] == getattr(EvalOptions(), name), name
    # options given on the command line arrive in the dataclass
    args = build_parser().parse_args(
        ["eval", "RUN", "--generator", "raw", "--reference-split", "train", "--n-samples", "50",
         "--no-progress", "--kid-subset-size", "20", "--metrics", "swd,fid"]
    )  # fmt: skip
    opts = _eval_options(args)
    assert (opts.generator, opts.reference_split, opts.n_samples, opts.progress) == (
        "raw",
        "train",
        50,
        False,
    )
    assert opts.kid_subset_size == 20 and opts.metrics == "swd,fid"
    # validation: one line naming the option
    with pytest.raises(InputError, match="generator must be 'ema' or 'raw', got 'best'"):
        EvalOptions(generator="best")
    with pytest.raises(InputError, match="n_samples must be >= 2"):
        EvalOptions(n_samples=1)
    with pytest.raises(UnknownNameError, match="unknown metric 'fidd'"):
        EvalOptions(metrics="fidd")
    with pytest.raises(UnknownNameError, match="unknown evaluation option 'n_sample'"):
        EvalOptions().replace(n_sample=3)
    assert EvalOptions(cache_dir="off").cache is False and EvalOptions().cache is None


def test_sampling_follows_the_checkpoint(toy_run: Path) -> None:
    # float32 network on the same inputs: the same operations, equal to float rounding (1e-6)
    restored = restore_run(toy_run)
    assert restored.step == 4 and restored.has_ema
    got = restored.generate(20, seed=3, batch_size=8)
    # default (as the sample grids): the EMA copy when the run keeps one
    torch.testing.assert_close(
        got, _expected_fake(toy_run, 20, seed=3, ema=True), atol=1e-6, rtol=0
    )
    raw = restored.generate(20, seed=3, ema=False)
    torch.testing.assert_close(
        raw, _expected_fake(toy_run, 20, seed=3, ema=False), atol=1e-6, rtol=0
    )
    # EMA (decay 0.5) and raw weights differ after 4 steps
    assert (got - raw).abs().max() > 1e-3
    # the run's dataset, any split: the test split is the test folder, in file order
    test = restored.dataset("test", value_range=(0.0, 1.0))
    assert len(test) == N_TEST
    torch.testing.assert_close(test[3], _real_test(toy_run)[3], atol=1e-6, rtol=0)
    assert len(restored.dataset()) == 40  # default: the training split
    # an older checkpoint by step number, and a missing one
    assert restore_run(toy_run, 2).step == 2
    with pytest.raises(FileNotFoundError, match="steps available: 2, 4"):
        restore_run(toy_run, 3)


def test_evaluate_run_writes_eval_json(toy_run: Path) -> None:
    res = evaluate_run(
        toy_run, metrics="swd,niqe,glcm", n_samples=N_TEST, swd_kwargs={"patches_per_image": 32},
        progress=False,
    )  # fmt: skip
    data = json.loads((toy_run / "eval.json").read_text())
    assert list(data) == ["swd", "niqe", "glcm"] == list(res)
    for rec in data.values():
        p = rec["protocol"]
        assert p["checkpoint_step"] == 4 and p["checkpoint_file"] == "step_00000004.pt"
        assert p["generator"] == "raw" and p["checkpoint"] == "last" and p["recipe"] == "eval-toy"
        assert p["n_fake"] == N_TEST and p["n_real"] == N_TEST
        assert p["reference_split"] == "test" and p["sample_seed"] == 0
        assert p["libraries"]["torch"] == torch.__version__
    fake, real = _expected_fake(toy_run, N_TEST), _real_test(toy_run)
    # SWD recomputed on the independently built 8-bit tensors (same seed and settings); the
    # real set is the whole test folder in file order, so it is the same tensor: 1e-9 relative
    direct = swd(_q(fake), real, patches_per_image=32)
    assert data["swd"]["average"] == pytest.approx(direct.average, rel=1e-9)
    # GLCM of both sets, recomputed: identical integer statistics -> 1e-12
    ent = glcm_features(_q(fake))["entropy"].mean()
    assert data["glcm"]["fake"]["entropy"] == pytest.approx(float(ent), rel=1e-12)
    assert data["glcm"]["real"]["contrast"] == pytest.approx(
        float(glcm_features(real)["contrast"].mean()), rel=1e-12
    )
    # NIQE: per-image values equal qagen.iqa.niqe at the chosen block (both float64): 1e-9
    assert data["niqe"]["protocol"]["block_size"] == 16
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # block 16 differs from the model's 96
        per_image = niqe(_q(fake).double(), block_size=16)
    assert data["niqe"]["per_image_mean"] == pytest.approx(float(per_image.mean()), rel=1e-9)
    assert data["niqe"]["per_image_std"] == pytest.approx(
        float(per_image.std(unbiased=False)), rel=1e-9
    )
    assert np.isfinite(data["niqe"]["value"]) and data["niqe"]["real"]["value"] > 0
    assert data["niqe"]["fake_vs_real"] > 0
    # history: one line per metric (glcm: one per property)
    rows = [json.loads(x) for x in (toy_run / "eval_history.jsonl").read_text().splitlines()]
    assert {r["metric"] for r in rows} >= {"swd", "niqe", "glcm.entropy"}
    # deterministic: the same call gives the same numbers; records not re-evaluated are kept
    again = evaluate_run(
        toy_run, metrics="swd", n_samples=N_TEST, swd_kwargs={"patches_per_image": 32},
        progress=False,
    )  # fmt: skip
    assert again["swd"]["average"] == data["swd"]["average"]
    assert list(json.loads((toy_run / "eval.json").read_text())) == ["swd", "niqe", "glcm"]


def test_reference_from_a_folder(toy_run: Path) -> None:
    # an image folder as the reference: read whole at the run's resolution, n drawn with seed
    from qagen.train.config import load_toml

    test_dir = Path(load_toml(toy_run / "config.toml")["data"]["spec"].split(":", 1)[1]) / "test"
    res = evaluate_run(
        toy_run, metrics="glcm", n_samples=8, real=str(test_dir), write=False, progress=False
    )
    p = res["glcm"]["protocol"]
    assert p["reference"].startswith(f"folder:{test_dir} at 32x32, 8 images")
    assert p["reference_split"] == "all" and p["reference_n_available"] == N_TEST
    assert p["n_real"] == 8 and not (toy_run / "eval.json").exists()
    idx = torch.randperm(N_TEST, generator=torch.Generator().manual_seed(0))[:8]
    expected = glcm_features(_real_test(toy_run)[idx])["energy"].mean()
    assert res["glcm"]["real"]["energy"] == pytest.approx(float(expected), rel=1e-12)


def test_niqe_set_pooling() -> None:
    # a set of one image pooled = that image's NIQE (same blocks, same Gaussian fit): 1e-9
    g = torch.Generator().manual_seed(0)
    x = torch.rand(3, 3, 32, 32, generator=g).double()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)
        ref = niqe(x[:1], block_size=16)
    assert niqe_set(x[:1])["value"] == pytest.approx(float(ref[0]), rel=1e-9)
    # identical sets: the distance between their pooled Gaussians is 0
    assert niqe_set(x, x)["fake_vs_real"] == pytest.approx(0.0, abs=1e-6)


def test_inception_metrics_without_weights(toy_run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("QAGEN_INCEPTION_WEIGHTS", raising=False)
    # explicitly requested: the clear error of qagen.eval.fid, before any sampling
    with pytest.raises(InceptionWeightsError, match="QAGEN_INCEPTION_WEIGHTS"):
        evaluate_run(toy_run, metrics="swd,fid")
    assert not (toy_run / "eval.json").exists()
    # from "all": skipped with the reason, the other metrics computed
    log = io.StringIO()
    res = evaluate_run(
        toy_run, metrics="all", n_samples=12, swd_kwargs={"patches_per_image": 16}, log=log,
        progress=False,
    )  # fmt: skip
    data = json.loads((toy_run / "eval.json").read_text())
    assert set(data) == {"swd", "fid", "kid", "is", "niqe", "glcm"} == set(res)
    for m in ("fid", "kid", "is"):
        assert data[m]["skipped"] is True and "QAGEN_INCEPTION_WEIGHTS" in data[m]["reason"]
    assert "average" in data["swd"] and "fid, kid, is skipped" in log.getvalue()


def test_fid_kid_is_end_to_end(
    toy_run: Path, random_inception: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """FID/KID/IS of the run with a random Inception from a file; to fit the test budget the
    network input is lowered from 299 to 75 px and FID/KID use the 192-d layer (the full-size
    path is covered by tests/eval/test_fid.py)."""
    from torch_fidelity.feature_extractor_inceptionv3 import FeatureExtractorInceptionV3

    monkeypatch.setattr(FeatureExtractorInceptionV3, "INPUT_IMAGE_SIZE", 75)
    torch.set_flush_denormal(True)  # random weights produce slow denormals (as in test_fid.py)
    try:
        kw = {"verify_hash": False, "feature_layer": "192", "kid_subsets": 5}
        cache = tmp_path / "cache"
        opts = EvalOptions(metrics="fid,kid,is", n_samples=12, progress=False,
                           inception_weights=str(random_inception), cache_dir=str(cache), **kw)  # fmt: skip
        res = evaluate_run(toy_run, opts)
        data = json.loads((toy_run / "eval.json").read_text())
        assert list(data) == ["fid", "kid", "is"]
        # the same numbers from generation_metrics on the independently rebuilt tensors; the
        # real side: 12 of the 24 test images drawn by randperm(24, seed 0): equal to 1e-9
        fake = _expected_fake(toy_run, 12)
        idx = torch.randperm(N_TEST, generator=torch.Generator().manual_seed(0))[:12]
        real = _real_test(toy_run)[idx]
        direct = generation_metrics(
            fake, real, metrics=("fid", "kid", "is"), inception_weights=random_inception,
            cache_dir=False, kid_subset_size=12, isc_splits=10, **kw,
        )  # fmt: skip
        for m in ("fid", "kid", "is"):
            assert data[m]["value"] == pytest.approx(direct[m].value, rel=1e-9, abs=1e-12)
        p = data["fid"]["protocol"]
        assert p["weights_sha256"] == hashlib.sha256(random_inception.read_bytes()).hexdigest()
        assert p["weights_verified"] is False and "75x75" in p["resizer"]
        assert p["checkpoint_step"] == 4 and p["generator"] == "raw"
        assert p["n_fake"] == 12 and p["n_real"] == 12 and p["reference_split"] == "test"
        assert data["kid"]["protocol"]["kid_subset_size"] == 12
        assert data["is"]["protocol"]["isc_splits"] == 10
        # the reference statistics went to the cache, and the second evaluation reads them
        assert Path(p["reference_cache"]).parent == cache and len(list(cache.iterdir())) == 1
        again = evaluate_run(toy_run, opts, metrics="fid")
        assert again["fid"]["value"] == res["fid"]["value"]
    finally:
        torch.set_flush_denormal(False)


def test_eval_command(toy_run: Path, capsys: pytest.CaptureFixture) -> None:
    out = io.StringIO()
    opts = EvalOptions(metrics="swd,glcm", n_samples=8)  # progress on (the default)
    assert eval_command(toy_run, opts, stream=out) == 0
    text = out.getvalue()
    assert "eval-toy step 4 (raw generator)" in text and "swd " in text and "glcm" in text
    assert "lower is better; real vs real" in text
    assert f"wrote {toy_run / 'eval.json'}" in text
    assert not (toy_run / "report.html").exists()  # no hidden report any more
    # a progress bar per stage on stderr, each with its name
    err = capsys.readouterr().err
    for stage in ("sampling the raw generator", "reading the real images",
                  "SWD descriptors of the generated images", "GLCM of the real images"):  # fmt: skip
        assert stage in err, stage
    # qagen eval --report: the report too, explicitly
    from qagen.cli import main

    assert main(["eval", str(toy_run), "--metrics", "glcm", "--n-samples", "4", "--report"]) == 0
    assert (toy_run / "report.html").is_file() and "report.html" in capsys.readouterr().out
    with pytest.raises(FileNotFoundError, match="run directory not found"):
        eval_command(toy_run / "nope", opts, stream=out)
    shutil.rmtree(toy_run / "checkpoints")
    with pytest.raises(FileNotFoundError, match="no checkpoint"):
        eval_command(toy_run, opts, stream=out)
    # --crop is for quality-map runs only: never silently ignored
    capsys.readouterr()
    assert (
        main(["eval", str(toy_run), "--metrics", "glcm", "--n-samples", "4", "--crop", "64"]) != 0
    )
    assert "crop applies to qmap-* runs only" in capsys.readouterr().err


def test_generator_and_reference_split_are_recorded(toy_run: Path) -> None:
    """--generator raw samples the raw weights and says so; --reference-split picks the split;
    the SWD record carries its real-vs-real scale at the same n."""
    opts = EvalOptions(metrics="swd", n_samples=10, generator="raw", reference_split="train",
                       swd_kwargs={"patches_per_image": 16}, progress=False)  # fmt: skip
    res = evaluate_run(toy_run, opts, write=False)
    p = res["swd"]["protocol"]
    assert p["generator"] == "raw" and p["reference_split"] == "train"
    assert p["run_data_split"] == "train" and p["n_real"] == 10
    # the generated set is the raw generator's: SWD recomputed on it (and the same real draw)
    fake = _q(_expected_fake(toy_run, 10, ema=False))
    base = res["swd"]["real_vs_real"]
    assert base["n"] == 10 and "disjoint" in base["second_set"]
    from qagen.train.config import load_toml

    data_dir = Path(load_toml(toy_run / "config.toml")["data"]["spec"].split(":", 1)[1])
    files = sorted((data_dir / "train").glob("*.png"))
    arr = np.stack([np.asarray(Image.open(f).convert("RGB")) for f in files])
    train = torch.from_numpy(arr).permute(0, 3, 1, 2).float() / 255
    perm = torch.randperm(len(files), generator=torch.Generator().manual_seed(0))
    real, second = train[perm[:10]], train[perm[10:20]]
    direct = swd(fake, real, patches_per_image=16)
    assert res["swd"]["average"] == pytest.approx(direct.average, rel=1e-9)
    # the scale: SWD of the two independent real sets of 10
    assert base["average"] == pytest.approx(
        swd(real, second, patches_per_image=16).average, rel=1e-9
    )
    # the test split (24 images) is too small for two disjoint sets of 20: the second set
    # comes from the training split, and the record says so
    res = evaluate_run(toy_run, opts.replace(n_samples=20, reference_split=None), write=False)
    assert res["swd"]["protocol"]["reference_split"] == "test"
    assert "[train]" in res["swd"]["real_vs_real"]["second_set"]


def test_ema_records_sit_beside_the_raw_ones(toy_run: Path) -> None:
    """--generator ema scores the EMA copy and keeps its record as METRIC@ema beside the raw
    one (issue 23: one run, both generators, never overwriting each other)."""
    kw = {"metrics": "swd", "n_samples": 8, "swd_kwargs": {"patches_per_image": 16},
          "progress": False, "swd_baseline": False}  # fmt: skip
    raw = evaluate_run(toy_run, **kw)
    ema = evaluate_run(toy_run, generator="ema", **kw)
    data = json.loads((toy_run / "eval.json").read_text())
    assert set(data) == {"swd", "swd@ema"}
    assert data["swd"]["protocol"]["generator"] == "raw"
    assert data["swd@ema"]["protocol"]["generator"] == "ema"
    assert data["swd"]["average"] == raw["swd"]["average"] != ema["swd"]["average"]
    idx = torch.randperm(N_TEST, generator=torch.Generator().manual_seed(0))[:8]
    real = _real_test(toy_run)[idx]  # the 8 real images the evaluation draws with seed 0
    direct = swd(_q(_expected_fake(toy_run, 8, ema=True)), real, patches_per_image=16)
    assert data["swd@ema"]["average"] == pytest.approx(direct.average, rel=1e-9)


def test_ema_of_a_run_without_one_is_an_error(tmp_path: Path, toy_run: Path, capsys) -> None:
    """No silent fallback to the raw weights: --generator ema on a run that keeps no EMA exits 2
    naming the run, and nothing is written."""
    from qagen.cli import main

    ck = toy_run / "checkpoints" / "step_00000004.pt"
    state = torch.load(ck, weights_only=True)
    state["ema"] = {}
    torch.save(state, ck)
    with pytest.raises(InputError, match=f"run {toy_run}: the checkpoint holds no EMA"):
        restore_run(toy_run).generate(4, ema=True)
    assert restore_run(toy_run).generate(4).shape[0] == 4  # pictures: the raw weights
    rc = main(["eval", str(toy_run), "--metrics", "swd", "--n-samples", "4", "--generator", "ema"])
    assert rc == 2 and "holds no EMA" in capsys.readouterr().err
    assert not (toy_run / "eval.json").exists()


def test_checkpoint_init_is_the_untrained_generator(tmp_path: Path, toy_run: Path) -> None:
    """restore_run(RUN, "init"): the weights the trainer started from (its own construction with
    the run's seed). Checked against a second run of the same configuration trained with a zero
    learning rate, whose step-2 weights are still the initial ones."""
    from qagen.train.checkpoint import load_checkpoint

    init = restore_run(toy_run, "init")
    assert init.step == 0 and not init.has_ema
    other = tmp_path / "frozen"
    data = Path(load_toml_spec(toy_run).split(":", 1)[1])
    overrides = ["train.device=cpu", "train.batch_size=8", "train.checkpoint_every=2",
                 "train.progress=false", "train.tensorboard=false", "train.ema_decay=0.5",
                 "train.rollback=false", "data.num_workers=0", f"data.resolution={RES}",
                 "lr=0.0"]  # fmt: skip
    assert train_main("eval-toy", data=f"folder:{data}", out=str(other), max_steps=2,
                      overrides=overrides) == 0  # fmt: skip
    frozen = load_checkpoint(other / "checkpoints" / "step_00000002.pt")["modules"]["G"]
    for k, v in init.recipe.G.state_dict().items():
        torch.testing.assert_close(v, frozen[k], rtol=0, atol=0)
    trained = restore_run(toy_run).generate(8, ema=False)
    assert (init.generate(8) - trained).abs().max() > 1e-3
    with pytest.raises(InputError, match="holds no EMA"):
        init.generate(4, ema=True)


def load_toml_spec(run: Path) -> str:
    from qagen.train.config import load_toml

    return load_toml(run / "config.toml")["data"]["spec"]
