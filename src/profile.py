"""``python -m src.profile model=<size> +variant=<name>``: one network's parameters, FLOPs and MACs (candidate
elimination on and off), model-only and end-to-end FPS on this machine's device, in one table.

The counts and timings are :mod:`src.models.profile`'s, the functions ``scripts/bench_model.py`` uses for
its table of every variant: the two agree. The network is built from the composed ``model`` config with random
weights (the counts and the speed do not depend on them). ``profile.json`` in the run directory holds the
figures.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig, OmegaConf

from src.conf import CONF_DIR, register_resolvers
from src.utils.cli import UserError, check_override_types, run_cli, set_cpu_threads

register_resolvers()
log = logging.getLogger(__name__)


def profile(net_cfg: dict[str, Any], device: str, warmup: int, iters: int,
            amp: str | None = None) -> dict[str, Any]:
    """The figures of the network ``net_cfg`` describes (``model.net``) on ``device``."""
    import torch

    from src.models import build_network
    from src.models.profile import (
        CE_RATIOS,
        count_flops,
        count_params,
        frame_inputs,
        time_fps,
        time_tracker,
    )

    torch.manual_seed(0)
    net = build_network(net_cfg, load_pretrained=False).eval().to(device)
    inputs = frame_inputs(net_cfg, device)
    row: dict[str, Any] = {"variant": net_cfg.get("variant"), "device": device, "params": count_params(net)}
    for tag, ratio in CE_RATIOS.items():
        row[f"flops_{tag}"] = count_flops(net, inputs, ratio)
        row[f"macs_{tag}"] = row[f"flops_{tag}"] / 2
    fps = time_fps(net, inputs, CE_RATIOS, warmup, iters, device, amp)
    row.update({f"model_fps_{tag}": value for tag, value in fps.items()})
    tracked = time_tracker(net, warmup, iters, device)
    row["tracker_model_fps"], row["e2e_fps"] = tracked["model"], tracked["e2e"]
    row["threads"] = torch.get_num_threads()
    row["torch"] = torch.__version__
    if device.startswith("cuda"):
        row["gpu"] = torch.cuda.get_device_name(device)
    return row


def table(row: dict[str, Any], title: str) -> str:
    """Markdown: one row per figure, a column for candidate elimination on and one for off."""
    lines = [f"{title}", "", "| | CE on | CE off |", "|---|---:|---:|",
             f"| parameters (M) | {row['params'] / 1e6:.3f} | {row['params'] / 1e6:.3f} |",
             f"| GFLOPs / frame | {row['flops_on'] / 1e9:.3f} | {row['flops_off'] / 1e9:.3f} |",
             f"| GMACs / frame | {row['macs_on'] / 1e9:.3f} | {row['macs_off'] / 1e9:.3f} |",
             f"| model-only FPS (network forward) | {row['model_fps_on']:.1f} | {row['model_fps_off']:.1f} |",
             f"| end-to-end FPS (tracker with mirrored views, frames in memory) | {row['e2e_fps']:.1f} | - |",
             f"| its forwards alone (batch 2) | {row['tracker_model_fps']:.1f} | - |"]
    return "\n".join(lines)


def run(cfg: DictConfig) -> dict[str, Any]:
    import torch

    device = str(cfg.device) if cfg.get("device") else ("cuda" if torch.cuda.is_available() else "cpu")
    if device.startswith("cuda") and not torch.cuda.is_available():
        raise UserError(f"device={device}: no CUDA GPU on this machine")
    if int(cfg.iters) < 1 or int(cfg.warmup) < 0:
        raise UserError(f"iters={cfg.iters}, warmup={cfg.warmup}: need iters >= 1 and warmup >= 0")
    threads = set_cpu_threads(cfg.get("cpu_threads"))
    net_cfg = OmegaConf.to_container(cfg.model.net, resolve=True)
    row = profile(net_cfg, device, int(cfg.warmup), int(cfg.iters), cfg.get("amp"))
    where = row.get("gpu", f"cpu, {threads} threads")
    from hydra.core.hydra_config import HydraConfig

    size = HydraConfig.get().runtime.choices.get("model")
    title = (f"profile: model={size} +variant={net_cfg.get('variant')}, batch 1, {where}, "
             f"{cfg.get('amp') or 'fp32'}, torch {row['torch']}, medians of {cfg.iters} after {cfg.warmup}")
    text = table(row, title)
    out = Path(cfg.paths.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    (out / "profile.json").write_text(json.dumps(row, indent=2) + "\n")
    print(text)
    return row


@hydra.main(version_base="1.3", config_path="../conf", config_name="profile")
def main(cfg: DictConfig) -> None:
    check_override_types(cfg, CONF_DIR / "profile.yaml")
    run(cfg)


if __name__ == "__main__":
    run_cli(main)
