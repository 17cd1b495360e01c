"""The tracking network at batch 1 as ONNX or TorchScript, and the parity check of an exported file.

What ``python -m src.export`` and ``scripts/bench_export.py`` share: :func:`load_network` (a checkpoint's
network and tracking settings), :func:`export` (one file, the config in its metadata), :func:`run_exported`
and :func:`parity` (the exported outputs against the eager forward). The input and output names are
described in src/export.py.
"""

from __future__ import annotations

import json
import warnings
from pathlib import Path
from typing import Any

from src.utils.cli import UserError

FORMATS = {"onnx": ".onnx", "torchscript": ".torchscript.pt"}
OUTPUTS = ("score_map", "size_map", "offset_map")
CONFIG_FILE = "config.json"  # TorchScript extra file with the network's config


def _torch():
    import torch

    return torch


def batch_one(net: Any, names: list[str]) -> Any:
    """``net`` with positional inputs ``names`` and a tuple of the three maps out (what tracers want).
    Defined here so that importing this module does not import torch (the CLI's checks come first)."""
    torch = _torch()

    class BatchOneNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.net = net

        def forward(self, *inputs):
            out = self.net(**dict(zip(names, inputs)))
            return tuple(out[name] for name in OUTPUTS)

    return BatchOneNetwork().eval()


def input_names(modalities: list[str]) -> list[str]:
    infrared = ["template_infrared", "search_infrared"] if "infrared" in modalities else []
    return ["template_visible", "search_visible", *infrared, "template_box"]


def example_inputs(names: list[str], template_size: int, search_size: int, seed: int = 0) -> tuple:
    """Normalised-image-like crops ``N(0, 1)`` and a template box near the crop centre."""
    torch = _torch()
    generator = torch.Generator().manual_seed(seed)
    inputs = []
    for name in names:
        if name == "template_box":
            jitter = (torch.rand(1, 4, generator=generator) - 0.5) * 0.1
            inputs.append((torch.tensor([[0.5, 0.5, 0.45, 0.5]]) + jitter).float())
        else:
            size = template_size if name.startswith("template") else search_size
            inputs.append(torch.randn(1, 3, size, size, generator=generator))
    return tuple(inputs)


def load_network(ckpt_path: str | Path) -> tuple[Any, dict[str, Any]]:
    """The network of a checkpoint (training or exported weights), and what the exported file records:
    ``{"net": its config, "tracker": its tracking settings}``."""
    from src.tracking.tracker import OSTrackTracker

    tracker = OSTrackTracker.from_checkpoint(ckpt_path, device="cpu")
    hparams = getattr(tracker, "hparams", {}) or {}
    meta = {"net": dict(hparams["net"]), "tracker": dict(hparams.get("tracker") or {})}
    meta["net"].setdefault("template_size", tracker.template_size)
    meta["net"].setdefault("search_size", tracker.search_size)
    meta["net"]["modalities"] = list(tracker.modalities)
    return tracker.net.eval(), json.loads(json.dumps(meta, default=str))


def _register_stable_sort() -> None:
    """Candidate elimination sorts with ``stable=True``, which neither ONNX exporter of torch 2.14
    translates: export ``aten::sort`` (both overloads) as ONNX TopK over the whole axis. TopK's order
    of equal values is unspecified; the parity check catches a difference that matters."""
    import torch
    from torch.onnx import symbolic_helper

    def sort(g, self, *args):
        dim, descending = (symbolic_helper._parse_arg(a, "i") for a in args[-2:])
        length = g.op("Gather", g.op("Shape", self),
                      g.op("Constant", value_t=torch.tensor([dim], dtype=torch.long)), axis_i=0)
        return g.op("TopK", self, length, axis_i=dim, largest_i=int(descending), sorted_i=1, outputs=2)

    torch.onnx.register_custom_op_symbolic("aten::sort", sort, 11)


def export(net: Any, meta: dict[str, Any], path: str | Path, fmt: str, opset: int) -> Path:
    """Write ``net`` at batch 1 to ``path`` as ``onnx`` or ``torchscript`` (traced); ``opset``: the ONNX
    opset (conf/export.yaml's ``opset``)."""
    torch = _torch()
    if fmt not in FORMATS:
        raise UserError(f"format={fmt}: expected one of {', '.join(FORMATS)}")
    names = input_names(meta["net"]["modalities"])
    module = batch_one(net, names)
    inputs = example_inputs(names, meta["net"]["template_size"], meta["net"]["search_size"])
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with warnings.catch_warnings(), torch.no_grad():
        # the tracer's warnings are about the batch-1 token counts, which are meant to be constants
        warnings.simplefilter("ignore")
        if fmt == "torchscript":
            traced = torch.jit.trace(module, inputs)
            torch.jit.save(traced, str(path), _extra_files={CONFIG_FILE: json.dumps(meta)})
        else:
            import onnx

            from src.tracking.onnx_runtime import METADATA_KEY

            _register_stable_sort()
            torch.onnx.export(module, inputs, str(path), input_names=names, output_names=list(OUTPUTS),
                              opset_version=int(opset), dynamo=False)
            model = onnx.load(str(path))
            entry = model.metadata_props.add()
            entry.key, entry.value = METADATA_KEY, json.dumps(meta)
            onnx.save(model, str(path))
    return path


def run_exported(path: str | Path, fmt: str, inputs: tuple, names: list[str]) -> list[Any]:
    """The exported file's three output maps for ``inputs`` (numpy arrays)."""
    torch = _torch()
    if fmt == "torchscript":
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # torch.jit's deprecation notice
            module = torch.jit.load(str(path))
        with torch.no_grad():
            return [o.numpy() for o in module(*inputs)]
    import onnxruntime as ort

    runtime = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return runtime.run(list(OUTPUTS), {n: x.numpy() for n, x in zip(names, inputs)})


def parity(net: Any, meta: dict[str, Any], path: str | Path, fmt: str, seeds: tuple[int, ...] = (1, 2)
           ) -> dict[str, float]:
    """Max |diff| of each output between the exported file and the eager forward, over random inputs
    that differ from the traced ones."""
    import numpy as np

    torch = _torch()
    names = input_names(meta["net"]["modalities"])
    module = batch_one(net, names)
    worst = dict.fromkeys(OUTPUTS, 0.0)
    for seed in seeds:
        inputs = example_inputs(names, meta["net"]["template_size"], meta["net"]["search_size"], seed=seed)
        with torch.no_grad():
            reference = [o.numpy() for o in module(*inputs)]
        for name, ours, ref in zip(OUTPUTS, run_exported(path, fmt, inputs, names), reference):
            worst[name] = max(worst[name], float(np.abs(np.asarray(ours) - ref).max()))
    return worst
