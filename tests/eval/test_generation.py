"""evaluate_images: the combination of SWD, FID/KID/IS, NIQE and GLCM on tensors and folders."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
import torch
from PIL import Image

import qagen.iqa
from qagen.eval.fid import ModuleExtractor
from qagen.eval.generation import evaluate_images, load_images, write_eval_json
from qagen.eval.swd import swd
from qagen.eval.texture import glcm_features


def _pool(x: torch.Tensor) -> dict:
    f = torch.nn.functional.adaptive_avg_pool2d(x, 4).flatten(1)
    return {"features": f, "logits": f[:, :10] * 20}


def test_evaluate_images_all_metrics(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    g = torch.Generator().manual_seed(0)
    real = torch.rand(24, 3, 32, 32, generator=g)
    fake = (real + 0.1 * torch.randn(real.shape, generator=g)).clamp(0, 1)
    # NIQE from the registry, replaced by a stand-in (mean intensity) to keep this test local
    monkeypatch.setattr(
        qagen.iqa,
        "get",
        lambda name: SimpleNamespace(
            fn=lambda x, data_range=1.0: x.mean(dim=(1, 2, 3)), reproduces="stand-in"
        ),
    )
    res = evaluate_images(
        fake,
        real,
        metrics="swd,fid,kid,is,niqe,glcm",
        extractor=ModuleExtractor(_pool, "avgpool4"),
        kid_subset_size=10,
        isc_splits=2,
        swd_kwargs={"patches_per_image": 16, "dirs_per_repeat": 32},
        cache_dir=False,
        extra_protocol={"checkpoint": "last"},
    )
    assert set(res) == {"swd", "fid", "kid", "is", "niqe", "glcm"}
    # SWD equals a direct call on the 8-bit quantised images (same seed and settings)
    q = lambda t: torch.round(t * 255) / 255  # noqa: E731
    direct = swd(q(fake), q(real), patches_per_image=16, dirs_per_repeat=32)
    assert res["swd"]["average"] == pytest.approx(direct.average, rel=1e-6)
    assert res["swd"]["protocol"]["n_fake"] == 24 and res["swd"]["protocol"]["checkpoint"] == "last"
    assert res["fid"]["protocol"]["checkpoint"] == "last" and res["fid"]["value"] > 0
    assert res["niqe"]["value"] == pytest.approx(float(q(fake).mean()), rel=1e-5)
    expected = glcm_features(q(real))["entropy"].mean()
    assert res["glcm"]["real"]["entropy"] == pytest.approx(float(expected), rel=1e-12)
    out = write_eval_json(res, tmp_path / "run" / "eval.json")
    assert json.loads(out.read_text())["swd"]["average"] == res["swd"]["average"]


def test_folder_input_and_errors(tmp_path: Path) -> None:
    (tmp_path / "a").mkdir()
    for i in range(3):
        Image.fromarray(np.full((16, 16, 3), 40 * i, np.uint8)).save(tmp_path / "a" / f"{i}.png")
    t = load_images(tmp_path / "a")
    assert t.shape == (3, 3, 16, 16) and float(t[2].max()) == pytest.approx(80 / 255)
    with pytest.raises(ValueError, match="unknown metric"):
        evaluate_images(t, t, metrics="swd,lpips")
    with pytest.raises(ValueError, match="needs real"):
        evaluate_images(t, None, metrics="swd")


def test_all_without_inception_weights_skips_fid_kid_is_with_the_reason(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # issue 19, item C18: the API raised where qagen eval skips; one behaviour for both
    from qagen.eval.fid import InceptionWeightsError

    monkeypatch.delenv("QAGEN_INCEPTION_WEIGHTS", raising=False)
    g = torch.Generator().manual_seed(1)
    real = torch.rand(4, 3, 96, 96, generator=g)  # NIQE's 96 px blocks
    fake = torch.rand(4, 3, 96, 96, generator=g)
    res = evaluate_images(fake, real, metrics="all", swd_kwargs={"patches_per_image": 8},
                          progress=False)  # fmt: skip
    assert set(res) == {"swd", "fid", "kid", "is", "niqe", "glcm"}
    for m in ("fid", "kid", "is"):
        assert res[m]["skipped"] is True and "QAGEN_INCEPTION_WEIGHTS" in res[m]["reason"]
    assert res["swd"]["average"] > 0 and "value" in res["niqe"]
    # named explicitly: the clear error, as qagen eval --metrics fid
    with pytest.raises(InceptionWeightsError, match="QAGEN_INCEPTION_WEIGHTS"):
        evaluate_images(fake, real, metrics="swd,fid")
