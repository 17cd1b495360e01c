"""The embedded synthetic RGB-T benchmark, written in the RGBT234 layout (``python -m src.data.synthetic``,
see :mod:`.cli`; its parameters: the ``generate`` section of conf/data/synthetic.yaml).

What a sequence holds, and why (the task must need both modalities):
- a textured target (visible colour pattern) that is warm in thermal with its own hot-spot pattern;
- look-alike distractors (the target's texture, slightly recoloured) that are cold in thermal, and
  warm distractors that look different in visible: neither modality alone is unambiguous;
- a cluttered background (smooth colour field, shapes, grain) that the camera drifts over; shapes
  carry their own temperatures, so thermal has clutter too;
- RGBT234 challenge attributes: LI (visible dark and noisy), TC (target at ambient temperature),
  PO/HO (an occluder in both modalities), FM, SC, DEF, CM, BC, LR, MB, NO;
- infrared ground truth = visible ground truth shifted by a per-sequence misregistration of a few
  pixels (the thermal frame is rendered shifted the same way), as RGBT234's two files differ.

Layout: ``ROOT/{train,val,test}/`` each an RGBT234 root (``<seq>/visible/00001v.jpg``,
``<seq>/infrared/00001i.jpg``, ``visible.txt``, ``infrared.txt``, ``init.txt``, ``attr_txt/``,
``SequencesName.txt``) plus ``subsets/normal.txt`` (none of LI, TC, HO) and ``subsets/extreme.txt``
(any of them). ``ROOT/synthetic.json`` records the parameters; it is written last, so its presence
marks a complete benchmark. The reader's ``split`` argument is the folder name.

Modules: :mod:`.scene` (the parameters' schema, a sequence's attributes, the :class:`Scene` drawn from
them), :mod:`.textures`, :mod:`.motion`, :mod:`.render` (a frame of a scene), :mod:`.writer` (the
RGBT234 layout, :func:`ensure` under a lock), :mod:`.cli`.
"""

from src.data.synthetic.cli import main
from src.data.synthetic.scene import (
    ATTRIBUTES,
    CONFIG_PATH,
    EXTREME,
    GenerateConfig,
    Scene,
    SplitSpec,
    choose_attributes,
    config_defaults,
    draw_scene,
    resolve_config,
)
from src.data.synthetic.writer import (
    FORMAT_VERSION,
    MARKER,
    default_root,
    ensure,
    generate,
    is_complete,
    recorded_config,
)

__all__ = [
    "ATTRIBUTES",
    "CONFIG_PATH",
    "EXTREME",
    "FORMAT_VERSION",
    "MARKER",
    "GenerateConfig",
    "Scene",
    "SplitSpec",
    "choose_attributes",
    "config_defaults",
    "default_root",
    "draw_scene",
    "ensure",
    "generate",
    "is_complete",
    "main",
    "recorded_config",
    "resolve_config",
]
