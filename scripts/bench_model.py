"""Network benchmark: parameters, GFLOPs per frame and model-only FPS for every variant.

    python scripts/bench_model.py                       # both sizes, all variants, CE on and off
    python scripts/bench_model.py --sizes cpu --iters 20 --variants cmc single
    python scripts/bench_model.py --out /tmp/model_table.md   (the table in BENCHMARKS.md)

One "frame" is one forward pass at batch 1. Parameters, FLOPs and model-only FPS are counted and
timed by ``src.models.profile`` (the functions ``python -m src.profile`` uses for one network): FLOPs
from ``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2 FLOPs) with the math
attention kernel; FPS the median of ``--iters`` timed calls after ``--warmup`` calls, CE on and CE off
(keep ratio 1) alternating call by call.
Networks are built from the composed Hydra config (``model=<size> +variant=<name>``), random
weights.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from src.conf import compose_net, variant_names  # noqa: E402
from src.models import build_network  # noqa: E402
from src.models.profile import CE_RATIOS, count_flops, count_params, frame_inputs, time_fps  # noqa: E402

VARIANTS = variant_names()  # conf/variant/
SIZES = {"cpu": "cpu", "vitb_256": "vitb_256"}  # name -> conf/model/<name>.yaml


def main(argv: list[str] | None = None) -> list[dict]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", nargs="+", default=list(SIZES), choices=list(SIZES))
    parser.add_argument("--variants", nargs="+", default=VARIANTS, choices=VARIANTS)
    parser.add_argument("--iters", type=int, default=30, help="timed forward passes per row (median taken)")
    parser.add_argument("--warmup", type=int, default=5)
    parser.add_argument("--vitb-iters", type=int, default=None,
                        help="timed passes at vitb_256 (default: --iters)")
    parser.add_argument("--threads", type=int, default=None,
                        help="intra-op threads (default: torch's choice); 1 is steadier on a shared CPU")
    parser.add_argument("--device", default="cpu", help="cpu or cuda[:i] (FLOPs are counted on it too)")
    parser.add_argument("--amp", choices=["bf16"], default=None, help="time under bf16 autocast")
    parser.add_argument("--no-fps", action="store_true", help="parameters and FLOPs only")
    parser.add_argument("--out", type=Path, default=None, help="also write the Markdown table here")
    args = parser.parse_args(argv)

    from rich.console import Console
    from rich.progress import track
    from rich.table import Table

    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    jobs = [(s, v) for s in args.sizes for v in args.variants]
    rows = []
    for size, variant in track(jobs, description="benchmarking", transient=True):
        cfg = compose_net(size, variant)
        net = build_network(cfg).eval().to(args.device)
        inputs = frame_inputs(cfg, args.device)
        params = count_params(net)
        iters = args.vitb_iters if (size == "vitb_256" and args.vitb_iters) else args.iters
        row = {"size": size, "variant": variant, "params_M": params / 1e6}
        fps = {} if args.no_fps else \
            time_fps(net, inputs, CE_RATIOS, args.warmup, iters, args.device, args.amp)
        for tag, ratio in CE_RATIOS.items():
            row[f"gflops_{tag}"] = count_flops(net, inputs, ratio) / 1e9
            row[f"fps_{tag}"] = fps.get(tag, float("nan"))
        row["flop_cut"] = row["gflops_off"] / row["gflops_on"]
        row["speedup"] = row["fps_on"] / row["fps_off"]
        rows.append(row)
        del net

    header = ["size", "variant", "params (M)", "GFLOPs CE on", "GFLOPs CE off", "FLOP ratio off/on",
              "FPS CE on", "FPS CE off", "speedup on/off"]
    where = args.device if args.device != "cpu" else f"cpu, {torch.get_num_threads()} threads"
    table = Table(title=f"bench_model: batch 1, {where}, {args.amp or 'fp32'}, torch {torch.__version__}")
    for h in header:
        table.add_column(h, justify="right")
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    for r in rows:
        cells = [r["size"], r["variant"], f"{r['params_M']:.2f}", f"{r['gflops_on']:.2f}",
                 f"{r['gflops_off']:.2f}", f"{r['flop_cut']:.2f}x",
                 f"{r['fps_on']:.3g}", f"{r['fps_off']:.3g}", f"{r['speedup']:.2f}x"]
        table.add_row(*cells)
        lines.append("| " + " | ".join(cells) + " |")
    Console(width=200).print(table)
    if args.out:
        args.out.parent.mkdir(parents=True, exist_ok=True)
        args.out.write_text("\n".join(lines) + "\n")
        print(f"wrote {args.out}")
    return rows


if __name__ == "__main__":
    main()
