"""The GPU check: what to run in the few minutes a CUDA machine is lent (about 3 minutes on one GPU).

    .venv/bin/python scripts/gpu_check.py [--out gpu_check.json]    # on a machine with a CUDA GPU
    .venv/bin/python scripts/gpu_check.py --dry-run                 # the same code path on the CPU, small

Four checks, one summary line each (``gpu_check <name>: PASS|FAIL ...``), exit status 1 if any fails:

- ``track``: CMC* at ``vitb_256`` (random weights: speed does not depend on them) tracks a generated
  640x480 RGB-T sequence with the tracker's loop (``OSTrackTracker``; mirrored views off, as OSTrack and
  the seed's FPS; and on, this suite's default) in fp32 and in bf16 autocast; end-to-end and model-only
  FPS against the seed's 128.54 FPS (the notes do not say on which GPU).
- ``train_step``: ``python -m src.train`` with ``model=vitb_256 trainer=gpu`` (bf16-mixed) at batch 32 on
  a small generated calibrated world: seconds per optimisation step (median after warm-up steps, timed by
  a callback from batch start to batch end) and the peak GPU memory.
- ``ddp``: the same command under ``trainer.strategy=ddp trainer.devices=1`` for two steps: DDP's
  process group, gradient sync and checkpointing, on one GPU.
- ``agree``: one network on the GPU and on the CPU tracks the same sequence: mean IoU between the two
  tracks (pass at 0.99; the CE top-k selection may flip a token on near ties).

``--dry-run`` runs every check on the CPU at the CPU model size with a few frames and steps (the
``train_step`` one with bf16-mixed on the CPU, ``ddp`` with gloo), so the script is known to work before a
GPU is lent: tests/test_gpu_check.py runs it (slow tests). Figures from a GPU go in BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # run as a script from anywhere

import lightning as L  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402

SEED_FPS = 128.54  # the seed's CMC* FPS (its comparison table)
AGREE_IOU = 0.99


class StepTimer(L.Callback):
    """Seconds from each training batch's start to its end (the step: forward, loss, backward, optimiser),
    the world size and the peak GPU memory, written to ``out`` (JSON) when training ends."""

    def __init__(self, out: str):
        self.out, self.times, self.start = out, [], 0.0

    def _sync(self, pl_module) -> None:
        if pl_module.device.type == "cuda":
            torch.cuda.synchronize(pl_module.device)

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx) -> None:
        self._sync(pl_module)
        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer, pl_module, outputs, batch, batch_idx) -> None:
        self._sync(pl_module)
        self.times.append(time.perf_counter() - self.start)

    def on_train_end(self, trainer, pl_module) -> None:
        if trainer.global_rank != 0:
            return
        peak = torch.cuda.max_memory_allocated() / 2**30 if pl_module.device.type == "cuda" else None
        Path(self.out).write_text(json.dumps({"times": self.times, "global_step": trainer.global_step,
                                              "world_size": trainer.world_size, "peak_gib": peak,
                                              "precision": str(trainer.precision)}))


def sequence(frames: int, width: int = 640, height: int = 480) -> tuple[list[dict], np.ndarray]:
    from src.data.synthetic.long_sequence import long_sequence_boxes, render_frames

    boxes = long_sequence_boxes(frames, width, height)
    return list(render_frames(boxes, width, height)), boxes


class Autocast(torch.nn.Module):
    """The network's forward under bf16 autocast, its maps back in fp32 (what the tracker reads)."""

    def __init__(self, net: torch.nn.Module, device: str):
        super().__init__()
        self.net, self.device_type = net, device.split(":")[0]
        for key in ("template_size", "search_size", "modalities"):
            setattr(self, key, getattr(net, key))

    def forward(self, **inputs):
        with torch.autocast(self.device_type, dtype=torch.bfloat16):
            out = self.net(**inputs)
        return {k: v.float() if torch.is_tensor(v) and v.is_floating_point() else v for k, v in out.items()}

    def decode(self, *maps):
        return self.net.decode(*maps)


def network(size: str) -> torch.nn.Module:
    from src.conf import compose_net
    from src.models import build_network

    torch.manual_seed(0)
    return build_network(compose_net(size, "cmc_cmc"), load_pretrained=False).eval()


def track(net: torch.nn.Module, device: str, frames: list[dict], boxes: np.ndarray, hflip: bool,
          bf16: bool, warmup: int) -> dict[str, Any]:
    from src.tracking.tracker import OSTrackTracker

    tracker = OSTrackTracker(Autocast(net, device) if bf16 else net, device=device, hflip=hflip)
    tracker.initialize(frames[0], boxes[0])
    out, e2e, model = [boxes[0]], [], []
    for t in range(1, len(frames)):
        start = time.perf_counter()
        out.append(tracker.track(frames[t]))
        if t > warmup:
            e2e.append(time.perf_counter() - start)
            model.append(tracker.last_model_time)
    return {"boxes": np.asarray(out), "e2e_fps": 1 / statistics.median(e2e),
            "model_fps": 1 / statistics.median(model)}


def check_track(device: str, size: str, frames: int) -> tuple[bool, str, dict]:
    net = network(size).to(device)
    pairs, boxes = sequence(frames)
    rows = {}
    for hflip in (False, True):
        for bf16 in (False, True):
            r = track(net, device, pairs, boxes, hflip, bf16, warmup=min(10, frames // 4))
            rows[f"{'bf16' if bf16 else 'fp32'}{' hflip' if hflip else ''}"] = {
                k: r[k] for k in ("e2e_fps", "model_fps")}
    text = "; ".join(f"{k} e2e {v['e2e_fps']:.1f} FPS (model {v['model_fps']:.1f})" for k, v in rows.items())
    best = rows["bf16"]["e2e_fps"]
    return True, f"{size}: {text}; seed {SEED_FPS} FPS: fp32 x{rows['fp32']['e2e_fps'] / SEED_FPS:.2f}, " \
                 f"bf16 x{best / SEED_FPS:.2f}", rows


def check_agree(device: str, size: str, frames: int) -> tuple[bool, str, dict]:
    from src.metrics.functional import iou

    pairs, boxes = sequence(frames)
    net = network(size)
    cpu = track(net, "cpu", pairs, boxes, hflip=True, bf16=False, warmup=0)["boxes"]
    other = track(net.to(device), device, pairs, boxes, hflip=True, bf16=False, warmup=0)["boxes"]
    ious = iou(other, cpu)
    worst = float(np.abs(cpu - other).max())
    ok = float(ious.mean()) >= AGREE_IOU
    return ok, f"{device} vs cpu over {frames} frames: mean IoU {ious.mean():.4f} (pass >= {AGREE_IOU}), " \
               f"min {ious.min():.4f}, largest coordinate difference {worst:.2f} px", \
        {"mean_iou": float(ious.mean()), "min_iou": float(ious.min()), "max_abs_px": worst}


def world_overrides(work: Path, dry_run: bool) -> list[str]:
    """A small calibrated world (6 training sequences) that the first training run writes under ``work``
    (``paths.data_dir``) and the second reuses; training pairs are also drawn on the fly, as by default."""
    frames = 24 if dry_run else 60
    splits = (f"{{train: {{sequences: 6, frames: {frames}}}, val: {{sequences: 1, frames: {frames}}}, "
              f"test: {{sequences: 1, frames: {frames}}}}}")
    return [f"paths.data_dir={work}", f"data.root={work / 'world'}", "~data.generate.splits",
            f"+data.generate.splits={splits}"]


def train(data: list[str], out: Path, extra: list[str], timeout: int) -> tuple[dict | None, str]:
    """``python -m src.train`` with the ``data`` overrides and :class:`StepTimer`; its JSON (None if it
    failed) and the log's tail."""
    timer = out / "steps.json"
    cmd = [sys.executable, "-m", "src.train", *data, f"hydra.run.dir={out}", "test=false", "logger=csv",
           "model.validation.track=false",
           "trainer.limit_val_batches=0", "+callbacks.step_timer._target_=scripts.gpu_check.StepTimer",
           f"+callbacks.step_timer.out={timer}", *extra]
    proc = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    tail = "\n".join((proc.stdout + proc.stderr).strip().splitlines()[-15:])
    if proc.returncode != 0 or not timer.is_file():
        return None, tail
    return json.loads(timer.read_text()), tail


def check_train_step(data: list[str], work: Path, dry_run: bool) -> tuple[bool, str, dict]:
    size, batch, warmup, timed = ("cpu", 4, 1, 2) if dry_run else ("vitb_256", 32, 3, 10)
    trainer = ["trainer=cpu", "++trainer.precision=bf16-mixed"] if dry_run else ["trainer=gpu"]
    extra = [f"model={size}", *trainer, f"data.batch_size={batch}", f"++trainer.max_steps={warmup + timed}",
             "trainer.max_epochs=-1"]
    result, tail = train(data, work / "train_step", extra, timeout=300)
    if result is None:
        return False, f"src.train failed:\n{tail}", {}
    steps = result["times"][warmup:]
    seconds = statistics.median(steps)
    peak = f", peak GPU memory {result['peak_gib']:.1f} GiB" if result["peak_gib"] is not None else ""
    return True, f"model={size} batch {batch} {result['precision']}: {seconds:.3f} s/step " \
                 f"({batch / seconds:.0f} pairs/s, median of {len(steps)} after {warmup}){peak}", \
        {"seconds_per_step": seconds, **result}


def check_ddp(data: list[str], work: Path, dry_run: bool) -> tuple[bool, str, dict]:
    size = "cpu" if dry_run else "vitb_256"
    trainer = ["trainer=cpu"] if dry_run else ["trainer=gpu"]
    extra = [f"model={size}", *trainer, "++trainer.strategy=ddp", "++trainer.devices=1", "data.batch_size=4",
             "++trainer.max_steps=2", "trainer.max_epochs=-1"]
    result, tail = train(data, work / "ddp", extra, timeout=300)
    ok = result is not None and result["global_step"] == 2 and result["world_size"] == 1
    if result is None:
        return False, f"src.train under DDP failed:\n{tail}", {}
    return ok, f"strategy=ddp, 1 device: {result['global_step']} steps, world size {result['world_size']}", \
        result


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--dry-run", action="store_true", help="every check on the CPU, small")
    parser.add_argument("--checks", nargs="+", default=["track", "train_step", "ddp", "agree"])
    parser.add_argument("--out", type=Path, help="also write every figure here (JSON)")
    args = parser.parse_args()
    if not args.dry_run and not torch.cuda.is_available():
        print("gpu_check: no CUDA device here (torch.cuda.is_available() is False); --dry-run runs the "
              "checks on the CPU")
        return 2
    device = "cpu" if args.dry_run else "cuda"
    size, frames = ("cpu", 8) if args.dry_run else ("vitb_256", 300)
    from src.conf import register_resolvers

    register_resolvers()
    name = "cpu (dry run)" if args.dry_run else torch.cuda.get_device_name(0)
    print(f"gpu_check on {name}, torch {torch.__version__}", flush=True)
    results, failed = {"device": name, "torch": torch.__version__}, False
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        data = world_overrides(work, args.dry_run)
        for check in args.checks:
            start = time.perf_counter()
            try:
                if check == "track":
                    ok, line, figures = check_track(device, size, frames)
                elif check == "agree":
                    ok, line, figures = check_agree(device, size, 10 if args.dry_run else 100)
                elif check == "train_step":
                    ok, line, figures = check_train_step(data, work, args.dry_run)
                elif check == "ddp":
                    ok, line, figures = check_ddp(data, work, args.dry_run)
                else:
                    raise ValueError(f"unknown check {check!r}")
            except Exception as error:  # noqa: BLE001  (one failing check must not hide the others)
                ok, line, figures = False, f"{type(error).__name__}: {error}", {}
            failed |= not ok
            seconds = time.perf_counter() - start
            results[check] = {"ok": ok, "seconds": seconds, **figures}
            print(f"gpu_check {check}: {'PASS' if ok else 'FAIL'} ({seconds:.0f} s) {line}", flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=2, default=str))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
