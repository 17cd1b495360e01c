"""The whole study in one command (what `make ablate` runs): the seven variants, the TSF on/off pairs,
the baselines, then the seed's tables, over several seeds.

    python scripts/ablate.py                        # 3 seeds x (7 variants + 3 TSF runs), 4 baselines
    python scripts/ablate.py --baselines eco ccot ccot_rgbt srdcf  # other classical rows (conf/tracker/)
    python scripts/ablate.py --quick                # a smoke run: tiny training, 2 test sequences
    python scripts/ablate.py --seeds 1 2 3 4 5      # more seeds
    python scripts/ablate.py --published MDNet+RGBT=/results/MDNet --published ECO=/results/ECO:corner \\
        -- data=rgbt234 data.root=/data/RGBT234     # real data; overrides after -- go to train and evaluate
    python scripts/ablate.py --resume logs/ablate/2026-11-23_23-00-00   # finished runs are skipped

Stages, one subprocess each (its output tee'd to ``<study>/logs/<stage>.log``), seed by seed so that an
interrupted study already holds whole seeds:
1. ``python -m src.train +variant=<v> seed=<s>`` for the seven variants (single, CMC*, CMC+CMC, CMC1,
   CMC1+CMC, CMC+CEB+CMC, CMC1+CEB+CMC), all from the shipped checkpoint (``model.init_ckpt``), with the
   same budget (``make train``'s recipe, STUDY_TRAIN below), each tracking the whole test split;
2. the TSF pairs: the single-modal network with the TSF off (the seed's before/after table, a
   noise-floor control: there the TSF cannot change the network) and CMC1 with ``fusion.align=sorted``
   (where the fusion reads token order), TSF on and off;
3. ``python -m src.evaluate tracker=<name>`` for each baseline (and score-only runs of published results);
4. the speed pass, after every accuracy run: each learned row (its first seed's checkpoint) and each
   baseline tracks the first FPS_SEQUENCES test sequences again, one process with one thread at a time,
   into ``fps/<row>/`` (the accuracy runs track with two processes, so their timings do not compare);
5. ``python -m src.compare``: the tables (``significance.md`` decides the seed's claims), plots and the
   W&B summary run; its FPS columns are the speed pass's.

Every run, baselines included, logs to one W&B group named after the study folder (offline unless
WANDB_MODE=online); run names carry the seed. Everything lands in ``<study>`` (default
``logs/ablate/<time>``): ``train/<variant>_s<seed>/``, ``baselines/<name>/``, ``compare/tables.md``, and
``study.json`` with the commands, the date and each stage's wall time. A rerun with ``--resume`` skips
every stage that finished (exit 0 and its metrics.json written) and reruns the rest.
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
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

from src.conf import baseline_names, variant_names  # noqa: E402
from src.utils.io import sha256_file  # noqa: E402

# what conf/variant/ and conf/tracker/ hold: the variants in the order they are trained, the baselines
VARIANTS = tuple(variant_names())
TSF_OFF = ["model.net.backbone.sort_kept=false"]
SORTED = ["model.net.fusion.align=sorted"]
# the TSF pairs beside the variants (the variants themselves are the "TSF on" halves, except sorted CMC1)
TSF_RUNS = {"single_notsf": ["+variant=single", *TSF_OFF],
            "cmc1_sorted": ["+variant=cmc1", *SORTED],
            "cmc1_sorted_notsf": ["+variant=cmc1", *SORTED, *TSF_OFF]}
BASELINES = tuple(baseline_names())
# Each run trains as `make train` does (4 epochs of 24 batches from the shipped checkpoint): in the calibrated
# world more fine-tuning lowered validation MSR (16 epochs: 0.473 / 0.404 / 0.378 at epochs 3 / 7 / 11; 6
# epochs: 0.454 / 0.437 at 2 / 5; BENCHMARKS.md, "Training and `make train`"), so a longer per-run budget
# buys no accuracy to rank by. What the 30 runs cannot afford is the rest of make train's run: validation
# (one pass at the end: it would only pick the last checkpoint, which the run tests anyway) and the
# mirrored views while tracking (1.8x the forward of a dual-modal network, +0.01 to +0.02 MSR for every
# recipe; docs/results/benchmarks_history_2026-12-06). The test split is tracked by two processes; the
# FPS columns come from the speed pass.
HFLIP = "false"
STUDY_TRAIN = {"trainer.limit_val_batches": "0", "+test_tracker.hflip": HFLIP, "test_workers": "2"}
# the speed pass tracks the learned rows as their accuracy runs did
STUDY_TRACKER = [f"tracker.factory.hflip={HFLIP}"]
# The classical rows the study runs: the two cheapest references of the learned tracker's claims (KCF+RGBT,
# CSR-DCF) and the two strongest classical rows on this test split (ECO+RGBT 0.571, SRDCF+RGBT 0.549 MSR
# at 67fce4c, docs/baselines.md). C-COT+RGBT alone would take ~30 min; --baselines adds any other.
STUDY_BASELINES = ("kcf_rgbt", "csrt", "srdcf_rgbt", "eco_rgbt")
# the speed pass: sequences per row (8: a paired test over them can reach p < 0.01)
FPS_SEQUENCES = 8
FPS_RUN = ["num_workers=1", "cpu_threads=1", "log_wandb=false"]
# --quick: a few training steps and two test sequences per run: checks the plumbing, not the science
QUICK_TRAIN = {"trainer.max_epochs": "1", "trainer.limit_train_batches": "2",
               "trainer.limit_val_batches": "1", "trainer.check_val_every_n_epoch": "1",
               "data.batch_size": "4", "data.num_workers": "0", "model.validation.max_sequences": "1",
               "model.validation.max_frames": "10", "test_limit_sequences": "2", "test_workers": "1"}
QUICK_EVALUATE = ["limit_sequences=2"]

console = Console()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter, epilog=__doc__)
    parser.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3],
                        help="training seeds (>= 3 for a spread a reader can trust)")
    parser.add_argument("--quick", action="store_true", help="smoke run: tiny training, 2 test sequences")
    parser.add_argument("--out", type=Path, default=None, help="study folder (default logs/ablate/<time>)")
    parser.add_argument("--resume", type=Path, default=None, help="continue this study folder")
    parser.add_argument("--variants", nargs="+", default=list(VARIANTS), choices=VARIANTS,
                        help="variants to train")
    parser.add_argument("--no-tsf", action="store_true", help="leave out the TSF on/off pairs")
    parser.add_argument("--eval-workers", type=int, default=2,
                        help="sequences tracked in parallel per baseline (the speed pass uses 1)")
    parser.add_argument("--baselines", nargs="*", default=list(STUDY_BASELINES), choices=BASELINES,
                        help="baseline trackers to evaluate")
    parser.add_argument("--no-fps", action="store_true", help="leave out the speed pass")
    parser.add_argument("--published", action="append", default=[], metavar="NAME=DIR[:FORMAT[:PREFIX]]",
                        help="score a published tracker's raw results (format ltwh or corner)")
    parser.add_argument("--skip-train", action="store_true", help="only baselines and the comparison")
    parser.add_argument("--dry-run", action="store_true", help="print the commands, run nothing")
    parser.add_argument("overrides", nargs="*", help="Hydra overrides for train and evaluate (after --)")
    args = parser.parse_args(argv)
    if len(args.seeds) < 2:
        console.print("[yellow]one seed: the tables will have no run-to-run spread[/]")
    return args


def training_runs(args: argparse.Namespace) -> list[tuple[str, list[str]]]:
    """``(run name, overrides)`` of every training run, seed by seed."""
    out = []
    for seed in args.seeds:
        runs = [(v, [f"+variant={v}"]) for v in args.variants]
        if not args.no_tsf:
            runs += list(TSF_RUNS.items())
        out += [(f"{name}_s{seed}", [*overrides, f"seed={seed}"]) for name, overrides in runs]
    return out


def stages(args: argparse.Namespace, study: Path) -> list[tuple[str, list[str]]]:
    """``(name, argv)`` of every stage, in order."""
    python = sys.executable
    recipe = {**STUDY_TRAIN, **(QUICK_TRAIN if args.quick else {})}
    train_extra = [f"{k}={v}" for k, v in recipe.items()] + list(args.overrides)
    evaluate_extra = (QUICK_EVALUATE if args.quick else []) + [
        o for o in args.overrides if o.split("=")[0].lstrip("+~").split(".")[0] in ("data", "paths", "split")]
    group = study.name
    out: list[tuple[str, list[str]]] = []
    if not args.skip_train:
        for name, overrides in training_runs(args):
            out.append((f"train_{name}", [
                python, "-m", "src.train", *overrides, f"experiment_name={group}", f"run_name={name}",
                f"hydra.run.dir={study / 'train' / name}", *train_extra]))
    for name in args.baselines:
        out.append((f"baseline_{name}", [python, "-m", "src.evaluate", f"tracker={name}",
                                         f"num_workers={args.eval_workers}", "log_wandb=true",
                                         f"wandb_group={group}",
                                         f"hydra.run.dir={study / 'baselines' / name}", *evaluate_extra]))
    if not args.no_fps:
        out += fps_stages(args, study, evaluate_extra)
    for spec in args.published:
        name, _, rest = spec.partition("=")
        folder, _, fmt_prefix = rest.partition(":")
        box_format, _, prefix = fmt_prefix.partition(":")
        if not name or not folder:
            raise SystemExit(f"--published {spec!r}: expected NAME=DIR[:FORMAT[:PREFIX]]")
        safe = "".join(c if c.isalnum() or c in "-_" else "_" for c in name)
        out.append((f"published_{safe}", [python, "-m", "src.evaluate", f"results_dir={folder}",
                                           f"tracker_name='{name}'", f"results.format={box_format or 'ltwh'}",
                                           f"results.prefix='{prefix}'", "log_wandb=true",
                                           f"wandb_group={group}",
                                           f"hydra.run.dir={study / 'published' / safe}", *evaluate_extra]))
    out.append(("compare", [python, "-m", "src.compare", f"inputs=[{study / 'train'},{study / 'baselines'},"
                                                         f"{study / 'published'}]",
                            *([] if args.no_fps else [f"fps_inputs=[{study / 'fps'}]"]),
                            f"summary_group={group}", f"hydra.run.dir={study / 'compare'}"]))
    return out


def fps_stages(args: argparse.Namespace, study: Path,
               evaluate_extra: list[str]) -> list[tuple[str, list[str]]]:
    """The speed pass: every learned row's first-seed checkpoint (the last one: the runs do not validate)
    and every baseline on the first FPS_SEQUENCES test sequences, one process, one thread."""
    python = sys.executable
    extra = [o for o in evaluate_extra if not o.startswith("limit_sequences=")]
    run = [*FPS_RUN, f"limit_sequences={2 if args.quick else FPS_SEQUENCES}", *extra]
    out = []
    if not args.skip_train:
        seed = args.seeds[0]
        rows = dict.fromkeys(name.rsplit("_s", 1)[0] for name, _ in training_runs(args))
        for row in rows:
            ckpt = study / "train" / f"{row}_s{seed}" / "checkpoints" / "last.ckpt"
            out.append((f"fps_{row}", [python, "-m", "src.evaluate", "tracker=ours", f"ckpt_path={ckpt}",
                                       *STUDY_TRACKER, *run, f"hydra.run.dir={study / 'fps' / row}"]))
    for name in args.baselines:
        out.append((f"fps_{name}", [python, "-m", "src.evaluate", f"tracker={name}", *run,
                                    f"hydra.run.dir={study / 'fps' / name}"]))
    return out


def stage_dir(argv: list[str]) -> Path | None:
    """The run directory a stage writes (its ``hydra.run.dir=``)."""
    found = [a.split("=", 1)[1] for a in argv if a.startswith("hydra.run.dir=")]
    return Path(found[-1]) if found else None


def finished(record: dict, name: str, argv: list[str]) -> bool:
    """A stage that exited 0 and left its metrics.json (the comparison always reruns)."""
    if name == "compare" or record["stages"].get(name, {}).get("returncode") != 0:
        return False
    folder = stage_dir(argv)
    return folder is None or (folder / "metrics.json").is_file()


def eta(record: dict, todo: list[str]) -> str:
    """Time left for the stages ``todo``: each the mean wall time of the finished stages of its kind
    (training runs, the rest); stages of a kind none of which has finished yet are counted apart."""
    done: dict[bool, list[float]] = {True: [], False: []}
    for name, stage in record["stages"].items():
        if stage.get("returncode") == 0 and name != "compare":
            done[name.startswith("train_")].append(stage["wall_time_s"])
    kinds = [name.startswith("train_") for name in todo]
    left = sum(sum(done[k]) / len(done[k]) for k in kinds if done[k])
    untimed = sum(1 for k in kinds if not done[k])
    if untimed == len(kinds):
        return "?"
    rest = f" + {untimed} stage{'s' * (untimed > 1)} not yet timed" if untimed else ""
    return f"{left / 60:.0f} min{rest}"


def init_checkpoint() -> dict:
    """The shipped starting checkpoint every variant loads (its sha256 identifies the study's start)."""
    path = ROOT / "checkpoints" / "single_synthetic_cpu.pt"
    if not path.is_file():
        return {"path": str(path), "sha256": None}
    return {"path": str(path.relative_to(ROOT)), "sha256": sha256_file(path)}


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
    for folder in ("train", "baselines", "published", "fps"):  # compare's inputs must exist, even if empty
        (study / folder).mkdir(parents=True, exist_ok=True)
    plan = stages(args, study)
    record_path = study / "study.json"
    record = json.loads(record_path.read_text()) if record_path.exists() else {
        "started": datetime.now(timezone.utc).isoformat(timespec="seconds"), "stages": {}}
    record.update({"seeds": args.seeds, "quick": args.quick, "argv": sys.argv[1:],
                   "train_recipe": {**STUDY_TRAIN, **(QUICK_TRAIN if args.quick else {})},
                   "init_ckpt": init_checkpoint(), "wandb_group": study.name})
    console.rule(f"study {study} -- {len(plan)} stages, W&B group {study.name}")
    if args.dry_run:
        for i, (name, argv_) in enumerate(plan, 1):
            console.print(f"({i}/{len(plan)}) {name}: {' '.join(argv_)}", soft_wrap=True, markup=False)
        return 0

    start = time.perf_counter()
    for i, (name, argv_) in enumerate(plan, 1):
        if finished(record, name, argv_):
            wall = record["stages"][name]["wall_time_s"]
            console.print(f"({i}/{len(plan)}) {name}: done earlier ({wall:.0f} s), skipped", style="dim")
            continue
        todo = [n for n, a in plan[i - 1:] if not finished(record, n, a)]
        console.rule(f"[bold]({i}/{len(plan)}) {name}[/] (this run {time.perf_counter() - start:.0f} s, "
                     f"about {eta(record, todo)} left)")
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
