"""One lazy registry class for every kind of named plug-in, and the registries of qagen.

A :class:`Registry` maps a name to a *target*: a ``"module:attribute"`` string imported on
first use (so listing the names never imports torch or the module), or any object (a preset's
file path, a metric's metadata), plus keyword metadata (a report section's recipe patterns and
order, an evaluator's recipe pattern). An unknown name raises
:class:`qagen.errors.UnknownNameError`: one line listing the valid names.

The registries (this module needs only the standard library):

=================== ================================== =====================================
registry            a name maps to                     metadata
=================== ================================== =====================================
``METRICS``         :class:`qagen.iqa.registry.MetricInfo` aliases
``RECIPES``         a :class:`qagen.train.Recipe` class
``PRESETS``         a preset's TOML file (``Path``)
``DATA_SOURCES``    a dataset class (``--data NAME:ROOT``)  ``root``: ``"required"|"none"``
``NETWORKS``        a ``(generator, critic)`` class pair
``EXPERIMENTS``     a :class:`qagen.experiments.Experiment`
``REPORT_SECTIONS`` ``provider(run) -> [Section]``      ``recipes`` patterns, ``order``
``EVALUATORS``      ``fn(run_dir, options, stream)``    ``recipes`` pattern
``MAP_VIEWS``       how ``qagen map`` draws a metric   (objects, added by :mod:`qagen.viz`)
=================== ================================== =====================================

The core's own entries are added below or by the module named in ``loaders`` (imported before
the first look-up); each method adds its entries in ``qagen/methods/<name>/__init__.py``, which
:mod:`qagen.methods` imports (``qagen/__init__.py`` imports it: the one place that names the
methods). Nothing in the core names a method.
"""

from __future__ import annotations

import fnmatch
import importlib
import threading
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from qagen.errors import InputError, UnknownNameError

__all__ = [
    "DATA_SOURCES",
    "EVALUATORS",
    "EXPERIMENTS",
    "Entry",
    "MAP_VIEWS",
    "METRICS",
    "NETWORKS",
    "PRESETS",
    "RECIPES",
    "REGISTRIES",
    "REPORT_SECTIONS",
    "Registry",
    "load_target",
    "matches",
]


def load_target(target: str) -> Any:
    """Import ``"package.module:attribute"`` (the attribute may be dotted) and return it."""
    module, sep, attr = target.partition(":")
    if not sep or not module or not attr:
        raise InputError(f"target must be 'module:attribute', got {target!r}")
    obj: Any = importlib.import_module(module)
    for part in attr.split("."):
        obj = getattr(obj, part)
    return obj


def matches(name: str, patterns: str | Iterable[str] | Callable[[str], bool]) -> bool:
    """Whether ``name`` matches a shell pattern (``"qmap-*"``; ``"*"`` = any), one of a list of
    patterns, or a predicate ``f(name) -> bool`` (or its ``"module:function"``)."""
    if isinstance(patterns, str) and ":" in patterns:  # a predicate named "module:function"
        patterns = load_target(patterns)
    if callable(patterns):
        return bool(patterns(name))
    if isinstance(patterns, str):
        patterns = (patterns,)
    return any(fnmatch.fnmatchcase(name, p) for p in patterns)


@dataclass(frozen=True)
class Entry:
    """One registered name: its ``target`` (``"module:attr"`` or an object) and ``meta``."""

    name: str
    target: Any
    meta: dict = field(default_factory=dict)

    @property
    def lazy(self) -> bool:
        """Whether the target is a ``"module:attr"`` string imported on use."""
        return isinstance(self.target, str) and ":" in self.target


class Registry:
    """A lazy name -> target registry (see the module docstring).

    Args:
        kind: what the names are ("recipe", "metric", ...), used in error messages.
        normalize: maps a name before storing and looking it up (e.g. case-folding).
        loaders: modules imported before the first look-up; they add the core's entries.
    """

    def __init__(
        self,
        kind: str,
        *,
        normalize: Callable[[str], str] | None = None,
        loaders: tuple[str, ...] = (),
    ) -> None:
        self.kind = kind
        self._normalize = normalize or (lambda s: s)
        self._loaders = list(loaders)
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}
        self._loaded: dict[str, Any] = {}
        self._lock = threading.RLock()

    # -- adding
    def add(
        self,
        name: str,
        target: Any,
        *,
        aliases: Iterable[str] = (),
        replace: bool = False,
        **meta: Any,
    ) -> Entry:
        """Register ``target`` under ``name`` (and ``aliases``); ``meta`` is kept with it.

        Adding a name again raises :class:`InputError` unless ``replace`` is true or the
        target is the same.
        """
        if not isinstance(name, str) or not name:
            raise InputError(f"{self.kind} name must be a non-empty string, got {name!r}")
        key = self._normalize(name)
        old = self._entries.get(key)
        if old is not None and not replace and not _same_target(old.target, target):
            raise InputError(f"{self.kind} name {name!r} is already registered ({old.target!r})")
        if old is not None and not meta:
            meta = old.meta  # a decorator replacing a lazy entry keeps its metadata
        akeys = {self._normalize(alias): alias for alias in aliases}
        for akey, alias in akeys.items():  # checked before anything changes
            if akey in self._entries or self._aliases.get(akey, key) != key:
                raise InputError(f"{self.kind} alias {alias!r} is already registered")
        entry = Entry(old.name if old is not None else name, target, dict(meta))
        with self._lock:
            self._entries[key] = entry
            self._loaded.pop(key, None)
            self._aliases.update(dict.fromkeys(akeys, key))
        return entry

    def decorator(self, name: str, **meta: Any) -> Callable[[Any], Any]:
        """``@REGISTRY.decorator(name)``: register the decorated object itself (eagerly)."""

        def deco(obj: Any) -> Any:
            self.add(name, obj, **meta)
            return obj

        return deco

    def remove(self, name: str) -> None:
        """Forget ``name`` (tests and plug-ins that register temporary entries)."""
        key = self._key(name)
        with self._lock:
            self._entries.pop(key, None)
            self._loaded.pop(key, None)
            for a in [a for a, k in self._aliases.items() if k == key]:
                del self._aliases[a]

    # -- looking up
    def _ensure_loaded(self) -> None:
        while self._loaders:
            importlib.import_module(self._loaders.pop(0))

    def _key(self, name: str) -> str:
        key = self._normalize(name) if isinstance(name, str) else name
        return self._aliases.get(key, key)

    def __contains__(self, name: object) -> bool:
        self._ensure_loaded()
        return isinstance(name, str) and self._key(name) in self._entries

    def entry(self, name: str) -> Entry:
        """The :class:`Entry` of ``name`` (nothing is imported); :class:`UnknownNameError`
        (one line listing the valid names) when it is not registered."""
        self._ensure_loaded()
        try:
            return self._entries[self._key(name)]
        except (KeyError, TypeError):
            raise UnknownNameError(self.kind, name, self.available()) from None

    def get(self, name: str) -> Any:
        """The target of ``name``, imported on first use when it is a ``"module:attr"``."""
        entry = self.entry(name)
        key = self._key(name)
        if not entry.lazy:
            return entry.target
        with self._lock:
            if key not in self._loaded:
                self._loaded[key] = load_target(entry.target)
            return self._loaded[key]

    def available(self) -> list[str]:
        """Registered names, in registration order (aliases excluded); imports nothing."""
        self._ensure_loaded()
        return [e.name for e in self._entries.values()]

    def entries(self) -> Iterator[Entry]:
        """Every :class:`Entry`, in registration order."""
        self._ensure_loaded()
        return iter(list(self._entries.values()))

    def matching(self, recipe: str) -> list[Entry]:
        """Entries whose ``meta["recipes"]`` patterns match ``recipe`` (registration order)."""
        return [e for e in self.entries() if matches(recipe, e.meta.get("recipes", "*"))]

    def __getitem__(self, name: str) -> Any:
        """``registry[name]`` is :meth:`get`."""
        return self.get(name)

    def __iter__(self) -> Iterator[str]:
        """The registered names (as :meth:`available`)."""
        return iter(self.available())

    def __len__(self) -> int:
        self._ensure_loaded()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"


def _same_target(a: Any, b: Any) -> bool:
    """Whether two targets name the same thing: equal, or an object and the ``"module:attr"``
    string that names it (a decorator registering the class its package named lazily)."""
    if a is b or (isinstance(a, (str, Path)) and a == b):
        return True
    for s, obj in ((a, b), (b, a)):
        if isinstance(s, str) and ":" in s and hasattr(obj, "__qualname__"):
            if s == f"{getattr(obj, '__module__', '')}:{obj.__qualname__}":
                return True
    # a class re-created by a module re-import (importlib.reload in tests)
    return (
        isinstance(a, type)
        and isinstance(b, type)
        and ((a.__module__, a.__qualname__) == (b.__module__, b.__qualname__))
    )


def _metric_key(name: str) -> str:
    return str(name).lower().replace("-", "_")


# --------------------------------------------------------------------------- the registries
METRICS = Registry("metric", normalize=_metric_key, loaders=("qagen.iqa.registry",))
RECIPES = Registry("recipe")
PRESETS = Registry("preset")
DATA_SOURCES = Registry("data source", normalize=lambda s: s.strip().lower())
NETWORKS = Registry("network name")
EXPERIMENTS = Registry("experiment")
REPORT_SECTIONS = Registry("report section")
EVALUATORS = Registry("evaluator")
MAP_VIEWS = Registry("map view", normalize=_metric_key, loaders=("qagen.viz",))

#: every registry by kind (``qagen registry``, and the test that resolves every target)
REGISTRIES: dict[str, Registry] = {
    r.kind: r
    for r in (
        METRICS,
        RECIPES,
        PRESETS,
        DATA_SOURCES,
        NETWORKS,
        EXPERIMENTS,
        REPORT_SECTIONS,
        EVALUATORS,
        MAP_VIEWS,
    )  # fmt: skip
}

# -- the core's entries (the methods add theirs in qagen/methods/<name>/__init__.py)
_D = "qagen.data."
DATA_SOURCES.add("builtin", _D + "builtin:BuiltinPhotoDataset", root="none")
DATA_SOURCES.add("cifar10", _D + "standard:CIFAR10Dataset", root="required")
DATA_SOURCES.add("stl10", _D + "standard:STL10Dataset", root="required")
DATA_SOURCES.add("celeba", _D + "standard:CelebADataset", root="required")
DATA_SOURCES.add("folder", _D + "folder:ImageFolderDataset", root="folder")
DATA_SOURCES.add("fashion-mnist", _D + "fashion_mnist:build_fashion_mnist", root="raw")

NETWORKS.add("resnet", "qagen.gan.nets.resnet:NETWORK_PAIR")
NETWORKS.add("dcgan", "qagen.gan.nets.dcgan:NETWORK_PAIR")
NETWORKS.add("stylegan2", "qagen.gan.nets.stylegan2:NETWORK_PAIR")

#: positions of the run report's sections (see :mod:`qagen.report.run`)
ORDER_SUMMARY, ORDER_EVALUATION, ORDER_CURVES, ORDER_SAMPLES = 10, 20, 30, 40
ORDER_RECIPE, ORDER_CONFIG = 50, 90
_S = "qagen.report.sections."
REPORT_SECTIONS.add("summary", _S + "common:summary_section", recipes="*", order=ORDER_SUMMARY)
REPORT_SECTIONS.add("evaluation", _S + "evaluation:evaluation_section", recipes="*",
                    order=ORDER_EVALUATION)  # fmt: skip
REPORT_SECTIONS.add("curves", _S + "common:curves_section", recipes="*", order=ORDER_CURVES)
REPORT_SECTIONS.add("samples", _S + "common:samples_section", recipes="*", order=ORDER_SAMPLES)
REPORT_SECTIONS.add("gan-quality-maps", "qagen.eval.gan_maps:quality_map_section",
                    recipes="qagen.eval.gan_maps:is_gan_recipe", order=ORDER_RECIPE)  # fmt: skip
REPORT_SECTIONS.add("config", _S + "common:config_section", recipes="*", order=ORDER_CONFIG)
