"""RGB-T tracking suite (see README.md)."""

import os
import uuid
from pathlib import Path

from omegaconf import OmegaConf

# Configs refer to the repository root through ${oc.env:PROJECT_ROOT}; a user may point it
# elsewhere (e.g. a cluster's scratch space).
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

# ${uid:} gives one short random id per process: run directories of runs started in the
# same second never collide.
if not OmegaConf.has_resolver("uid"):
    OmegaConf.register_new_resolver("uid", lambda: uuid.uuid4().hex[:6], use_cache=True)
