"""The LightningDataModule: training pairs, validation pairs, and sequences for tracking.

Determinism: every sample is drawn from its own generator seeded by ``(seed, stream, key)``,
where ``key`` runs over ``[epoch * samples, (epoch + 1) * samples)``; the keys are handed out by
the sampler in the main process, so the batches are the same whatever ``num_workers`` is.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from functools import cached_property
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from src.data import open_benchmark
from src.data.photo_pairs import PhotoPairConfig, PhotoPairDataset
from src.data.processing import Augmentation, PairProcessing
from src.data.sampler import CausalPairSampler
from src.data.sequence import INFRARED, VISIBLE, Sequence, modalities_to_read, with_stand_ins
from src.data.transforms import ImageReadError, Jitter, check_same_size, jpeg_round_trip, read_image

log = logging.getLogger(__name__)

TRAIN_STREAM, VAL_STREAM, ONLINE_STREAM, MIX_STREAM, PHOTO_STREAM, PHOTO_MIX_STREAM = 0, 1, 2, 3, 4, 5


class EpochKeySampler(Sampler[int]):
    """Yields ``epoch * length + i`` for ``i < length``: fresh pairs every epoch, reproducible from
    the seed. ``epoch_fn`` gives the epoch being started (the fit loop's epoch counter, so a resumed
    run replays exactly the pairs an uninterrupted one would see); without it the epoch given to
    ``set_epoch``, else a counter of ``__iter__`` calls. ``fixed=True`` always yields epoch 0's keys
    (validation).

    ``set_epoch`` alone is not enough under Lightning (2.6): its fit loop calls it on the loader's
    sampler at each epoch start (``FitLoop.on_advance_start``), but the first iterator of every
    ``fit`` (the resumed epoch's, too) is made earlier, in ``FitLoop.setup_data``, and with workers it
    draws its first keys right then, before any ``set_epoch``. The resumed epoch would replay epoch 0.
    """

    def __init__(self, length: int, epoch_fn=None, fixed: bool = False):
        self.length = int(length)
        self.epoch_fn = epoch_fn
        self.fixed = fixed
        self.calls = 0
        self.epoch: int | None = None

    def set_epoch(self, epoch: int) -> None:
        self.epoch = int(epoch)

    def current_epoch(self) -> int:
        if self.fixed:
            return 0
        epoch = self.epoch_fn() if self.epoch_fn is not None else None
        if epoch is None:
            epoch = self.epoch
        return self.calls if epoch is None else int(epoch)

    def __iter__(self) -> Iterator[int]:
        start = self.current_epoch() * self.length
        self.calls += 1
        return iter(range(start, start + self.length))

    def __len__(self) -> int:
        return self.length


def with_infrared_keys(sample: dict[str, torch.Tensor], modalities: tuple[str, ...]
                       ) -> dict[str, torch.Tensor]:
    """A single-modal sample gets the batch keys the contract names: the infrared slots carry the visible
    crops (the network ignores them)."""
    if INFRARED not in modalities:
        for part in ("template", "search"):
            sample[f"{part}_{INFRARED}"] = sample[f"{part}_{VISIBLE}"]
    return sample


class PairDataset(Dataset):
    """Training pairs drawn from sequences. ``dataset[key]`` is deterministic in ``(seed, key)``.

    Returns a dict of tensors: ``template_visible``/``template_infrared`` ``[3, Hz, Wz]``,
    ``search_visible``/``search_infrared`` ``[3, Hx, Wx]``, ``template_box``/``search_box`` ``[4]``
    (cxcywh, normalised to the crop), ``heatmap`` ``[Hx/16, Wx/16]``.
    """

    def __init__(
        self,
        sequences: list[Sequence],
        processing: PairProcessing,
        seed: int,
        stream: int,
        length: int,
        modalities: tuple[str, ...],
        max_gap: int,
        max_tries: int = 20,
    ):
        self.sequences = sequences
        self.sampler = CausalPairSampler(sequences, max_gap=max_gap)
        self.processing = processing
        self.seed = int(seed)
        self.stream = stream
        self.length = int(length)
        self.modalities = tuple(modalities)
        self.max_tries = max_tries

    def __len__(self) -> int:
        return self.length

    def _frames(self, sequence: Sequence, index: int) -> dict[str, np.ndarray]:
        wanted = (VISIBLE, INFRARED) if INFRARED in self.modalities else (VISIBLE,)
        read = modalities_to_read(sequence.frames, wanted)
        images = {m: read_image(sequence.frames[m][index]) for m in read}
        if len(images) > 1:
            check_same_size(images, {m: sequence.frames[m][index] for m in images})
        # single-modal data: the infrared slots carry the visible crops (the network ignores them)
        return with_stand_ins(images, wanted)

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.stream, int(key)])
        for _ in range(self.max_tries):
            seq_index, z_index, x_index = self.sampler.sample(rng)
            sequence = self.sequences[seq_index]
            try:
                template, search = self._frames(sequence, z_index), self._frames(sequence, x_index)
            except ImageReadError as error:
                raise ImageReadError(f"{error} (sequence {sequence.name})") from None
            boxes = sequence.gt
            sample = self.processing(template, boxes[z_index], search, boxes[x_index], rng)
            if sample is not None:
                return with_infrared_keys(sample, self.modalities)
        raise RuntimeError(
            f"no valid training pair after {self.max_tries} draws (key {key}); "
            f"are the boxes far too small or outside the frames?"
        )


class OnlinePairDataset(Dataset):
    """Training pairs from scenes the synthetic generator draws on the fly: every key is a new scene,
    rendered at two frames only (template, then a search frame at most ``max_gap`` later), so the
    training data never runs out. ``dataset[key]`` is deterministic in ``(seed, key)``; the frames go
    through the same JPEG encoding as the written benchmark, so both look alike to the network.

    Args:
        generate: the generator's parameters (``conf/data/synthetic.yaml``, ``generate``), with the
            online overrides applied (wider target sizes and aspect ratios, for instance).
        frames: length of each drawn scene (its motion, scale change and occlusion play out over it;
            ``data.online.frames``).
        lure: rate of search crops centred on the distractor nearest the target instead of on the target
            (``data.online.lure``; 0: none, no random draw), when that distractor's centre lies within
            ``lure_reach`` target sides (``sqrt(w h)``) of the target's: the crop a tracker cuts once it has
            drifted towards a look-alike, with the target still inside it, so the labels teach the network
            to find the target away from the crop's centre when something like it sits there.
        Others as :class:`PairDataset`.
    """

    def __init__(self, generate: Mapping, processing: PairProcessing, seed: int, stream: int, length: int,
                 modalities: tuple[str, ...], max_gap: int, frames: int, max_tries: int = 20,
                 lure: float = 0.0, lure_reach: float = 1.5):
        from src.data import synthetic

        self.generate = synthetic.resolve_config(generate)
        self.processing = processing
        self.seed, self.stream, self.length = int(seed), stream, int(length)
        self.modalities = tuple(modalities)
        self.max_gap, self.frames, self.max_tries = int(max_gap), int(frames), max_tries
        if not 0.0 <= lure <= 1.0:
            raise ValueError(f"data.online.lure must be in [0, 1], got {lure}")
        self.lure, self.lure_reach = float(lure), float(lure_reach)

    def __len__(self) -> int:
        return self.length

    def render(self, rng: np.random.Generator
               ) -> tuple[dict, np.ndarray, dict, np.ndarray, np.ndarray | None]:
        """A new scene's template and search frames (modality -> ``[H, W, 3]`` uint8 RGB), their visible
        boxes ``ltwh``, and the centre to cut the search crop around (None: the target's; see ``lure``)."""
        from src.data import synthetic

        cfg = self.generate
        scene = synthetic.draw_scene(cfg, rng, "train", None, self.frames)
        z_index = int(rng.integers(0, self.frames - 1))
        x_index = int(rng.integers(z_index + 1, min(self.frames, z_index + self.max_gap + 1)))
        out, quality = [], self.generate["jpeg_quality"]
        for t in (z_index, x_index):
            visible, thermal, box = scene.frame(t, rng)
            images = {VISIBLE: jpeg_round_trip(visible, quality)}
            if INFRARED in self.modalities:
                images[INFRARED] = jpeg_round_trip(thermal, quality)
            out += [images, box.astype(np.float64)]
        centre = None
        if self.lure > 0 and rng.random() < self.lure:
            centre = nearest_centre(scene.distractor_boxes(x_index), out[3], self.lure_reach)
        return (*out, centre)

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        rng = np.random.default_rng([self.seed, self.stream, int(key)])
        for _ in range(self.max_tries):
            template, z_box, search, x_box, centre = self.render(rng)
            sample = self.processing(template, z_box, search, x_box, rng, search_centre=centre)
            if sample is not None:
                return with_infrared_keys(sample, self.modalities)
        raise RuntimeError(f"no valid online training pair after {self.max_tries} scenes (key {key})")


def nearest_centre(boxes: np.ndarray, target: np.ndarray, reach: float) -> np.ndarray | None:
    """The centre of the box of ``boxes`` (``[n, 4]`` ltwh) nearest ``target``'s centre, if within ``reach``
    target sides ``sqrt(w h)`` of it; else None."""
    if len(boxes) == 0:
        return None
    centres = boxes[:, :2] + boxes[:, 2:] / 2
    distance = np.linalg.norm(centres - (target[:2] + target[2:] / 2), axis=1)
    best = int(np.argmin(distance))
    side = float(np.sqrt(max(target[2] * target[3], 1e-9)))
    return centres[best] if distance[best] <= reach * side else None


class MixedPairs(Dataset):
    """``dataset[key]`` from ``online`` with probability ``fraction`` (decided by ``(seed, key)``), else
    from ``written``: fresh scenes and the written train split in one stream of keys."""

    def __init__(self, written: Dataset, online: Dataset, fraction: float, seed: int,
                 stream: int = MIX_STREAM):
        if not 0.0 <= fraction <= 1.0:
            raise ValueError(f"data.online.fraction must be in [0, 1], got {fraction}")
        self.written, self.online, self.fraction, self.seed = written, online, float(fraction), int(seed)
        self.stream = stream

    def __len__(self) -> int:
        return len(self.written)

    def __getitem__(self, key: int) -> dict[str, torch.Tensor]:
        draw = np.random.default_rng([self.seed, self.stream, int(key)]).random()
        return (self.online if draw < self.fraction else self.written)[key]


def _init_worker(worker_id: int) -> None:
    # samples carry their own generators (no seeding needed); one OpenCV thread per worker, as
    # the workers already run in parallel
    import cv2

    cv2.setNumThreads(1)


class TrackingDataModule(L.LightningDataModule):
    """Training/validation pairs and tracking sequences for one benchmark (a ``conf/data`` config).

    The benchmark keys (``name``, ``root``, ``splits``, ``generate``, ``reader``) say what to open
    (``src.data.open_benchmark``); ``dataset``/``protocol`` are for result tables and scoring.
    Pipeline keys: ``batch_size``, ``num_workers``, ``samples_per_epoch``, ``val_samples`` (validation
    pairs, the same every epoch), ``max_gap``, ``template_factor``, ``search_factor``,
    ``template_jitter``/``search_jitter`` (``{center, scale}``), ``augmentation``
    (``{hflip, brightness, grayscale}``). ``template_size``, ``search_size``, ``heatmap_stride`` (the
    head's ``model.net.head.stride``), ``heatmap_cell`` (the objective's ``model.loss.center_cell``),
    ``modalities`` and ``seed`` come from the training config. ``online`` (synthetic benchmark only):
    ``{fraction, frames, generate}``: that fraction of the training pairs comes from scenes the
    generator draws on the fly (``OnlinePairDataset``, ``generate`` overriding the benchmark's
    generation parameters), the rest from the written train split. ``photos`` (``{fraction, ...}``,
    :class:`~src.data.photo_pairs.PhotoPairConfig`): that fraction of all training pairs is cut from
    still photographs (``PhotoPairDataset``), any benchmark.

    The pipeline keys and the training config's have no defaults here: conf/data/pipeline/default.yaml
    and the model config hold them (:func:`build_datamodule` passes them all).
    """

    def __init__(
        self,
        name: str,
        root: str,
        *,
        template_size: int,
        search_size: int,
        modalities: list[str] | tuple[str, ...],
        seed: int,
        batch_size: int,
        num_workers: int,
        samples_per_epoch: int,
        val_samples: int,
        max_gap: int,
        template_factor: float,
        search_factor: float,
        template_jitter: Mapping,
        search_jitter: Mapping,
        augmentation: Mapping,
        heatmap_stride: int,
        heatmap_cell: str,
        pin_memory: bool,
        persistent_workers: bool,
        worker_context: str,
        splits: Mapping | None = None,
        dataset: str | None = None,
        protocol: str | None = None,
        generate: Mapping | None = None,
        reader: Mapping | None = None,
        online: Mapping | None = None,
        photos: Mapping | None = None,
    ):
        super().__init__()
        self.benchmark = {
            "name": name,
            "root": str(root),
            "splits": dict(splits or {}),
            "generate": dict(generate) if generate is not None else None,
            "reader": dict(reader or {}),
        }
        self.dataset_name = dataset or name
        self.protocol = protocol
        self.modalities = tuple(modalities)
        unknown = set(self.modalities) - {VISIBLE, INFRARED}
        if unknown:
            raise ValueError(f"modalities: unknown {sorted(unknown)} (expected visible / infrared)")
        self.seed = int(seed)
        self.batch_size = int(batch_size)
        self.num_workers = int(num_workers)
        self.samples_per_epoch = int(samples_per_epoch)
        self.val_samples = int(val_samples)
        self.max_gap = int(max_gap)
        self.pin_memory = pin_memory
        self.persistent_workers = persistent_workers
        self.worker_context = worker_context
        self.processing = PairProcessing(
            template_size=int(template_size),
            search_size=int(search_size),
            template_factor=float(template_factor),
            search_factor=float(search_factor),
            template_jitter=Jitter(**dict(template_jitter)),
            search_jitter=Jitter(**dict(search_jitter)),
            augmentation=Augmentation(**dict(augmentation)),
            heatmap_stride=int(heatmap_stride),
            heatmap_cell=str(heatmap_cell),
        )
        self.online = dict(online) if online else None
        if self.online is not None and self.benchmark["generate"] is None:
            raise ValueError("data.online needs a synthetic benchmark (a `generate` section) to draw "
                             "scenes from")
        self.photos = PhotoPairConfig.from_mapping(photos)
        self._sequences: dict[str, list[Sequence]] = {}
        self._subsets: dict[str, dict[str, list[str]]] = {}

    # -- benchmark access ----------------------------------------------------------------
    def prepare_data(self) -> None:
        """Generate the synthetic benchmark if the config asks for it (rank 0 only, once)."""
        if self.benchmark["generate"] is not None:
            from src.data import synthetic

            synthetic.ensure(self.benchmark["root"], self.benchmark["generate"])

    def reader(self, split: str):
        return open_benchmark(self.benchmark, split)

    def sequences(self, split: str) -> list[Sequence]:
        """The sequences of a stage (``train``, ``val``, ``test``), read once and cached."""
        if split not in self._sequences:
            reader = self.reader(split)
            self._sequences[split] = reader.sequences()
            self._subsets[split] = reader.subsets()
        return self._sequences[split]

    def subsets(self, split: str) -> dict[str, list[str]]:
        self.sequences(split)
        return self._subsets[split]

    # -- loaders -------------------------------------------------------------------------
    def _pairs(self, split: str, stream: int, count: int) -> PairDataset:
        return PairDataset(self.sequences(split), self.processing, self.seed, stream, count, self.modalities,
                           self.max_gap)

    @cached_property
    def train_dataset(self) -> Dataset:
        pairs: Dataset = self._pairs("train", TRAIN_STREAM, self.samples_per_epoch)
        if self.online is not None and float(self.online["fraction"]) > 0.0:
            generate = {**self.benchmark["generate"], **dict(self.online.get("generate") or {})}
            online = OnlinePairDataset(generate, self.processing, self.seed, ONLINE_STREAM,
                                       self.samples_per_epoch, self.modalities, self.max_gap,
                                       frames=int(self.online["frames"]),
                                       lure=float(self.online.get("lure", 0.0)))
            pairs = MixedPairs(pairs, online, float(self.online["fraction"]), self.seed)
        if self.photos.fraction > 0.0:
            photos = PhotoPairDataset(self.photos, self.processing, self.seed, PHOTO_STREAM,
                                      self.samples_per_epoch, self.modalities)
            pairs = MixedPairs(pairs, photos, self.photos.fraction, self.seed, PHOTO_MIX_STREAM)
        return pairs

    @cached_property
    def val_dataset(self) -> PairDataset:
        return self._pairs("val", VAL_STREAM, self.val_samples)

    def _loader(self, dataset: PairDataset, sampler: Sampler) -> DataLoader:
        workers = self.num_workers
        # spawned, not forked, workers: a forked child can deadlock inside OpenCV or OpenMP when
        # the parent has used their thread pools (seen here as a hung DataLoader); spawning
        # costs a few seconds of imports once per loader (persistent_workers keeps them)
        return DataLoader(
            dataset,
            batch_size=self.batch_size,
            sampler=sampler,
            num_workers=workers,
            pin_memory=self.pin_memory,
            drop_last=False,
            worker_init_fn=_init_worker,
            persistent_workers=self.persistent_workers and workers > 0,
            multiprocessing_context=self.worker_context if workers > 0 else None,
        )

    def _trainer_epoch(self) -> int | None:
        """The epoch whose keys the next iterator must hand out: the fit loop's count of processed
        epochs (what Lightning passes to ``set_epoch``). Not ``trainer.current_epoch``: on resume the
        fit loop creates the iterator, and dataloader workers prefetch its first keys, before it
        advances ``current_epoch`` past the restored epoch, so the resumed epoch would replay the
        previous one's pairs."""
        trainer = getattr(self, "trainer", None)
        if trainer is None:
            return None
        return int(trainer.fit_loop.epoch_progress.current.processed)

    def train_dataloader(self) -> DataLoader:
        sampler = EpochKeySampler(self.samples_per_epoch, epoch_fn=self._trainer_epoch)
        return self._loader(self.train_dataset, sampler)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_dataset, EpochKeySampler(self.val_samples, fixed=True))


def build_datamodule(cfg: Any) -> TrackingDataModule:
    """The datamodule for a composed training config's ``data``, at its network's crop sizes, modalities and
    label convention (what ``python -m src.train`` and the scripts that load training pairs build)."""
    import hydra

    net = cfg.model.net
    # the heatmap's centre cell is the objective's label convention, so the model config decides it
    # (conf/model/base.yaml holds its default)
    center_cell = cfg.model.loss.center_cell
    # the heatmap labels lie on the grid the head predicts on
    stride = (net.get("head") or {}).get("stride") or net.patch_size
    return hydra.utils.instantiate(cfg.data, template_size=net.template_size, search_size=net.search_size,
                                   modalities=list(net.modalities), seed=cfg.seed, heatmap_cell=center_cell,
                                   heatmap_stride=stride, _convert_="all")
