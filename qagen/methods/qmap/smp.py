"""Encoder U-Nets and DeepLabV3 from segmentation-models-pytorch (Yakubovskiy, the library the
quality-map paper cites), with no download: ``encoder_weights=None`` (random initialisation) or
the encoder's weights from a local file.

========================= ================================ ===============================
qagen name                segmentation-models-pytorch       parameters (1 output channel)
========================= ================================ ===============================
``densenet121-unet``      ``Unet("densenet121")``           13,607,633 (paper: 13,607,633)
``resnet18-unet``         ``Unet("resnet18")``              14,328,209 (paper: 14,328,209)
``resnet50-unet``         ``Unet("resnet50")``              32,521,105 (paper: 32,521,105)
``dcnn``                  ``DeepLabV3("resnet50")``         39,633,729 (paper: 39,633,751)
========================= ================================ ===============================

(segmentation-models-pytorch 0.6.0, torch 2.14.1, default decoders, ``in_channels=3``,
``classes=1``, no activation.) The DeepLabV3 count is 22 below the paper's "DCNN"; the
library's DeepLabV3 has had the same layers since it was added (February 2020: ResNet-50 with
dilated stages 4-5, ASPP with rates 12/24/36 and a pooling branch, 3x3 convolution, 1x1 head,
x8 bilinear upsampling), no other encoder of the library comes within 400,000 of the paper's
number, and no setting of the model (classes, channels, auxiliary head) changes the count by 22
(the smallest steps are 257 per class and 3,136 per input channel): the difference is not in
the architecture the library builds; the paper's number is most likely a transcription or
counting slip.
"""

from __future__ import annotations

import re
from pathlib import Path

import torch
from torch import nn

from qagen.errors import InputError, UnknownNameError

__all__ = ["SMP_MODELS", "smp_model", "load_encoder_weights"]

#: qagen name -> (segmentation-models-pytorch architecture, encoder)
SMP_MODELS = {
    "densenet121-unet": ("Unet", "densenet121"),
    "resnet18-unet": ("Unet", "resnet18"),
    "resnet50-unet": ("Unet", "resnet50"),
    "dcnn": ("DeepLabV3", "resnet50"),
}


_OLD_DENSENET_KEY = re.compile(r"^(.*denselayer\d+\.(?:norm|relu|conv))\.([12]\..+)$")


def _new_densenet_key(key: str) -> str:
    """torchvision's DenseNet files name a layer's parts ``norm.1``, ``conv.2`` (the layout of
    their release, before the modules became ``norm1``, ``conv2``): the new name."""
    m = _OLD_DENSENET_KEY.match(key)
    return m.group(1) + m.group(2) if m else key


def load_encoder_weights(model: nn.Module, path: str | Path) -> None:
    """Load encoder weights from a local file (a state dict of the encoder, e.g. torchvision's
    ImageNet ResNet/DenseNet file, whose DenseNet keys ``denselayerN.norm.1.weight`` are read as
    ``denselayerN.norm1.weight``; the classifier's ``fc``/``classifier`` keys are ignored),
    with ``torch.load(weights_only=True)``. Missing or mismatched keys are an
    :class:`qagen.errors.InputError` naming the file."""
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"encoder weights file not found: {path}")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise InputError(f"cannot read encoder weights {path}: {exc}") from exc
    if isinstance(state, dict) and "state_dict" in state and isinstance(state["state_dict"], dict):
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise InputError(f"{path} does not hold a state dict")
    state = {_new_densenet_key(k): v for k, v in state.items()
             if not k.startswith(("fc.", "classifier."))}  # fmt: skip
    try:  # nn.Module's own method: some encoders override load_state_dict and return nothing
        missing, unexpected = nn.Module.load_state_dict(model.encoder, state, strict=False)
    except RuntimeError as exc:  # shapes that do not match
        raise InputError(f"{path} does not fit the encoder: {exc}") from None
    if missing or unexpected:
        raise InputError(
            f"{path} does not fit the encoder: {len(missing)} missing keys (e.g. "
            f"{missing[:3]}), {len(unexpected)} unexpected (e.g. {unexpected[:3]})"
        )


def smp_model(
    name: str,
    *,
    in_channels: int = 3,
    classes: int = 1,
    encoder_weights: str | None = None,
) -> nn.Module:
    """The segmentation-models-pytorch network ``name`` (see :data:`SMP_MODELS`), randomly
    initialised; ``encoder_weights``: a local file of encoder weights (nothing is downloaded).
    The output has the input's size (inputs divisible by 32) and no activation."""
    if name not in SMP_MODELS:
        raise UnknownNameError("segmentation-models-pytorch model", name, SMP_MODELS)
    try:
        import segmentation_models_pytorch as smp
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise InputError(
            "segmentation-models-pytorch is needed for this model: pip install "
            "segmentation-models-pytorch==0.6.0"
        ) from exc
    arch, encoder = SMP_MODELS[name]
    model = getattr(smp, arch)(encoder, encoder_weights=None, in_channels=in_channels,
                               classes=classes, activation=None)  # fmt: skip
    model.multiple = 32
    if encoder_weights:
        load_encoder_weights(model, encoder_weights)
    return model
