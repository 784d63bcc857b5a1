"""How ``fd_fmnist`` behaves on real images (issue 17, part 2; the table in docs/results.md):
1,000 training images against 1,000 test images, then the same training images blurred, with
Gaussian noise, and restricted to fewer classes (mode dropping), as in Figure 1 of the FID paper.
Uses the cached Fashion-MNIST classifier (trained on first use) and the Debian package's files.

    python benchmarks/fd_fmnist_facts.py
"""

import json

import torch
import torch.nn.functional as F
from torchvision.transforms.functional import gaussian_blur

from qagen.data.fashion_mnist import load_fashion_mnist
from qagen.eval.fmnist import fmnist_metrics

torch.manual_seed(0)


def imgs(split, n, offset=0, classes=None):
    x, y = load_fashion_mnist(split=split)
    x, y = torch.from_numpy(x.copy()), torch.from_numpy(y.copy()).long()
    if classes is not None:
        keep = torch.isin(y, torch.tensor(classes))
        x = x[keep]
    x = x[offset : offset + n].float()[:, None] / 255
    return F.pad(x, (2, 2, 2, 2)).expand(-1, 3, -1, -1).contiguous()


def fd(a, b):
    r = fmnist_metrics(a, b, ("fd_fmnist", "is_fmnist"))
    return round(r["fd_fmnist"]["value"], 3), round(r["is_fmnist"]["value"], 3)


def main() -> None:
    test = imgs("test", 1000)
    train = imgs("train", 1000)
    out = {
        "test vs train": fd(train, test),
        "test vs other test": fd(imgs("test", 1000, 1000), test),
    }
    for s in (0.5, 1.0, 2.0, 3.0):
        k = 2 * int(3 * s) + 1
        out[f"blur sigma {s}"] = fd(gaussian_blur(train, k, s), test)
    for s in (0.05, 0.1, 0.2, 0.4):
        out[f"noise sigma {s}"] = fd((train + s * torch.randn_like(train)).clamp(0, 1), test)
    for k in (8, 5, 2, 1):
        out[f"classes 0..{k - 1} only"] = fd(imgs("train", 1000, classes=list(range(k))), test)
    for k, v in out.items():
        print(f"{k}: fd {v[0]}, is {v[1]}")
    print(json.dumps(out))


if __name__ == "__main__":
    main()
