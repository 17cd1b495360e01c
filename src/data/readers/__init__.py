"""Benchmark readers: one module per layout, one entry point.

``get_reader(name, root, split=None, **options)`` returns a :class:`Reader`;
``Reader.sequences()`` gives ``list[Sequence]``, ``Reader.subsets()`` named sequence lists.
Options every reader takes: ``skip_bad`` (skip and list bad sequences instead of raising),
``check_images`` (open every frame up front), ``sequence_names`` (read only these).
"""

from __future__ import annotations

import importlib

from src.data.readers.base import AnnotationError, Reader

# name -> "module:Class"; imported on demand so one layout's import never costs another's.
READERS = {
    "rgbt234": "src.data.readers.rgbt234:RGBT234Reader",
    "rgbt210": "src.data.readers.rgbt234:RGBT210Reader",
    "gtot": "src.data.readers.gtot:GTOTReader",
    "lasher": "src.data.readers.lasher:LasHeRReader",
    "got10k": "src.data.readers.got10k:GOT10kReader",
    "otb100": "src.data.readers.otb:OTBReader",
    "lasot": "src.data.readers.lasot:LaSOTReader",
    "folder": "src.data.readers.folder:FolderReader",
}


def reader_class(name: str) -> type[Reader]:
    if name not in READERS:
        raise KeyError(f"unknown reader {name!r}; known: {', '.join(READERS)}")
    module, cls = READERS[name].split(":")
    return getattr(importlib.import_module(module), cls)


def get_reader(name: str, root, split: str | None = None, **options) -> Reader:
    """The reader for benchmark ``name`` over ``root`` (a split name where the layout has splits)."""
    return reader_class(name)(root, split=split, **options)


__all__ = ["AnnotationError", "Reader", "READERS", "get_reader", "reader_class"]
