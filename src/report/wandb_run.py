"""What the suite puts into a W&B run besides Lightning's logging, and how to read an offline run back.

- :func:`log_report`: an evaluation report (metrics.json content) into a run: ``test/*`` in the summary
  (``test/<subset>/*`` per subset), ``fps/*`` with ``cpu_threads``, the plots as images and the
  per-sequence rows as a ``wandb.Table``. Training's end-of-run test and ``src.evaluate`` both call it.
- :func:`define_best`: the run summary keeps the best value of a metric (``val/MSR``), not the last.
- :func:`read_offline_run`: group, tags, job type, config and summary of an offline run, from its
  ``run-<id>.wandb`` log (W&B 0.31 ships no Python reader for it; the format is documented below).
"""

from __future__ import annotations

import json
import struct
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

TABLE_KEY = "sequences"


def _scalars(values: Mapping[str, Any]) -> dict[str, float | int]:
    return {k: v for k, v in values.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def log_report(run: Any, report: Mapping[str, Any], out_dir: str | Path | None = None,
               prefix: str = "test") -> None:
    """Put an evaluation report into ``run``'s summary (and its plots and sequence table into the run)."""
    import wandb

    summary: dict[str, Any] = {f"{prefix}/{k}": v for k, v in _scalars(report.get("metrics") or {}).items()}
    for subset, values in (report.get("subsets") or {}).items():
        summary.update({f"{prefix}/{subset}/{k}": v for k, v in _scalars(values).items()})
    summary.update({f"fps/{k}": v for k, v in (report.get("fps") or {}).items() if v is not None})
    if report.get("cpu_threads") is not None:
        summary["fps/cpu_threads"] = report["cpu_threads"]
    run.summary.update(summary)
    payload: dict[str, Any] = {}
    rows = [r for r in report.get("sequences") or [] if isinstance(r, Mapping)]
    if rows:
        columns = [k for k in rows[0] if not isinstance(rows[0][k], (list, dict))]
        payload[f"{prefix}/{TABLE_KEY}"] = wandb.Table(columns=columns,
                                                       data=[[r.get(c) for c in columns] for r in rows])
    if out_dir is not None:
        for figure in sorted(Path(out_dir).glob("*.png")):
            payload[f"{prefix}/plots/{figure.stem}"] = wandb.Image(str(figure))
    if payload:
        run.log(payload)


def define_best(run: Any, name: str, mode: str = "max") -> None:
    """The summary of ``name`` is its best value (``max`` or ``min``) over the run, not the last."""
    run.define_metric(name, summary="max" if mode == "max" else "min")


# -- reading an offline run back ----------------------------------------------------------------------
def offline_records(path: str | Path) -> Iterator[Any]:
    """The protobuf ``Record`` s of an offline run's ``run-<id>.wandb`` file.

    The file is W&B's LevelDB-style log: a 7-byte header, then records in 32 KiB blocks, each piece
    with a 4-byte CRC, a 2-byte length and a 1-byte type (full / first / middle / last).
    """
    from wandb.proto import wandb_internal_pb2

    data, pos, pending = Path(path).read_bytes(), 7, b""
    while pos + 7 <= len(data):
        if 32768 - pos % 32768 < 7:  # block trailer padding
            pos += 32768 - pos % 32768
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos:pos + 7])
        if pos + 7 + length > len(data):  # the last piece is still being written: not a record yet
            break
        chunk, pos = data[pos + 7:pos + 7 + length], pos + 7 + length
        if kind in (2, 3):  # first / middle piece of a record
            pending = chunk if kind == 2 else pending + chunk
            continue
        if kind == 0:
            continue
        payload, pending = (pending + chunk if kind == 4 else chunk), b""
        record = wandb_internal_pb2.Record()
        record.ParseFromString(payload)
        yield record


def _nested_set(tree: dict, key: str, nested: list[str], value: Any) -> None:
    keys = list(nested) or [key]
    for part in keys[:-1]:
        tree = tree.setdefault(part, {})
    tree[keys[-1]] = value


def read_offline_run(path: str | Path) -> dict[str, Any]:
    """``{group, tags, job_type, name, config, summary, history_keys, best}`` of an offline run (its
    folder ``offline-run-*`` or its ``.wandb`` file); later records win, as W&B's server applies them."""
    path = Path(path)
    if path.is_dir():
        path = next(path.glob("run-*.wandb"))
    run: dict[str, Any] = {"group": None, "tags": [], "job_type": None, "name": None, "config": {},
                           "summary": {}, "history_keys": set(), "best": {}}
    for record in offline_records(path):
        kind = record.WhichOneof("record_type")
        if kind == "run":
            r = record.run
            run.update(group=r.run_group or run["group"], tags=list(r.tags) or run["tags"],
                       job_type=r.job_type or run["job_type"], name=r.display_name or run["name"])
            for item in r.config.update:
                _nested_set(run["config"], item.key, list(item.nested_key), json.loads(item.value_json))
        elif kind == "config":
            for item in record.config.update:
                _nested_set(run["config"], item.key, list(item.nested_key), json.loads(item.value_json))
        elif kind == "summary":  # media (images, tables) are nested: {"test/plots/precision": {"path": ...}}
            for item in record.summary.update:
                _nested_set(run["summary"], item.key, list(item.nested_key), json.loads(item.value_json))
        elif kind == "history":
            run["history_keys"].update(item.key or item.nested_key[0] for item in record.history.item)
        elif kind == "metric" and record.metric.name:
            summary = record.metric.summary
            if summary.max or summary.min:
                run["best"][record.metric.name] = "max" if summary.max else "min"
    return run
