"""``python -m src.export``: the tracking network at batch 1 as ONNX or TorchScript, with a parity check.

    python -m src.export ckpt_path=logs/train/runs/<run>/checkpoints/best.ckpt format=onnx
    python -m src.export ckpt_path=checkpoints/single_synthetic_cpu.pt format=torchscript output=net.pt

Inputs (float32): ``template_visible [1, 3, Z, Z]``, ``search_visible [1, 3, X, X]``, for dual-modal
variants ``template_infrared`` and ``search_infrared``, and ``template_box [1, 4]`` (cxcywh in the
template crop, [0, 1]); outputs ``score_map [1, 1, G, G]``, ``size_map [1, 2, G, G]``,
``offset_map [1, 2, G, G]``. Candidate elimination is on, at the network's keep ratios, as tracking
runs it; the token counts it keeps are fixed at batch 1, so the graph has static shapes. The file
carries the network's config and tracking settings (ONNX metadata / a TorchScript extra file), so
``tracker=onnx`` tracks with it: ``python -m src.evaluate tracker=onnx tracker.factory.model_path=FILE``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import hydra
from omegaconf import DictConfig

from src.conf import register_resolvers
from src.network_export import FORMATS, export, load_network, parity  # torch only when called
from src.utils.cli import UserError, check_checkpoint, check_override_types, run_cli

# ${uid:} (run directories) and ${tags_with:} (W&B tags): before Hydra composes this command's config
register_resolvers()
log = logging.getLogger(__name__)

CONFIG = Path(__file__).resolve().parents[1] / "conf" / "export.yaml"
def check_inputs(cfg: DictConfig) -> None:
    check_override_types(cfg, CONFIG)
    if not cfg.get("ckpt_path"):
        raise UserError("pass ckpt_path=CKPT (a training checkpoint or an exported weights file)")
    check_checkpoint(cfg.ckpt_path)
    if cfg.format not in FORMATS:
        raise UserError(f"format={cfg.format}: expected one of {', '.join(FORMATS)}")


def run(cfg: DictConfig) -> dict[str, Any]:
    """Export, check parity, print one line per step; returns ``{path, format, parity}``."""
    from src.utils.cli import set_cpu_threads

    set_cpu_threads(cfg.get("cpu_threads"))
    net, meta = load_network(cfg.ckpt_path)
    output = Path(str(cfg.output)) if cfg.get("output") else \
        Path(cfg.paths.output_dir) / (Path(str(cfg.ckpt_path)).stem + FORMATS[cfg.format])
    path = export(net, meta, output, cfg.format, int(cfg.opset))
    print(f"exported {meta['net'].get('variant')} ({cfg.format}, batch 1) to {path} "
          f"({path.stat().st_size / 1e6:.1f} MB)")
    result: dict[str, Any] = {"path": str(path), "format": cfg.format}
    if cfg.parity:
        diffs = parity(net, meta, path, cfg.format)
        result["parity"] = diffs
        worst = max(diffs.values())
        print("parity with the eager forward, max |diff|: "
              + ", ".join(f"{k} {v:.2e}" for k, v in diffs.items()) + f" (tolerance {cfg.tolerance:g})")
        if not worst <= float(cfg.tolerance):
            raise RuntimeError(f"{path}: the exported network differs from the eager one by {worst:.3g} "
                               f"> tolerance {cfg.tolerance:g}")
    return result


@hydra.main(version_base="1.3", config_path="../conf", config_name="export")
def main(cfg: DictConfig) -> None:
    check_inputs(cfg)
    run(cfg)


if __name__ == "__main__":
    run_cli(main)
