"""Fixture runs for src.compare: metrics.json files as training and evaluate write them, known figures."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np


def record(tracker, *, variant=None, tsf=None, seed=None, mpr=0.5, msr=0.4, fps=10.0, sr=(0.9, 0.7, 0.3),
            aor=0.8, ape=9.0, extreme=None, normal=None, attributes=True, dataset="synthetic"):
    curves = {"precision": list(np.linspace(0, mpr + 0.1, 51).clip(0, 1)),
              "success": list(np.linspace(msr + 0.3, 0, 21).clip(0, 1))}
    subsets = {}
    for name, values in (("extreme", extreme), ("normal", normal)):
        if values is not None:
            subsets[name] = dict(zip(("track_success", "max_ratio", "miss_count", "MPR", "MSR"), values))
    return {
        "tracker": tracker, "dataset": dataset, "protocol": "rgbt234",
        "metrics": {"MPR": mpr, "MSR": msr, "SR@0.5": sr[0], "SR@0.75": sr[1], "SR@0.9": sr[2],
                    "AOR": aor, "APE": ape, "track_success": 1.0, "max_ratio": 0.01, "miss_count": 0},
        "fps": {"model": None if fps is None else fps * 2, "e2e": fps, "decode": 500.0},
        "subsets": subsets,
        "attributes": {"LI": {"MPR": mpr - 0.1, "MSR": msr - 0.1}, "TC": {"MPR": mpr, "MSR": msr},
                       "HO": {"MPR": mpr - 0.2, "MSR": msr - 0.2}} if attributes else {},
        "curves": curves,
        "sequences": [{"name": "seq1", "MPR": mpr, "MSR": msr}],
        "variant": variant, "tsf": tsf, "seed": seed,
    }


def write_fixture_runs(root: Path) -> Path:
    """A study folder as `make ablate` leaves it: training runs (with their test/metrics.json), evaluate
    runs of two baselines, a published tracker scored from raw results, and a run without scores."""
    runs = {
        # CMC* with two seeds: MPR 0.80 / 0.70, MSR 0.72 / 0.70, e2e FPS 20 / 30
        "train/0_cmc_s1": record("cmc", variant="cmc", tsf=True, seed=1, mpr=0.80, msr=0.72, fps=20.0,
                                  extreme=(1.0, 0.010, 0, 0.90, 0.85), normal=(1.0, 0.004, 0, 0.99, 0.99)),
        "train/1_cmc_s2": record("cmc", variant="cmc", tsf=True, seed=2, mpr=0.70, msr=0.70, fps=30.0,
                                  extreme=(0.5, 0.030, 2, 0.80, 0.75), normal=(1.0, 0.006, 1, 0.97, 0.95)),
        "train/2_cmc_cmc_s1": record("cmc_cmc", variant="cmc_cmc", tsf=True, seed=1, mpr=0.75, msr=0.68,
                                      fps=17.5, extreme=(1.0, 0.0112, 0, 0.92, 0.85)),
        # single-modal, TSF off (before) and on (after), two seeds each
        "train/3_single_off_s1": record("single", variant="single", tsf=False, seed=1, sr=(0.95, 0.70, 0.40),
                                         aor=0.83, ape=9.50, extreme=(0.0, 0.0312, 1, 0.69, 0.44)),
        "train/4_single_off_s2": record("single", variant="single", tsf=False, seed=2, sr=(0.95, 0.78, 0.36),
                                         aor=0.83, ape=9.64),
        "train/5_single_on_s1": record("single", variant="single", tsf=True, seed=1, sr=(0.95, 0.85, 0.45),
                                        aor=0.86, ape=6.71, extreme=(0.0, 0.0312, 1, 0.69, 0.44)),
        "train/6_single_on_s2": record("single", variant="single", tsf=True, seed=2, sr=(0.95, 0.85, 0.45),
                                        aor=0.86, ape=6.71, extreme=(0.0, 0.0300, 3, 0.71, 0.46)),
        "baselines/csrt": record("csrt", mpr=0.62, msr=0.55, fps=40.0),
        "baselines/kcf_rgbt": record("kcf_rgbt", mpr=0.46, msr=0.40, fps=80.0),
        "published/MDNet+RGBT": record("MDNet+RGBT", mpr=0.72, msr=0.62, fps=None, attributes=False),
    }
    for name, report in runs.items():
        folder = root / name
        folder.mkdir(parents=True)
        (folder / "metrics.json").write_text(json.dumps(report))
        if name.startswith("train/"):  # the training run's own test evaluation: the same scores
            (folder / "test").mkdir()
            (folder / "test" / "metrics.json").write_text(json.dumps({**report, "variant": None}))
    (root / "train" / "7_no_test").mkdir()
    (root / "train" / "7_no_test" / "metrics.json").write_text(json.dumps({"variant": "cmc1", "metrics": {}}))
    return root
