"""A Fréchet distance that needs no download: features of a Fashion-MNIST classifier trained here.

FID (Heusel et al., NeurIPS 2017) needs Inception weights that cannot be downloaded on every
machine. For MNIST-like data, papers use the same statistics in the features of a classifier
trained on the data set itself (e.g. the "FID on MNIST/Fashion-MNIST with a LeNet" of Lucic et
al., NeurIPS 2018, and Binkowski et al.'s KID). qagen trains that classifier once, with a fixed
seed, on the 60,000 training images of Fashion-MNIST (:mod:`qagen.data.fashion_mnist`), and keeps
it in the user's cache folder with its SHA-256 and its training record (test accuracy included).

**Network** (:class:`FMNISTNet`, 1 x 28 x 28 in [0, 1], normalised by the training set's mean
0.2860 and std 0.3530): conv 3x3 (32) - ReLU - max-pool 2 - conv 3x3 (64) - ReLU - max-pool 2 -
linear 3136 -> 128 - ReLU (the **features**, 128-d) - dropout 0.3 (training only) - linear
128 -> 10 (the **logits**). Adam, batch 128, :data:`EPOCHS` epochs with the learning rate
halved every two (1e-3, 5e-4, 2.5e-4), seed 0, no augmentation.

**Metrics** (:func:`fmnist_metrics`; ``qagen eval RUN --metrics fd_fmnist,kid_fmnist,is_fmnist``):

- ``fd_fmnist``: Fréchet distance between Gaussians fitted to the 128-d features of the generated
  and real images, ``|mu1 - mu2|^2 + Tr(S1 + S2 - 2 (S1 S2)^{1/2})``;
- ``kid_fmnist``: KID (Binkowski et al., ICLR 2018), the unbiased MMD^2 with the cubic polynomial
  kernel over random subsets, on the same features;
- ``is_fmnist``: the inception-style score ``exp(E_x KL(p(y|x) || p(y)))`` on the classifier's
  10-way softmax (Salimans et al., 2016), between 1 and 10.

The statistics are torch-fidelity's own functions (:func:`qagen.eval.fid.generation_metrics`
with a :class:`~qagen.eval.fid.ModuleExtractor`). Every record's protocol names the classifier's
SHA-256 and test accuracy, the number of images on each side and the reference split.

**Inputs**: float ``N x C x H x W`` in [0, 1] (C = 1 or 3; three channels are averaged, which
recovers a grey image stored as R = G = B exactly); 28 px as is, 32 px with the 2 px padding of
:mod:`qagen.data.fashion_mnist` cropped off, other sizes resized to 28 (bilinear, antialiased).
"""

from __future__ import annotations

import hashlib
import io
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from qagen.errors import InputError

__all__ = [
    "EPOCHS",
    "FMNIST_METRICS",
    "FMNISTNet",
    "classifier_path",
    "fmnist_extractor",
    "fmnist_metrics",
    "load_classifier",
    "prepare",
    "train_classifier",
]

#: The metric names and what each maps to among FID / KID / IS.
FMNIST_METRICS = {"fd_fmnist": "fid", "kid_fmnist": "kid", "is_fmnist": "is"}
EPOCHS = 6
SEED = 0
_MEAN, _STD = 0.2860, 0.3530
_FILE = "fmnist-classifier-v2"


class FMNISTNet(nn.Module):
    """The classifier (module docstring): ``forward`` gives the logits, :meth:`features_logits`
    both the 128-d features and the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 32, 3, padding=1)
        self.conv2 = nn.Conv2d(32, 64, 3, padding=1)
        self.fc1 = nn.Linear(64 * 7 * 7, 128)
        self.drop = nn.Dropout(0.3)
        self.fc2 = nn.Linear(128, 10)

    def features_logits(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``x``: ``N x 1 x 28 x 28`` in [0, 1]."""
        h = (x - _MEAN) / _STD
        h = F.max_pool2d(F.relu(self.conv1(h)), 2)
        h = F.max_pool2d(F.relu(self.conv2(h)), 2)
        f = F.relu(self.fc1(h.flatten(1)))
        return f, self.fc2(self.drop(f))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.features_logits(x)[1]


def prepare(x: torch.Tensor) -> torch.Tensor:
    """Images ``N x C x H x W`` in [0, 1] -> ``N x 1 x 28 x 28`` (module docstring, Inputs)."""
    if x.ndim != 4 or x.shape[1] not in (1, 3):
        raise InputError(f"images must be N x 1 x H x W or N x 3 x H x W, got {tuple(x.shape)}")
    g = x.float().mean(dim=1, keepdim=True) if x.shape[1] == 3 else x.float()
    h, w = g.shape[-2:]
    if (h, w) == (32, 32):
        return g[..., 2:30, 2:30]
    if (h, w) != (28, 28):
        g = F.interpolate(g, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
    return g


def _cache_dir() -> Path:
    from qagen.eval.fid import default_cache_dir

    return default_cache_dir().parent / "models"


def classifier_path(cache_dir: str | Path | None = None) -> Path:
    """Where the weights live: ``CACHE/models/fmnist-classifier-v2.pt`` (``CACHE``:
    ``$QAGEN_CACHE_DIR`` or ``~/.cache/qagen``), beside its record ``.json``."""
    return Path(cache_dir) / f"{_FILE}.pt" if cache_dir else _cache_dir() / f"{_FILE}.pt"


def _images01(images: Any) -> torch.Tensor:
    return torch.from_numpy(images.astype("float32") / 255.0)[:, None]


@torch.no_grad()
def _accuracy(net: FMNISTNet, x: torch.Tensor, y: torch.Tensor, batch: int = 1000) -> float:
    net.eval()
    hits = sum(int((net(x[i : i + batch]).argmax(1) == y[i : i + batch]).sum())
               for i in range(0, x.shape[0], batch))  # fmt: skip
    return hits / x.shape[0]


def train_classifier(
    root: str | Path | None = None,
    *,
    epochs: int = EPOCHS,
    seed: int = SEED,
    limit: int | None = None,
    log: Any = None,
) -> tuple[FMNISTNet, dict[str, Any]]:
    """Train :class:`FMNISTNet` on the Fashion-MNIST training split (``limit``: its first
    ``limit`` images, for tests) and measure its accuracy on the test split; returns the network
    and its training record."""
    from qagen.data.fashion_mnist import fashion_mnist_root, load_fashion_mnist

    log = log if log is not None else sys.stderr
    xtr, ytr = load_fashion_mnist(root, "train")
    xte, yte = load_fashion_mnist(root, "test")
    if limit is not None:
        xtr, ytr = xtr[:limit], ytr[:limit]
    xtr_t, ytr_t = _images01(xtr), torch.from_numpy(ytr.astype("int64"))
    xte_t, yte_t = _images01(xte), torch.from_numpy(yte.astype("int64"))
    gen = torch.Generator().manual_seed(seed)
    with torch.random.fork_rng():
        torch.manual_seed(seed)
        net = FMNISTNet().to(memory_format=torch.channels_last)  # ~1.7x faster on CPU
        opt = torch.optim.Adam(net.parameters(), lr=1e-3)
        t0 = time.monotonic()
        for epoch in range(epochs):
            for group in opt.param_groups:
                group["lr"] = 1e-3 * 0.5 ** (epoch // 2)
            net.train()
            perm = torch.randperm(xtr_t.shape[0], generator=gen)
            total = 0.0
            for i in range(0, perm.numel(), 128):
                idx = perm[i : i + 128]
                xb = xtr_t[idx].contiguous(memory_format=torch.channels_last)
                loss = F.cross_entropy(net(xb), ytr_t[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                total += float(loss.detach()) * idx.numel()
            print(f"Fashion-MNIST classifier: epoch {epoch + 1}/{epochs}, training loss "
                  f"{total / perm.numel():.4f} ({time.monotonic() - t0:.0f} s)", file=log)  # fmt: skip
        seconds = time.monotonic() - t0
    net = net.to(memory_format=torch.contiguous_format).eval()
    record = {
        "network": "FMNISTNet (qagen.eval.fmnist): 2 conv 3x3 (32, 64) + max-pool, fc 128, fc 10",
        "data": str(fashion_mnist_root(root)),
        "train_images": int(xtr_t.shape[0]), "test_images": int(xte_t.shape[0]),
        "epochs": int(epochs), "seed": int(seed), "optimiser": "Adam, lr 1e-3 halved every 2 epochs, batch 128",
        "test_accuracy": _accuracy(net, xte_t, yte_t),
        "train_accuracy": _accuracy(net, xtr_t[:10000], ytr_t[:10000]),
        "train_seconds": round(seconds, 1), "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "trained_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }  # fmt: skip
    return net, record


def _state_bytes(net: nn.Module) -> bytes:
    buf = io.BytesIO()
    torch.save(net.state_dict(), buf)
    return buf.getvalue()


def load_classifier(
    cache_dir: str | Path | None = None,
    *,
    train: bool = True,
    root: str | Path | None = None,
    log: Any = None,
    **train_kwargs: Any,
) -> tuple[FMNISTNet, dict[str, Any]]:
    """The cached classifier and its record (``sha256`` of the weights file, ``test_accuracy``,
    ...). Missing: trained now (``train=True``, about 2 minutes on 2 CPU cores) and stored
    atomically; with ``train=False`` a :class:`FileNotFoundError`. A weights file whose SHA-256
    differs from its record is an :class:`InputError` (delete both files to train again).
    ``train_kwargs`` (``epochs``, ``limit``) go to :func:`train_classifier` (tests train a small
    one in a temporary cache)."""
    from qagen.files import write_atomic, write_json_atomic

    path = classifier_path(cache_dir)
    meta = path.with_suffix(".json")
    if not (path.is_file() and meta.is_file()):
        if not train:
            raise FileNotFoundError(f"no Fashion-MNIST classifier at {path}")
        log = log if log is not None else sys.stderr
        print(f"training the Fashion-MNIST classifier of fd_fmnist once (stored in {path})",
              file=log)  # fmt: skip
        net, record = train_classifier(root, log=log, **train_kwargs)
        data = _state_bytes(net)
        record["sha256"] = hashlib.sha256(data).hexdigest()
        path.parent.mkdir(parents=True, exist_ok=True)
        write_atomic(path, data)
        write_json_atomic(meta, record, indent=2)
        print(f"Fashion-MNIST classifier: test accuracy {record['test_accuracy']:.4f}", file=log)
    data = path.read_bytes()
    record = json.loads(meta.read_text())
    sha = hashlib.sha256(data).hexdigest()
    if sha != record.get("sha256"):
        raise InputError(
            f"{path}: SHA-256 {sha[:16]}... differs from its record {meta} "
            f"({str(record.get('sha256'))[:16]}...): delete both files to train it again"
        )
    net = FMNISTNet()
    net.load_state_dict(torch.load(io.BytesIO(data), weights_only=True))
    net.eval()
    return net, record


def fmnist_extractor(device: str | torch.device = "cpu", cache_dir: str | Path | None = None):
    """A :class:`~qagen.eval.fid.ModuleExtractor` giving the classifier's features and logits,
    named with its SHA-256 (``(extractor, record)``)."""
    from qagen.eval.fid import ModuleExtractor

    net, record = load_classifier(cache_dir)

    @torch.no_grad()
    def fn(x: torch.Tensor) -> dict[str, torch.Tensor]:
        f, logits = net.features_logits(prepare(x))
        return {"features": f, "logits": logits}

    net.to(device)
    ext = ModuleExtractor(fn, f"Fashion-MNIST classifier {record['sha256'][:12]}", device=device,
                          weights_sha256=record["sha256"])  # fmt: skip
    return ext, record


def fmnist_metrics(
    fake: torch.Tensor,
    real: torch.Tensor,
    metrics: Any = ("fd_fmnist", "kid_fmnist", "is_fmnist"),
    *,
    batch_size: int = 256,
    device: str | torch.device = "cpu",
    kid_subsets: int = 100,
    kid_subset_size: int | None = None,
    isc_splits: int | None = None,
    reference_name: str | None = None,
    reference_split: str | None = None,
    extra_protocol: dict | None = None,
    cache_dir: str | Path | None = None,
) -> dict[str, dict]:
    """``{name: record}`` of ``fd_fmnist`` / ``kid_fmnist`` / ``is_fmnist`` (module docstring)
    for float images in [0, 1]; the same ``n`` on both sides is the caller's choice (recorded)."""
    from qagen.eval.fid import generation_metrics
    from qagen.eval.options import InceptionOptions

    names = [str(m).lower() for m in ([metrics] if isinstance(metrics, str) else metrics)]
    bad = [m for m in names if m not in FMNIST_METRICS]
    if bad:
        raise InputError(f"unknown Fashion-MNIST metric {bad[0]!r}; available: "
                         f"{', '.join(FMNIST_METRICS)}")  # fmt: skip
    if (
        real.ndim == 4
        and real.shape[1] == 3
        and float((real[:, :1] - real).abs().max()) > 1.5 / 255
    ):
        raise InputError(
            f"{', '.join(names)} compare grey Fashion-MNIST-like images, but the real images "
            f"({reference_name or 'the reference'}) are in colour: evaluate a run trained on "
            "--data fashion-mnist"
        )
    ext, record = fmnist_extractor(device, cache_dir)
    n = min(int(fake.shape[0]), int(real.shape[0]))
    opts = InceptionOptions(extractor=ext, kid_subsets=kid_subsets,
                            kid_subset_size=kid_subset_size or min(1000, n),
                            isc_splits=isc_splits or min(10, int(fake.shape[0])))  # fmt: skip
    scores = generation_metrics(
        fake, real, opts, metrics=[FMNIST_METRICS[m] for m in names], batch_size=batch_size,
        device=device, reference_name=reference_name, reference_split=reference_split,
        cache_dir=False, extra_protocol=extra_protocol,
    )  # fmt: skip
    out = {}
    for name in names:
        rec = scores[FMNIST_METRICS[name]].to_dict()
        rec["metric"] = name
        rec["protocol"].update({
            "classifier_sha256": record["sha256"],
            "classifier_test_accuracy": record["test_accuracy"],
            "classifier": record["network"], "features": "128-d penultimate layer (after ReLU)",
            "input": "grey (channel mean), 32 px cropped to 28 (the padding), other sizes resized",
        })  # fmt: skip
        out[name] = rec
    return out


if __name__ == "__main__":  # python -m qagen.eval.fmnist: train (if needed) and show the record
    _, rec = load_classifier()
    print(json.dumps(rec, indent=2))
