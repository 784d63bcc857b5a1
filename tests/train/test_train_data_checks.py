"""What ``qagen train`` (and ``report`` / ``reproduce``) refuse before any work is done: data
smaller than one batch, and an output folder that holds a user's files (issue 19, items 9, 13)."""

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


def test_train_reproduce_and_report_refuse_a_folder_of_photos(tmp_path, capsys):
    photos = _folder(tmp_path / "photos", 3, size=8)
    before = sorted(p.name for p in photos.iterdir())
    argv = ["train", "qagan-ssim", "--preset", "demo", "--data", "builtin", "--max-steps", "1"]
    assert main([*argv, "--out", str(photos)]) == 2
    err = capsys.readouterr().err
    assert "--out" in err and "not a run directory" in err and "im0.png" in err
    assert main([*argv, "--out", str(photos), "--resume", "auto"]) == 2
    capsys.readouterr()
    assert main(["reproduce", "msssim-ae", "--out", str(photos), "--no-progress"]) == 2
    assert "not a qagen reproduce folder" in capsys.readouterr().err
    assert main(["report", str(photos)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "not a run directory" in err
    assert sorted(p.name for p in photos.iterdir()) == before  # nothing written among them
    # a hidden file alone (.DS_Store) does not make a folder foreign
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / ".DS_Store").write_bytes(b"")
    from qagen.report.runfiles import check_new_run_dir, foreign_entries

    assert foreign_entries(empty) == []
    check_new_run_dir(empty)
