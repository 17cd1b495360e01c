"""Cross-check of our protocols against the reference toolkits (rgbt, got10k) on random inputs.

The toolkits read files, so each test writes the benchmark's layout into tmp_path, scores it with
the toolkit, and scores the same numbers (read back from the same files) with
``evaluate_results``. Values must agree within 1e-3.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from src.data.sequence import Sequence
from src.metrics import evaluate_results
from src.utils.boxes import xyxy_to_ltwh

rgbt = pytest.importorskip("rgbt")
got10k = pytest.importorskip("got10k")

TOL = 1e-3
N_SEQ = 6


def _gt(rng, t: int, w_img=640, h_img=480) -> np.ndarray:
    """Smooth random ground truth ``[T, 4]`` ltwh inside the image, 2 decimals."""
    wh = rng.uniform(15, 80, 2) + np.cumsum(rng.normal(0, 1, (t, 2)), 0)
    wh = np.clip(wh, 5, 120)
    xy = rng.uniform(20, 400, 2) + np.cumsum(rng.normal(0, 4, (t, 2)), 0)
    xy = np.clip(xy, 0, [w_img - 130, h_img - 130])
    return np.round(np.concatenate([xy, wh], 1), 2)


def _pred(rng, gt: np.ndarray, degenerate: bool = False) -> np.ndarray:
    """Results near the GT, some far away (IoU 0), optionally some with w or h <= 0."""
    t = len(gt)
    pred = gt + rng.normal(0, 1, (t, 4)) * np.r_[6, 6, 4, 4]
    lost = rng.random(t) < 0.15
    pred[lost, :2] += rng.uniform(150, 300, (lost.sum(), 2))
    pred[:, 2:] = np.maximum(pred[:, 2:], 1)
    if degenerate:
        bad = rng.random(t) < 0.1
        bad[:2] = False
        pred[bad, 2 + rng.integers(0, 2, bad.sum())] = rng.choice([0.0, -3.0], bad.sum())
    return np.round(pred, 3)


def _write(path: Path, boxes: np.ndarray, fmt: str = "%.3f", delimiter: str = ",") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savetxt(path, boxes, fmt=fmt, delimiter=delimiter)


def _load(path: Path) -> np.ndarray:
    return np.loadtxt(path, delimiter=",", dtype=np.float64)


def _seq(name, visible, infrared=None, valid=None, attributes=None, meta=None) -> Sequence:
    boxes = {"visible": visible}
    frames = {"visible": []}
    if infrared is not None:
        boxes["infrared"] = infrared
        frames["infrared"] = []
    valid = np.isfinite(visible).all(1) if valid is None else valid
    return Sequence(name, frames, boxes, valid, attributes or {}, meta or {})


@pytest.fixture(autouse=True)
def _restore_rgbt_mode():
    from rgbt.utils import RGBT_end

    yield
    RGBT_end()


def _rgbt234_layout(
    tmp_path: Path,
    rng,
    attrs=("BC", "CM", "DEF", "FM", "HO", "LI", "LR", "MB", "NO", "TC", "PO", "SC"),
    gt_name=("visible.txt", "infrared.txt"),
):
    names = [f"seq{i}" for i in range(N_SEQ)]
    root = tmp_path / "gt"
    flags = {a: rng.integers(0, 2, N_SEQ) for a in attrs}
    for a in attrs:
        flags[a][0] = 1  # every attribute has at least one sequence
        _write(root / "attr_txt" / f"{a}.txt", flags[a], fmt="%d")
    (root / "attr_txt" / "SequencesName.txt").write_text("\n".join(names) + "\n")
    seqs, results = [], {}
    for i, name in enumerate(names):
        t = int(rng.integers(30, 60))
        gv = _gt(rng, t)
        gi = np.round(gv + rng.normal(0, 3, gv.shape) * np.r_[1, 1, 0.5, 0.5], 2)
        _write(root / "boxes" / name / gt_name[0], gv, "%.2f")
        _write(root / "boxes" / name / gt_name[1], gi, "%.2f")
        _write(tmp_path / "res" / f"{name}.txt", _pred(rng, gv if i % 2 else gi))
        gv, gi = _load(root / "boxes" / name / gt_name[0]), _load(root / "boxes" / name / gt_name[1])
        attributes = {a: bool(flags[a][i]) for a in attrs}
        seqs.append(_seq(name, gv, gi, attributes=attributes))
        results[name] = _load(tmp_path / "res" / f"{name}.txt")
    return names, root, seqs, results, flags


def _score_with_toolkit(dataset_cls, gt_dir: Path, names: list[str], tmp_path: Path):
    """The rgbt toolkit's dataset over ``gt_dir`` and a name list, with our results loaded as "ours"."""
    names_file = tmp_path / "names.txt"
    names_file.write_text("\n".join(names) + "\n")
    ds = dataset_cls(gt_path=str(gt_dir) + os.sep, seq_name_path=str(names_file))
    ds("ours", str(tmp_path / "res"))
    return ds


def test_rgbt234_matches_rgbt_toolkit(tmp_path):
    from rgbt import RGBT234

    rng = np.random.default_rng(1)
    names, root, seqs, results, flags = _rgbt234_layout(tmp_path, rng)
    ds = _score_with_toolkit(RGBT234, root / "boxes", names, tmp_path)
    mpr, pr_curves = ds.MPR("ours")
    msr, sr_curves = ds.MSR("ours")

    out = evaluate_results(results, seqs, "rgbt234")
    assert out["metrics"]["MPR"] == pytest.approx(mpr, abs=TOL)
    assert out["metrics"]["MSR"] == pytest.approx(msr, abs=TOL)
    np.testing.assert_allclose(out["curves"]["precision"], pr_curves.mean(0), atol=TOL)
    np.testing.assert_allclose(out["curves"]["success"], sr_curves.mean(0), atol=TOL)
    for i, row in enumerate(out["sequences"]):
        assert row["MPR"] == pytest.approx(pr_curves[i, 20], abs=TOL)
        assert row["MSR"] == pytest.approx(sr_curves[i].mean(), abs=TOL)
    # Attribute breakdowns: the toolkit's subsets by attribute code.
    for code in ("LI", "TC", "SC"):
        members = getattr(ds, code)
        assert out["attributes"][code]["MPR"] == pytest.approx(ds.MPR("ours", seqs=members)[0], abs=TOL)
        assert out["attributes"][code]["MSR"] == pytest.approx(ds.MSR("ours", seqs=members)[0], abs=TOL)


def test_gtot_matches_rgbt_toolkit(tmp_path):
    from rgbt import GTOT
    from rgbt.utils import RGBT_end, RGBT_start

    rng = np.random.default_rng(2)
    names = [f"g{i}" for i in range(N_SEQ)]
    root = tmp_path / "gt"
    seqs, results = [], {}
    for name in names:
        t = int(rng.integers(30, 60))
        gv = _gt(rng, t)
        gi = np.round(gv + rng.normal(0, 2, gv.shape) * np.r_[1, 1, 0.5, 0.5], 2)
        # GTOT stores corners x1 y1 x2 y2 (space separated).
        for fname, g in (("groundTruth_v.txt", gv), ("groundTruth_i.txt", gi)):
            corners = np.concatenate([g[:, :2], g[:, :2] + g[:, 2:]], 1)
            _write(root / name / fname, corners, "%.2f", " ")
        _write(tmp_path / "res" / f"{name}.txt", _pred(rng, gv))
        corners_v = np.loadtxt(root / name / "groundTruth_v.txt")
        corners_i = np.loadtxt(root / name / "groundTruth_i.txt")
        # GTOT's convention: w = x2 - x1 (what our reader does with boxes.xyxy_to_ltwh).
        seqs.append(_seq(name, xyxy_to_ltwh(corners_v), xyxy_to_ltwh(corners_i)))
        results[name] = _load(tmp_path / "res" / f"{name}.txt")
    RGBT_start()  # the toolkit's documented way to score GTOT (non-strict widths and centers)
    ds = _score_with_toolkit(GTOT, root, names, tmp_path)
    mpr, pr_curves = ds.MPR("ours")
    msr, sr_curves = ds.MSR("ours")
    RGBT_end()

    out = evaluate_results(results, seqs, "gtot")
    assert out["metrics"]["MPR"] == pytest.approx(mpr, abs=TOL)
    assert out["metrics"]["MSR"] == pytest.approx(msr, abs=TOL)
    np.testing.assert_allclose(out["curves"]["precision"], pr_curves.mean(0), atol=TOL)
    np.testing.assert_allclose(out["curves"]["success"], sr_curves.mean(0), atol=TOL)


def _single_gt_layout(tmp_path, rng, lasher: bool):
    names = [f"l{i}" for i in range(N_SEQ)]
    seqs, results = [], {}
    for name in names:
        t = int(rng.integers(30, 60))
        gv = _gt(rng, t)
        if lasher:  # invalid GT rows as LasHeR has them (all zero), and one box at the left edge
            gv[rng.random(t) < 0.08] = 0
            gv[1:][rng.random(t - 1) < 0.05, 0] = 0.0
        yield_name = tmp_path / "gt" / (f"{name}.txt" if lasher else f"{name}/init.txt")
        _write(yield_name, gv, "%.2f")
        _write(tmp_path / "res" / f"{name}.txt", _pred(rng, gv, degenerate=True))
        g = _load(yield_name)
        valid = (g[:, 2] > 0) & (g[:, 3] > 0)
        seqs.append(_seq(name, g, g.copy(), valid=valid))
        results[name] = _load(tmp_path / "res" / f"{name}.txt")
    return names, seqs, results


@pytest.mark.filterwarnings("ignore:invalid value encountered:RuntimeWarning")  # rgbt: 0/0 IoU
def test_lasher_matches_rgbt_toolkit(tmp_path):
    from rgbt import LasHeR

    rng = np.random.default_rng(3)
    names, seqs, results = _single_gt_layout(tmp_path, rng, lasher=True)
    attr_dir = tmp_path / "AttriSeqsTxt"
    attr_dir.mkdir()
    for name in names:
        (attr_dir / f"{name}.txt").write_text(",".join(str(int(v)) for v in rng.integers(0, 2, 19)))
    ds = _score_with_toolkit(LasHeR, tmp_path / "gt", names, tmp_path)
    pr, pr_curves = ds.PR("ours")
    npr, npr_curves = ds.NPR("ours")
    sr, sr_curves = ds.SR("ours")

    out = evaluate_results(results, seqs, "lasher")
    assert out["metrics"]["PR"] == pytest.approx(pr, abs=TOL)
    assert out["metrics"]["NPR"] == pytest.approx(npr, abs=TOL)
    assert out["metrics"]["SR"] == pytest.approx(sr, abs=TOL)
    np.testing.assert_allclose(out["curves"]["precision"], pr_curves.mean(0), atol=TOL)
    np.testing.assert_allclose(out["curves"]["norm_precision"], npr_curves.mean(0), atol=TOL)
    np.testing.assert_allclose(out["curves"]["success"], sr_curves.mean(0), atol=TOL)


def test_rgbt210_matches_rgbt_toolkit(tmp_path):
    from rgbt import RGBT210
    from rgbt.metrics.metrics import NPR

    rng = np.random.default_rng(4)
    names, seqs, results = _single_gt_layout(tmp_path, rng, lasher=False)
    attr_dir = tmp_path / "attr_txt"
    for a in ("BC", "CM", "DEF", "FM", "HO", "LI", "LR", "MB", "NO", "TC", "PO", "SC"):
        _write(attr_dir / f"{a}.txt", rng.integers(0, 2, N_SEQ), fmt="%d")
    (attr_dir / "SequencesName.txt").write_text("\n".join(names) + "\n")
    ds = _score_with_toolkit(RGBT210, tmp_path / "gt", names, tmp_path)
    pr, _ = ds.PR("ours")
    sr, _ = ds.SR("ours")
    npr, _ = NPR()(ds, ds.trackers["ours"], ds.seqs_name)  # RGBT210 has no NPR method; the class applies

    out = evaluate_results(results, seqs, "rgbt210")
    assert out["metrics"]["PR"] == pytest.approx(pr, abs=TOL)
    assert out["metrics"]["SR"] == pytest.approx(sr, abs=TOL)
    assert out["metrics"]["NPR"] == pytest.approx(npr, abs=TOL)


def test_got10k_matches_got10k_toolkit(tmp_path, monkeypatch):
    from got10k.experiments import ExperimentGOT10k

    rng = np.random.default_rng(5)
    names = [f"GOT-10k_Val_{i:06d}" for i in range(1, N_SEQ + 1)]
    root = tmp_path / "data"
    (root / "val").mkdir(parents=True)
    (root / "val" / "list.txt").write_text("\n".join(names) + "\n")
    seqs, results = [], {}
    for name in names:
        t = int(rng.integers(30, 60))
        w_img, h_img = int(rng.integers(300, 700)), int(rng.integers(250, 500))
        gt = _gt(rng, t, 640, 480)
        pred = _pred(rng, gt)
        pred[rng.random(t) < 0.1, 0] = w_img - 5.0  # partly outside the image: bound clipping matters
        cover = rng.integers(0, 9, t).astype(float)
        cover[0] = 8
        d = root / "val" / name
        d.mkdir()
        for k in range(t):
            (d / f"{k + 1:08d}.jpg").touch()  # the toolkit only globs the frame names
        _write(d / "groundtruth.txt", gt, "%.4f")
        (d / "meta_info.ini").write_text(f"[METAINFO]\nresolution: ({w_img}, {h_img})\n")
        for label, values in (
            ("cover", cover),
            ("absence", (cover == 0).astype(float)),
            ("cut_by_image", np.zeros(t)),
        ):
            _write(d / f"{label}.label", values, "%d")
        res_dir = tmp_path / "results" / "GOT-10k" / "ours" / name
        _write(res_dir / f"{name}_001.txt", pred)
        _write(res_dir / f"{name}_time.txt", np.full(t, 0.01), "%.8f")
        seqs.append(
            _seq(
                name,
                _load(d / "groundtruth.txt"),
                valid=cover > 0,
                attributes={"cover": cover},
                meta={"size": (w_img, h_img)},
            )
        )
        results[name] = _load(res_dir / f"{name}_001.txt")
    monkeypatch.setattr(ExperimentGOT10k, "plot_curves", lambda self, *a, **k: None)  # figures not compared
    exp = ExperimentGOT10k(
        str(root), subset="val", result_dir=str(tmp_path / "results"), report_dir=str(tmp_path / "reports")
    )
    perf = exp.report(["ours"])["ours"]["overall"]
    out = evaluate_results(results, seqs, "got10k")
    assert out["metrics"]["AO"] == pytest.approx(perf["ao"], abs=TOL)
    assert out["metrics"]["SR@0.5"] == pytest.approx(perf["sr"], abs=TOL)
    # The toolkit's success curve holds SR at every 0.01.
    assert out["metrics"]["SR@0.75"] == pytest.approx(perf["succ_curve"][75], abs=TOL)
    assert out["metrics"]["SR@0.9"] == pytest.approx(perf["succ_curve"][90], abs=TOL)
    np.testing.assert_allclose(out["curves"]["success"], perf["succ_curve"], atol=TOL)


def test_otb_matches_got10k_toolkit(tmp_path, monkeypatch):
    from got10k.experiments import ExperimentOTB

    rng = np.random.default_rng(6)
    names = [f"o{i}" for i in range(N_SEQ)]
    annos, seqs, results = [], [], {}
    for name in names:
        t = int(rng.integers(30, 60))
        gt = _gt(rng, t)
        pred = _pred(rng, gt)
        _write(tmp_path / "results" / "OTB2015" / "ours" / f"{name}.txt", pred)
        annos.append(gt)
        seqs.append(_seq(name, gt))
        results[name] = _load(tmp_path / "results" / "OTB2015" / "ours" / f"{name}.txt")

    class _Dataset:  # the OTB dataset class needs the 100 real sequences; the report needs (files, anno)
        seq_names = names

        def __len__(self):
            return len(annos)

        def __iter__(self):
            return iter([([], a) for a in annos])

    monkeypatch.setattr(ExperimentOTB, "plot_curves", lambda self, *a, **k: None)
    exp = ExperimentOTB.__new__(ExperimentOTB)
    exp.dataset, exp.nbins_iou, exp.nbins_ce = _Dataset(), 21, 51
    exp.result_dir, exp.report_dir = str(tmp_path / "results" / "OTB2015"), str(tmp_path / "reports")
    perf = exp.report(["ours"])["ours"]
    out = evaluate_results(results, seqs, "otb")
    assert out["metrics"]["PR"] == pytest.approx(perf["overall"]["precision_score"], abs=TOL)
    assert out["metrics"]["SR"] == pytest.approx(perf["overall"]["success_score"], abs=TOL)
    assert out["metrics"]["SR@0.5"] == pytest.approx(perf["overall"]["success_rate"], abs=TOL)
    np.testing.assert_allclose(out["curves"]["precision"], perf["overall"]["precision_curve"], atol=TOL)
    np.testing.assert_allclose(out["curves"]["success"], perf["overall"]["success_curve"], atol=TOL)
    for row in out["sequences"]:
        ref = perf["seq_wise"][row["name"]]
        assert row["PR"] == pytest.approx(ref["precision_score"], abs=TOL)
        assert row["SR"] == pytest.approx(ref["success_score"], abs=TOL)
