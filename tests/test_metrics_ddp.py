"""The torchmetrics classes give the same values with 2 CPU processes (gloo) as with one, and as
``evaluate_results``, for every protocol."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from src.data.sequence import Sequence
from src.metrics import (
    BenchmarkMetrics,
    NormalizedPrecisionCurve,
    PrecisionCurve,
    SuccessCurve,
    TrackingScores,
    evaluate_results,
)
from src.metrics.protocols import PROTOCOLS


def random_benchmark(seed: int = 0, n_seq: int = 7):
    """Sequences with two ground truths, invalid frames, covers and sizes, and noisy results."""
    rng = np.random.default_rng(seed)
    seqs, results = [], {}
    for i in range(n_seq):
        t = int(rng.integers(15, 40))
        gv = np.c_[rng.uniform(0, 500, (t, 2)), rng.uniform(8, 90, (t, 2))]
        gi = gv + rng.normal(0, 2, (t, 4))
        valid = rng.random(t) > 0.1
        valid[0] = True
        gv[~valid] = 0.0
        cover = np.where(valid, rng.integers(1, 9, t), 0).astype(float)
        seqs.append(
            Sequence(
                f"s{i}",
                {"visible": [], "infrared": []},
                {"visible": gv, "infrared": gi},
                valid,
                {"cover": cover},
                {"size": (int(rng.integers(400, 800)), int(rng.integers(300, 600)))},
            )
        )
        pred = gv + rng.normal(0, 8, (t, 4))
        pred[rng.random(t) < 0.05, 2] = -1.0  # some degenerate boxes (LasHeR replaces them)
        results[f"s{i}"] = pred
    return seqs, results


def _metrics(protocol):
    out = {
        "all": BenchmarkMetrics(protocol),
        "precision": PrecisionCurve(protocol),
        "success": SuccessCurve(protocol),
    }
    if PROTOCOLS[protocol].npr:
        out["norm_precision"] = NormalizedPrecisionCurve(protocol)
    return out


def _score(seqs, results, protocol, rank=0, world=1) -> dict:
    metrics = _metrics(protocol)
    for seq in seqs[rank::world]:  # uneven shares on purpose (7 sequences over 2 processes)
        for m in metrics.values():
            m.update_sequence(results[seq.name], seq)
    out = {k: float(v) for k, v in metrics["all"].compute().items()}
    for key in ("precision", "success", "norm_precision"):
        if key in metrics:
            out[key] = metrics[key].compute().tolist()
    return out


def _subsets(seqs) -> dict[str, list[str]]:
    return {"first": [s.name for s in seqs[:3]], "rest": [s.name for s in seqs[3:]]}


def _attributed(seqs):
    for i, seq in enumerate(seqs):  # per-sequence attribute flags: the report's attribute breakdown
        seq.attributes.update({"LI": i % 2 == 0, "FM": i % 3 == 0})
    return seqs


def _tracking_reports(seqs, results, rank, world) -> dict:
    """TrackingScores' whole report per protocol, each rank updating with its share in reverse
    order; and a benchmark of one sequence (the second rank then updates with none)."""
    reports = {}
    for protocol in PROTOCOLS:
        metric = TrackingScores(seqs, protocol, subsets=_subsets(seqs))
        for seq in seqs[rank::world][::-1]:
            metric.update(results[seq.name], seq)
        reports[protocol] = metric.compute()
        one = TrackingScores(seqs[:1], protocol).to("cpu")  # as validation: on the module's device
        for seq in seqs[:1][rank::world]:
            one.update(results[seq.name], seq)
        reports[f"{protocol}/one"] = one.compute()
    return reports


def _worker(rank: int, world: int, init_file: str, out_file: str) -> None:
    dist.init_process_group("gloo", init_method=f"file://{init_file}", rank=rank, world_size=world)
    try:
        seqs, results = random_benchmark()
        values = {p: _score(seqs, results, p, rank, world) for p in PROTOCOLS}
        reports = _tracking_reports(_attributed(seqs), results, rank, world)
        if rank == 0:
            with open(out_file, "w") as f:
                json.dump(values, f)
            with open(f"{out_file}.reports", "w") as f:
                json.dump(reports, f)
    finally:
        dist.destroy_process_group()


def test_two_processes_equal_one_and_evaluate_results(tmp_path):
    out_file = tmp_path / "ddp.json"
    # fork (where there is one) skips re-importing torch/torchmetrics in the children, which is most
    # of the cost of this test; the children only touch tiny tensors (no OpenMP regions).
    method = "fork" if "fork" in mp.get_all_start_methods() else "spawn"
    mp.start_processes(
        _worker, args=(2, str(tmp_path / "pg_init"), str(out_file)), nprocs=2, join=True, start_method=method
    )
    ddp = json.loads(out_file.read_text())
    seqs, results = random_benchmark()
    for protocol in PROTOCOLS:
        single = _score(seqs, results, protocol)
        ref = evaluate_results(results, seqs, protocol)
        for key, value in single.items():
            np.testing.assert_allclose(
                ddp[protocol][key], value, rtol=0, atol=1e-12, err_msg=f"{protocol} {key}"
            )
        for key, value in ref["metrics"].items():
            assert single[key] == pytest.approx(value, abs=1e-12), (protocol, key)
        for key in ("precision", "success", "norm_precision"):
            if key in ref["curves"]:
                np.testing.assert_allclose(single[key], ref["curves"][key], atol=1e-12)
    # TrackingScores (what validation and evaluate score with): the whole report over 2 processes is
    # exactly evaluate_results' on all sequences (every figure, subset, attribute, curve and row)
    reports = json.loads((tmp_path / "ddp.json.reports").read_text())
    seqs = _attributed(seqs)
    for protocol in PROTOCOLS:
        ref = evaluate_results(results, seqs, protocol, subsets=_subsets(seqs))
        assert ref["attributes"] and ref["subsets"]
        assert reports[protocol] == json.loads(json.dumps(ref)), protocol
        one = evaluate_results(results, seqs[:1], protocol)
        assert reports[f"{protocol}/one"] == json.loads(json.dumps(one)), protocol


def test_forward_reset_and_plot():
    import matplotlib

    matplotlib.use("Agg")
    seqs, results = random_benchmark(1, 3)
    curve = SuccessCurve("rgbt234")
    batch = curve(results[seqs[0].name], np.stack([seqs[0].boxes["visible"], seqs[0].boxes["infrared"]]))
    assert batch.shape == (21,)  # forward returns the value on that sequence alone
    fig, _ = curve.plot()
    assert fig is not None
    metrics = BenchmarkMetrics("lasher")
    for seq in seqs:
        metrics.update_sequence(results[seq.name], seq)
    first = metrics.compute()
    metrics.reset()
    for seq in seqs:
        metrics.update_sequence(results[seq.name], seq)
    assert {k: float(v) for k, v in metrics.compute().items()} == {k: float(v) for k, v in first.items()}
    fig, _ = metrics["PR"].plot()
    assert fig is not None
    assert torch.isfinite(metrics["APE"].compute())
