"""SRCNN (Dong, Loy, He, Tang, "Image super-resolution using deep convolutional networks",
IEEE TPAMI 38(2), 2016), the network of the MS-SSIM loss poster's super-resolution result.

Three convolutions on the luma (Y) channel of the bicubic-upscaled low-resolution image::

    F1 = ReLU(W1 * Y + B1)      64 filters  9 x 9   patch extraction and representation
    F2 = ReLU(W2 * F1 + B2)     32 filters  5 x 5   non-linear mapping
    F  = W3 * F2 + B3            1 filter   5 x 5   reconstruction

(the 9-5-5 setting of the TPAMI paper; 57,281 parameters with the defaults). The poster's "3
conv. layers and 2 fully-connected layers of ReLUs" is read as the two ReLUs after the first two
convolutions: SRCNN has no fully-connected layer.

``padding``: SRCNN trains without padding (its output is 16 px smaller) and its MATLAB demo
filters with ``imfilter(..., 'same', 'replicate')``. ``'replicate'`` (default) and ``'zeros'``
keep the size at every layer; ``'valid'`` trains on the central region only and, in
:meth:`SRCNN.upscale`, pads the input by replication so the output has the input's size.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from qagen.errors import InputError

__all__ = ["SRCNN", "SRCNN_INITS", "SRCNN_PADDINGS"]

SRCNN_PADDINGS = ("replicate", "zeros", "valid")
SRCNN_INITS = ("default", "gaussian", "identity")


class SRCNN(nn.Module):
    """SRCNN: ``channels`` = (n1, n2) filters, ``kernels`` = (f1, f2, f3) sizes (odd).

    Input and output ``N x 1 x H x W`` (Y in [0, 1]); with ``padding='valid'`` the output is
    ``H - (f1 + f2 + f3 - 3)`` on each side less (:attr:`shrink` pixels in total per side
    pair). ``init``: ``'default'`` (PyTorch's), ``'gaussian'`` (SRCNN's: weights N(0,
    0.001^2), biases 0) or ``'identity'``: PyTorch's, with all biases 0 and the first filter of
    every layer replaced by a centred delta on the previous layer's first channel (the last
    layer reads that channel only), so the untrained network returns its (non-negative) input:
    training starts from the bicubic baseline and the architecture is unchanged.
    """

    def __init__(
        self,
        channels: Sequence[int] = (64, 32),
        kernels: Sequence[int] = (9, 5, 5),
        padding: str = "replicate",
        init: str = "default",
    ) -> None:
        super().__init__()
        n1, n2 = (int(c) for c in channels)
        f1, f2, f3 = (int(k) for k in kernels)
        if min(n1, n2) < 1:
            raise InputError(f"SRCNN channels must be positive, got {tuple(channels)}")
        if min(f1, f2, f3) < 1 or any(k % 2 == 0 for k in (f1, f2, f3)):
            raise InputError(f"SRCNN kernels must be odd positive sizes, got {tuple(kernels)}")
        if padding not in SRCNN_PADDINGS:
            raise InputError(f"SRCNN padding must be one of {SRCNN_PADDINGS}, got {padding!r}")
        if init not in SRCNN_INITS:
            raise InputError(f"SRCNN init must be one of {SRCNN_INITS}, got {init!r}")
        self.padding = padding
        #: pixels lost on each side with 'valid' padding
        self.border = (f1 - 1) // 2 + (f2 - 1) // 2 + (f3 - 1) // 2
        layers = []
        for cin, cout, k in ((1, n1, f1), (n1, n2, f2), (n2, 1, f3)):
            same = padding != "valid"
            layers.append(
                nn.Conv2d(
                    cin,
                    cout,
                    k,
                    padding=(k - 1) // 2 if same else 0,
                    padding_mode="replicate" if padding == "replicate" else "zeros",
                )
            )
        self.conv1, self.conv2, self.conv3 = layers
        if init == "gaussian":
            for conv in layers:
                nn.init.normal_(conv.weight, std=1e-3)
                nn.init.zeros_(conv.bias)
        elif init == "identity":
            with torch.no_grad():
                for conv in layers:
                    k = conv.kernel_size[0] // 2
                    conv.bias.zero_()
                    conv.weight[0].zero_()
                    conv.weight[0, 0, k, k] = 1.0

    def forward(self, y: torch.Tensor) -> torch.Tensor:
        """The network on ``N x 1 x H x W`` (valid padding: a smaller output)."""
        h = F.relu(self.conv1(y))
        h = F.relu(self.conv2(h))
        return self.conv3(h)

    def upscale(self, y: torch.Tensor) -> torch.Tensor:
        """The network's prediction at the input's size (valid padding: replicate-padded
        input), for evaluation and ``qagen sr``."""
        if self.padding == "valid":
            b = self.border
            y = F.pad(y, (b, b, b, b), mode="replicate")
        return self(y)
