"""qagen.files: atomic writes (old content survives any failure, no temporary file is left) and
the one JSON policy for non-finite numbers (null plus a "<key>_reason")."""

from __future__ import annotations

import json
import math
import os
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

from qagen import files
from qagen.files import atomic_path, dumps_json, json_safe, write_atomic, write_json_atomic


def _strict_loads(text: str):
    """json.loads that refuses NaN/Infinity/-Infinity."""

    def refuse(name: str):
        raise ValueError(f"non-strict JSON constant {name}")

    return json.loads(text, parse_constant=refuse)


def _names(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


# --------------------------------------------------------------------------- write_atomic
def test_write_atomic_text_bytes_and_parents(tmp_path):
    p = write_atomic(tmp_path / "a" / "b" / "x.txt", "héllo\r\n")
    assert p == tmp_path / "a" / "b" / "x.txt"
    assert p.read_bytes() == "héllo\r\n".encode()  # newlines as given, UTF-8
    write_atomic(p, b"\x00\x01", fsync=True)
    assert p.read_bytes() == b"\x00\x01"
    write_atomic(str(p), "latin é", encoding="latin-1")
    assert p.read_bytes() == b"latin \xe9"
    assert _names(p.parent) == ["x.txt"]


def test_failed_replace_keeps_old_content_and_no_temp_file(tmp_path, monkeypatch):
    p = tmp_path / "f.json"
    p.write_text("old")

    def boom(src, dst):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(files.os, "replace", boom)
    with pytest.raises(OSError, match="No space left"):
        write_atomic(p, "new")
    assert p.read_text() == "old"
    assert _names(tmp_path) == ["f.json"]


def test_failure_mid_write_keeps_old_content(tmp_path, monkeypatch):
    p = tmp_path / "f.txt"
    p.write_text("old")
    real_fdopen = os.fdopen

    class Half:
        def __init__(self, fh):
            self.fh = fh

        def __enter__(self):
            return self

        def __exit__(self, *exc):
            self.fh.close()

        def write(self, data):
            self.fh.write(data[:2])
            raise OSError(5, "I/O error")

    monkeypatch.setattr(files.os, "fdopen", lambda fd, mode: Half(real_fdopen(fd, mode)))
    with pytest.raises(OSError, match="I/O error"):
        write_atomic(p, "new content")
    assert p.read_text() == "old"
    assert _names(tmp_path) == ["f.txt"]


def test_keyboard_interrupt_leaves_old_file_and_no_temp_file(tmp_path, monkeypatch):
    p = tmp_path / "f.txt"
    p.write_text("old")

    def interrupted(fd):
        raise KeyboardInterrupt

    monkeypatch.setattr(files.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        write_atomic(p, "new", fsync=True)
    assert p.read_text() == "old"
    assert _names(tmp_path) == ["f.txt"]


def test_temporary_names_are_unique_and_hidden(tmp_path):
    p = tmp_path / "x.npz"
    names = {files._temp_name(p).name for _ in range(200)}
    assert len(names) == 200
    assert all(n.startswith(".x.npz.") and n.endswith(".tmp.npz") for n in names)


def test_concurrent_writers_never_show_a_partial_file(tmp_path):
    p = tmp_path / "f.bin"
    payloads = [bytes([i]) * 200_000 for i in range(8)]
    write_atomic(p, payloads[0])
    seen: set[bytes] = set()
    stop = threading.Event()

    def reader():
        while not stop.is_set():
            seen.add(p.read_bytes())

    t = threading.Thread(target=reader)
    t.start()
    for _ in range(5):
        for data in payloads:
            write_atomic(p, data)
    stop.set()
    t.join()
    assert seen <= set(payloads)
    assert _names(tmp_path) == ["f.bin"]


# --------------------------------------------------------------------------- atomic_path
def test_atomic_path_moves_into_place_on_success(tmp_path):
    out = tmp_path / "sub" / "model.npz"
    with atomic_path(out, fsync=True) as tmp:
        assert tmp.parent == out.parent and tmp.suffix == ".npz" and tmp.exists()
        np.savez(tmp, a=np.arange(3))  # keeps the name: it already ends in .npz
    assert np.array_equal(np.load(out)["a"], np.arange(3))
    assert _names(out.parent) == ["model.npz"]


@pytest.mark.parametrize("error", [RuntimeError("torch.save failed"), KeyboardInterrupt()])
def test_atomic_path_failure_keeps_old_file(tmp_path, error):
    out = tmp_path / "ck.pt"
    torch.save({"w": torch.arange(3)}, out)
    before = out.read_bytes()
    with pytest.raises(type(error)), atomic_path(out) as tmp:
        with open(tmp, "wb") as fh:
            fh.write(b"PK partial")
        raise error
    assert out.read_bytes() == before
    assert _names(tmp_path) == ["ck.pt"]


# --------------------------------------------------------------------------- JSON policy
@pytest.mark.parametrize("value", [math.nan, math.inf, -math.inf])
def test_json_safe_top_level_keys(value):
    out = json_safe({"fid": value, "n": 3})
    assert out == {"fid": None, "fid_reason": f"not finite: {value}", "n": 3}
    assert list(out) == ["fid", "fid_reason", "n"]  # the reason sits beside its key


def test_json_safe_nested_dicts_and_lists():
    obj = {
        "swd": {"per_level": {"16": math.inf, "32": 1.5}, "average": math.nan},
        "scores": [1.0, math.nan, 2.0, -math.inf],
        "grid": [[0.5, math.inf]],
        "rows": [{"x": math.nan}],
        "ok": [1, 2.5],
        "tuple": (math.nan,),
    }
    out = json_safe(obj)
    assert out["swd"] == {
        "per_level": {"16": None, "16_reason": "not finite: inf", "32": 1.5},
        "average": None,
        "average_reason": "not finite: nan",
    }
    assert out["scores"] == [1.0, None, 2.0, None]
    assert out["scores_reason"] == "not finite at [1, 3]: nan, -inf"
    assert out["grid"] == [[0.5, None]] and out["grid_reason"] == "not finite at [0.1]: inf"
    assert out["rows"] == [{"x": None, "x_reason": "not finite: nan"}]
    assert "rows_reason" not in out and "ok_reason" not in out
    assert out["tuple"] == [None] and out["tuple_reason"] == "not finite at [0]: nan"
    assert obj["scores"][1] != obj["scores"][1]  # the input is not modified


def test_json_safe_keeps_an_existing_reason_and_plain_values():
    out = json_safe({"value": math.nan, "value_reason": "diverged", "s": "nan", "b": True})
    assert out == {"value": None, "value_reason": "diverged", "s": "nan", "b": True}
    assert json_safe(math.nan) is None and json_safe([math.inf]) == [None]
    assert json_safe(None) is None and json_safe(7) == 7


def test_json_safe_numpy_and_torch_scalars():
    out = json_safe({
        "a": np.float32("nan"), "b": np.float64(2.5), "c": np.array(np.inf),
        "d": torch.tensor(float("-inf")), "e": torch.tensor(0.25), "i": np.int64(4),
    })  # fmt: skip
    assert out["a"] is None and out["a_reason"] == "not finite: nan"
    assert out["b"] == 2.5 and type(out["b"]) is float
    assert out["c"] is None and out["c_reason"] == "not finite: inf"
    assert out["d"] is None and out["d_reason"] == "not finite: -inf"
    assert out["e"] == 0.25 and type(out["e"]) is float
    assert out["i"] == 4 and "i_reason" not in out


def test_dumps_and_write_json_are_strict(tmp_path):
    obj = {"value": math.nan, "per": [math.inf, 1.0], "deep": {"k": -math.inf}}
    text = dumps_json(obj)
    assert "NaN" not in text and "Infinity" not in text and '"nan"' not in text
    back = _strict_loads(text)
    assert back["value"] is None and back["value_reason"] == "not finite: nan"
    assert back["per"] == [None, 1.0] and back["per_reason"] == "not finite at [0]: inf"
    assert back["deep"] == {"k": None, "k_reason": "not finite: -inf"}
    p = write_json_atomic(tmp_path / "out" / "r.json", obj)
    assert p.read_text().endswith("\n")
    assert _strict_loads(p.read_text()) == back
    with pytest.raises(ValueError):
        _strict_loads('{"x": NaN}')  # the checker does reject the non-strict form


def test_atomic_folder_publishes_whole_or_nothing(tmp_path):
    from qagen.files import atomic_folder

    out = tmp_path / "out"
    with pytest.raises(KeyboardInterrupt), atomic_folder(out) as stage:
        (stage / "a.txt").write_text("half")
        raise KeyboardInterrupt
    assert not out.exists() and list(tmp_path.iterdir()) == []  # the stage is gone too
    out.mkdir()  # an empty target is replaced
    with atomic_folder(out) as stage:
        (stage / "a.txt").write_text("whole")
    assert (out / "a.txt").read_text() == "whole" and list(tmp_path.iterdir()) == [out]
    with pytest.raises(OSError), atomic_folder(out) as stage:  # never over a non-empty folder
        (stage / "b.txt").write_text("x")
    assert sorted(p.name for p in out.iterdir()) == ["a.txt"]
    assert list(tmp_path.iterdir()) == [out]
