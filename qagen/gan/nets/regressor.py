"""A CNN quality-score regressor with global average pooling (the NR-IQA model behind the QMF
paper's Tables 1-2, whose architecture the paper does not give).

* ``arch="cnn"`` (default): five stages of two 3x3 convolutions (batch norm, ReLU) with
  ``width``, 2, 4, 8 and 8 x ``width`` channels, 2x2 max pooling between the stages, global
  average pooling and a linear layer to one score. 2,354,145 parameters at ``width=32``.
* ``arch="resnet18"``: torchvision's ResNet-18 (random initialisation; ``weights``: a local
  ImageNet file), its classifier replaced by a linear layer to one score.

Global average pooling makes the score defined for any input size: train on crops, score whole
images.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

from qagen.errors import InputError

__all__ = ["ScoreRegressor"]


def _stage(cin: int, cout: int) -> list[nn.Module]:
    return [
        nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
        nn.Conv2d(cout, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True),
    ]  # fmt: skip


class ScoreRegressor(nn.Module):
    """``forward(x) -> [N]`` scores of images ``x`` (``N x 3 x H x W``, scaled as trained)."""

    def __init__(self, arch: str = "cnn", width: int = 32, weights: str | Path = "") -> None:
        super().__init__()
        if arch == "cnn":
            if width < 1:
                raise InputError(f"ScoreRegressor width must be >= 1, got {width}")
            chans = [width, 2 * width, 4 * width, 8 * width, 8 * width]
            layers: list[nn.Module] = []
            c = 3
            for k, ch in enumerate(chans):
                if k:
                    layers.append(nn.MaxPool2d(2))
                layers += _stage(c, ch)
                c = ch
            self.features = nn.Sequential(*layers)
            self.head = nn.Linear(c, 1)
        elif arch == "resnet18":
            import torchvision

            net = torchvision.models.resnet18(weights=None)
            if weights:
                path = Path(weights).expanduser()
                if not path.is_file():
                    raise FileNotFoundError(f"regressor weights file not found: {path}")
                state = torch.load(path, map_location="cpu", weights_only=True)
                state = {k: v for k, v in state.items() if not k.startswith("fc.")}
                try:
                    missing, unexpected = net.load_state_dict(state, strict=False)
                except RuntimeError as exc:
                    raise InputError(f"{path} does not fit ResNet-18: {exc}") from None
                if [k for k in missing if not k.startswith("fc.")] or unexpected:
                    raise InputError(f"{path} does not fit ResNet-18: missing {missing[:3]}, "
                                     f"unexpected {unexpected[:3]}")  # fmt: skip
            c = net.fc.in_features
            net.fc = nn.Identity()
            net.avgpool = nn.Identity()
            self.features = nn.Sequential(*list(net.children())[:-2])
            self.head = nn.Linear(c, 1)
        else:
            raise InputError(f"ScoreRegressor arch must be 'cnn' or 'resnet18', got {arch!r}")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f = self.features(x).mean(dim=(2, 3))  # global average pooling
        return self.head(f).squeeze(1)
