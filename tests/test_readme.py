"""Every code block of the README runs (Python) or parses and, where it needs no outside data,
runs (``qagen`` command lines), as a reader would paste them."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
from conftest import shared_file
from PIL import Image

from qagen.cli import build_parser, main

README = Path(__file__).resolve().parents[1] / "README.md"
FENCE = re.compile(r"^```(\w*)\n(.*?)^```", re.S | re.M)


def _blocks(lang: str) -> list[str]:
    return [body for kind, body in FENCE.findall(README.read_text()) if kind == lang]


def _commands() -> list[list[str]]:
    """Every ``qagen ...`` line of the bash blocks, comments removed, as argv lists."""
    out = []
    for block in _blocks("bash"):
        block = re.sub(r"\\\n\s*", " ", block)  # join continuation lines
        for line in block.splitlines():
            line = line.split(" #")[0].strip()
            if line.startswith("qagen "):
                out.append(shlex.split(line)[1:])
            elif "command -v qagen" in line:  # torchrun "$(command -v qagen)" train ...
                out.append(shlex.split(line.split('"$(command -v qagen)"', 1)[1]))
    return out


def test_python_blocks_run_in_order():
    blocks = _blocks("python")
    assert len(blocks) >= 2
    namespace: dict = {}
    for block in blocks:  # one namespace, in order: what a reader pasting them gets
        exec(compile(block, str(README), "exec"), namespace)


def test_every_command_line_parses():
    commands = _commands()
    assert len(commands) >= 10
    parser = build_parser()
    for argv in commands:
        try:
            parser.parse_args(argv)
        except SystemExit as exc:  # argparse exits on an unknown flag or subcommand
            pytest.fail(f"README command does not parse: qagen {' '.join(argv)} ({exc})")


def test_command_lines_that_need_no_outside_data_run(tmp_path, capsys):
    files = {
        "REF.png": str(shared_file("tid2013_i01", "I01.bmp")),
        "DIST.png": str(shared_file("tid2013_i01", "i01_01_5.bmp")),
        "IMAGE.png": str(shared_file("tid2013_i01", "I01.bmp")),
        "map.png": str(tmp_path / "map.png"),
    }
    rng = np.random.default_rng(0)
    a = (rng.random((32, 32)) * 4095).astype(np.uint16)  # 12-bit data in 16-bit files
    for name, arr in (("REF16.png", a), ("DIST16.png", np.clip(a + 30, 0, 4095).astype(np.uint16))):
        Image.fromarray(arr).save(tmp_path / name)
        files[name] = str(tmp_path / name)
    ran = 0
    for argv in _commands():
        if argv[0] not in ("score", "map", "metrics") and argv[:2] != ["train", "--list"]:
            continue
        if any(a.startswith("[") for a in argv) or "model.npz" in argv or "runs/qmap-unet" in argv:
            continue  # optional-argument notation, or a model the reader has not fitted yet
        assert main([files.get(a, a) for a in argv]) == 0, argv
        ran += 1
    assert ran >= 4
