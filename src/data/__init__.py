"""Data: benchmark readers, the embedded synthetic benchmark and the training pipeline.

``open_benchmark(data_cfg, split)`` is the one way to open a benchmark split from a data config
(``conf/data/*.yaml``).
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from src.data.readers import AnnotationError, Reader, get_reader


def _get(cfg, key, default=None):
    return cfg[key] if key in cfg and cfg[key] is not None else default


def reader_split(data_cfg: Mapping, split: str | None) -> str | None:
    """The reader's ``split`` argument for a stage name (``train``/``val``/``test``): looked up in
    ``data_cfg.splits``; a name not listed there is passed through unchanged, so
    ``split=test`` works on a config without a ``splits`` section too."""
    if split is None:
        return None
    splits = _get(data_cfg, "splits", {})
    return splits.get(split, split)


def open_benchmark(data_cfg: Mapping, split: str | None, **options) -> Reader:
    """Open ``split`` (a stage name: ``train``, ``val``, ``test``) of the benchmark a data config
    describes. Generates the synthetic benchmark first when the config has a ``generate`` section
    and its root holds no complete benchmark. ``options`` go to the reader (``skip_bad``,
    ``check_images``, ``sequence_names``) on top of the config's ``reader`` section."""
    root = Path(str(data_cfg["root"])).expanduser()
    generate = _get(data_cfg, "generate")
    if generate is not None:
        from src.data import synthetic

        synthetic.ensure(root, generate)
    reader_options = dict(_get(data_cfg, "reader", {}))
    reader_options.update(options)
    return get_reader(str(data_cfg["name"]), root, split=reader_split(data_cfg, split), **reader_options)


__all__ = ["AnnotationError", "Reader", "get_reader", "open_benchmark", "reader_split"]
