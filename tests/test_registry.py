"""The one lazy Registry (qagen/registry.py): lazy targets, metadata, one-line errors, aliases,
duplicates, decorators, recipe patterns; and that the CLI's registries import no torch."""

from __future__ import annotations

import subprocess
import sys

import pytest

from qagen.errors import InputError, UnknownNameError
from qagen.registry import Registry, load_target, matches


@pytest.fixture
def plugin_module(tmp_path, monkeypatch):
    """A module that records being imported, on sys.path."""
    name = "qagen_test_plugin_mod"
    (tmp_path / f"{name}.py").write_text(
        "IMPORTS = 1\nclass Thing:\n    pass\nclass Sub:\n    class Inner:\n        pass\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    sys.modules.pop(name, None)
    yield name
    sys.modules.pop(name, None)


def test_targets_are_imported_on_first_get_only(plugin_module):
    reg = Registry("widget")
    reg.add("thing", f"{plugin_module}:Thing", colour="red")
    assert reg.available() == ["thing"] and "thing" in reg
    assert reg.entry("thing").meta == {"colour": "red"} and reg.entry("thing").lazy
    assert plugin_module not in sys.modules  # listing and entries import nothing
    cls = reg.get("thing")
    assert plugin_module in sys.modules and cls.__name__ == "Thing"
    assert reg["thing"] is cls and list(reg) == ["thing"] and len(reg) == 1
    assert load_target(f"{plugin_module}:Sub.Inner").__qualname__ == "Sub.Inner"


def test_unknown_names_give_one_line_listing_the_names():
    reg = Registry("widget")
    for name in ("alpha", "beta", "gamma"):
        reg.add(name, object())
    with pytest.raises(UnknownNameError) as err:
        reg.get("betta")
    msg = str(err.value)
    assert "\n" not in msg and "unknown widget 'betta'" in msg
    assert "did you mean beta" in msg and "alpha, beta, gamma" in msg
    with pytest.raises(InputError, match="module:attribute"):
        load_target("no_colon_here")


def test_duplicates_aliases_and_normalisation():
    reg = Registry("metric", normalize=lambda s: s.lower().replace("-", "_"))
    first = object()
    reg.add("ms_ssim", first, aliases=("msssim",))
    assert reg.get("MS-SSIM") is first and reg.get("msssim") is first
    assert reg.available() == ["ms_ssim"]  # aliases are not listed
    with pytest.raises(InputError, match="already registered"):
        reg.add("ms-ssim", object())
    reg.add("ms_ssim", first)  # the same target again is no error
    other = object()
    reg.add("ms_ssim", other, replace=True)
    assert reg.get("msssim") is other
    with pytest.raises(InputError, match="alias 'msssim'"):
        reg.add("psnr", object(), aliases=("msssim",))
    assert reg.available() == ["ms_ssim"]  # a refused entry leaves nothing behind
    reg.remove("ms_ssim")
    assert "msssim" not in reg and reg.available() == []


def test_a_decorator_fills_the_lazy_entry_that_names_its_class(plugin_module):
    reg = Registry("widget")
    reg.add("thing", f"{plugin_module}:Thing", order=5)
    import importlib

    mod = importlib.import_module(plugin_module)
    reg.decorator("thing")(mod.Thing)  # the class the string names: accepted, metadata kept
    assert reg.get("thing") is mod.Thing and reg.entry("thing").meta == {"order": 5}
    with pytest.raises(InputError, match="already registered"):
        reg.decorator("thing")(mod.Sub)  # another class under the same name is refused


def test_loaders_run_before_the_first_lookup(plugin_module):
    reg = Registry("widget", loaders=(plugin_module,))
    assert plugin_module not in sys.modules
    assert reg.available() == [] and plugin_module in sys.modules


def test_recipe_patterns():
    assert matches("qmap-unet", "qmap-*") and not matches("qmf", "qmap-*")
    assert matches("qmf", ["began", "qmf"]) and matches("anything", "*")
    assert matches("x-a", lambda n: n.endswith("-a"))
    assert matches("wgan-gp", "qagen.eval.gan_maps:is_gan_recipe")  # a named predicate
    assert not matches("qmf", "qagen.eval.gan_maps:is_gan_recipe")


def test_the_qagen_registries_need_no_torch():
    code = (
        "import sys\n"
        "from qagen.registry import REGISTRIES\n"
        "names = {k: r.available() for k, r in REGISTRIES.items() if k != 'map view'}\n"
        "assert 'qmf' in names['recipe'] and 'qmf-demo' in names['preset']\n"
        "assert 'qmap' in names['metric'] and 'paired' in names['data source']\n"
        "assert 'qmf-table4' in names['experiment'] and 'qmap' in names['evaluator']\n"
        "print('torch' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
