"""scripts/ablate.py (`make ablate`): the study's plan (which runs, named how, in which W&B group) and its
resume rule, without training anything."""

from __future__ import annotations

import json
import sys

import pytest

from tests.helpers.scripts import load_script


@pytest.fixture(scope="module")
def ablate():
    return load_script("ablate")


def _value(argv, key):
    found = [a.split("=", 1)[1] for a in argv if a.startswith(f"{key}=")]
    return found[-1] if found else None


def test_the_default_study_plan(ablate, tmp_path):
    study = tmp_path / "2026-12-03_12-00-00"
    plan = ablate.stages(ablate.parse_args([]), study)
    train = [(n, a) for n, a in plan if n.startswith("train_")]
    # 3 seeds x (7 variants + single w/o TSF + CMC1 sorted, TSF on and off)
    assert len(train) == 30
    assert [n for n, _ in train[:10]] == [
        "train_single_s1", "train_cmc_s1", "train_cmc_cmc_s1", "train_cmc1_s1", "train_cmc1_cmc_s1",
        "train_cmc_ceb_cmc_s1", "train_cmc1_ceb_cmc_s1", "train_single_notsf_s1", "train_cmc1_sorted_s1",
        "train_cmc1_sorted_notsf_s1"]  # seed by seed: an interrupted study holds whole seeds
    by_name = dict(train)
    off = by_name["train_cmc1_sorted_notsf_s2"]
    assert "+variant=cmc1" in off and "model.net.fusion.align=sorted" in off
    assert "model.net.backbone.sort_kept=false" in off and _value(off, "seed") == "2"
    for name, argv in train:
        run = name[len("train_"):]
        assert _value(argv, "run_name") == run  # the W&B run name carries the seed
        assert _value(argv, "hydra.run.dir") == str(study / "train" / run)
        # make train's recipe without its validation pass and mirrored views; the test split tracked
        # by two processes (the FPS figures come from the speed pass)
        assert _value(argv, "trainer.limit_val_batches") == "0"
        assert _value(argv, "+test_tracker.hflip") == "false" and _value(argv, "test_workers") == "2"
        assert _value(argv, "trainer.max_epochs") is None
    # every run, the baselines and the summary in one W&B group: the study folder's name
    assert {_value(a, "experiment_name") for _, a in train} == {study.name}
    baselines = [a for n, a in plan if n.startswith("baseline_")]
    # the classical rows the learned tracker's claims are read against, each a conf/tracker/ baseline
    names = [n[len("baseline_"):] for n, _ in plan if n.startswith("baseline_")]
    assert names == ["kcf_rgbt", "csrt", "srdcf_rgbt", "eco_rgbt"] and set(names) <= set(ablate.BASELINES)
    assert all(_value(a, "wandb_group") == study.name and _value(a, "log_wandb") == "true" for a in baselines)
    assert all(_value(a, "num_workers") == "2" for a in baselines)
    # the speed pass after every accuracy run: each learned row once (its first seed) and each baseline,
    # one process with one thread on the same 8 sequences, into fps/<row>
    names_in_order = [n for n, _ in plan]
    fps = [(n, a) for n, a in plan if n.startswith("fps_")]
    assert min(names_in_order.index(n) for n, _ in fps) > max(
        names_in_order.index(n) for n in names_in_order if n.startswith(("train_", "baseline_")))
    assert [n for n, _ in fps] == [f"fps_{r}" for r in (*ablate.VARIANTS, *ablate.TSF_RUNS, *names)]
    for name, argv in fps:
        assert (_value(argv, "num_workers"), _value(argv, "cpu_threads")) == ("1", "1")
        assert _value(argv, "limit_sequences") == "8"
        assert _value(argv, "hydra.run.dir") == str(study / "fps" / name[len("fps_"):])
    sorted_off = dict(fps)["fps_cmc1_sorted_notsf"]
    assert _value(sorted_off, "ckpt_path") == str(study / "train" / "cmc1_sorted_notsf_s1" / "checkpoints"
                                                   / "last.ckpt")
    assert _value(sorted_off, "tracker.factory.hflip") == "false"  # tracked as the accuracy run tracked it
    assert plan[-1][0] == "compare" and _value(plan[-1][1], "summary_group") == study.name
    assert _value(plan[-1][1], "fps_inputs") == f"[{study / 'fps'}]"


def test_quick_overrides_replace_the_study_recipe(ablate, tmp_path):
    argv = dict(ablate.stages(ablate.parse_args(["--quick", "--seeds", "1"]), tmp_path))["train_cmc_s1"]
    keys = [a.split("=", 1)[0] for a in argv if "=" in a]
    assert len(keys) == len(set(keys))  # Hydra refuses a key given twice
    assert _value(argv, "trainer.check_val_every_n_epoch") == "1"


def test_resume_skips_only_finished_runs(ablate, tmp_path, monkeypatch):
    """A rerun skips a stage that exited 0 and wrote its metrics.json, reruns one that failed or whose
    folder lost its metrics.json, and always reruns the comparison."""
    study = tmp_path / "study"
    args = ablate.parse_args(["--seeds", "1", "--variants", "cmc", "single", "--no-tsf", "--baselines",
                              "kcf", "--resume", str(study)])
    plan = ablate.stages(args, study)
    assert [n for n, _ in plan] == ["train_cmc_s1", "train_single_s1", "baseline_kcf", "fps_cmc",
                                    "fps_single", "fps_kcf", "compare"]
    for name in ("cmc_s1", "single_s1"):
        (study / "train" / name).mkdir(parents=True)
    (study / "train" / "cmc_s1" / "metrics.json").write_text("{}")
    (study / "study.json").write_text(json.dumps({"started": "x", "stages": {
        "train_cmc_s1": {"returncode": 0, "wall_time_s": 300.0},
        "train_single_s1": {"returncode": 0, "wall_time_s": 200.0},  # but its metrics.json is gone
        "baseline_kcf": {"returncode": 1, "wall_time_s": 5.0}}}))
    ran = []
    monkeypatch.setattr(ablate, "run_stage", lambda name, argv, log: ran.append(name) or 0)
    monkeypatch.setattr(sys, "argv", ["ablate.py"])
    assert ablate.main(["--seeds", "1", "--variants", "cmc", "single", "--no-tsf", "--baselines", "kcf",
                        "--resume", str(study)]) == 0
    assert ran == ["train_single_s1", "baseline_kcf", "fps_cmc", "fps_single", "fps_kcf", "compare"]
    record = json.loads((study / "study.json").read_text())
    assert record["stages"]["train_cmc_s1"]["wall_time_s"] == 300.0  # kept from the interrupted run
    assert record["wandb_group"] == "study" and record["train_recipe"]["test_workers"] == "2"


def test_eta_from_the_finished_stages(ablate):
    record = {"stages": {"train_a": {"returncode": 0, "wall_time_s": 240.0},
                         "train_b": {"returncode": 0, "wall_time_s": 360.0}}}
    assert ablate.eta(record, ["train_c", "train_d"]) == "10 min"  # 2 x 300 s
    # no baseline has finished yet: counted apart
    assert ablate.eta(record, ["train_c", "baseline_kcf", "compare"]) == "5 min + 2 stages not yet timed"
    assert ablate.eta(record, ["baseline_kcf"]) == "?"
