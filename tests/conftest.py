"""Shared fixtures: the reference images shipped in tests/reference_data and their MATLAB values.

The MATLAB-parity tests never skip: the images and the values of the authors' code are part of
the repository (``tests/reference_data``, with their notices). ``QAGEN_SHARED_DATA`` points the
tests at another copy of the same layout; a missing file is a test failure.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import torch

from qagen.io import read_image

# The built-in photographs: the 11 of the Python packages only, so that no number of the suite
# depends on whether the machine has Debian's opencv-doc (its 19 photographs join the builtin
# source by default); the tests of the extended set set "auto" themselves.
os.environ.setdefault("QAGEN_BUILTIN_PHOTOS", "classic")

ROOT = Path(__file__).resolve().parents[1]
REFERENCE_DATA = Path(
    os.environ.get("QAGEN_SHARED_DATA", Path(__file__).resolve().parent / "reference_data")
)
SHARED_DATA = REFERENCE_DATA  # former name, still used by some tests


def reference_file(*parts: str) -> Path:
    """Path of a file of the reference data; fails the test (never skips) when it is absent."""
    p = REFERENCE_DATA.joinpath(*parts)
    if not p.is_file():
        pytest.fail(
            f"reference file missing: {p} (tests/reference_data is part of the repository; "
            "QAGEN_SHARED_DATA, when set, must point at a copy of it)"
        )
    return p


shared_file = reference_file  # former name, used by tests outside the metric layer

#: test folders of tiny training runs: one intra-op thread (the test machine is shared)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # one intra-op thread per pytest-xdist worker (make test runs one worker per core): two
    # workers of two threads each on two cores spin-wait and run several times slower
    torch.set_num_threads(1)

_SINGLE_THREAD = (ROOT / "tests" / "train", ROOT / "tests" / "methods")


@pytest.fixture(autouse=True)
def _single_thread_for_training(request: pytest.FixtureRequest):
    """Trainer and method tests run with one intra-op thread, restored after."""
    path = Path(str(request.node.path))
    if not any(d in path.parents for d in _SINGLE_THREAD):
        yield
        return
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="session")
def tid_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """(distorted i01_01_5, reference I01): float64 1x3x384x512 on 0-255."""
    dist = read_image(shared_file("tid2013_i01", "i01_01_5.bmp"))
    ref = read_image(shared_file("tid2013_i01", "I01.bmp"))
    return dist, ref


@pytest.fixture(scope="session")
def goldhill_pair() -> tuple[torch.Tensor, torch.Tensor]:
    """(distorted goldhill_jpeg, reference goldhill): float64 1x1x512x512 on 0-255."""
    dist = read_image(shared_file("goldhill", "goldhill_jpeg.gif"))
    ref = read_image(shared_file("goldhill", "goldhill.gif"))
    return dist, ref


#: Values of the authors' MATLAB code, from tests/reference_data/README.md (double precision).
MATLAB = {
    "tid": {
        "psnr_rgb": 21.015690198476705,
        "ssim_index_rgb2gray": 0.67907658706408236,
        "ssim_index_y": 0.67923682017323073,
        "ssim_rgb2gray": 0.87987788946591483,
        "msssim_y": 0.93542981179080298,
        "fsim": 0.93673789272429486,
        "fsimc": 0.92587124212494998,
        "gmsd_y": 0.094124655829098472,
        "gmsd_rgb2gray": 0.094122084570446157,
        "mdsi_sum": 0.338972600511665,
        "mdsi_mult": 0.2580029172575164,
        "vifp_y": 0.31468670400299636,
        "niqe_dist": 9.4758028562649237,
        "niqe_ref": 3.0097344664723593,
    },
    "goldhill": {
        "fsim": 0.8969129517541311,
        "gmsd": 0.1380125871417983,
        "mdsi_sum": 0.39591087613077536,
        "mdsi_mult": 0.3286921812890603,
        "vifp": 0.2664682845687402,
        "ssim_2009": 0.820202464502066,
    },
}


@pytest.fixture(scope="session")
def random_inception(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A randomly initialised state dict of the FID Inception (He-normal convolutions, unit
    batch-norm statistics), saved like the standard file."""
    import torchvision

    with torch.device("meta"):  # shapes only, no initialisation cost
        shapes = torchvision.models.Inception3(
            num_classes=1008, aux_logits=False, init_weights=False
        ).state_dict()
    g = torch.Generator().manual_seed(0)
    sd = {}
    for k, v in shapes.items():
        if k.endswith("num_batches_tracked"):
            continue
        if k.endswith("conv.weight") or k == "fc.weight":
            sd[k] = torch.randn(v.shape, generator=g) * (2.0 / v[0].numel()) ** 0.5
        elif k.endswith("bn.weight") or k.endswith("running_var"):
            sd[k] = torch.ones(v.shape)
        else:
            sd[k] = 0.01 * torch.randn(v.shape, generator=g)
    path = tmp_path_factory.mktemp("weights") / "random-inception.pth"
    torch.save(sd, path)
    return path


@pytest.fixture(autouse=True)
def _one_protocol_per_column(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every ``qagen reproduce`` in the suite must write a table whose columns each have one
    evaluation protocol (issue 23): a smoke reproduction whose rows were evaluated differently
    (an EMA generator against a raw one, other sample counts or splits) fails its test."""
    import qagen.experiments.tables as tables

    original = tables.write_outputs

    def checked(exp, ctx, rows, specs):  # type: ignore[no-untyped-def]
        table = original(exp, ctx, rows, specs)
        mixed = table["protocol"].get("evaluation_mixed")
        if mixed:
            pytest.fail(f"{exp.name}: rows evaluated under different protocols: {mixed}")
        return table

    monkeypatch.setattr(tables, "write_outputs", checked)


@pytest.fixture(scope="session")
def fmnist_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small Fashion-MNIST classifier (12,000 training images, 1 epoch, one thread) in a
    temporary cache folder, shared by the tests of fd_fmnist and of the experiments on
    Fashion-MNIST; skips where Debian's dataset-fashion-mnist is not installed."""
    from qagen.data.fashion_mnist import PACKAGE_ROOT
    from qagen.eval.fmnist import load_classifier

    if not (PACKAGE_ROOT / "t10k-images-idx3-ubyte.gz").is_file():
        pytest.skip("Fashion-MNIST is not installed (apt-get install dataset-fashion-mnist)")
    import fcntl

    # one classifier for the whole run: under pytest-xdist the workers share the parent of their
    # base temporary folders, and the first to take the lock trains it (the others load it)
    root = tmp_path_factory.getbasetemp()
    if os.environ.get("PYTEST_XDIST_WORKER"):
        root = root.parent
    d = root / "fmnist-cache"
    d.mkdir(exist_ok=True)
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        with open(root / "fmnist-cache.lock", "w") as lock, open(os.devnull, "w") as quiet:
            fcntl.flock(lock, fcntl.LOCK_EX)
            load_classifier(d, limit=12000, epochs=1, log=quiet)
    finally:
        torch.set_num_threads(before)
    return d


@pytest.fixture
def fmnist_classifier(fmnist_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Make qagen.eval.fmnist use the small test classifier (never the user's cache)."""
    monkeypatch.setattr("qagen.eval.fmnist._cache_dir", lambda: fmnist_cache)
    return fmnist_cache


@pytest.fixture
def cheap_swd(monkeypatch: pytest.MonkeyPatch) -> None:
    """SWD with 16 patches per image and 16 directions in the evaluation (the generated and the
    real-vs-real SWD): a smoke reproduction's pipeline at a fraction of the default cost."""
    import functools

    from qagen.eval import generation, run, swd

    fast = functools.partial(swd.swd, patches_per_image=16, dir_repeats=1, dirs_per_repeat=16)
    monkeypatch.setattr(generation, "swd", fast)
    monkeypatch.setattr(run, "swd", fast)
