"""The built-in synthetic illumination set: procedurally shaped surfaces rendered grey with
Lambertian shading under a grid of light directions, with their labels (identity, azimuth,
elevation), so that the autoencoder experiment of the MS-SSIM loss poster runs with no data on
disk. Data spec ``illumination``.

**What it is.** ``n_identities`` (default 24) "identities", each a height field on the unit
square seen from the front: a head-like ellipsoid cap filling most of the frame, a nose ridge,
two eye sockets, a brow, a mouth groove and six random smooth bumps, with a smooth albedo
pattern (darker eyes and mouth, random blotches) over a flat background wall. Every shape and
albedo parameter is drawn from ``numpy.random.default_rng([seed, identity])``. Each identity is
rendered at ``resolution`` (48) px under every light of the grid ``AZIMUTHS`` x ``ELEVATIONS``
(17 azimuths from -130 to +130 degrees, 6 elevations from -40 to +65: the range of Extended
Yale B's 64 lights; 102 images per identity, 2,448 in all) as ``I = albedo * (max(0, n . l) +
0.05)``, rounded to 8 bits. Azimuth is the light's angle from the viewing axis towards the
image's right (positive) or left; elevation its angle above (positive) or below the horizontal:
``l = (sin(az) cos(el), sin(el), cos(az) cos(el))`` in (right, up, towards the viewer).

**What it is not.** Not faces and not photographs: no cast shadows, no specular highlights, no
inter-reflections, no camera noise, no pose or expression changes, one fixed viewpoint. The
images share Yale B's structure (identity and light direction are the only factors of
variation, and the light moves the shading much more than the identity does), so the same
protocol runs on them; the poster's numbers are Yale B's and are not expected here.

Splits as Yale B's (:func:`qagen.methods.msssim.yaleb.identity_split`: half of each identity's images
in ``test``, seeded); :attr:`IlluminationDataset.labels` holds ``(identity, azimuth,
elevation)`` rows. Items are float32 ``3 x R x R`` (grey repeated) in ``value_range``.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence

import numpy as np
import torch
from torch.utils.data import Dataset

from qagen.data.transforms import ImagePostprocess
from qagen.errors import InputError
from qagen.methods.msssim.yaleb import identity_split

__all__ = ["AZIMUTHS", "ELEVATIONS", "IlluminationDataset", "render_identity"]

AZIMUTHS = (-130, -110, -85, -70, -50, -35, -20, -10, 0, 10, 20, 35, 50, 70, 85, 110, 130)
ELEVATIONS = (-40, -20, 0, 20, 40, 65)

_CACHE: dict[tuple, tuple[np.ndarray, np.ndarray]] = {}
_LOCK = threading.Lock()


def _gauss(u: np.ndarray, v: np.ndarray, cu: float, cv: float, su: float, sv: float) -> np.ndarray:
    return np.exp(-0.5 * (((u - cu) / su) ** 2 + ((v - cv) / sv) ** 2))


def _surface(resolution: int, seed: int, identity: int) -> tuple[np.ndarray, np.ndarray]:
    """Unit normals ``H x W x 3`` (right, up, towards the viewer) and albedo ``H x W``."""
    rng = np.random.default_rng([seed, identity])
    t = (np.arange(resolution) + 0.5) / resolution * 2.0 - 1.0
    u, v = np.meshgrid(t, -t)  # u to the right, v up
    a, b = rng.uniform(0.75, 0.95), rng.uniform(0.9, 1.1)
    cap = np.clip(1.0 - (u / a) ** 2 - (v / b) ** 2, 0.0, None)
    depth = rng.uniform(0.5, 0.9)
    h = depth * np.sqrt(cap)
    inside = cap > 0
    nose_v = rng.uniform(-0.15, 0.05)
    h += rng.uniform(0.15, 0.35) * _gauss(u, v, 0, nose_v, rng.uniform(0.06, 0.11), 0.22)
    eye_u, eye_v = rng.uniform(0.25, 0.38), rng.uniform(0.1, 0.3)
    eye_s = rng.uniform(0.08, 0.14)
    for side in (-1, 1):
        h -= rng.uniform(0.05, 0.12) * _gauss(u, v, side * eye_u, eye_v, eye_s, eye_s * 0.8)
    h += rng.uniform(0.02, 0.08) * _gauss(u, v, 0, eye_v + 0.15, 0.45, 0.06)
    mouth_v = rng.uniform(-0.6, -0.4)
    h -= rng.uniform(0.02, 0.06) * _gauss(u, v, 0, mouth_v, rng.uniform(0.15, 0.25), 0.05)
    for _ in range(6):
        cu, cv = rng.uniform(-0.7, 0.7, size=2)
        s = rng.uniform(0.1, 0.3)
        h += rng.uniform(-0.06, 0.06) * _gauss(u, v, cu, cv, s, s)
    h = np.where(inside, h, 0.0)
    step = 2.0 / resolution
    dh_dv, dh_du = np.gradient(h, -step, step)
    n = np.stack([-dh_du, -dh_dv, np.ones_like(h)], axis=-1)
    n /= np.linalg.norm(n, axis=-1, keepdims=True)
    albedo = np.full_like(h, rng.uniform(0.55, 0.85))
    for side in (-1, 1):
        albedo -= rng.uniform(0.2, 0.4) * _gauss(
            u, v, side * eye_u, eye_v, eye_s * 0.5, eye_s * 0.35
        )
    albedo -= rng.uniform(0.1, 0.25) * _gauss(u, v, 0, mouth_v, 0.15, 0.035)
    for _ in range(4):
        cu, cv = rng.uniform(-0.7, 0.7, size=2)
        s = rng.uniform(0.1, 0.35)
        albedo += rng.uniform(-0.12, 0.12) * _gauss(u, v, cu, cv, s, s)
    albedo = np.where(inside, albedo, rng.uniform(0.25, 0.4))
    return n, np.clip(albedo, 0.05, 1.0)


def render_identity(
    identity: int,
    resolution: int = 48,
    seed: int = 0,
    azimuths: Sequence[float] = AZIMUTHS,
    elevations: Sequence[float] = ELEVATIONS,
) -> tuple[np.ndarray, np.ndarray]:
    """``(images, labels)``: uint8 ``L x R x R`` renderings of one identity under the light grid
    (azimuth-major order) and ``L x 3`` rows ``(identity, azimuth, elevation)``."""
    n, albedo = _surface(resolution, seed, identity)
    imgs, labels = [], []
    for az in azimuths:
        for el in elevations:
            ra, re_ = np.deg2rad(az), np.deg2rad(el)
            light = np.array([np.sin(ra) * np.cos(re_), np.sin(re_), np.cos(ra) * np.cos(re_)])
            shade = np.clip(n @ light, 0.0, None) + 0.05
            img = np.clip(albedo * shade, 0.0, 1.0)
            imgs.append(np.floor(img * 255.0 + 0.5).astype(np.uint8))
            labels.append((identity, az, el))
    return np.stack(imgs), np.array(labels, dtype=np.int64)


class IlluminationDataset(Dataset):
    """The synthetic illumination set (module docstring)."""

    def __init__(
        self,
        resolution: int = 48,
        split: str = "train",
        *,
        seed: int = 0,
        n_identities: int = 24,
        test_fraction: float = 0.5,
        value_range: Sequence[float] = (-1.0, 1.0),
        flip: bool = False,
        dequantize: bool = False,
    ) -> None:
        if isinstance(resolution, bool) or not isinstance(resolution, int) or resolution < 8:
            raise InputError(f"illumination: resolution must be an int >= 8, got {resolution!r}")
        if n_identities < 2:
            raise InputError(f"illumination: n_identities must be >= 2, got {n_identities}")
        key = (resolution, int(seed), int(n_identities))
        with _LOCK:
            if key not in _CACHE:
                parts = [render_identity(i, resolution, seed) for i in range(n_identities)]
                _CACHE[key] = (
                    np.concatenate([p[0] for p in parts]),
                    np.concatenate([p[1] for p in parts]),
                )
            images, labels = _CACHE[key]
        keep = identity_split(labels[:, 0], split, seed, test_fraction)
        self.images, self.labels = images[keep], labels[keep]
        self.split, self.resolution = split, resolution
        self.post = ImagePostprocess(value_range, flip=flip, dequantize=dequantize)

    def __len__(self) -> int:
        return len(self.images)

    def raw(self, index: int) -> torch.Tensor:
        """Image ``index`` as ``3 x R x R`` uint8."""
        return torch.from_numpy(self.images[index]).unsqueeze(0).expand(3, -1, -1).contiguous()

    def __getitem__(self, index: int) -> torch.Tensor:
        return self.post(self.raw(index))
