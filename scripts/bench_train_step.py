"""Training-step and tracking-step speed on this CPU: fp32 vs bf16 autocast, channels-last,
``torch.compile``, batch size, threads; achieved GFLOP/s against a plain matmul's.

    python scripts/bench_train_step.py                     # the CPU default (CMC*), every setting
    python scripts/bench_train_step.py --variant single --iters 5 --threads 1 2

One training step = forward + objective + backward + AdamW step on a random batch of the CPU default
sizes (template 64 / search 128, both modalities). FLOPs per step come from
``torch.utils.flop_counter.FlopCounterMode`` (a multiply-add counts 2) over forward and backward;
achieved GFLOP/s = those FLOPs / the median step time. The reference is one ``torch.mm`` of
1024 x 1024 fp32 (and bf16) matrices at the same thread count. One tracking step = the network's
forward at batch 1 under ``inference_mode`` (what ``OSTrackTracker.track`` runs). Medians of
``--iters`` timed calls after 2 warm-up calls.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import time
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # run as a script from anywhere

from src.conf import compose_net  # noqa: E402
from src.learning.objective import TrackingObjective  # noqa: E402
from src.models import build_network  # noqa: E402


def batch(net, size: int, channels_last: bool) -> dict:
    # the heatmap is on the head's grid: the patch grid, or the stem's finer one (model.net.head.stride)
    z, x, g = net.template_size, net.search_size, net.search_size // net.head_stride
    out = {f"{part}_{m}": torch.randn(size, 3, s, s) for part, s in (("template", z), ("search", x))
           for m in ("visible", "infrared")}
    if channels_last:
        out = {k: v.contiguous(memory_format=torch.channels_last) for k, v in out.items()}
    heat = torch.zeros(size, g, g)
    heat[:, g // 2, g // 2] = 1.0
    out.update(heatmap=heat, search_box=torch.tensor([[0.5, 0.5, 0.25, 0.25]]).repeat(size, 1),
               template_box=torch.tensor([[0.5, 0.5, 0.5, 0.5]]).repeat(size, 1))
    return out


def forward(net, b: dict) -> dict:
    return net(b["template_visible"], b["search_visible"], b["template_infrared"], b["search_infrared"],
               template_box=b["template_box"])


def median_time(fn, iters: int) -> float:
    for _ in range(2):
        fn()
    times = []
    for _ in range(iters):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def matmul_gflops(dtype: torch.dtype, iters: int = 10) -> float:
    a, b = torch.randn(1024, 1024, dtype=dtype), torch.randn(1024, 1024, dtype=dtype)
    return 2 * 1024**3 / median_time(lambda: torch.mm(a, b), iters) / 1e9


def step_flops(net, objective, b: dict) -> float:
    with FlopCounterMode(display=False) as counter:
        loss, _ = objective(forward(net, b), b)
        loss.backward()
    net.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", default="cmc")
    parser.add_argument("--iters", type=int, default=5)
    parser.add_argument("--threads", type=int, nargs="+", default=[1])
    parser.add_argument("--batch", type=int, nargs="+", default=[16, 32, 64])
    parser.add_argument("--no-compile", action="store_true", help="skip torch.compile (slow to compile)")
    args = parser.parse_args()
    cfg = compose_net("cpu", args.variant)
    print(f"# {args.variant} at the CPU default (model=cpu), stem {cfg['backbone']['stem']}")
    print("| threads | setting | batch | train step (s) | pairs/s | GFLOP/step | achieved GFLOP/s |")
    print("|---|---|---|---|---|---|---|")
    for threads in args.threads:
        torch.set_num_threads(threads)
        settings = [("fp32", False, False, False), ("bf16 autocast", True, False, False),
                    ("fp32 channels-last", False, True, False)]
        if not args.no_compile:
            settings.append(("fp32 torch.compile", False, False, True))
        for name, bf16, channels_last, compiled in settings:
            for size in (args.batch if name == "fp32" else [32]):
                torch.manual_seed(0)
                net = build_network(cfg, load_pretrained=False).train()
                if channels_last:
                    net = net.to(memory_format=torch.channels_last)
                objective = TrackingObjective(box_at="target")
                optimizer = torch.optim.AdamW(net.parameters(), lr=1e-4)
                b = batch(net, size, channels_last)
                flops = step_flops(net, objective, b)
                run_net = torch.compile(net) if compiled else net
                autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext())

                def step(run_net=run_net, b=b, optimizer=optimizer, objective=objective, autocast=autocast):
                    with autocast:
                        out = forward(run_net, b)
                        out = {k: (v.float() if torch.is_tensor(v) and v.is_floating_point() else v)
                               for k, v in out.items()}
                        loss, _ = objective(out, b)
                    loss.backward()
                    optimizer.step()
                    optimizer.zero_grad(set_to_none=True)

                seconds = median_time(step, args.iters)
                print(f"| {threads} | {name} | {size} | {seconds:.3f} | {size / seconds:.1f} "
                      f"| {flops / 1e9:.1f} "
                      f"| {flops / seconds / 1e9:.1f} |", flush=True)
        # tracking: batch 1 forward, fp32 vs bf16 autocast
        net = build_network(cfg, load_pretrained=False).eval()
        b = batch(net, 1, False)
        for name, bf16 in (("fp32", False), ("bf16 autocast", True)):
            autocast = torch.autocast("cpu", dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()

            def track(net=net, b=b, autocast=autocast):
                with torch.inference_mode(), autocast:
                    forward(net, b)

            seconds = median_time(track, max(args.iters, 20))
            print(f"| {threads} | tracking forward, {name} | 1 | {seconds * 1e3:.2f} ms "
                  f"| {1 / seconds:.0f} fps | | |")
        for dtype in (torch.float32, torch.bfloat16):
            name = str(dtype).split(".")[-1]
            print(f"| {threads} | torch.mm 1024^3, {name} | | | | | {matmul_gflops(dtype):.1f} |")


if __name__ == "__main__":
    main()
