"""What ``qagen train`` (and ``report`` / ``reproduce``) refuse before any work is done: data
smaller than one batch (issue 19, item 9)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from qagen.cli import main


def _folder(path, n, size=64):
    path.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(n)
    for i in range(n):
        Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(
            path / f"im{i}.png"
        )
    return path


@pytest.mark.parametrize(
    ("recipe", "n", "batch"),
    [("began", 1, 16), ("qmf", 4, 8), ("sr-msssim", 3, 16), ("autoencoder", 2, 32)],
)
def test_data_smaller_than_one_batch_is_one_line_and_exit_2(tmp_path, capsys, recipe, n, batch):
    data = _folder(tmp_path / "few", n)
    out = tmp_path / "run"
    argv = ["train", recipe, "--preset", "demo", "--data", f"folder:{data}", "--out", str(out),
            "--max-steps", "1"]  # fmt: skip
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "Traceback" not in err
    assert f"folder:{data}" in err and f"{n} training sample(s)" in err
    assert f"one batch of {batch}" in err and "train.batch_size" in err
    assert not out.exists()  # nothing written
