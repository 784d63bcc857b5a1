"""Run configuration: trainer and data dataclasses, TOML presets, ``--set`` overrides, TOML output.

A run is described by a :class:`RunConfig`::

    recipe = "qagan-ssim"       # the registered recipe name

    [train]                     # TrainConfig: loop, checkpoints, EMA, logging
    max_steps = 100000

    [data]                      # DataConfig: what qagen.data.build_dataset receives
    spec = "cifar10:/data/cifar10"

    [hparams]                   # the recipe's own dataclass of hyper-parameters
    lr = 0.0002
    betas = [0.0, 0.9]

Resolution order (later wins): dataclass defaults, the preset chain (or, on resume, the
configuration saved in the checkpoint), the ``--data`` argument, ``--set key=value`` overrides, the
explicit ``max_steps`` / ``max_minutes`` arguments.

A preset may start from another one with a top-level ``base = "NAME"`` (a shipped preset name, or
a ``.toml`` path relative to the preset file)::

    base = "qmf-full"           # everything of qmf-full.toml ...

    [train]
    batch_size = 4              # ... except what this file sets

:func:`load_preset` resolves the base first (recursively: a base may have a base), then merges the
file's own settings over it: tables merge key by key, any other value (arrays included) replaces
the base's. A cycle, an unknown base, or a base for another recipe than the file's explicit
``recipe`` is an :class:`qagen.errors.InputError` naming the files. The resolved dict has no
``base`` key, so a run's saved ``config.toml`` never depends on the preset files.

Keys are ``section.field`` (``train.batch_size``) or a bare ``field`` when exactly one section has
it. Values are converted to the field's declared type (``int``, ``float``, ``bool``, ``str``,
``Path``, ``Literal[...]``, ``X | None``, ``tuple``, ``list``, ``dict[str, X]``, nested
dataclasses); an unknown key or an unconvertible value raises :class:`qagen.errors.InputError` (a
``ValueError``) naming the key and, for unknown keys, the closest known ones.

TOML has no null: a ``None`` value is written as the string ``"none"``, and ``"none"`` / ``"null"``
read into an optional (``X | None``) field gives ``None``.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import types
import typing
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal, Union

from qagen.errors import InputError, InputTypeError, UnknownNameError
from qagen.files import write_atomic
from qagen.registry import PRESETS

try:  # Python >= 3.11
    import tomllib
except ModuleNotFoundError:  # pragma: no cover - Python 3.10 needs the tomli backport
    import tomli as tomllib  # type: ignore[no-redef]

__all__ = [
    "TrainConfig",
    "DataConfig",
    "RunConfig",
    "SECTIONS",
    "config_from_dict",
    "config_to_dict",
    "run_config_from_dict",
    "run_config_to_dict",
    "apply_overrides",
    "load_toml",
    "loads_toml",
    "dumps_toml",
    "write_toml",
    "preset_path",
    "load_preset",
    "merge_tables",
    "available_presets",
    "coerce_value",
]


@dataclass
class TrainConfig:
    """Hyper-parameters of the training loop (section ``[train]``).

    ``max_steps`` counts generator steps (one call of the recipe's ``train_step``); a critic
    doing ``n_critic`` updates per generator step still counts one. ``batch_size`` is the
    *global* batch: under DDP each of the ``W`` ranks receives ``batch_size / W`` samples of every
    global batch. ``ema_decay = 0`` disables the EMA; before ``ema_start`` completed steps the EMA
    copies the weights. ``max_minutes = 0`` means no wall-clock limit (it counts the time of this
    process, not of earlier runs resumed from). ``rollback`` keeps an in-memory copy of the last
    good state so that a non-finite loss at step k leaves a checkpoint of step k-1 (it costs one
    copy of the models, EMA and optimiser state on the training device). ``sample_every``,
    ``checkpoint_every`` and ``log_every`` are in steps; 0 disables periodic output (a final
    checkpoint is always written). ``checkpoint_every_minutes`` also writes a checkpoint whenever
    that much wall-clock time has passed since the last one (0: by steps only), so a crash or a
    ``kill -9`` never loses more than a few minutes of training.
    """

    max_steps: int = 100_000
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"
    deterministic: bool = False
    ema_decay: float = 0.999
    ema_start: int = 0
    log_every: int = 10
    sample_every: int = 1000
    n_samples: int = 64
    checkpoint_every: int = 5000
    checkpoint_every_minutes: float = 5.0
    keep_last: int = 3
    max_minutes: float = 0.0
    rollback: bool = True
    progress: bool = True
    tensorboard: bool = True


@dataclass
class DataConfig:
    """What the dataset builder receives (section ``[data]``).

    ``spec`` is passed unchanged to ``qagen.data.build_dataset(spec, resolution, split)``.
    ``num_workers`` data-loading processes (0 loads in the training process); the data order
    and augmentation are identical for any number of workers (see ``qagen.train.loader``).
    """

    spec: str = ""
    resolution: int = 32
    split: str = "train"
    num_workers: int = 2


@dataclass
class EmptyConfig:
    """Hyper-parameters of a recipe that has none."""


@dataclass
class RunConfig:
    """Everything that defines a run: recipe name, loop, data and recipe hyper-parameters."""

    recipe: str
    train: TrainConfig = field(default_factory=TrainConfig)
    data: DataConfig = field(default_factory=DataConfig)
    hparams: Any = field(default_factory=EmptyConfig)


#: Sections of a run configuration, in the order used to resolve bare keys.
SECTIONS = ("train", "data", "hparams")

_NONE_STRINGS = ("none", "null")
_TRUE = ("true", "yes", "on", "1")
_FALSE = ("false", "no", "off", "0")


# --------------------------------------------------------------------------- type conversion


def _type_hints(cls: type) -> dict[str, Any]:
    try:
        return typing.get_type_hints(cls)
    except Exception:  # pragma: no cover - unresolvable annotations fall back to raw ones
        return {f.name: f.type for f in dataclasses.fields(cls)}


def _type_name(tp: Any) -> str:
    if isinstance(tp, type):
        return tp.__name__
    return str(tp).replace("typing.", "")


def _parse_toml_value(text: str) -> Any:
    """Parse ``text`` as one TOML value (``[0, 0.9]``, ``{a = 1}``, ``"s"``, ``1e-4``, ...)."""
    return tomllib.loads(f"v = {text}")["v"]


def _fail(key: str, value: Any, tp: Any, why: str = "") -> InputError:
    extra = f": {why}" if why else ""
    return InputError(f"configuration key '{key}': cannot use {value!r} as {_type_name(tp)}{extra}")


def _is_none_text(value: Any) -> bool:
    return isinstance(value, str) and value.strip().lower() in _NONE_STRINGS


def _parsed(value: Any, key: str, tp: Any, expected: str) -> Any:
    """A command-line string parsed as a TOML value (tables, lists); other values unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return _parse_toml_value(value)
    except tomllib.TOMLDecodeError as err:
        raise _fail(key, value, tp, f"expected {expected}") from err


def _to_bool(value: Any, tp: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    text = value.strip().lower() if isinstance(value, str) else None
    if text in _TRUE or text in _FALSE:
        return text in _TRUE
    raise _fail(key, value, tp, "use true or false")


def _to_int(value: Any, tp: Any, key: str) -> int:
    number = value
    if isinstance(value, str):
        text = value.strip().replace("_", "")
        try:
            return int(text)
        except ValueError:
            number = _to_float(text, tp, key)
    if isinstance(number, int) and not isinstance(number, bool):
        return number
    if isinstance(number, float) and math.isfinite(number) and number.is_integer():
        return int(number)
    raise _fail(key, number, tp, "expected an integer")


def _to_float(value: Any, tp: Any, key: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return float(value)
    try:
        return float(value.strip().replace("_", ""))
    except (AttributeError, ValueError):
        raise _fail(key, value, tp) from None


def _to_str(value: Any, tp: Any, key: str) -> str:
    if not isinstance(value, str):
        raise _fail(key, value, tp, "expected a string")
    quoted = len(value) >= 2 and value[0] == value[-1] and value[0] in "\"'"
    return value[1:-1] if quoted else value


def _to_path(value: Any, tp: Any, key: str) -> Path:
    if isinstance(value, (str, Path)):
        return Path(value)
    raise _fail(key, value, tp)


#: Converters of the scalar field types.
_SCALARS = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str, Path: _to_path}


def _to_union(value: Any, tp: Any, key: str) -> Any:
    args = typing.get_args(tp)
    if value is None or _is_none_text(value):
        if type(None) in args:
            return None
        raise _fail(key, value, tp)
    for arg in args:
        if arg is not type(None):
            try:
                return coerce_value(value, arg, key)
            except InputError:
                pass
    raise _fail(key, value, tp)


def _to_literal(value: Any, tp: Any, key: str) -> Any:
    for choice in typing.get_args(tp):
        if value == choice and type(value) is type(choice):
            return choice
        if isinstance(value, str) and not isinstance(choice, str):
            try:
                if coerce_value(value, type(choice), key) == choice:
                    return choice
            except InputError:
                pass
    raise _fail(key, value, tp, f"choose one of {list(typing.get_args(tp))}")


def _to_dataclass(value: Any, tp: Any, key: str) -> Any:
    if isinstance(value, tp):
        return value
    value = _parsed(value, key, tp, "a TOML inline table")
    if not isinstance(value, Mapping):
        raise _fail(key, value, tp, "expected a table")
    return config_from_dict(tp, value, where=key)


def _to_dict(value: Any, tp: Any, key: str) -> dict:
    value = _parsed(value, key, tp, "a TOML inline table {a = 1}")
    if not isinstance(value, Mapping):
        raise _fail(key, value, tp, "expected a table")
    ktp, vtp = typing.get_args(tp) or (Any, Any)
    return {
        coerce_value(k, ktp, f"{key}.{k}"): coerce_value(v, vtp, f"{key}.{k}")
        for k, v in value.items()
    }


def _to_sequence(value: Any, tp: Any, key: str) -> Any:
    raw = value
    if isinstance(value, str):
        text = value.strip()
        try:
            value = _parse_toml_value(text)
        except tomllib.TOMLDecodeError:  # a bare comma list: 0.5,0.999
            value = [p.strip() for p in text.strip("()[]").split(",") if p.strip()]
        value = value if isinstance(value, list) else [value]
    if not isinstance(value, (list, tuple)):
        raise _fail(key, value, tp, "expected a list")
    origin, args = typing.get_origin(tp) or tp, typing.get_args(tp)
    if origin is list or (len(args) == 2 and args[1] is Ellipsis):
        etp = args[0] if args else Any
        items = [coerce_value(v, etp, f"{key}[{i}]") for i, v in enumerate(value)]
        return items if origin is list else tuple(items)
    if args and len(value) != len(args):
        raise _fail(key, raw, tp, f"expected {len(args)} items, got {len(value)}")
    types_ = args or (Any,) * len(value)
    return tuple(
        coerce_value(v, a, f"{key}[{i}]")
        for i, (v, a) in enumerate(zip(value, types_, strict=True))
    )


def _converter(tp: Any) -> Any:
    """The converter function of a declared field type (``None`` when unsupported)."""
    origin = typing.get_origin(tp)
    if origin is Union or (hasattr(types, "UnionType") and origin is types.UnionType):
        return _to_union
    if origin is Literal:
        return _to_literal
    if dataclasses.is_dataclass(tp) and isinstance(tp, type):
        return _to_dataclass
    if origin in (tuple, list) or tp in (tuple, list):
        return _to_sequence
    if origin is dict or tp is dict:
        return _to_dict
    return _SCALARS.get(tp)


def coerce_value(value: Any, tp: Any, key: str = "value") -> Any:
    """Convert ``value`` (a TOML value or a command-line string) to the declared type ``tp``.

    Supported: ``Any``, ``bool`` (true/false, yes/no, on/off, 1/0), ``int`` (``1_000``, an
    integral float such as ``1e3``), ``float``, ``str`` (surrounding quotes dropped), ``Path``,
    ``Literal[...]``, ``X | None`` (``"none"``/``"null"`` -> ``None``), ``tuple[...]``,
    ``list[X]`` (a TOML array or a bare comma list), ``dict[str, X]`` (a TOML inline table) and
    nested dataclasses. Raises :class:`qagen.errors.InputError` naming ``key`` when the value
    does not fit the type.
    """
    if tp is Any or tp is object:
        return value
    if tp is type(None):
        if value is None or _is_none_text(value):
            return None
        raise _fail(key, value, tp)
    conv = _converter(tp)
    if conv is not None:
        return conv(value, tp, key)
    if isinstance(tp, type) and isinstance(value, tp):
        return value
    raise _fail(key, value, tp, "unsupported field type")


# --------------------------------------------------------------------------- dataclass <-> dict


def _unknown_key(where: str, name: str, known: Sequence[str]) -> InputError:
    full = f"{where}.{name}" if where else name
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.6)
    close = [f"{where}.{c}" if where else c for c in close]
    hint = f" (did you mean {', '.join(repr(c) for c in close)}?)" if close else ""
    listing = ", ".join(known) if known else "(none)"
    return InputError(f"unknown configuration key '{full}'{hint}; known keys: {listing}")


def config_from_dict(cls: type, data: Mapping[str, Any], where: str = "") -> Any:
    """Build dataclass ``cls`` from ``data``, converting each value to its field type.

    Missing fields keep their defaults; unknown keys raise :class:`qagen.errors.InputError` (``where`` prefixes the
    key in messages, e.g. ``"hparams"``).
    """
    if not (dataclasses.is_dataclass(cls) and isinstance(cls, type)):
        raise TypeError(f"{cls!r} is not a dataclass")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    kwargs = {}
    for name, value in data.items():
        if name not in fields:
            raise _unknown_key(where, name, list(fields))
        key = f"{where}.{name}" if where else name
        kwargs[name] = coerce_value(value, hints.get(name, Any), key)
    try:
        return cls(**kwargs)
    except TypeError as err:  # a required field without a default is missing
        raise InputError(f"configuration section '{where or cls.__name__}': {err}") from None


def _plain(value: Any) -> Any:
    """TOML-able (and ``torch.load(weights_only=True)``-able) form of a config value."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Path):
        return str(value)
    if value is None:
        return "none"
    if isinstance(value, (bool, int, float, str)):
        return value
    raise InputTypeError(
        f"configuration value {value!r} of type {type(value).__name__} is not storable"
    )


def config_to_dict(cfg: Any) -> dict[str, Any]:
    """Plain dict of a config dataclass (tuples -> lists, Path -> str, None -> ``"none"``)."""
    return _plain(cfg)


def run_config_to_dict(run: RunConfig) -> dict[str, Any]:
    """Plain dict of a run configuration, the layout of ``config.toml``."""
    return {
        "recipe": run.recipe,
        "train": config_to_dict(run.train),
        "data": config_to_dict(run.data),
        "hparams": config_to_dict(run.hparams),
    }


def run_config_from_dict(
    data: Mapping[str, Any], hparams_cls: type, recipe: str | None = None
) -> RunConfig:
    """Build a :class:`RunConfig` from the ``config.toml`` layout (unknown sections raise)."""
    allowed = ("recipe", *SECTIONS)
    for key in data:
        if key not in allowed:
            raise _unknown_key("", key, list(allowed))
    name = recipe if recipe is not None else data.get("recipe")
    if not isinstance(name, str) or not name:
        raise InputError("the configuration names no recipe (top-level key 'recipe')")
    for section in SECTIONS:
        if section in data and not isinstance(data[section], Mapping):
            raise InputError(f"configuration section '{section}' must be a table")
    return RunConfig(
        recipe=name,
        train=config_from_dict(TrainConfig, data.get("train", {}), "train"),
        data=config_from_dict(DataConfig, data.get("data", {}), "data"),
        hparams=config_from_dict(hparams_cls, data.get("hparams", {}), "hparams"),
    )


# --------------------------------------------------------------------------- overrides


def _field_path(cfg: Any, parts: Sequence[str], full: str) -> tuple[Any, str, Any]:
    """Walk nested dataclasses; return (parent dataclass, field name, field type)."""
    obj = cfg
    for i, part in enumerate(parts):
        names = [f.name for f in dataclasses.fields(obj)]
        if part not in names:
            where = ".".join(full.split(".")[: len(full.split(".")) - len(parts) + i])
            raise _unknown_key(where, part, names)
        if i == len(parts) - 1:
            return obj, part, _type_hints(type(obj)).get(part, Any)
        obj = getattr(obj, part)
        if not dataclasses.is_dataclass(obj):
            raise InputError(f"configuration key '{full}': '{part}' is not a section")
    raise AssertionError  # pragma: no cover


def _replace_path(cfg: Any, parts: Sequence[str], value: Any) -> Any:
    if len(parts) == 1:
        return dataclasses.replace(cfg, **{parts[0]: value})
    child = getattr(cfg, parts[0])
    return dataclasses.replace(cfg, **{parts[0]: _replace_path(child, parts[1:], value)})


def _resolve_key(run: RunConfig, key: str) -> list[str]:
    parts = [p for p in key.strip().split(".")]
    if not key.strip() or any(not p for p in parts):
        raise InputError(f"malformed configuration key '{key}'")
    if parts[0] in SECTIONS:
        return parts
    owners = [
        s for s in SECTIONS if parts[0] in {f.name for f in dataclasses.fields(getattr(run, s))}
    ]
    if len(owners) == 1:
        return [owners[0], *parts]
    if len(owners) > 1:
        options = " or ".join(f"'{s}.{key}'" for s in owners)
        raise InputError(f"configuration key '{key}' is ambiguous: write {options}")
    known = [f"{s}.{f.name}" for s in SECTIONS for f in dataclasses.fields(getattr(run, s))]
    bare = [f.name for s in SECTIONS for f in dataclasses.fields(getattr(run, s))]
    close = difflib.get_close_matches(parts[0], bare, n=3, cutoff=0.6)
    close_full = [k for k in known if k.split(".", 1)[1] in close]
    hint = f" (did you mean {', '.join(repr(c) for c in close_full)}?)" if close_full else ""
    raise InputError(
        f"unknown configuration key '{key}'{hint}; keys are section.field with sections "
        f"{', '.join(SECTIONS)}; known keys: {', '.join(known)}"
    )


def apply_overrides(run: RunConfig, overrides: Sequence[str | tuple[str, Any]]) -> RunConfig:
    """Return a copy of ``run`` with ``key=value`` overrides applied (``--set`` semantics).

    ``key`` is ``section.field`` (``train.batch_size``, ``hparams.betas``, nested
    ``hparams.sub.field``) or a bare ``field`` found in exactly one section. String values are
    converted to the field type (``betas=0,0.9`` or ``betas=[0, 0.9]`` for tuples, ``none`` for
    optional fields); ``(key, value)`` pairs may carry typed values directly.
    """
    for item in overrides:
        if isinstance(item, str):
            if "=" not in item:
                raise InputError(f"override {item!r} is not of the form key=value")
            key, raw = item.split("=", 1)
        else:
            key, raw = item
        key = key.strip()
        if key == "recipe":
            raise InputError("the recipe cannot be changed with an override; pass it explicitly")
        parts = _resolve_key(run, key)
        section, rest = parts[0], parts[1:]
        if not rest:
            raise InputError(f"configuration key '{key}' names a section, not a field")
        sub = getattr(run, section)
        _, name, tp = _field_path(sub, rest, ".".join(parts))
        value = coerce_value(raw, tp, ".".join(parts))
        run = dataclasses.replace(run, **{section: _replace_path(sub, rest, value)})
    return run


# --------------------------------------------------------------------------- TOML


def loads_toml(text: str) -> dict[str, Any]:
    """Parse TOML text (``tomllib``)."""
    return tomllib.loads(text)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file; a syntax error names the file."""
    path = Path(path)
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except tomllib.TOMLDecodeError as err:
        raise InputError(f"{path}: invalid TOML: {err}") from None


def dumps_toml(data: Mapping[str, Any], header: str = "") -> str:
    """Serialise a configuration dict as TOML with ``tomli_w`` (``header`` lines become ``#``
    comments on top). Values go through :func:`config_to_dict`'s conversion first (tuples ->
    lists, ``Path`` -> str, ``None`` -> ``"none"``); floats are written so that they read back
    bit-exactly (``nan``/``inf`` included)."""
    import tomli_w

    body = tomli_w.dumps(_plain(dict(data)))
    lines = [f"# {line}" if line else "#" for line in header.splitlines()]
    return "\n".join(lines) + ("\n\n" if lines else "") + body


def write_toml(path: str | Path, data: Mapping[str, Any], header: str = "") -> None:
    """Write ``data`` as TOML atomically (:func:`qagen.files.write_atomic`)."""
    write_atomic(path, dumps_toml(data, header))


# --------------------------------------------------------------------------- presets


def available_presets() -> list[str]:
    """Names of the shipped presets (:data:`qagen.registry.PRESETS`: each method's
    ``qagen/methods/<name>/presets/*.toml``), sorted."""
    return sorted(PRESETS.available())


def preset_path(preset: str | Path) -> Path:
    """Path of a preset given as a file path or as the name of a shipped preset."""
    p = Path(preset)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise InputError(f"--preset: preset file not found: {p}")
        return p
    return Path(PRESETS.get(str(preset)))  # UnknownNameError listing the presets


def merge_tables(base: Mapping[str, Any], over: Mapping[str, Any]) -> dict[str, Any]:
    """``over`` deep-merged over ``base`` (new dicts; the inputs are not changed): where both
    hold a table the tables merge key by key, any other value of ``over`` (arrays included)
    replaces the base's."""
    merged: dict[str, Any] = dict(base)
    for key, value in over.items():
        old = merged.get(key)
        if isinstance(value, Mapping) and isinstance(old, Mapping):
            merged[key] = merge_tables(old, value)
        else:
            merged[key] = value
    return merged


def _base_path(base: Any, child: Path) -> Path:
    """The file of ``base = ...`` in preset ``child``: a ``.toml`` path (relative to ``child``'s
    folder) or a shipped preset name."""
    if not isinstance(base, str) or not base.strip():
        raise InputError(
            f"preset {child}: 'base' must be a preset name or a .toml path, got {base!r}"
        )
    base = base.strip()
    if base.endswith(".toml") or "/" in base or "\\" in base:
        path = child.parent / Path(base).expanduser()
        if not path.is_file():
            raise InputError(f"preset {child}: base preset file not found: {path}")
        return path
    if base not in PRESETS:
        err = UnknownNameError("preset", base, PRESETS.available())
        err.args = (f"preset {child}: base: {err}",)
        raise err
    return Path(PRESETS.get(base))


def load_preset(preset: str | Path) -> dict[str, Any]:
    """The settings of a preset (a TOML path or a shipped preset name) with its ``base`` chain
    resolved (see the module docstring); the result has no ``base`` key.

    Raises :class:`qagen.errors.InputError` naming the files for a cycle, a base for another
    recipe, a missing base file, and :class:`qagen.errors.UnknownNameError` for an unknown base
    name."""
    return _load_chain(preset_path(preset), ())


def _load_chain(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """``path``'s settings over its resolved base; ``chain`` holds the files that named it."""
    key = path.resolve()
    if key in (p.resolve() for p in chain):
        cycle = " -> ".join(str(p) for p in (*chain, path))
        raise InputError(f"preset 'base' cycle: {cycle}")
    data = load_toml(path)
    if "base" not in data:
        return data
    base_file = _base_path(data.pop("base"), path)
    parent = _load_chain(base_file, (*chain, path))
    own, inherited = data.get("recipe"), parent.get("recipe")
    if own is not None and inherited is not None and own != inherited:
        raise InputError(
            f"preset {path} is for recipe {own!r} but its base {base_file} is for {inherited!r}"
        )
    return merge_tables(parent, data)
