"""Write the synthetic benchmark by hand (a Hydra app, as the other entry points).

    python -m src.data.synthetic                      # -> data/synthetic_rgbt (the default)
    python -m src.data.synthetic root=DIR seed=3 splits.train.sequences=10 width=320 height=240
    python -m src.data.synthetic data.root=DIR data.generate.seed=3        # the same keys, in full
    python -m src.data.synthetic --help               # every key and its default

The config is conf/data/synthetic.yaml as ``data`` (and conf/paths), as ``src.train`` composes it:
``data.root`` is where the benchmark goes, ``data.generate`` its parameters. ``root`` and the
``generate`` keys may be given short (``root=DIR``, ``seed=3``, ``splits.train.sequences=10``).
Deterministic: the same seed and sizes give the same bytes, whatever the worker count.
"""

from __future__ import annotations

import dataclasses
import sys
import time
from pathlib import Path

import hydra
from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig

from src.conf import register_resolvers
from src.data.synthetic.scene import CONFIG_PATH, GenerateConfig, resolve_config
from src.data.synthetic.writer import generate

APP = "synthetic_cli"  # the name of the app's primary config (APP_CONFIG) in the ConfigStore
CONF_DIR = CONFIG_PATH.parents[1]  # conf/ (absolute: the app is found as a module, not as a file)

HELP = """python -m src.data.synthetic: write the synthetic RGB-T benchmark (RGBT234 layout) to data.root.

  python -m src.data.synthetic                                   # data/synthetic_rgbt
  python -m src.data.synthetic root=/tmp/syn seed=3 width=320 height=240 splits.train.sequences=100

Keys: data.root and data.generate.* (conf/data/synthetic.yaml); root and the generate keys may be given
short (root=DIR, seed=3, splits.train.sequences=10).

== Config ==

$CONFIG

Use --hydra-help for Hydra's own options."""

# conf/data/synthetic.yaml as `data`, the paths it interpolates; nothing written but the benchmark
# (no run directory, no log file). Stored in Hydra's ConfigStore by `main`.
APP_CONFIG = {
    "defaults": [
        {"data": "synthetic"},
        {"paths": "default"},
        {"override hydra/job_logging": "none"},
        {"override hydra/hydra_logging": "none"},
        "_self_",
    ],
    "hydra": {"run": {"dir": "."}, "output_subdir": None, "help": {"template": HELP}},
}

# the short keys: `root` and the generate section's top-level keys
SHORT = {"root": "data.root"}
SHORT |= {f.name: f"data.generate.{f.name}" for f in dataclasses.fields(GenerateConfig)}


def expand_override(arg: str) -> str:
    """``root=DIR`` -> ``data.root=DIR``, ``splits.train.frames=9`` -> ``data.generate.splits.train.frames=9``
    (a leading ``+`` dropped, as the keys exist); anything else unchanged."""
    key, sep, value = arg.partition("=")
    name = key.lstrip("+")
    head = name.split(".")[0]
    if not sep or head not in SHORT:
        return arg
    return f"{SHORT[head]}{name[len(head):]}={value}"


@hydra.main(version_base="1.3", config_path=str(CONF_DIR), config_name=APP)
def app(cfg: DictConfig) -> None:
    root = Path(str(cfg.data.root))
    started = time.perf_counter()
    generate(root, cfg.data.generate)
    params = resolve_config(cfg.data.generate)
    total = sum(s["sequences"] * s["frames"] for s in params["splits"].values())
    print(f"wrote {root} ({total} frame pairs) in {time.perf_counter() - started:.1f} s")


def main(argv: list[str] | None = None) -> None:
    """Run the app on ``argv`` (default: the command line), the short keys expanded."""
    register_resolvers()
    ConfigStore.instance().store(name=APP, node=APP_CONFIG)
    argv = sys.argv[1:] if argv is None else list(argv)
    saved = sys.argv
    sys.argv = [saved[0] if saved else __name__, *(expand_override(a) for a in argv)]
    try:
        app()
    finally:
        sys.argv = saved
