"""The whole study in one command (what `make ablate` runs): every variant, TSF on/off, the baselines,
then the seed's tables.

    python scripts/ablate.py                        # 7 variants x 2 seeds, TSF pair x 2 seeds, 6 baselines
    python scripts/ablate.py --quick                # a smoke run: tiny training, 2 test sequences
    python scripts/ablate.py --seeds 1 2 3 --jobs 2 # three seeds, two trainings at a time (joblib)
    python scripts/ablate.py --published MDNet+RGBT=/results/MDNet --published ECO=/results/ECO:corner \\
        -- data=rgbt234 data.root=/data/RGBT234     # real data; overrides after -- go to train and evaluate
    python scripts/ablate.py --resume logs/ablate/2026-11-23_23-00-00   # finished stages are skipped

Stages (each a subprocess, its output tee'd to ``<study>/logs/<stage>.log``):
1. ``python -m src.train -m experiment=ablation_dual seed=...``: the six fusion recipes (CMC* included);
2. ``python -m src.train -m experiment=tsf_single seed=...``: the single-modal network, TSF on and off;
3. ``python -m src.evaluate tracker=<name>`` for each baseline (and score-only runs of published results);
4. ``python -m src.compare inputs=[<study>]``: the tables, plots and the W&B summary run.

Everything lands in ``<study>`` (default ``logs/ablate/<time>``); ``study.json`` records the commands,
the date and each stage's wall time, and ``compare/tables.md`` holds the tables.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

from rich.console import Console
from rich.table import Table

ROOT = Path(__file__).resolve().parents[1]
BASELINES = ("csrt", "csrt_tir", "opencv_kcf", "mil", "kcf", "kcf_rgbt")
# --quick: a few training steps and two test sequences per run: checks the plumbing, not the science
QUICK_TRAIN = ["trainer.max_epochs=1", "trainer.limit_train_batches=2", "trainer.limit_val_batches=1",
               "trainer.check_val_every_n_epoch=1", "data.batch_size=4", "data.num_workers=0",
               "model.validation.max_sequences=1", "model.validation.max_frames=10",
               "test_limit_sequences=2", "test_workers=1"]
QUICK_EVALUATE = ["limit_sequences=2"]

console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2],
                        help="training seeds (>= 2 for a spread)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny training, 2 test sequences")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default logs/ablate/<time>)")
    parser.add_argument("--resume", type=Path, default=None, help="continue this study folder")
    parser.add_argument("--jobs", type=int, default=1, help="trainings run at once (hydra joblib launcher)")
    parser.add_argument("--eval-workers", type=int, default=1,
                        help="sequences tracked in parallel per baseline (1 keeps the FPS figures clean)")
    parser.add_argument("--baselines", nargs="*", default=list(BASELINES), choices=BASELINES,
                        help="baseline trackers to evaluate")
    parser.add_argument("--published", action="append", default=[], metavar="NAME=DIR[:FORMAT[:PREFIX]]",
                        help="score a published tracker's raw results (format ltwh or corner)")
    parser.add_argument("--skip-train", action="store_true", help="only baselines and the comparison")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for train and evaluate (after --)")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        console.print("[yellow]one seed: the tables will have no run-to-run spread[/]")
    return args


def stages(args: argparse.Namespace, study: Path) -> list[tuple[str, list[str]]]:
    """``(name, argv)`` of every stage, in order."""
    python = sys.executable
    seeds = "seed=" + ",".join(str(s) for s in args.seeds)
    train_extra = (QUICK_TRAIN if args.quick else []) + list(args.overrides)
    if args.jobs > 1:
        train_extra += ["hydra/launcher=joblib", f"hydra.launcher.n_jobs={args.jobs}"]
    evaluate_extra = (QUICK_EVALUATE if args.quick else []) + [
        o for o in args.overrides if o.split("=")[0].lstrip("+~").split(".")[0] in ("data", "paths", "split")]
    # job folders named by what varies (variant, TSF, seed), not by every shared override
    shared = ["experiment", "experiment_name", "ckpt_path", "data.root", "paths.log_dir", "paths.data_dir",
              *(o.split("=")[0].lstrip("+~") for o in train_extra)]
    train_extra.append(f"hydra.job.config.override_dirname.exclude_keys=[{','.join(dict.fromkeys(shared))}]")
    train_extra.append("hydra.sweep.subdir=${hydra.job.num}_${hydra.job.override_dirname}")
    out: list[tuple[str, list[str]]] = []
    if not args.skip_train:
        for experiment in ("ablation_dual", "tsf_single"):
            out.append((f"train_{experiment}", [
                python, "-m", "src.train", "-m", f"experiment={experiment}", seeds,
                f"experiment_name={study.name}_{experiment}",
                f"hydra.sweep.dir={study / 'train' / experiment}", *train_extra]))
    for name in args.baselines:
        out.append((f"baseline_{name}", [python, "-m", "src.evaluate", f"tracker={name}",
                                         f"num_workers={args.eval_workers}",
                                         f"hydra.run.dir={study / 'baselines' / name}", *evaluate_extra]))
    for spec in args.published:
        name, _, rest = spec.partition("=")
        folder, _, fmt_prefix = rest.partition(":")
        box_format, _, prefix = fmt_prefix.partition(":")
        if not name or not folder:
            raise SystemExit(f"--published {spec!r}: expected NAME=DIR[:FORMAT[:PREFIX]]")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        out.append((f"published_{safe}", [python, "-m", "src.evaluate", f"results_dir={folder}",
                                           f"tracker_name='{name}'", f"results.format={box_format or 'ltwh'}",
                                           f"results.prefix='{prefix}'",
                                           f"hydra.run.dir={study / 'published' / safe}", *evaluate_extra]))
    out.append(("compare", [python, "-m", "src.compare", f"inputs=[{study / 'train'},{study / 'baselines'},"
                                                         f"{study / 'published'}]",
                            f"summary_group={study.name}", f"hydra.run.dir={study / 'compare'}"]))
    return out


def run_stage(name: str, argv: list[str], log_file: Path) -> int:
    """Run one stage, its output streamed to the console and to ``log_file``."""
    log_file.parent.mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "WANDB_MODE": os.environ.get("WANDB_MODE", "offline"), "PYTHONUNBUFFERED": "1"}
    with open(log_file, "w") as log, subprocess.Popen(argv, cwd=ROOT, env=env, stdout=subprocess.PIPE,
                                                      stderr=subprocess.STDOUT, text=True, bufsize=1) as proc:
        for line in proc.stdout:
            sys.stdout.write(line)
            log.write(line)
        return proc.wait()


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    study = (args.resume or args.out or ROOT / "logs" / "ablate" /
             datetime.now().strftime("%Y-%m-%d_%H-%M-%S")).resolve()
    for folder in ("train", "baselines", "published"):  # compare's inputs must exist, even if empty
        (study / folder).mkdir(parents=True, exist_ok=True)
    plan = stages(args, study)
    record_path = study / "study.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stages": {}}
    record.update({"seeds": args.seeds, "quick": args.quick, "argv": sys.argv[1:]})
    console.rule(f"study {study} -- {len(plan)} stages")
    if args.dry_run:
        for i, (name, argv_) in enumerate(plan, 1):
            console.print(f"({i}/{len(plan)}) {name}: {' '.join(argv_)}", soft_wrap=True, markup=False)
        return 0

    start = time.perf_counter()
    for i, (name, argv_) in enumerate(plan, 1):
        done = record["stages"].get(name, {})
        if done.get("returncode") == 0 and name != "compare":
            console.print(f"({i}/{len(plan)}) {name}: done earlier ({done['wall_time_s']:.0f} s), skipped",
                          style="dim")
            continue
        console.rule(f"[bold]({i}/{len(plan)}) {name}[/] (study time {time.perf_counter() - start:.0f} s)")
        t0 = time.perf_counter()
        code = run_stage(name, argv_, study / "logs" / f"{name}.log")
        record["stages"][name] = {"command": " ".join(argv_), "returncode": code,
                                  "wall_time_s": round(time.perf_counter() - t0, 1)}
        record_path.write_text(json.dumps(record, indent=2))
        if code != 0:
            console.print(f"{name} failed (exit {code}); see {study / 'logs' / f'{name}.log'}. Fix it, then: "
                          f"python scripts/ablate.py --resume {study}", style="red", markup=False)
            return code
    record["finished"] = datetime.now(timezone.utc).isoformat(timespec="seconds")
    record["wall_time_s"] = round(sum(s["wall_time_s"] for s in record["stages"].values()), 1)
    record_path.write_text(json.dumps(record, indent=2))

    summary = Table(title=f"study {study.name}")
    summary.add_column("stage")
    summary.add_column("wall time (s)", justify="right")
    for name, stage in record["stages"].items():
        summary.add_row(name, f"{stage['wall_time_s']:.0f}")
    summary.add_row("[bold]total[/]", f"[bold]{record['wall_time_s']:.0f}[/]")
    console.print(summary)
    console.print(f"tables: {study / 'compare' / 'tables.md'}\nplots: {study / 'compare' / 'plots'}\n"
                  f"notebook: RESULTS_DIR={study / 'compare'} jupyter lab notebooks/results.ipynb",
                  markup=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
