"""Classical trackers on the suite's tracker interface (``initialize(frames, box_ltwh)``,
``track(frames) -> ltwh``, ``modalities``), built by ``conf/tracker/<name>.yaml``:

- ``csrt`` / ``csrt_tir``: OpenCV's CSRT (CSR-DCF) on the visible / thermal stream;
- ``opencv_kcf``: OpenCV's KCF on visible (a reference row for ours);
- ``mil``: OpenCV's MIL on visible;
- ``kcf`` / ``kcf_rgbt``: our KCF on visible / on both modalities' concatenated features;
- ``eco`` / ``ccot`` / ``srdcf`` and their ``_rgbt`` recipes: ECO, C-COT and SRDCF (one continuous
  spatially regularised filter, eco.py) on visible / on both modalities' concatenated features.
"""

from src.tracking.baselines.eco import ECOTracker
from src.tracking.baselines.kcf import KCFTracker
from src.tracking.baselines.opencv import OpenCVTracker

__all__ = ["ECOTracker", "KCFTracker", "OpenCVTracker"]
