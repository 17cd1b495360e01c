"""The VOT toolkit workspace (src.vot) and the TraX tracker process (src.tracking.trax_server).

The fast tests write workspaces from the tiny synthetic benchmark and check their files without the toolkit;
the slow one runs the toolkit (``make vot``'s ``.vot-venv``) on two short sequences: the ground-truth oracle
scores EAO 1, no failure (robustness 1) and the toolkit's accuracy ceiling, and KCF+RGBT runs through TraX.
"""

from __future__ import annotations

import configparser
import json
import os
import shlex
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from omegaconf import OmegaConf

from src.conf import CONF_DIR
from src.data import get_reader
from src.tracking.trax_server import OVERRIDES_ENV, GroundTruthOracle, build
from src.utils.cli import UserError
from src.vot import anchors, eao_interval, run_lengths, summary, summary_table, write_workspace

ROOT = Path(__file__).resolve().parents[1]
VOT_VENV = ROOT / ".vot-venv"


def vot_cfg(**changes) -> dict:
    """conf/vot.yaml's keys as write_workspace reads them (no checkpoint, no Hydra run)."""
    cfg = OmegaConf.to_container(OmegaConf.load(CONF_DIR / "vot.yaml"))
    cfg.update(cpu_threads=1, trax_path=str(VOT_VENV / "trax-path"), checkpoint=False)
    cfg.update(changes)
    return cfg


@pytest.fixture
def tiny_sequences(tiny_synthetic_root):
    return list(get_reader("rgbt234", tiny_synthetic_root, split="test").sequences())


# -- anchors and the EAO interval ----------------------------------------------------------------------------
def test_anchors_forward_in_the_first_half_backward_in_the_second():
    values = anchors(np.ones(150, bool), 50)
    assert {int(k): int(values[k]) for k in np.flatnonzero(values)} == {0: 1, 50: 1, 99: -1, 149: -1}
    assert run_lengths(values) == [150, 100, 100, 150]
    # the stack's low/high: the curve points of the shortest and the longest run
    assert eao_interval(run_lengths(values)) == (99, 150)


def test_anchors_move_to_a_visible_target():
    valid = np.ones(30, bool)
    valid[[0, 1, 10, 29]] = False
    values = anchors(valid, 10)
    assert {int(k): int(values[k]) for k in np.flatnonzero(values)} == {2: 1, 11: 1, 19: -1, 28: -1}
    with pytest.raises(UserError, match="anchor_spacing=0"):
        anchors(valid, 0)


# -- the workspace -------------------------------------------------------------------------------------------
def test_workspace_files_and_formats(tiny_sequences, tmp_path):
    out = tmp_path / "ws"
    written = write_workspace(out, tiny_sequences, vot_cfg(oracle=True), None)
    names = [s.name for s in tiny_sequences]
    assert written["sequences"] == names and written["trackers"] == ["kcf_rgbt", "oracle"]
    assert (out / "sequences" / "list.txt").read_text().split() == names
    config = yaml.safe_load((out / "config.yaml").read_text())
    assert config == {"registry": ["."], "stack": "stack.yaml", "sequences": "sequences"}
    for seq in tiny_sequences:
        folder = out / "sequences" / seq.name
        meta = dict(line.split("=", 1) for line in (folder / "sequence").read_text().split())
        assert meta["channels.color"] == "color/%08d.jpg" and meta["channels.ir"] == "ir/%08d.jpg"
        assert int(meta["length"]) == len(seq)
        for channel, modality in (("color", "visible"), ("ir", "infrared")):
            frames = sorted((folder / channel).iterdir())
            assert [f.name for f in frames] == [f"{k:08d}.jpg" for k in range(1, len(seq) + 1)]
            assert [f.resolve() for f in frames] == [Path(p).resolve() for p in seq.frames[modality]]
        rows = (folder / "groundtruth.txt").read_text().splitlines()
        assert len(rows) == len(seq)
        boxes = np.array([[float(v) for v in r.split(",")] for r in rows])
        np.testing.assert_allclose(boxes, seq.gt, atol=1e-4)
        values = np.loadtxt(folder / "anchor.value")
        assert values.shape == (len(seq),) and values[0] == 1 and set(values) <= {-1.0, 0.0, 1.0}
    # 16-frame sequences, spacing 50: one forward run from frame 1, one backward from the last
    stack = yaml.safe_load((out / "stack.yaml").read_text())
    assert "dataset" not in stack  # nothing to download
    experiment = stack["experiments"]["baseline"]
    assert experiment["type"] == "multistart" and "realtime" not in experiment
    eao = next(a for a in experiment["analyses"] if a["type"] == "multistart_eao_score")
    assert (eao["low"], eao["high"]) == (15, 16) == tuple(written["eao"])
    ini = configparser.ConfigParser(interpolation=None)
    ini.optionxform = str
    ini.read(out / "trackers.ini")
    assert ini.sections() == ["kcf_rgbt", "oracle"]
    kcf = ini["kcf_rgbt"]
    assert kcf["label"] == "KCF+RGBT" and kcf["protocol"] == "traxpython"
    assert kcf["command"] == "src.vot_tracker"
    assert kcf["python"] == sys.executable
    assert kcf["paths"].split(os.pathsep) == [str(ROOT), str(VOT_VENV / "trax-path")]
    assert shlex.split(kcf[f"env_{OVERRIDES_ENV}"]) == ["tracker=kcf_rgbt", "cpu_threads=1"]
    assert (out / "results").is_dir()


def test_workspace_cuts_sequences_and_sets_the_eao_interval(tiny_sequences, tmp_path):
    written = write_workspace(tmp_path / "ws", tiny_sequences[:1], vot_cfg(max_frames=10, eao_low=3), None)
    folder = tmp_path / "ws" / "sequences" / tiny_sequences[0].name
    assert len((folder / "groundtruth.txt").read_text().splitlines()) == 10
    assert len(list((folder / "ir").iterdir())) == 10
    assert written["eao"] == [3, 10]


def test_workspace_bad_inputs_are_one_line_errors(tiny_sequences, tmp_path):
    with pytest.raises(UserError, match="trackers: 'nope' is not a baseline"):
        write_workspace(tmp_path / "a", tiny_sequences, vot_cfg(trackers=["nope"]), None)
    assert not (tmp_path / "a").exists()  # checked before anything is written
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "x").write_text("")
    with pytest.raises(UserError, match="exists and is not an empty folder"):
        write_workspace(tmp_path / "b", tiny_sequences, vot_cfg(), None)
    with pytest.raises(UserError, match="max_frames=1: a run needs at least 2 frames"):
        write_workspace(tmp_path / "e", tiny_sequences, vot_cfg(max_frames=1), None)
    with pytest.raises(UserError, match="eao_low=20, eao_high=16"):
        write_workspace(tmp_path / "c", tiny_sequences, vot_cfg(eao_low=20), None)
    single = tiny_sequences[0]
    single.frames.pop("infrared")
    with pytest.raises(UserError, match=f"sequence {single.name}: no infrared frames"):
        write_workspace(tmp_path / "d", [single], vot_cfg(), None)


def test_workspace_command(tiny_synthetic_root, tmp_path):
    out = tmp_path / "ws"
    proc = subprocess.run(
        [sys.executable, "-m", "src.vot", "workspace", str(out), f"data.root={tiny_synthetic_root}",
         "checkpoint=false", "limit_sequences=1", f"hydra.run.dir={tmp_path / 'run'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert (out / "sequences" / "list.txt").read_text().split() == ["test_000"]
    # a missing checkpoint: one line naming what to do
    proc = subprocess.run(
        [sys.executable, "-m", "src.vot", "workspace", str(tmp_path / "ws2"),
         f"data.root={tiny_synthetic_root}", f"paths.log_dir={tmp_path / 'logs'}",
         f"hydra.run.dir={tmp_path / 'run2'}"],
        cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip().splitlines()[-1].startswith(f"error: no checkpoint under {tmp_path / 'logs'}")
    proc = subprocess.run([sys.executable, "-m", "src.vot", "nothing"], cwd=ROOT, capture_output=True,
                          text=True, timeout=120)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: python -m src.vot workspace DIR")


# -- the tracker side and the analysis, without the toolkit --------------------------------------------------
def test_oracle_reports_the_workspace_ground_truth(tiny_sequences, tmp_path):
    write_workspace(tmp_path / "ws", tiny_sequences[:1], vot_cfg(), None)
    folder = tmp_path / "ws" / "sequences" / tiny_sequences[0].name
    oracle = build(["tracker=oracle"])
    assert isinstance(oracle, GroundTruthOracle)
    oracle.initialize({"color": str(folder / "color" / "00000001.jpg")}, tiny_sequences[0].gt[0])
    box = oracle.track({"color": str(folder / "color" / "00000007.jpg")})
    np.testing.assert_allclose(box, tiny_sequences[0].gt[6], atol=1e-4)


def test_vot_tracker_without_trax_is_one_line(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {OVERRIDES_ENV: "tracker=oracle"}
    # the project's interpreter without the toolkit's trax-path: no vot-trax to import
    proc = subprocess.run([sys.executable, "-c", "import sys; sys.path.insert(0, '.'); "
                           "from src.tracking.trax_server import main; main()"],
                          cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
    assert proc.stderr.strip() == ("src.vot_tracker: no vot-trax package on the path (make vot links it into "
                                   ".vot-venv/trax-path, which trackers.ini's `paths` names)")


def test_vot_tracker_builds_a_baseline_from_its_overrides():
    tracker = build(["tracker=kcf_rgbt", "cpu_threads=1"])
    assert tuple(tracker.modalities) == ("visible", "infrared")


def analysis_json(trackers: list[str], ar: list[list], eao: list[list]) -> dict:
    """What `vot analysis --format json` writes for the stack src.vot writes (toolkit 0.7.4), trimmed."""
    kinds = ["vot.analysis.multistart.AverageAccuracyRobustness", "vot.analysis.multistart.EAOScore",
             "vot.analysis.multistart.EAOCurve"]
    return {"toolkit": "0.7.4", "trackers": {t: {"label": t} for t in trackers},
            "results": {"baseline": {"parameters": {"analyses": [{"type": k} for k in kinds]},
                                     "results": [ar, eao, [[[0, 1.0]] for _ in trackers]]}}}


def test_summary_reads_the_analysis(tmp_path):
    path = tmp_path / "a.json"
    ar = [[0.5, 0.75, [0.75, 0.5], 10, 5], [0.8, 0.9, [0.9, 0.8], 10, 5]]
    data = analysis_json(["ours", "kcf_rgbt"], ar, [[0.4], [0.6]])
    path.write_text(json.dumps(data))
    scores = summary(path)
    assert scores == {"ours": {"accuracy": 0.5, "robustness": 0.75, "EAO": 0.4},
                      "kcf_rgbt": {"accuracy": 0.8, "robustness": 0.9, "EAO": 0.6}}
    table = summary_table(scores, {"kcf_rgbt": "KCF+RGBT"})
    assert "| KCF+RGBT | 0.600 | 0.800 | 0.900 |" in table
    path.write_text("{}")
    with pytest.raises(UserError, match=f"{path}: not an analysis"):
        summary(path)


# -- the toolkit itself --------------------------------------------------------------------------------------
def toolkit_missing() -> str | None:
    if not (VOT_VENV / "bin" / "vot").is_file():
        return f"no VOT toolkit at {VOT_VENV} (make vot installs it)"
    if not (VOT_VENV / "trax-path" / "trax").is_dir():
        return f"no vot-trax package at {VOT_VENV / 'trax-path'} (make vot links it)"
    return None


@pytest.mark.slow  # the toolkit on two 16-frame sequences: about a minute
@pytest.mark.skipif(toolkit_missing() is not None, reason=toolkit_missing() or "")
def test_toolkit_scores_the_oracle_perfectly(tiny_sequences, tmp_path):
    out = tmp_path / "ws"
    write_workspace(out, tiny_sequences, vot_cfg(oracle=True), None)
    vot = str(VOT_VENV / "bin" / "vot")
    for args in (["evaluate", "oracle", "kcf_rgbt"], ["analysis", "--format", "json", "--name", "check"]):
        proc = subprocess.run([vot, *args, "--workspace", str(out)], cwd=out, capture_output=True, text=True,
                              timeout=600)
        assert proc.returncode == 0, proc.stdout + proc.stderr
    scores = summary(out / "analysis" / "check.json")
    # every run is 16 frames long (one forward, one backward per sequence); the toolkit counts a run's
    # initialisation frame as overlap 0, so a perfect tracker's accuracy is 15/16
    assert scores["oracle"] == pytest.approx({"EAO": 1.0, "accuracy": 15 / 16, "robustness": 1.0})
    assert set(scores["kcf_rgbt"]) == {"EAO", "accuracy", "robustness"}
    assert all(0.0 <= v <= 1.0 for v in scores["kcf_rgbt"].values())
