"""Configuration: --set overrides with type conversion, unknown keys, presets, TOML round trip."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import pytest
from train_toys import ToyConfig

from qagen.train import RunConfig, TrainConfig, apply_overrides, resolve_run_config
from qagen.train.config import (
    DataConfig,
    dumps_toml,
    loads_toml,
    run_config_from_dict,
    run_config_to_dict,
)


@dataclass
class Inner:
    gamma: float = 0.5
    name: str = "x"


@dataclass
class HP:
    lr: float = 2e-4
    betas: tuple[float, float] = (0.0, 0.9)
    widths: tuple[int, ...] = (64, 128)
    metrics: list[str] = field(default_factory=lambda: ["ssim"])
    weights: dict[str, float] = field(default_factory=lambda: {"ssim": 1.0})
    n_critic: int = 5
    use_ema: bool = True
    floor: float | None = None
    mode: Literal["ssim", "niqe"] = "ssim"
    sub: Inner = field(default_factory=Inner)
    batch_size: int = 3  # also a train field: bare key is ambiguous


def _run() -> RunConfig:
    return RunConfig(recipe="t", train=TrainConfig(), data=DataConfig(), hparams=HP())


def test_overrides_convert_to_field_types():
    run = apply_overrides(
        _run(),
        [
            "hparams.lr=1e-4",
            "betas=0.5,0.999",
            "widths=[32, 64, 96]",
            'metrics=["ssim", "gms"]',
            "weights={ssim = 0.5, gms = 2}",
            "n_critic=1e1",  # an integral float is accepted for an int
            "use_ema=no",
            "floor=0.01",
            "mode=niqe",
            "sub.gamma=0.7",
            'hparams.sub.name="quoted"',
            "train.max_steps=1_000_000",
            "max_minutes=90",
            "train.deterministic=true",
            "data.spec=cifar10:/data/c10",
        ],
    )
    hp = run.hparams
    assert hp.lr == 1e-4 and hp.betas == (0.5, 0.999) and hp.widths == (32, 64, 96)
    assert hp.metrics == ["ssim", "gms"] and hp.weights == {"ssim": 0.5, "gms": 2.0}
    assert hp.n_critic == 10 and hp.use_ema is False and hp.floor == 0.01 and hp.mode == "niqe"
    assert hp.sub == Inner(gamma=0.7, name="quoted")
    assert run.train.max_steps == 1_000_000 and run.train.max_minutes == 90.0
    assert run.train.deterministic is True and run.data.spec == "cifar10:/data/c10"
    assert apply_overrides(run, ["floor=none"]).hparams.floor is None
    assert _run().hparams.betas == (0.0, 0.9)  # the input is not mutated


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "hparams.lrr=1",
            r"unknown configuration key 'hparams.lrr' \(did you mean 'hparams.lr'\?\)",
        ),
        ("n_critc=2", r"unknown configuration key 'n_critc' \(did you mean 'hparams.n_critic'"),
        (
            "sub.gama=1",
            r"unknown configuration key 'hparams.sub.gama' \(did you mean 'hparams.sub.gamma'",
        ),
        ("batch_size=4", r"'batch_size' is ambiguous: write 'train.batch_size' or 'hparams"),
        ("train.max_steps=ten", r"'train.max_steps': cannot use 'ten' as int"),
        ("betas=1,2,3", r"'hparams.betas': cannot use '1,2,3' .* expected 2 items, got 3"),
        ("mode=fid", r"'hparams.mode': .* choose one of \['ssim', 'niqe'\]"),
        ("use_ema=maybe", r"'hparams.use_ema': .* use true or false"),
        ("n_critic=2.5", r"'hparams.n_critic': cannot use 2.5 as int"),
        ("lr", r"not of the form key=value"),
        ("recipe=x", r"recipe cannot be changed"),
    ],
)
def test_override_errors_are_clear(override, message):
    with pytest.raises(ValueError, match=message):
        apply_overrides(_run(), [override])


def test_toml_round_trip_is_exact():
    run = apply_overrides(
        _run(), ["lr=1e-5", "floor=0.1", 'weights={a = 0.3, "b c" = 1e300}', 'sub.name=a"b']
    )
    text = dumps_toml(run_config_to_dict(run), header="resolved config")
    assert text.startswith("# resolved config\n")
    back = run_config_from_dict(loads_toml(text), HP)
    assert back == run
    # None is written as the string "none" and reads back as None
    back = run_config_from_dict(loads_toml(dumps_toml(run_config_to_dict(_run()))), HP)
    assert back.hparams.floor is None
    assert "inf" in dumps_toml({"x": math.inf})


def test_toml_writer_is_tomli_w_and_floats_round_trip(tmp_path):
    import tomli_w

    from qagen.train.config import load_toml, write_toml

    data = {"recipe": "t", "hparams": {"betas": (0.0, 0.9), "path": Path("/x y"), "none": None}}
    text = dumps_toml(data, header="line one\n\nline three")
    plain = {"recipe": "t", "hparams": {"betas": [0.0, 0.9], "path": "/x y", "none": "none"}}
    # the header as comments, then tomli-w's own output of the plain values
    assert text == "# line one\n#\n# line three\n\n" + tomli_w.dumps(plain)
    # floats read back bit-exactly, non-finite ones included (repr-based writing)
    rng = np.random.default_rng(0)
    values = [float(v) for v in rng.normal(size=20) * 10.0 ** rng.integers(-300, 300, 20)]
    values += [0.1 + 0.2, 5e-324, -0.0, math.inf, -math.inf, 1e16, 123456789012345678.0]
    write_toml(tmp_path / "f.toml", {"x": {f"v{i}": v for i, v in enumerate(values)}})
    back = load_toml(tmp_path / "f.toml")["x"]
    assert [back[f"v{i}"] for i in range(len(values))] == values
    assert math.isnan(loads_toml(dumps_toml({"n": math.nan}))["n"])
    assert not list(tmp_path.glob(".*tmp*"))  # atomic write leaves no temporary file
    with pytest.raises(TypeError, match="not storable"):
        dumps_toml({"x": object()})


def test_presets_and_precedence(tmp_path):
    preset = tmp_path / "p.toml"
    preset.write_text(
        'recipe = "toy-wgan-gp"\n[train]\nmax_steps = 50\nbatch_size = 16\n'
        "[hparams]\nlr = 0.0005\nbetas = [0.5, 0.99]\n"
    )
    run = resolve_run_config(
        None,
        preset=str(preset),
        data="folder:/x",
        overrides=["lr=0.001", "train.max_steps=70"],
        max_steps=80,
    )
    assert isinstance(run.hparams, ToyConfig)
    assert run.recipe == "toy-wgan-gp" and run.data.spec == "folder:/x"
    assert run.hparams.lr == 0.001 and run.hparams.betas == (0.5, 0.99)  # override > preset
    assert run.train.batch_size == 16 and run.train.max_steps == 80  # argument > override
    with pytest.raises(ValueError, match="is for recipe 'toy-wgan-gp', not 'wgan-gp'"):
        resolve_run_config("wgan-gp", preset=str(preset))
    preset.write_text('recipe = "toy-wgan-gp"\n[hparams]\nlearning_rate = 1\n')
    with pytest.raises(ValueError, match="unknown configuration key 'hparams.learning_rate'"):
        resolve_run_config(None, preset=str(preset))
    preset.write_text('recipe = "toy-wgan-gp"\n[trian]\nx = 1\n')
    with pytest.raises(ValueError, match=r"'trian' \(did you mean 'train'\?\)"):
        resolve_run_config(None, preset=str(preset))
    with pytest.raises(ValueError, match="unknown preset 'nope'"):
        resolve_run_config("toy-wgan-gp", preset="nope")
    with pytest.raises(ValueError, match="unknown recipe 'toy-wgan'"):
        resolve_run_config("toy-wgan")
