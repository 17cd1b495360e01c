"""RGB-T tracking suite (see README.md)."""

import os
from pathlib import Path

# Configs refer to the repository root through ${oc.env:PROJECT_ROOT}; a user may point it
# elsewhere (e.g. a cluster's scratch space).
os.environ.setdefault("PROJECT_ROOT", str(Path(__file__).resolve().parents[1]))

# The structured-config schemas that conf/model/ extends (Hydra's ConfigStore, group `schema`) are
# declarations, stored on import so that any composition of conf/ finds them. The resolvers are not
# registered here: entry points call src.conf.register_resolvers() (which stores the schemas too).
from src.conf import register_schemas  # noqa: E402

register_schemas()
