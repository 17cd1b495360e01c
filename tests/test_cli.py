"""Entry points around the Hydra apps: one-line user errors, input checks, cpu_threads."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from omegaconf import OmegaConf

from src.utils.cli import UserError, check_checkpoint, check_data_root, check_override_types, one_line
from tests.helpers.configs import compose_config

ROOT = Path(__file__).resolve().parents[1]


def run_module(*args: str, env: dict | None = None,
               cwd: Path = ROOT) -> tuple[subprocess.CompletedProcess, float, float]:
    """``(process, wall seconds, CPU seconds of the child)``."""
    environ = {k: v for k, v in os.environ.items() if k != "HYDRA_FULL_ERROR"}
    environ.update(env or {})
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run([sys.executable, *args], cwd=cwd, env=environ, capture_output=True, text=True,
                          timeout=120)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return proc, wall, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def output_lines(proc: subprocess.CompletedProcess) -> list[str]:
    return [line for line in (proc.stdout + proc.stderr).splitlines() if line.strip()]


# -- the acceptance: a missing data root ----------------------------------------------------------------
def test_evaluate_missing_data_root_is_one_line_and_fast(tmp_path):
    proc, wall, cpu = run_module("-m", "src.evaluate", "data.root=/nonexistent", f"hydra.run.dir={tmp_path}")
    lines = output_lines(proc)
    assert proc.returncode == 1
    assert len(lines) <= 3, lines
    assert any("data.root=/nonexistent: no such directory" in line for line in lines)
    assert not any("Traceback" in line for line in lines)
    # 1.5-2 s of wall time here when the machine is not saturated; the CPU time is what the command
    # itself costs (no torch import), the wall-time bound leaves room for a machine shared with training
    assert cpu < 5.0, f"{cpu:.1f} s of CPU"
    assert wall < 60.0, f"{wall:.1f} s"
    assert not Path("/nonexistent").exists()  # nothing generated there


def test_evaluate_checks_run_before_torch_is_imported():
    code = ("import sys, src.evaluate, src.demo, src.export, src.utils.cli; "
            "print(sorted(m for m in ('torch', 'cv2', 'lightning') if m in sys.modules))")
    proc = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_full_traceback_with_hydra_full_error(tmp_path):
    proc, _, _ = run_module("-m", "src.evaluate", "data.root=/nonexistent", f"hydra.run.dir={tmp_path}",
                            env={"HYDRA_FULL_ERROR": "1"})
    assert proc.returncode == 1
    assert "Traceback" in proc.stderr and "UserError" in proc.stderr


@pytest.mark.parametrize(("override", "expected"), [
    ("no_such_key=1", "Could not override 'no_such_key'"),
    ("num_workers=two", "num_workers='two': expected a number"),
    ("ckpt_path=/no/such.ckpt", "ckpt_path=/no/such.ckpt: no such file"),
    ("ckpt_path=README.md", "not a checkpoint saved by torch.save"),
    ("tracker=no_such_tracker", "Could not find 'tracker/no_such_tracker'"),
])
def test_evaluate_user_errors_are_one_line(tmp_path, override, expected):
    proc, _, _ = run_module("-m", "src.evaluate", override, f"hydra.run.dir={tmp_path}")
    lines = output_lines(proc)
    assert proc.returncode == 1
    errors = [line for line in lines if line.startswith("error: ")]
    assert len(errors) == 1 and expected in errors[0], lines
    assert len(lines) <= 2 and not any("Traceback" in line for line in lines), lines


# -- the checks -------------------------------------------------------------------------------------------
def test_check_checkpoint(tmp_path):
    check_checkpoint(None)
    good = tmp_path / "good.ckpt"
    torch.save({"state_dict": {}}, good)
    check_checkpoint(good)
    with pytest.raises(UserError, match="no such file"):
        check_checkpoint(tmp_path / "missing.ckpt")
    with pytest.raises(UserError, match="not a file"):
        check_checkpoint(tmp_path)
    truncated = tmp_path / "truncated.ckpt"
    truncated.write_bytes(good.read_bytes()[:100])
    with pytest.raises(UserError, match="not a checkpoint saved by torch.save"):
        check_checkpoint(truncated, key="model.init_ckpt")


def test_check_data_root(tmp_path):
    check_data_root({"root": str(tmp_path)})
    with pytest.raises(UserError, match="no such directory"):
        check_data_root({"root": str(tmp_path / "missing")})
    with pytest.raises(UserError, match="not set"):
        check_data_root({"root": None})
    # the synthetic benchmark is generated on first use under paths.data_dir, nowhere else
    generate = {"root": str(tmp_path / "data" / "synthetic_rgbt"), "generate": {"seed": 0}}
    check_data_root(generate, data_dir=tmp_path / "data")
    with pytest.raises(UserError, match="generated only under paths.data_dir"):
        check_data_root(generate, data_dir=tmp_path / "elsewhere")


def test_check_override_types(tmp_path):
    primary = tmp_path / "app.yaml"
    primary.write_text("num_workers: 1\ntau: 0.03\nflag: false\nname: x\nlimit: null\n")
    ok = OmegaConf.create({"num_workers": 3, "tau": 1, "flag": True, "name": 5, "limit": "anything"})
    check_override_types(ok, primary)
    for bad, match in (({"num_workers": "two"}, "expected a number"), ({"num_workers": 1.5}, "integer"),
                       ({"tau": "x"}, "expected a number"), ({"flag": "yes"}, "true or false"),
                       ({"num_workers": True}, "expected a number")):
        with pytest.raises(UserError, match=match):
            check_override_types(OmegaConf.create(bad), primary)


def test_one_line_joins_a_wrapped_error():
    try:
        try:
            raise RuntimeError("Key 'foo' is not in struct\n    full_key: foo\n    object_type=dict")
        except RuntimeError as cause:
            raise ValueError("Could not override 'foo'.\nTo append use +foo=1") from cause
    except ValueError as error:
        text = one_line(error)
    assert "\n" not in text and "full_key" not in text
    assert text.startswith("Could not override 'foo'. To append use +foo=1")


# -- cpu_threads --------------------------------------------------------------------------------------------
def test_cpu_threads_is_one_key_for_every_entry_point():

    for name in ("train", "evaluate"):
        assert compose_config(name, ["cpu_threads=3"]).cpu_threads == 3
        assert compose_config(name).cpu_threads == 1
    for name in ("train", "evaluate"):  # the default lives in conf/runtime/default.yaml only
        assert "cpu_threads" not in OmegaConf.load(ROOT / "conf" / f"{name}.yaml")


def test_evaluate_records_cpu_threads_beside_fps(tiny_synthetic_root, tmp_path):
    from src.evaluate import run
    from tests.helpers.configs import compose_evaluate, data_overrides
    from tests.helpers.tracking import save_checkpoint

    ckpt = save_checkpoint(tmp_path / "cmc.ckpt", "cmc")
    before = torch.get_num_threads()
    try:
        out = tmp_path / "run"
        run(compose_evaluate(data_overrides(tiny_synthetic_root, out)
                             + [f"ckpt_path={ckpt}", "limit_sequences=1", "cpu_threads=2"]))
        saved = json.loads((out / "metrics.json").read_text())
        assert saved["cpu_threads"] == 2 and saved["fps"]["e2e"] > 0
        keys = list(saved)
        assert keys.index("cpu_threads") == keys.index("fps") + 1
    finally:
        torch.set_num_threads(before)
