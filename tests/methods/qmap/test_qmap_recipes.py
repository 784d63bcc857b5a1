"""The qmap-* recipes: one training step of each of the eight models, the learning-rate schedule,
the evaluation record (eval.json) against an independent computation, and the trained model as
a no-reference metric (Python, qagen score / map, bench-iqa NAME:MODEL)."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import Dataset

from qagen.cli import main
from qagen.errors import InputError
from qagen.methods.qmap.recipes import QMAP_MODELS
from qagen.train import Trainer, resolve_run_config, train_main

RECIPES = [f"qmap-{m}" for m in QMAP_MODELS] + ["qmap-gan"]


class FakeMaps(Dataset):
    """Random crops with a target map in [-1, 1] (the recipes' item layout)."""

    def __init__(self, crop: int, n: int = 8) -> None:
        g = torch.Generator().manual_seed(0)
        self.x = torch.rand(n, 3, crop, crop, generator=g)
        self.y = torch.rand(n, 1, crop, crop, generator=g) * 2 - 1

    def __len__(self) -> int:
        return self.x.shape[0]

    def __getitem__(self, i: int):
        return self.x[i], self.y[i], 0, 1


@pytest.mark.parametrize("recipe", RECIPES)
def test_one_training_step_of_each_model(recipe):
    crop = 128 if recipe == "qmap-gan" else 32
    run = resolve_run_config(recipe, preset=f"{recipe}-demo", overrides=[
        f"data.resolution={crop}", "train.batch_size=2", "train.max_steps=1",
        "train.sample_every=0", "train.progress=false", "train.tensorboard=false",
        "data.num_workers=0", "train.rollback=false",
    ])  # fmt: skip
    trainer = Trainer(run, FakeMaps(crop), None)
    result = trainer.fit()
    assert result.step == 1
    assert np.isfinite(result.metrics["mae"]) and 0 < result.metrics["mae"] < 3
    net = trainer.recipe.modules()["G" if recipe == "qmap-gan" else "net"]
    assert any(p.grad is not None for p in net.parameters())  # the step reached the weights
    pred = trainer.recipe.predict(torch.rand(1, 3, 40, 56))  # any size: padded and cropped back
    assert pred.shape == (1, 1, 40, 56) and torch.isfinite(pred).all()


def test_learning_rate_halves_every_100_epochs():
    from qagen.train import get_recipe
    from qagen.train.build import build_recipe

    run = resolve_run_config("qmap-unet", preset="qmap-unet-demo", overrides=[
        "data.resolution=32", "train.batch_size=2", "train.sample_every=0"])  # fmt: skip
    built = build_recipe(run, get_recipe("qmap-unet"), device=torch.device("cpu"),
                         dataset=FakeMaps(32, 10), batches_per_epoch=5, stream_factory=None)  # fmt: skip
    f = built.recipe.lr_schedules()["adam"]  # 100 epochs = 500 steps of 5 batches
    assert [f(s) for s in (0, 499, 500, 999, 1000, 2500)] == [1, 1, 0.5, 0.5, 0.25, 0.5**5]


def test_validation(tmp_path):
    with pytest.raises(InputError, match="divisible by 32"):
        Trainer(resolve_run_config("qmap-fcn", preset="qmap-fcn-demo",
                                   overrides=["data.resolution=48"]), FakeMaps(48), None)  # fmt: skip
    with pytest.raises(InputError, match="divisible by 2\\^num_downs = 128"):
        Trainer(resolve_run_config("qmap-gan", preset="qmap-gan-demo",
                                   overrides=["data.resolution=64"]), FakeMaps(64), None)  # fmt: skip
    with pytest.raises(InputError, match="hparams.lr"):
        Trainer(resolve_run_config("qmap-unet", overrides=["hparams.lr=0"]), FakeMaps(32), None)


# ----------------------------------------------------------------------------- a trained run


def _photo(h: int, w: int, seed: int) -> np.ndarray:
    import skimage.data

    img = skimage.data.astronaut()
    rng = np.random.default_rng(seed)
    y, x = rng.integers(0, 512 - h), rng.integers(0, 512 - w)
    return np.ascontiguousarray(img[y : y + h, x : x + w])


@pytest.fixture(scope="module")
def qmap_run(tmp_path_factory):
    root = tmp_path_factory.mktemp("qmap")
    pristine = root / "pristine"
    pristine.mkdir()
    for i in range(4):
        Image.fromarray(_photo(64, 80, i)).save(pristine / f"c{i}.png")
    out = root / "run"
    status = train_main("qmap-unet", data=f"folder:{pristine}", preset="qmap-unet-demo",
                        out=str(out), max_steps=3, overrides=[
        "data.resolution=32", "train.batch_size=4", "train.sample_every=3",
        "train.progress=false", "hparams.data.types=[\"wn\",\"jpeg\"]",
        "hparams.data.levels=[1,5]", "hparams.data.pristine_side=0",
        f"hparams.data.cache_dir={root / 'cache'}", "hparams.data.valid_fraction=0.25",
    ])  # fmt: skip
    assert status == 0
    return out, pristine


def test_eval_json_record_against_direct_computation(qmap_run, capsys):
    from qagen.methods.qmap.evaluation import QMapModel, evaluate_qmap_run, summary_lines

    run_dir, _ = qmap_run
    assert main(["eval", str(run_dir), "--no-progress"]) == 0
    assert "srocc_vs_ssim" in capsys.readouterr().out
    rec = json.loads((run_dir / "eval.json").read_text())["qmap"]
    for key in ("mae", "mae_constant_baseline", "mae_per_type", "mae_per_level", "srocc_vs_ssim",
                "plcc_vs_ssim", "train_mae", "images", "protocol"):  # fmt: skip
        assert key in rec
    assert set(rec["mae_per_type"]) == {"wn", "jpeg", "pristine"}
    assert set(rec["mae_per_level"]) == {"1", "5"}
    # independently: every validation crop through the model, and the training maps' mean
    model = QMapModel.load(run_dir)
    run = model.run.run
    valid = type(model.recipe).build_dataset(run, "valid", random_crop=False, progress=False)
    train = type(model.recipe).build_dataset(run, "train", random_crop=False, progress=False)
    xs = torch.stack([valid[i][0] for i in range(len(valid))])
    ys = torch.stack([valid[i][1] for i in range(len(valid))])
    pred = model.map(xs)
    assert rec["mae"] == pytest.approx(float((pred - ys).abs().mean()), rel=1e-5)
    c = float(torch.stack([train[i][1] for i in range(len(train))]).mean())
    assert rec["constant"] == pytest.approx(c, rel=1e-5)
    assert rec["mae_constant_baseline"] == pytest.approx(float((ys - c).abs().mean()), rel=1e-5)
    assert rec["n_images"] == len(valid) - 4  # one copy of the pristine image
    again = evaluate_qmap_run(run_dir, write=False)
    assert again["mae"] == rec["mae"]
    # pristine vs level-1 compression: mean score of the pristine crop minus that of the
    # level-1 JPEG crop (this run has no JPEG 2000), from the model directly
    kinds = [(it.kind, it.level, it.copy) for it in valid.items]
    score = model.score(xs)
    pristine = score[kinds.index(("pristine", 0, 0))]
    jpeg1 = score[kinds.index(("jpeg", 1, 0))]
    assert rec["separation_pristine_vs_level1"] == pytest.approx(float(pristine - jpeg1), abs=1e-5)
    assert rec["mean_predicted"]["jp2k_1"] is None
    true1 = float(ys[kinds.index(("jpeg", 1, 0))].mean())
    assert rec["separation_pristine_vs_level1_true"] == pytest.approx(1 - true1, abs=1e-5)
    assert "pristine vs level-1 JPEG/JPEG 2000: predicted" in "\n".join(summary_lines(rec))
    # another evaluation crop than the training one (crop-size comparisons on equal images)
    wide = evaluate_qmap_run(run_dir, write=False, crop=64)
    assert wide["protocol"]["crop"] == 64 and wide["protocol"]["training_crop"] == 32
    v64 = type(model.recipe).build_dataset(run, "valid", crop=64, random_crop=False,
                                           progress=False)  # fmt: skip
    x64 = torch.stack([v64[i][0] for i in range(len(v64))])
    y64 = torch.stack([v64[i][1] for i in range(len(v64))])
    assert wide["mae"] == pytest.approx(float((model.map(x64) - y64).abs().mean()), rel=1e-5)
    with pytest.raises(InputError, match="crop must be"):
        evaluate_qmap_run(run_dir, write=False, crop=0)
    # the same through the command line: qagen eval RUN --crop 64 writes that record
    assert main(["eval", str(run_dir), "--no-progress", "--crop", "64"]) == 0
    assert "validation crops of 64 px" in capsys.readouterr().out
    cli64 = json.loads((run_dir / "eval.json").read_text())["qmap"]
    assert cli64["mae"] == pytest.approx(wide["mae"], rel=1e-6)
    assert main(["eval", str(run_dir), "--crop", "-3"]) != 0
    assert "crop must be None (the run's crop) or a positive int, got -3" in capsys.readouterr().err


def test_pristine_vs_level1_separation_closed_form():
    from qagen.methods.qmap.evaluation import pristine_vs_level1

    rows = [
        {"type": "pristine", "level": 0, "predicted": 0.9},
        {"type": "pristine", "level": 0, "predicted": 0.8},
        {"type": "jpeg", "level": 1, "predicted": 0.7},
        {"type": "jp2k", "level": 1, "predicted": 0.5},
        {"type": "jp2k", "level": 1, "predicted": 0.6},
        {"type": "jpeg", "level": 2, "predicted": 0.1},  # not level 1: left out
        {"type": "wn", "level": 1, "predicted": 0.0},
    ]  # not a compression: left out
    out = pristine_vs_level1(rows)
    assert out["value"] == pytest.approx(0.85 - 0.6) and out["reason"] is None
    assert out["means"] == pytest.approx({"pristine": 0.85, "jpeg_1": 0.7, "jp2k_1": 0.55})
    none = pristine_vs_level1([r for r in rows if r["type"] != "pristine"])
    assert none["value"] is None and "no pristine crop" in none["reason"]


def test_trained_model_as_a_no_reference_metric(qmap_run, tmp_path, capsys):
    from qagen.iqa import get
    from qagen.methods.qmap.evaluation import load_qmap, qmap_map, qmap_score

    run_dir, pristine = qmap_run
    img = pristine / "c1.png"
    x = torch.from_numpy(np.array(Image.open(img))).permute(2, 0, 1)[None].double()
    q = load_qmap(run_dir)
    assert load_qmap(run_dir) is q  # loaded once
    m = qmap_map(x, data_range=255.0, model=str(run_dir))
    assert m.shape == (1, 1, 64, 80)
    s = qmap_score(x, 255.0, model=q)
    assert float(s) == pytest.approx(float(m.mean()), rel=1e-6)
    assert get("qmap").fn is qmap_score and not get("qmap").full_reference
    with pytest.raises(InputError, match="needs a trained model"):
        qmap_score(x, 255.0)
    assert main(["score", "qmap", "--model", str(run_dir), str(img), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["value"] == pytest.approx(float(s), rel=1e-5) and out["better"] == "higher"
    assert main(["score", "qmap", str(img)]) == 2
    assert "qmap needs --model" in capsys.readouterr().err
    png = tmp_path / "map.png"
    assert main(["map", "qmap", "--model", str(run_dir), str(img), "-o", str(png)]) == 0
    assert Image.open(png).size[0] > 160
    assert main(["map", "qmap", "--model", str(run_dir), str(img), str(img), "-o", str(png)]) == 2


def test_bench_iqa_with_a_trained_map_predictor(qmap_run, tmp_path):
    from qagen.eval.bench import bench_iqa

    run_dir, _ = qmap_run
    root = tmp_path / "tid"
    rows = []
    for r in (1, 2, 3):
        ref = _photo(64, 64, 10 + r)
        (root / "reference_images").mkdir(parents=True, exist_ok=True)
        Image.fromarray(ref).save(root / "reference_images" / f"I{r:02d}.BMP")
        for lv in (1, 2, 3, 4):
            noisy = np.clip(ref + np.random.default_rng(r * 10 + lv).normal(0, 12 * lv, ref.shape),
                            0, 255).astype(np.uint8)  # fmt: skip
            name = f"i{r:02d}_01_{lv}.bmp"
            (root / "distorted_images").mkdir(exist_ok=True)
            Image.fromarray(noisy).save(root / "distorted_images" / name)
            rows.append(f"{6.5 - lv + 0.1 * r} {name}")
    (root / "mos_with_names.txt").write_text("\n".join(rows) + "\n")
    res = bench_iqa("tid2008", root, f"qmap:{run_dir},psnr")
    assert res.metrics == ["qmap", "psnr"]
    assert np.isfinite(res.scores["qmap"]).all() and len(res.scores["qmap"]) == 12
    with pytest.raises(InputError, match="qmap needs a model"):
        bench_iqa("tid2008", root, "qmap")
    with pytest.raises(InputError, match="psnr takes no model"):
        bench_iqa("tid2008", root, "psnr:x")


def test_encoder_weights_file_starts_the_training_and_is_not_needed_after(tmp_path):
    """hparams.encoder_weights = a local file (the way to a pretrained set-up: smp's default,
    ImageNet weights, is a download): the recipe's encoder starts from the file; restoring the
    trained run (QMapModel.load) builds the recipe without the file, which may be gone."""
    import torchvision

    from qagen.methods.qmap.evaluation import _restorable_recipe
    from qagen.train import get_recipe
    from qagen.train.build import build_recipe
    from qagen.train.config import run_config_to_dict, write_toml

    resnet = torchvision.models.resnet18(weights=None)  # stands in for an ImageNet file
    torch.nn.init.constant_(resnet.conv1.weight, 0.01)
    path = tmp_path / "resnet18.pth"
    torch.save(resnet.state_dict(), path)
    run = resolve_run_config("qmap-resnet18-unet", preset="qmap-resnet18-unet-demo", overrides=[
        "data.resolution=32", "train.sample_every=0", f"hparams.encoder_weights={path}"])  # fmt: skip

    def build(cls):
        return build_recipe(run, cls, device=torch.device("cpu"), dataset=FakeMaps(32, 2),
                            batches_per_epoch=1, stream_factory=None).recipe  # fmt: skip

    registered = get_recipe("qmap-resnet18-unet")
    conv1 = build(registered).net.encoder.conv1.weight
    assert torch.equal(conv1, torch.full_like(conv1, 0.01))  # from the file, not random
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    write_toml(run_dir / "config.toml", run_config_to_dict(run))
    path.unlink()  # (the registered class would raise FileNotFoundError now: test_qmap_nets)
    restorable = _restorable_recipe(run_dir)
    assert issubclass(restorable, registered) and restorable.__name__ == registered.__name__
    assert build(restorable).net.encoder.conv1.weight.shape == conv1.shape  # no file read
    (run_dir / "config.toml").unlink()
    assert _restorable_recipe(run_dir) is None  # no file named: the registry's class


def test_report_sections_of_a_trained_run(qmap_run):
    from qagen.methods.qmap.evaluation import evaluate_qmap_run
    from qagen.methods.qmap.report import qmap_evaluation_section, qmap_maps_section
    from qagen.report import Figure, Table
    from qagen.report.run import RunReportData

    run_dir, _ = qmap_run
    evaluate_qmap_run(run_dir)
    data = RunReportData.load(run_dir)
    (maps,) = qmap_maps_section(data)
    assert isinstance(maps.blocks[0], Figure), maps.blocks  # the network restored, maps drawn
    (ev,) = qmap_evaluation_section(data)
    main_table = next(b for b in ev.blocks if isinstance(b, Table))
    labels = [str(getattr(r[0], "text", r[0])) for r in main_table.rows]
    assert "pristine vs level-1 JPEG / JPEG 2000" in labels
    assert "pristine images in all" in " ".join(main_table.notes)
