"""Preset inheritance (``base = "NAME"``): the chain, its errors, the saved configuration, the
shipped presets written as a base plus their differences, and ``qagen train --print-config``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import train_toys  # noqa: F401  (registers the toy-wgan-gp recipe)
from train_toys import RandomImages

import qagen.train.main as train_main_mod
from qagen.cli import main as cli_main
from qagen.errors import InputError, UnknownNameError
from qagen.train import Trainer, resolve_run_config, train_main
from qagen.train.config import (
    available_presets,
    load_preset,
    load_toml,
    loads_toml,
    merge_tables,
    preset_path,
    run_config_to_dict,
)

FAST = [
    "train.batch_size=8",
    "train.device=cpu",
    "train.log_every=1",
    "train.sample_every=0",
    "train.checkpoint_every=0",
    "train.checkpoint_every_minutes=0",
    "train.progress=false",
    "train.tensorboard=false",
    "data.num_workers=0",
]


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def _flat(d: dict[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    out: dict[tuple[str, ...], Any] = {}
    for k, v in d.items():
        if isinstance(v, dict):
            out.update(_flat(v, (*prefix, k)))
        else:
            out[(*prefix, k)] = v
    return out


@pytest.fixture
def chain(tmp_path: Path) -> Path:
    """grand.toml <- presets/mid.toml <- presets/child.toml (paths relative to each file)."""
    _write(
        tmp_path / "grand.toml",
        'recipe = "toy-wgan-gp"\n[train]\nbatch_size = 32\nseed = 1\n'
        "[hparams]\nz_dim = 16\nlr = 0.002\nbetas = [0.5, 0.99]\n",
    )
    _write(
        tmp_path / "presets" / "mid.toml",
        'base = "../grand.toml"\n[train]\nseed = 2\n[hparams]\nbetas = [0.1, 0.2]\n',
    )
    return _write(
        tmp_path / "presets" / "child.toml",
        'base = "mid.toml"\n[hparams]\nlr = 0.01\n[data]\nspec = "toy"\n',
    )


# --------------------------------------------------------------------------- the chain
def test_merge_tables_merges_tables_and_replaces_everything_else():
    base = {"a": [1, 2, 3], "t": {"x": 1, "y": 2, "s": {"p": 1, "q": 2}}, "k": 1}
    over = {"a": [9], "t": {"y": 3, "s": {"q": 5}}, "n": "new"}
    merged = merge_tables(base, over)
    assert merged == {"a": [9], "t": {"x": 1, "y": 3, "s": {"p": 1, "q": 5}}, "k": 1, "n": "new"}
    assert base["t"]["y"] == 2 and base["t"]["s"] == {"p": 1, "q": 2}  # inputs unchanged


def test_two_level_chain_deep_merges(chain):
    data = load_preset(chain)
    assert "base" not in data
    assert data == {
        "recipe": "toy-wgan-gp",
        "train": {"batch_size": 32, "seed": 2},
        "data": {"spec": "toy"},
        "hparams": {"z_dim": 16, "lr": 0.01, "betas": [0.1, 0.2]},  # the array replaced
    }
    run = resolve_run_config(preset=chain)
    assert run.recipe == "toy-wgan-gp" and run.train.batch_size == 32 and run.train.seed == 2
    assert (run.hparams.z_dim, run.hparams.lr, run.hparams.betas) == (16, 0.01, (0.1, 0.2))
    assert run.data.spec == "toy"
    # --set still wins over the whole chain; --data over its data.spec
    run = resolve_run_config(preset=chain, data="other", overrides=["hparams.z_dim=4"])
    assert run.hparams.z_dim == 4 and run.data.spec == "other" and run.hparams.lr == 0.01


def test_a_shipped_name_as_base_merges_nested_tables(tmp_path):
    preset = _write(tmp_path / "p.toml", 'base = "qagan-niqe"\n[hparams.niqe]\nwarmup_steps = 7\n')
    full, mine = resolve_run_config(preset="qagan-niqe"), resolve_run_config(preset=preset)
    assert mine.recipe == "qagan-niqe" and mine.hparams.niqe.warmup_steps == 7
    assert mine.hparams.niqe.variant == full.hparams.niqe.variant
    assert mine.hparams.niqe.ridge == full.hparams.niqe.ridge
    assert mine.hparams.lr == full.hparams.lr and mine.train == full.train


def test_base_cycle_is_an_error_naming_the_files(tmp_path):
    a = _write(tmp_path / "a.toml", 'base = "b.toml"\nrecipe = "toy-wgan-gp"\n')
    _write(tmp_path / "b.toml", 'base = "a.toml"\n')
    with pytest.raises(InputError, match="cycle") as err:
        load_preset(a)
    assert "a.toml" in str(err.value) and "b.toml" in str(err.value)
    me = _write(tmp_path / "me.toml", 'base = "me.toml"\n')
    with pytest.raises(InputError, match="cycle.*me.toml -> .*me.toml"):
        resolve_run_config(preset=me)


def test_unknown_base_is_an_error_naming_the_file(tmp_path):
    p = _write(tmp_path / "p.toml", 'base = "qmf-ful"\n')
    with pytest.raises(UnknownNameError, match="did you mean qmf-full") as err:
        load_preset(p)
    assert str(p) in str(err.value) and err.value.name == "qmf-ful"
    missing = _write(tmp_path / "m.toml", 'base = "nowhere.toml"\n')
    with pytest.raises(InputError, match="base preset file not found.*nowhere.toml"):
        load_preset(missing)
    bad = _write(tmp_path / "bad.toml", "base = 3\n")
    with pytest.raises(InputError, match="'base' must be"):
        load_preset(bad)


def test_recipe_mismatch_with_the_base_is_an_error(tmp_path):
    p = _write(tmp_path / "p.toml", 'base = "bwgan"\nrecipe = "wgan-gp"\n')
    with pytest.raises(InputError, match="recipe 'wgan-gp'.*'bwgan'") as err:
        load_preset(p)
    assert str(p) in str(err.value) and "bwgan.toml" in str(err.value)
    # the explicit recipe argument must agree with the recipe the chain resolves to
    q = _write(tmp_path / "q.toml", 'base = "bwgan"\n')
    with pytest.raises(InputError, match="is for recipe 'bwgan', not 'wgan-gp'"):
        resolve_run_config("wgan-gp", preset=q)


# --------------------------------------------------------------------------- saved config
def test_saved_config_holds_the_resolved_values_without_base(chain, tmp_path, monkeypatch):
    monkeypatch.setattr(train_main_mod, "build_training_dataset", lambda data: RandomImages(32))
    out = tmp_path / "run"
    assert train_main(None, preset=str(chain), out=str(out), max_steps=1, overrides=FAST) == 0
    saved = load_toml(out / "config.toml")
    assert "base" not in saved
    resolved = resolve_run_config(preset=chain, max_steps=1, overrides=FAST)
    assert saved == run_config_to_dict(resolved)
    assert saved["hparams"]["betas"] == [0.1, 0.2] and saved["train"]["batch_size"] == 8
    # the saved file is a complete preset of its own: the chain's files are not needed
    for f in (chain, chain.parent / "mid.toml", tmp_path / "grand.toml"):
        f.unlink()
    assert resolve_run_config(preset=out / "config.toml") == resolved


# --------------------------------------------------------------------------- --print-config
def test_print_config_prints_the_resolution_and_creates_nothing(
    chain, tmp_path, monkeypatch, capsys
):
    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("--print-config must not train")

    monkeypatch.setattr("qagen.train.train_main", refuse)
    monkeypatch.setattr(Trainer, "__init__", refuse)
    empty = tmp_path / "cwd"
    empty.mkdir()
    monkeypatch.chdir(empty)
    args = ["train", "--preset", str(chain), "--print-config", "--data", "elsewhere"]
    assert cli_main([*args, "--set", "hparams.n_critic=3", "--max-steps", "9"]) == 0
    out = capsys.readouterr().out
    printed = loads_toml(out)
    expected = resolve_run_config(
        preset=chain, data="elsewhere", overrides=["hparams.n_critic=3"], max_steps=9
    )
    assert printed == run_config_to_dict(expected) and "base" not in printed
    assert list(empty.iterdir()) == []

    # a shipped preset by recipe and 'demo', as for training
    assert cli_main(["train", "qmf", "--preset", "demo", "--print-config"]) == 0
    printed = loads_toml(capsys.readouterr().out)
    assert printed == run_config_to_dict(resolve_run_config("qmf", preset="qmf-demo"))
    assert list(empty.iterdir()) == []


def test_print_config_bad_input_is_one_line_exit_2(chain, tmp_path, capsys):
    assert cli_main(["train", "--preset", str(chain), "--print-config", "--set", "lrr=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "unknown configuration key 'lrr'" in err
    bad = _write(tmp_path / "bad.toml", 'base = "qmf-ful"\n')
    assert cli_main(["train", "--preset", str(bad), "--print-config"]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "did you mean qmf-full" in err
    assert cli_main(["train", "--resume", str(tmp_path), "--print-config"]) == 2
    assert "config.toml" in capsys.readouterr().err


# --------------------------------------------------------------------------- shipped presets
BASED = [n for n in available_presets() if "base" in load_toml(preset_path(n))]


def test_every_demo_preset_names_a_base():
    demos = [n for n in available_presets() if n.endswith("-demo")]
    assert demos and set(demos) <= set(BASED)


@pytest.mark.parametrize("name", BASED)
def test_shipped_preset_is_its_base_except_the_listed_lines(name):
    own = load_toml(preset_path(name))
    base = own.pop("base")
    child = _flat(run_config_to_dict(resolve_run_config(preset=name)))
    parent = _flat(run_config_to_dict(resolve_run_config(preset=base)))
    listed = _flat(own)
    changed = {k for k in child if child[k] != parent[k]}
    assert changed <= set(listed), (
        f"{name}: differs from {base} in unlisted {changed - set(listed)}"
    )
    # only the lines that differ are written out (the recipe comes from the base)
    assert set(listed) == changed, f"{name} repeats {base}: {sorted(set(listed) - changed)}"


def test_qmf_full_demo_is_qmf_full_with_demo_sizes():
    full, demo = resolve_run_config(preset="qmf-full"), resolve_run_config(preset="qmf-full-demo")
    own = _flat(load_toml(preset_path("qmf-full-demo")))
    assert own.pop(("base",)) == "qmf-full"
    changed = {
        k
        for k, v in _flat(run_config_to_dict(full)).items()
        if _flat(run_config_to_dict(demo))[k] != v
    }
    assert changed == set(own)
    assert demo.hparams.ngf == 16 and full.hparams.ngf == 64 and demo.data.spec == "builtin"
    assert demo.hparams.lr == full.hparams.lr and demo.hparams.niqe.warmup_steps == 20
