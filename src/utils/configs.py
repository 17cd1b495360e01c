"""Comparing plain configs (dicts, lists, scalars): what differs, said in one line."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def first_difference(saved: Any, current: Any, prefix: str = "",
                     labels: tuple[str, str] = ("saved", "now")) -> str | None:
    """The first dotted key where two plain configs differ, as ``key: <saved> <labels[0]>, <current>
    <labels[1]>`` (or ``key only ...``); None when they are equal."""
    if isinstance(saved, Mapping) and isinstance(current, Mapping):
        for key in sorted(set(saved) | set(current), key=str):
            name = f"{prefix}.{key}" if prefix else str(key)
            if key not in saved or key not in current:
                return f"{name} only {labels[1] if key not in saved else labels[0]}"
            found = first_difference(saved[key], current[key], name, labels)
            if found:
                return found
        return None
    if isinstance(saved, (list, tuple)) and isinstance(current, (list, tuple)) and len(saved) == len(current):
        for i, (a, b) in enumerate(zip(saved, current)):
            found = first_difference(a, b, f"{prefix}[{i}]", labels)
            if found:
                return found
        return None
    return None if saved == current else f"{prefix}: {saved!r} {labels[0]}, {current!r} {labels[1]}"
