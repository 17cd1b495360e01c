"""Our network exported to ONNX (``python -m src.export format=onnx``), run by ONNX Runtime behind the
interface :class:`~src.tracking.tracker.OSTrackTracker` drives, so the same tracking loop (crops,
Hanning window, box update) runs either backend:

    python -m src.evaluate tracker=onnx tracker.factory.model_path=net.onnx
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch

# the ONNX metadata key that holds the network's config and tracking settings (written by src.export)
METADATA_KEY = "rgbt_config"


class OnnxNetwork(torch.nn.Module):
    """An ONNX Runtime session (CPU) with the network's call interface: keyword tensors in, a dict
    ``{score_map, size_map, offset_map}`` out, ``decode`` and the size/modality settings.

    Args:
        path: the ``.onnx`` file ``src.export`` wrote (its metadata holds the network's config).
        threads: ONNX Runtime's intra-op threads (None: its default, one per core).
    """

    batch_one = True  # exported at batch 1: OSTrackTracker feeds a mirrored view (hflip) as a second call

    def __init__(self, path: str | Path, threads: int | None = None):
        super().__init__()
        import onnxruntime as ort

        path = Path(str(path))
        if not path.is_file():
            raise FileNotFoundError(f"{path}: no such ONNX file")
        options = ort.SessionOptions()
        if threads:
            options.intra_op_num_threads = int(threads)
            options.inter_op_num_threads = 1
        self.session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        metadata = self.session.get_modelmeta().custom_metadata_map
        if METADATA_KEY not in metadata:
            raise ValueError(f"{path}: no '{METADATA_KEY}' metadata (not written by python -m src.export)")
        meta = json.loads(metadata[METADATA_KEY])
        self.config: dict[str, Any] = meta["net"]
        self.tracker_settings: dict[str, Any] = meta.get("tracker") or {}
        self.template_size = int(self.config["template_size"])
        self.search_size = int(self.config["search_size"])
        self.modalities = list(self.config["modalities"])
        self.input_names = [i.name for i in self.session.get_inputs()]
        self.output_names = [o.name for o in self.session.get_outputs()]

    def forward(self, **inputs: torch.Tensor) -> dict[str, torch.Tensor]:
        feeds = {name: np.ascontiguousarray(inputs[name].detach().cpu().numpy()) for name in self.input_names}
        outputs = self.session.run(self.output_names, feeds)
        return {name: torch.from_numpy(value) for name, value in zip(self.output_names, outputs)}

    @staticmethod
    def decode(score_map: torch.Tensor, size_map: torch.Tensor, offset_map: torch.Tensor) -> torch.Tensor:
        from src.models.network import TrackerNet

        return TrackerNet.decode(score_map, size_map, offset_map)


def onnx_tracker(model_path: str | Path | None, threads: int | None = None, **kwargs: Any):
    """An :class:`~src.tracking.tracker.OSTrackTracker` on an exported ONNX network; tracking settings
    not given in ``kwargs`` come from the file (the checkpoint's ``model.tracker``)."""
    from src.tracking.tracker import OSTrackTracker

    if not model_path:
        raise ValueError("tracker=onnx needs tracker.factory.model_path=FILE.onnx (python -m src.export)")
    net = OnnxNetwork(model_path, threads=threads)
    settings = {**net.tracker_settings, **kwargs}
    tracker = OSTrackTracker(net, device="cpu", **settings)
    tracker.ckpt_path = str(model_path)
    return tracker
