"""Tracking fixtures on disk and in memory: a tiny network and its checkpoint in TrackerLitModule's format,
a tiny RGBT234-layout benchmark, random frames, a stand-in network whose box a test can predict."""

from __future__ import annotations

from pathlib import Path

import cv2
import numpy as np
import torch
from torch import nn

from src.data.sequence import INFRARED, VISIBLE


def tiny_net_cfg(variant: str = "cmc", template_mask: str = "box") -> dict:
    """A network small enough to run a frame in milliseconds: 2x2 template and 4x4 search patches."""
    dual = variant != "single"
    return {
        "variant": variant,
        "modalities": [VISIBLE, INFRARED] if dual else [VISIBLE],
        "template_size": 32, "search_size": 64, "patch_size": 16,
        "backbone": {"embed_dim": 32, "depth": 2, "num_heads": 2, "ce_loc": [1], "ce_keep_ratio": [0.75],
                     "ce_template_mask": template_mask, "sort_kept": True},
        "fusion": {"stages": ["cmc"] if dual else []},
        "head": {"channels": 16},
    }


def tiny_net(variant: str = "cmc") -> nn.Module:
    from src.models import build_network

    torch.manual_seed(0)
    return build_network(tiny_net_cfg(variant)).eval()


def save_checkpoint(path: Path, variant: str = "cmc", seed: int | None = 7) -> Path:
    """A checkpoint as TrackerLitModule saves it: ``net`` hyperparameter, ``net.``-prefixed weights."""
    net = tiny_net(variant)
    hparams = {"net": tiny_net_cfg(variant), "variant": variant}
    if seed is not None:
        hparams["seed"] = seed
    torch.save({"hyper_parameters": hparams,
                "state_dict": {f"net.{k}": v for k, v in net.state_dict().items()}}, path)
    return path


def sequence_boxes(num_frames: int, start=(20.0, 16.0), step=(3.0, 2.0), size=(18.0, 14.0)) -> np.ndarray:
    t = np.arange(num_frames)[:, None]
    return np.concatenate([np.asarray(start) + t * np.asarray(step), np.tile(size, (num_frames, 1))], 1)


def write_benchmark(root: Path, split: str = "test", num_sequences: int = 3, num_frames: int = 6,
                    image_size=(96, 72), frames: bool = True) -> Path:
    """A tiny RGBT234-layout benchmark (``root/split/<seq>/...``) with ``normal``/``extreme`` subsets:
    a bright textured square moving over noise, warm (bright) in the thermal frames."""
    base = root / split
    rng = np.random.default_rng(0)
    width, height = image_size
    names = [f"seq{i}" for i in range(num_sequences)]
    for i, name in enumerate(names):
        folder = base / name
        boxes = sequence_boxes(num_frames, start=(20.0 + 4 * i, 16.0 + 2 * i))
        for modality, suffix, offset in ((VISIBLE, "v", 0.0), (INFRARED, "i", 1.0)):
            gt = boxes + np.array([offset, 0, 0, 0])
            np.savetxt(folder / f"{modality}.txt" if folder.exists() else _mk(folder) / f"{modality}.txt",
                       gt, fmt="%.1f", delimiter=",")
            if not frames:
                continue
            (folder / modality).mkdir(parents=True, exist_ok=True)
            for t, (x, y, w, h) in enumerate(gt):
                image = rng.integers(0, 60, (height, width, 3), dtype=np.uint8)
                image[int(y):int(y + h), int(x):int(x + w)] = 200 if modality == INFRARED else (40, 220, 90)
                cv2.imwrite(str(folder / modality / f"{t + 1:05d}{suffix}.jpg"), image)
    (base / "subsets").mkdir(parents=True, exist_ok=True)
    (base / "subsets" / "normal.txt").write_text("\n".join(names[:1]) + "\n")
    (base / "subsets" / "extreme.txt").write_text("\n".join(names[1:]) + "\n")
    return root


def _mk(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def read_sequences(root: Path, split: str = "test"):
    from src.data.readers import get_reader

    reader = get_reader("rgbt234", root, split=split)
    return reader.sequences(), reader.subsets()


def random_frames(modalities, size=(120, 160), seed=0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {m: rng.integers(0, 255, (*size, 3), dtype=np.uint8) for m in modalities}


class FixedBoxNet(nn.Module):
    """Stand-in network whose score peak is the crop centre and whose box is ``rel_size`` of the
    search crop side (one value: a square; ``(w, h)``: that shape): lets a test predict exactly where
    the tracker must put the box."""

    def __init__(self, rel_size: float | tuple[float, float], grid: int = 4, template_size: int = 32,
                 search_size: int = 64):
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(()))
        self.rel_size, self.grid = rel_size, grid
        self.template_size, self.search_size, self.modalities = template_size, search_size, [VISIBLE]
        self.calls = 0

    def forward(self, template_visible, search_visible, template_box=None, **_):
        self.calls += 1
        g, batch = self.grid, search_visible.shape[0]  # batch 2 with hflip: the crop, then its mirror image
        score = torch.zeros(batch, 1, g, g)
        score[..., g // 2, g // 2] = 1.0  # peak at cell (g/2, g/2): its corner is the crop centre
        rel_w, rel_h = (self.rel_size, self.rel_size) if np.isscalar(self.rel_size) else self.rel_size
        size = torch.tensor([rel_w, rel_h]).view(1, 2, 1, 1).expand(batch, 2, g, g).contiguous()
        offset = torch.zeros(batch, 2, g, g)
        return {"score_map": score, "size_map": size, "offset_map": offset}

    @staticmethod
    def decode(score_map, size_map, offset_map):
        from src.models.network import TrackerNet

        return TrackerNet.decode(score_map, size_map, offset_map)
