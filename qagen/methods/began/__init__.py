"""IQA distances inside BEGAN (Vertolli & Davies 2017, BEGAN-IQA).

* ``data.py``: CelebA cropped as the BEGAN code (``--data celeba-began:ROOT``);
* ``nets.py``: the BEGAN generator and autoencoder discriminator (network pair ``began``);
* ``recipe.py``: ``began``: eq. 6's weighted l1 + GMSM + chrominance distance
  (:class:`qagen.losses.CompositeIQALoss`), the k_t controller and M_global;
* ``stats.py``: Table 2's statistics of a run; ``report.py``: its report sections (Table 2,
  Figures 3-6, diversity);
* ``experiments.py``: ``began-table2``; ``presets/``: ``began-m01`` ... ``began-m12`` (Table 1).

See ``docs/began.md``.
"""

from pathlib import Path

from qagen.registry import (
    DATA_SOURCES,
    EXPERIMENTS,
    NETWORKS,
    ORDER_RECIPE,
    PRESETS,
    RECIPES,
    REPORT_SECTIONS,
)

_M = "qagen.methods.began."
NETWORKS.add("began", _M + "nets:NETWORK_PAIR")
RECIPES.add("began", _M + "recipe:BEGAN")
DATA_SOURCES.add("celeba-began", _M + "data:CelebABEGANDataset", root="required")
REPORT_SECTIONS.add("began", _M + "report:began_sections", recipes="began", order=ORDER_RECIPE)
EXPERIMENTS.add("began-table2", _M + "experiments:BEGANTable2")
for _p in sorted((Path(__file__).parent / "presets").glob("*.toml")):
    PRESETS.add(_p.stem, _p)
