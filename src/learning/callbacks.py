"""Training callbacks: per-epoch reseeding (exact resume) and sample images for W&B.

No OpenCV here: these run in the training process, and OpenCV's thread pool, once started in a
process, deadlocks dataloader workers forked from it later (they call ``cv2.setNumThreads``).
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from lightning.pytorch import Callback, LightningModule, Trainer, seed_everything
from lightning.pytorch.callbacks import EMAWeightAveraging
from lightning.pytorch.loggers import WandbLogger

from src.data.transforms import MEAN, STD

log = logging.getLogger(__name__)


class EpochReseed(Callback):
    """Reseeds every RNG from ``(seed, epoch)`` at the start of each training epoch.

    Lightning does not save RNG states in checkpoints, so without this a run resumed from
    ``last.ckpt`` would draw different training pairs and drop-path masks than the uninterrupted
    run. With it, epoch ``k`` sees the same randomness however it was reached. The hook runs before
    the epoch's dataloader iterator (and its workers) is created.
    """

    def __init__(self, seed: int):
        self.seed = int(seed)

    def on_train_epoch_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        # distinct per rank, as seed_everything(workers=True) does for workers
        seed_everything(self.seed + 1000 * trainer.current_epoch + trainer.global_rank, workers=True,
                        verbose=False)


def _denormalize(image: torch.Tensor) -> np.ndarray:
    """``[3, H, W]`` ImageNet-normalised tensor -> ``[H, W, 3]`` uint8 RGB."""
    array = image.detach().float().cpu().numpy().transpose(1, 2, 0)
    return np.clip((array * STD + MEAN) * 255.0, 0, 255).astype(np.uint8)


def _score_image(score: torch.Tensor, size: int) -> np.ndarray:
    """``[Hf, Wf]`` score map in [0, 1] -> ``[size, size, 3]`` uint8 RGB heat image (nearest upsampling)."""
    from matplotlib import colormaps

    array = score.detach().float().cpu().numpy().clip(0, 1)
    cells = max(1, size // array.shape[0])
    array = np.repeat(np.repeat(array, cells, axis=0), cells, axis=1)
    heat = np.zeros((size, size), np.float32)
    heat[: array.shape[0], : array.shape[1]] = array[:size, :size]
    return (colormaps["jet"](heat)[..., :3] * 255).astype(np.uint8)


def _draw_box(image: np.ndarray, box_cxcywh: torch.Tensor, color: tuple[int, int, int]) -> np.ndarray:
    """Draw a 1-px rectangle (``cxcywh`` normalised to the image) into a copy of ``image``."""
    # not torchvision's draw_bounding_boxes: where y1 == y2 its PIL rectangle draws two rows, not one
    size = image.shape[0]
    cx, cy, w, h = (float(v) * size for v in box_cxcywh)
    x1, y1 = (int(np.clip(round(v), 0, size - 1)) for v in (cx - w / 2, cy - h / 2))
    x2, y2 = (int(np.clip(round(v), 0, size - 1)) for v in (cx + w / 2, cy + h / 2))
    image = image.copy()
    image[y1, x1:x2 + 1] = image[y2, x1:x2 + 1] = color
    image[y1:y2 + 1, x1] = image[y1:y2 + 1, x2] = color
    return image


def render_samples(batch: dict[str, torch.Tensor], out: dict[str, torch.Tensor], count: int) -> np.ndarray:
    """One row per sample: template | search (ground truth green, prediction red) | score map,
    visible then infrared. Returns ``[rows * Hx, cols, 3]`` uint8 RGB."""
    search_size = batch["search_visible"].shape[-1]
    rows = []
    for i in range(min(count, batch["search_visible"].shape[0])):
        tiles = []
        for modality in ("visible", "infrared"):
            template = _denormalize(batch[f"template_{modality}"][i])
            pad = np.zeros((search_size, template.shape[1], 3), np.uint8)
            pad[: template.shape[0]] = template
            search = _denormalize(batch[f"search_{modality}"][i])
            search = _draw_box(search, batch["search_box"][i], (0, 255, 0))
            search = _draw_box(search, out["pred_boxes"][i], (255, 0, 0))
            tiles += [pad, search]
        tiles.append(_score_image(out["score_map"][i, 0], search_size))
        rows.append(np.concatenate(tiles, axis=1))
    return np.concatenate(rows, axis=0)


class SampleImages(Callback):
    """Every ``every_n_epochs`` epochs, renders the first training batch's predictions (template |
    search | score map, both modalities) to ``dirpath/epoch_XXX.png`` and to W&B (settings:
    conf/callbacks/default.yaml, ``sample_images``)."""

    def __init__(self, dirpath: str, every_n_epochs: int, count: int):
        self.dirpath = Path(dirpath)
        self.every_n_epochs = max(1, int(every_n_epochs))
        self.count = count

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        if batch_idx != 0 or trainer.current_epoch % self.every_n_epochs or not trainer.is_global_zero:
            return
        was_training = pl_module.training
        pl_module.eval()
        with torch.no_grad():
            out = pl_module(batch, keep_ratio=None)
        pl_module.train(was_training)
        image = render_samples(batch, out, self.count)
        self.dirpath.mkdir(parents=True, exist_ok=True)
        path = self.dirpath / f"epoch_{trainer.current_epoch:03d}.png"
        from matplotlib import image as mpimg

        mpimg.imsave(path, image)
        for logger in trainer.loggers:
            if isinstance(logger, WandbLogger):
                logger.log_image("samples", images=[image], step=trainer.global_step,
                                 caption=["template | search (gt green, pred red), visible then infrared | "
                                          "score map"])


class WallClockCheckpoints(Callback):
    """Saves ``wall_<M>min.ckpt`` when the run's wall time (from the start of fitting) passes each of
    ``minutes``: the checkpoints of a time-to-accuracy curve (scored afterwards with
    ``python -m src.evaluate ckpt_path=...``). Checked after every training batch; a resumed run counts
    from its own start."""

    def __init__(self, dirpath: str, minutes: list[float]):
        self.dirpath = Path(dirpath)
        self.minutes = sorted(float(m) for m in minutes)
        self.start: float | None = None

    def on_fit_start(self, trainer: Trainer, pl_module: LightningModule) -> None:
        import time

        self.start = time.perf_counter()

    def on_train_batch_end(self, trainer: Trainer, pl_module: LightningModule, outputs, batch,
                           batch_idx: int) -> None:
        import time

        if self.start is None or not self.minutes:
            return
        elapsed = (time.perf_counter() - self.start) / 60
        while self.minutes and elapsed >= self.minutes[0]:
            mark = self.minutes.pop(0)
            path = self.dirpath / f"wall_{mark:g}min.ckpt"
            trainer.save_checkpoint(str(path))
            log.info("wall-clock checkpoint at %.1f min (step %d): %s", elapsed, trainer.global_step, path)


class EMAWeights(EMAWeightAveraging):
    """An exponential moving average of the weights (Lightning's :class:`EMAWeightAveraging`), with the
    averaged weights also in place while this module tracks the validation sequences.

    Lightning swaps the averaged weights in at ``on_validation_epoch_start`` and back at
    ``on_validation_epoch_end``; callbacks' hooks run before the module's, so the module's own
    ``on_validation_epoch_end`` (where :class:`~src.learning.module.TrackerLitModule` tracks the
    validation split) would see the raw weights. Here they are swapped back at ``on_validation_end``,
    after it. Checkpoints hold the averaged weights under ``state_dict`` (what ``src.evaluate`` and the
    end-of-run test track) and the raw ones under ``current_model_state`` (what a resumed run trains on).
    """

    def on_validation_epoch_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        pass  # the module tracks the validation split in its own epoch-end hook, after this one

    def on_validation_end(self, trainer: Trainer, pl_module: LightningModule) -> None:
        if self._average_model is not None:
            self._swap_models(pl_module)
