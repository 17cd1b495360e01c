"""The calibrated world (``generate.world: calibrated``): real trajectories, real appearance, thermal that
behaves like thermal. A :class:`CalibratedScene` has the interface of the procedural
:class:`~src.data.synthetic.scene.Scene` (``frame(t, rng)``, ``shift``, ``attrs``) and is drawn up front:

- the target's boxes: a window of a real annotation (:mod:`.sources`), rescaled into the frame, then the
  camera's zoom (CM) about the target's mean centre; boxes leaving the frame are clipped to its visible part;
- the camera: a photograph of the asset pack (:mod:`.assets`) as the scene, cutouts scattered on it as
  clutter, seen through a camera that drifts or shakes (CM) and zooms (CM);
- the target: a cutout whose aspect ratio is near the annotation's (people, animals, vehicles, things),
  or, for tall targets, an articulated walker (legs and arms swinging with the distance walked); every
  target sways and rotates in-plane a little (much more with DEF), and is stretched to its box each frame;
- distractors: another object of the target's class on another real trajectory, a cold look-alike (the
  target's cutout recoloured: a picture of it) and a warm object of another class; BC adds two;
- PO/HO: an occluder (a cutout of a building, a plant or a vehicle) crossing or parking over the target;
- visible: illumination drift, LI (dark, noisy), motion blur of a fast target (MB, or when it moves fast);
- thermal (:mod:`.thermal`): a temperature field in degC, from the ambient, the photo's surfaces (sunlit and
  dark ones differ) and each object's own temperature (people and animals warm, engines hot, things near
  the ambient), with little texture; TC: the target's temperature meets its local background's, within
  ``crossover_gap`` degC; then halo, 16-bit counts with column and row banding and noise, automatic gain
  to 8-bit; the thermal camera sees the scene shifted by the misregistration (infrared.txt = visible.txt
  + shift, as RGBT234's two files differ).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from dataclasses import dataclass

import cv2
import numpy as np

from src.data.synthetic import assets, sources, thermal
from src.data.synthetic.motion import camera_path
from src.data.synthetic.render import RGB, TEMPERATURE, motion_blur, paste
from src.data.synthetic.scene import draw_misregistration
from src.data.synthetic.textures import smooth_noise
from src.utils.boxes import clip_ltwh, ltwh_to_xyxy, xyxy_to_ltwh

MARGIN = 40  # canvas border the camera can drift into
TALL = 0.6  # w/h below this: a tall target (a walker, mostly)
LR_SIDE = 12.0  # px: a target whose median sqrt(w h) is below this is a low-resolution one (LR)


@dataclass
class Body:
    """An object of the scene: its boxes over time, how it looks and how warm it is."""

    boxes: np.ndarray  # [T, 4] float x, y, w, h in the visible frame
    cutout: assets.Cutout | None  # None: the articulated walker
    colors: np.ndarray  # [3, 3] walker clothes, skin (RGB); for a cutout, a colour shift
    temperature: float  # degC, its surface
    hot_spot: float  # degC above its surface (head, engine)
    sway: float  # in-plane rotation amplitude, degrees
    phase: float
    sprite: np.ndarray | None = None  # a cutout's sprite, made once (a walker's changes every frame)
    front: bool = False  # drawn in front of the target (a distractor passing between it and the camera)

    @classmethod
    def still(cls, cutout: assets.Cutout, colors: np.ndarray, temperature: float) -> Body:
        """A cutout with no path, hot spot or sway of its own (clutter, the occluder)."""
        return cls(np.zeros((1, 4)), cutout, colors, temperature, 0.0, 0.0, 0.0)

    @functools.cached_property
    def walked(self) -> np.ndarray:
        """``[T]`` how far its box has moved sideways by each frame (a walker's gait follows it)."""
        return np.concatenate([[0.0], np.cumsum(np.abs(np.diff(self.boxes[:, 0])))])


def draw_boxes(
    cfg: Mapping,
    rng: np.random.Generator,
    split: str,
    index: int | None,
    frames: int,
    sequences: int | None = None,
) -> tuple[np.ndarray, sources.Track]:
    """The target's ``[T, 4]`` float boxes in the frame before the camera's zoom: a real window, rescaled,
    mirrored half the time. ``index``/``sequences``: the sequence's place in a written split (its stratum of
    the pools sorted by aspect ratio), None for a scene drawn on the fly."""
    pools = list(cfg["sources"].get(split, cfg["sources"]["train"]))
    stratum = None if index is None or not sequences else (index, sequences)
    track = sources.pick_track(rng, pools, stratum)
    window = sources.cut_window(rng, track, frames, int(cfg["max_stride"]), int(cfg["window_tries"]))
    flip = bool(rng.random() < 0.5)
    return sources.rescale(window, track.frame_size, int(cfg["width"]), int(cfg["height"]), flip), track


def with_occlusion(rng: np.random.Generator, attrs: set[str], probability: float) -> set[str]:
    """``attrs``, with PO added at ``probability`` when it has neither PO nor HO (most real sequences have an
    occlusion: 82-88 % of RGBT234's and LasHeR's are marked)."""
    attrs = set(attrs)
    if not {"PO", "HO"} & attrs and rng.random() < probability:
        attrs = (attrs - {"NO"}) | {"PO"}
    return attrs


def zoom_track(rng: np.random.Generator, frames: int, on: bool) -> np.ndarray:
    """``[T]`` camera zoom factors: 1, or (CM) a smooth ramp to x0.7..x1.5."""
    if not on:
        return np.ones(frames)
    end = float(np.exp(rng.uniform(math.log(0.7), math.log(1.5))))
    t = np.linspace(0, 1, frames)
    return end ** (0.5 - 0.5 * np.cos(math.pi * t))


def apply_zoom(boxes: np.ndarray, zoom: np.ndarray, centre: np.ndarray) -> np.ndarray:
    out = boxes.copy()
    c = boxes[:, :2] + boxes[:, 2:] / 2
    out[:, 2:] = boxes[:, 2:] * zoom[:, None]
    out[:, :2] = centre + (c - centre) * zoom[:, None] - out[:, 2:] / 2
    return out


def clip_box(box: np.ndarray, width: int, height: int) -> np.ndarray:
    """The visible part of a box, its corners rounded to pixels, as integers (at least 2 px a side)."""
    corners = np.floor(ltwh_to_xyxy(np.asarray(box, np.float64)) + 0.5)
    return clip_ltwh(xyxy_to_ltwh(corners), width, height, 2.0).astype(np.int64)


@dataclass
class Trajectory:
    """The target's boxes in a scene: ``boxes`` ``[T, 4]`` float (after the camera's zoom, possibly reaching
    out of the frame), ``gt`` ``[T, 4]`` int64 (their visible part: the written ground truth), the camera's
    ``zoom`` ``[T]`` about ``centre`` and the annotation it comes from."""

    boxes: np.ndarray
    gt: np.ndarray
    zoom: np.ndarray
    centre: np.ndarray
    source: sources.Track

    @property
    def in_view(self) -> np.ndarray:
        """``[T]`` the share of each box inside the frame."""
        area = np.maximum(self.boxes[:, 2] * self.boxes[:, 3], 1e-6)
        return np.clip(self.gt[:, 2] * self.gt[:, 3] / area, 0, 1)


def draw_trajectory(
    cfg: Mapping,
    rng: np.random.Generator,
    attrs: set[str],
    split: str,
    index: int | None,
    frames: int,
    sequences: int | None = None,
) -> Trajectory:
    """The target's real window (:func:`draw_boxes`), then the camera's zoom (CM) about its mean centre and
    the clipping to the frame: a scene's first draws, which the calibration repeats without rendering."""
    boxes, track = draw_boxes(cfg, rng, split, index, frames, sequences)
    zoom = zoom_track(rng, frames, "CM" in attrs)
    centre = (boxes[:, :2] + boxes[:, 2:] / 2).mean(axis=0)
    boxes = apply_zoom(boxes, zoom, centre)
    gt = np.stack([clip_box(b, int(cfg["width"]), int(cfg["height"])) for b in boxes])
    return Trajectory(boxes, gt, zoom, centre, track)


def walker_sprite(colors: np.ndarray, phase: float, temperature: float, hot: float) -> np.ndarray:
    """An articulated pedestrian ``[96, 40, 5]`` (RGB, degC, alpha): head, torso, arms and legs swinging
    with ``phase`` (radians of the gait cycle)."""
    H, W = 96, 40
    rgb = np.zeros((H, W, 3), np.float32)
    temp = np.zeros((H, W), np.float32)
    alpha = np.zeros((H, W), np.float32)
    shirt, trousers, skin = (tuple(float(v) for v in c) for c in colors)
    swing = math.sin(phase)

    def limb(top, length, angle, width, colour, warmth):
        x0, y0 = top
        x1 = x0 + length * math.sin(angle)
        y1 = y0 + length * math.cos(angle)
        p0, p1 = (round(x0), round(y0)), (round(x1), round(y1))
        cv2.line(rgb, p0, p1, colour, width, cv2.LINE_AA)
        cv2.line(temp, p0, p1, warmth, width, cv2.LINE_AA)
        cv2.line(alpha, p0, p1, 1.0, width, cv2.LINE_AA)

    # back arm and leg first, so the front ones are drawn over them
    limb((20, 24), 28, -0.45 * swing, 5, shirt, temperature - 1)
    limb((20, 52), 42, -0.4 * swing, 7, trousers, temperature - 2)
    cv2.ellipse(rgb, (20, 38), (8, 17), 0, 0, 360, shirt, -1, cv2.LINE_AA)
    cv2.ellipse(temp, (20, 38), (8, 17), 0, 0, 360, temperature, -1, cv2.LINE_AA)
    cv2.ellipse(alpha, (20, 38), (8, 17), 0, 0, 360, 1.0, -1, cv2.LINE_AA)
    limb((20, 52), 42, 0.4 * swing, 7, trousers, temperature - 2)
    limb((20, 24), 28, 0.45 * swing, 5, shirt, temperature - 1)
    cv2.circle(rgb, (20, 12), 7, skin, -1, cv2.LINE_AA)
    cv2.circle(temp, (20, 12), 7, temperature + hot, -1, cv2.LINE_AA)
    cv2.circle(alpha, (20, 12), 7, 1.0, -1, cv2.LINE_AA)
    return np.concatenate([rgb, temp[..., None], np.clip(alpha, 0, 1)[..., None]], axis=2)


def cutout_sprite(body: Body, ambient_detail: float) -> np.ndarray:
    """A cutout as ``[h, w, 5]`` (RGB recoloured by ``body.colors[0]``, degC, alpha): its temperature is its
    surface plus a little of its own (blurred) luminance, ``ambient_detail`` degC per unit, and, for
    engines, a hot spot low in the body."""
    rgba = body.cutout.rgba
    rgb = np.clip(rgba[..., :3] + body.colors[0], 0, 255)
    temp = body.temperature + ambient_detail * body.cutout.detail
    if body.hot_spot:
        temp = temp + body.hot_spot * hot_spot(*temp.shape)
    return np.concatenate([rgb, temp[..., None], rgba[..., 3:4]], axis=2).astype(np.float32)


@functools.lru_cache(maxsize=512)
def hot_spot(h: int, w: int) -> np.ndarray:
    """``[h, w]`` a smooth spot in 0-1, low and to one side (an engine, an exhaust)."""
    yy, xx = np.mgrid[0:h, 0:w].astype(np.float32)
    return np.exp(-(((xx - 0.3 * w) / (0.18 * w)) ** 2 + ((yy - 0.7 * h) / (0.18 * h)) ** 2))


def deform(sprite: np.ndarray, angle: float, shear: float) -> np.ndarray:
    """In-plane rotation (degrees) and a horizontal shear of a sprite about its centre, same size."""
    h, w = sprite.shape[:2]
    matrix = cv2.getRotationMatrix2D((w / 2, h / 2), angle, 1.0)
    matrix[0, 1] += shear
    matrix[0, 2] -= shear * h / 2
    head = cv2.warpAffine(
        np.ascontiguousarray(sprite[..., :4]),
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    alpha = cv2.warpAffine(
        np.ascontiguousarray(sprite[..., 4]),
        matrix,
        (w, h),
        flags=cv2.INTER_LINEAR,
        borderMode=cv2.BORDER_CONSTANT,
    )
    return np.concatenate([head, alpha[..., None]], axis=2)


def fit_layer(sprite: np.ndarray, w: int, h: int) -> np.ndarray:
    head = cv2.resize(np.ascontiguousarray(sprite[..., :4]), (w, h), interpolation=cv2.INTER_AREA)
    alpha = cv2.resize(np.ascontiguousarray(sprite[..., 4]), (w, h), interpolation=cv2.INTER_AREA)
    return np.concatenate([head, alpha[..., None]], axis=2)


class CalibratedScene:
    """One scene of the calibrated world, ``frames`` frames, drawn from ``rng`` (see the module's text).
    ``frame(t, rng)`` renders frame ``t`` in any order; ``rng`` draws the sensor noise only."""

    def __init__(
        self,
        cfg: Mapping,
        rng: np.random.Generator,
        attrs: set[str],
        frames: int,
        split: str = "train",
        index: int | None = None,
        sequences: int | None = None,
    ) -> None:
        W, H, T = int(cfg["width"]), int(cfg["height"]), int(frames)
        self.width, self.height, self.frames = W, H, T
        self.attrs = with_occlusion(rng, attrs, float(cfg["occlusion_probability"]))
        self.crossover_gap = float(cfg["crossover_gap"])
        self.trajectory = draw_trajectory(cfg, rng, self.attrs, split, index, T, sequences)
        self.boxes, self.gt = self.trajectory.boxes, self.trajectory.gt
        self._derive_attributes()

        self.ambient = float(rng.uniform(0, 30))
        self.vis_canvas, self.temp_canvas = self._draw_background(rng, W + 2 * MARGIN, H + 2 * MARGIN)
        self.cam = camera_path(rng, T, "CM" in self.attrs, limit=MARGIN - 4)
        self.shift = draw_misregistration(rng, int(cfg["misregistration"])).astype(int)

        self.target = self._draw_body(rng, self.boxes, None, warm_class=None)
        self.heat = self._crossover(rng)
        self.distractors = self._draw_distractors(rng, cfg, split)
        self.occluder = self._draw_occluder(rng)
        self.gain = self._illumination(rng)
        self.halo = (float(rng.uniform(0.2, 0.7)), float(rng.uniform(3, 7)))
        self.optics = float(rng.uniform(0.6, 1.2))  # px, the thermal optics' blur
        self.columns = rng.normal(0, 0.12, W).astype(np.float32)
        self.noise_bank = rng.standard_normal((H + 24, W + 24, 4), dtype=np.float32)

    # -- drawing -----------------------------------------------------------------------------

    def _derive_attributes(self) -> None:
        """SC, FM and LR follow the trajectory (a real window decides them, not a draw)."""
        size = np.sqrt(self.gt[:, 2] * self.gt[:, 3])
        speed = sources.speeds(self.gt.astype(np.float64))
        for code, on in (
            ("SC", size.max() / size.min() > 2),
            ("FM", float(np.percentile(speed, 95)) > 0.2),
            ("LR", float(np.median(size)) < LR_SIDE),
        ):
            (self.attrs.add if on else self.attrs.discard)(code)

    def _draw_background(self, rng, cw: int, ch: int) -> tuple[np.ndarray, np.ndarray]:
        """A photograph (random crop, scale, mirror, colour cast) with cutouts scattered as clutter, and its
        temperature field: the ambient, surfaces by brightness, a large-scale gradient, clutter objects at
        their own temperatures; smooth (thermal has little texture)."""
        photos = assets.backgrounds()
        photo = photos[int(rng.integers(len(photos)))]
        scale = max(cw / photo.shape[1], ch / photo.shape[0]) * float(rng.uniform(1.0, 1.6))
        big = cv2.resize(
            photo,
            (math.ceil(photo.shape[1] * scale), math.ceil(photo.shape[0] * scale)),
            interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR,
        )
        x0 = int(rng.integers(0, big.shape[1] - cw + 1))
        y0 = int(rng.integers(0, big.shape[0] - ch + 1))
        vis = big[y0 : y0 + ch, x0 : x0 + cw].astype(np.float32)
        if rng.random() < 0.5:
            vis = vis[:, ::-1]
        vis = np.ascontiguousarray(vis * rng.uniform(0.8, 1.2, 3).astype(np.float32))
        lum = cv2.GaussianBlur(vis.mean(axis=2) / 255.0, (0, 0), 3.0)
        yy = np.linspace(-1, 1, ch, dtype=np.float32)[:, None]
        # solar loading: bright (sunlit) surfaces several degrees warmer than dark ones, up to 16 degC per
        # unit of brightness, so sunlit ground and walls can be as warm as a person
        temp = (
            self.ambient
            + float(rng.uniform(4, 16)) * (lum - lum.mean())
            + float(rng.uniform(1, 4)) * (smooth_noise(rng, ch, cw, 60)[..., 0] - 0.5)
            + float(rng.uniform(-3, 3)) * yy
        )
        temp = np.ascontiguousarray(temp, dtype=np.float32)
        clutter = assets.by_category(exclude=("people",))
        for _ in range(int(rng.integers(2, 7))):
            cut = clutter[int(rng.integers(len(clutter)))]
            side = float(rng.uniform(16, 60))
            w = max(4, round(side * math.sqrt(cut.aspect)))
            h = max(4, round(side / math.sqrt(cut.aspect)))
            body = Body.still(
                cut, rng.normal(0, 15, (3, 3)).astype(np.float32), self._temperature_of(rng, cut.category)
            )
            layer = fit_layer(cutout_sprite(body, 2.0), w, h)
            x, y = int(rng.integers(-w // 2, cw - w // 2)), int(rng.integers(-h // 2, ch - h // 2))
            paste(vis, layer, x, y, RGB)
            paste(temp[..., None], layer, x, y, TEMPERATURE)
        return vis, temp

    def _temperature_of(self, rng, category: str | None) -> float:
        """A surface temperature for an object of ``category`` (None: a walker)."""
        if category is None or category in assets.WARM:  # clothed bodies: skin 34 degC, clothes cooler
            return min(36.0, self.ambient + float(rng.uniform(3, 12)))
        if category in assets.ENGINES:
            return self.ambient + float(rng.uniform(2, 8))
        if category in assets.SUNLIT:  # walls, roofs, furniture in the sun or shade
            return self.ambient + float(rng.uniform(-4, 12))
        return self.ambient + float(rng.uniform(-4, 6))

    def _draw_body(self, rng, boxes: np.ndarray, like: Body | None, warm_class: bool | None) -> Body:
        """The target (``like`` None) or an object of its class (``like`` given, ``warm_class`` True), or one
        of another class (``warm_class`` False)."""
        aspect = float(np.median(boxes[:, 2] / np.maximum(boxes[:, 3], 1e-6)))
        if like is not None and warm_class:  # the same class as the target
            if like.cutout is None:
                cutout = None
            else:
                same = assets.by_category((like.cutout.category,))
                cutout = same[int(rng.integers(len(same)))]
        elif aspect < TALL and like is None and rng.random() < 0.65:
            cutout = None  # a walker
        else:
            weights = {"people": 0.1, "animals": 0.35, "vehicles": 0.25} if like is None else {}
            pick = rng.random()
            group = None
            for name, p in weights.items():
                if pick < p:
                    group = (name,)
                    break
                pick -= p
            pool = assets.by_category(group) if group else assets.by_category(exclude=("people",))
            cutout = assets.nearest_aspect(rng, pool, aspect)
        skin = np.array([rng.uniform(120, 230), rng.uniform(80, 180), rng.uniform(60, 150)], np.float32)
        clothes = rng.uniform(20, 235, (2, 3)).astype(np.float32)
        colors = np.concatenate([clothes, skin[None]]) if cutout is None else rng.normal(0, 12, (3, 3))
        category = None if cutout is None else cutout.category
        temperature = self._temperature_of(rng, category)
        hot = float(rng.uniform(1, 3)) if cutout is None or category in assets.WARM else 0.0
        if category in assets.ENGINES:
            hot = float(rng.uniform(15, 45))
        sway = float(rng.uniform(6, 15) if "DEF" in self.attrs else rng.uniform(0, 4))
        return Body(
            boxes, cutout, colors.astype(np.float32), temperature, hot, sway, float(rng.uniform(0, 6.28))
        )

    def _crossover(self, rng) -> np.ndarray:
        """``[T]``: 1, or (TC) a dip to 0 over the middle of the sequence, where the target's temperature
        meets its local background's (0: the gap to it is at most ``crossover_gap``)."""
        heat = np.ones(self.frames, np.float32)
        if "TC" in self.attrs:
            t = np.linspace(0, 1, self.frames)
            start = rng.uniform(0.0, 0.3)
            ramp = np.clip((t - start) / 0.12, 0, 1) * np.clip((start + 0.6 - t) / 0.12, 0, 1)
            heat = (1 - ramp).astype(np.float32)
        return heat

    def crossover(self, t: int) -> bool:
        """Whether frame ``t`` is a thermal-crossover frame (TC: the target at its background temperature)."""
        return bool(self.heat[t] == 0.0)

    def _draw_distractors(self, rng, cfg: Mapping, split: str) -> list[Body]:
        n = int(rng.integers(cfg["distractors"][0], cfg["distractors"][1] + 1)) + (
            2 if "BC" in self.attrs else 0
        )
        out = []
        size = float(np.median(np.sqrt(self.boxes[:, 2] * self.boxes[:, 3])))
        for k in range(n):
            kind = (
                ("same", "lookalike", "warm")[k % 3]
                if k < 3
                else str(rng.choice(["same", "lookalike", "warm"]))
            )
            boxes, _ = draw_boxes(cfg, rng, split, None, self.frames)
            own = float(np.median(np.sqrt(boxes[:, 2] * boxes[:, 3])))
            factor = size / max(own, 1.0) * float(rng.uniform(0.75, 1.25))
            centre = boxes[:, :2] + boxes[:, 2:] / 2
            boxes[:, 2:] *= factor
            boxes[:, :2] = centre - boxes[:, 2:] / 2
            passing = k == 0 and rng.random() < float(cfg["pass_by_probability"])
            if passing:
                boxes = self._passing(rng, factor=float(rng.uniform(0.8, 1.2)))
            if kind == "lookalike":
                body = Body(
                    boxes,
                    self.target.cutout,
                    self.target.colors + rng.normal(0, 15, (3, 3)).astype(np.float32),
                    self.ambient + float(rng.uniform(-3, 2)),
                    0.0,
                    self.target.sway,
                    float(rng.uniform(0, 6.28)),
                )
            else:
                body = self._draw_body(rng, boxes, self.target, warm_class=kind == "same")
                if kind == "warm":
                    body.temperature = min(36.0, self.ambient + float(rng.uniform(5, 14)))
            body.front = passing and bool(rng.random() < 0.5)
            out.append(body)
        return out

    def _passing(self, rng, factor: float) -> np.ndarray:
        """``[T, 4]`` boxes of an object that passes by the target once (a crowd, traffic): it follows the
        target's path at an offset that crosses from one side to the other over a stretch of the sequence,
        at the target's size times ``factor``, a little above or below it."""
        T = self.frames
        size = self.boxes[:, 2:] * factor
        centre = self.boxes[:, :2] + self.boxes[:, 2:] / 2
        t0 = rng.uniform(0.1, 0.6) * T
        length = rng.uniform(0.25, 0.5) * T
        progress = np.clip((np.arange(T) - t0) / length, 0, 1)
        side = float(rng.choice([-1.0, 1.0]))
        across = side * (1 - 2 * progress) * rng.uniform(1.5, 3.0) * self.boxes[:, 2]
        below = rng.uniform(-0.3, 0.3) * self.boxes[:, 3]
        out = np.empty_like(self.boxes)
        out[:, 0] = centre[:, 0] + across - size[:, 0] / 2
        out[:, 1] = centre[:, 1] + below - size[:, 1] / 2
        out[:, 2:] = size
        return out

    def _draw_occluder(self, rng) -> dict | None:
        if not {"PO", "HO"} & self.attrs:
            return None
        pool = assets.by_category(("town", "plants", "vehicles", "household"))
        cut = pool[int(rng.integers(len(pool)))]
        body = Body.still(
            cut, rng.normal(0, 12, (3, 3)).astype(np.float32), self.ambient + float(rng.uniform(-6, 3))
        )
        sprite = cutout_sprite(body, 2.0)
        sprite[..., 4] = np.minimum(1.0, sprite[..., 4] * 2)
        T = self.frames
        start = int(rng.integers(T // 6, max(T // 6 + 1, T // 2)))
        heavy = "HO" in self.attrs
        return {
            "sprite": sprite,
            "start": start,
            "duration": max(12, T // 3),
            "heavy": heavy,
            # PO: the occluder's centre above or below the target's by 0.15-0.45 of its height, so it
            # covers about a third to two thirds of it while it passes
            "offset": 0.0 if heavy else float(rng.choice([-1.0, 1.0]) * rng.uniform(0.15, 0.45)),
            "scale": float(rng.uniform(0.8, 1.1)),
        }

    def occlusion(self, t: int) -> float:
        """The share of the target's box that the occluder's box covers at frame ``t``."""
        layer = self._occluder_box(t)
        if layer is None:
            return 0.0
        ox, oy, ow, oh = layer
        x, y, w, h = self.boxes[t]
        iw = max(0.0, min(x + w, ox + ow) - max(x, ox))
        ih = max(0.0, min(y + h, oy + oh) - max(y, oy))
        return float(iw * ih / max(w * h, 1e-6))

    def facts(self) -> dict:
        """What the calibration reads of a written sequence: out of view (under half the box inside the frame
        in some frame) and the share of frames with at least a third of the target occluded."""
        occluded = np.mean([self.occlusion(t) >= 1 / 3 for t in range(self.frames)])
        return {
            "out_of_view": bool((self.trajectory.in_view < 0.5).any()),
            "occluded_frames": round(float(occluded), 4),
            "source": f"{self.trajectory.source.pool}/{self.trajectory.source.name}",
        }

    def _illumination(self, rng) -> np.ndarray:
        """``[T]`` visible gain: LI a dark scene; else, a third of the time, a slow drift (clouds, shade)."""
        t = np.linspace(0, 1, self.frames)
        if "LI" in self.attrs:
            return np.full(self.frames, rng.uniform(0.12, 0.3), np.float32)
        if rng.random() < 0.33:
            return (1 + rng.uniform(-0.4, 0.4) * np.sin(math.pi * t * rng.uniform(0.5, 1.5))).astype(
                np.float32
            )
        return np.ones(self.frames, np.float32)

    # -- rendering ---------------------------------------------------------------------------

    def _view(self, canvas: np.ndarray, t: int, shift: np.ndarray) -> np.ndarray:
        """The camera's view of a canvas at frame ``t`` (drift, shake, zoom about the zoom centre); content
        at p appears at p + shift."""
        z = float(self.trajectory.zoom[t])
        c = self.trajectory.centre
        tx = MARGIN + self.cam[t, 0] + c[0] - (c[0] + shift[0]) / z
        ty = MARGIN + self.cam[t, 1] + c[1] - (c[1] + shift[1]) / z
        matrix = np.array([[1 / z, 0, tx], [0, 1 / z, ty]], np.float32)
        return cv2.warpAffine(
            canvas,
            matrix,
            (self.width, self.height),
            flags=cv2.INTER_LINEAR | cv2.WARP_INVERSE_MAP,
            borderMode=cv2.BORDER_REFLECT,
        )

    def _sprite(self, body: Body, t: int) -> np.ndarray:
        if body.cutout is None:
            # the gait advances with the distance walked (one cycle per ~1.5 body heights)
            phase = body.phase + 2 * math.pi * body.walked[t] / (1.5 * max(float(body.boxes[t, 3]), 1.0))
            sprite = walker_sprite(body.colors, phase, body.temperature, body.hot_spot)
        else:
            if body.sprite is None:
                body.sprite = cutout_sprite(body, 2.0)
            sprite = body.sprite
        wobble = math.sin(body.phase + 2 * math.pi * t / 30.0)
        if body.sway:
            sprite = deform(sprite, body.sway * wobble, 0.004 * body.sway * math.cos(body.phase + t / 7.0))
        return sprite

    def _layer(self, body: Body, t: int, heat: float = 1.0, local: float | None = None):
        x, y, w, h = body.boxes[t]
        w, h = max(2, round(w)), max(2, round(h))
        layer = fit_layer(self._sprite(body, t), w, h)
        if local is not None and heat < 1.0:  # crossover: towards the local background's temperature
            layer[..., 3] = local + (layer[..., 3] - local) * heat
            if heat == 0.0:
                inside = layer[..., 4] > 0.5
                mean = float(layer[..., 3][inside].mean()) if inside.any() else local
                layer[..., 3] += np.float32(local - mean)  # the mean exactly at the local background's
        lx, ly = round(x), round(y)
        if t > 0 and ("MB" in self.attrs or self._fast(body, t)):
            velocity = body.boxes[t, :2] - body.boxes[t - 1, :2]
            if np.linalg.norm(velocity) >= 2:
                layer, pad = motion_blur(layer, velocity)
                lx, ly = lx - pad, ly - pad
        return layer, lx, ly

    @staticmethod
    def _fast(body: Body, t: int) -> bool:
        step = np.linalg.norm(body.boxes[t, :2] - body.boxes[t - 1, :2])
        return bool(step > 0.25 * math.sqrt(max(body.boxes[t, 2] * body.boxes[t, 3], 1.0)))

    def _occluder_box(self, t: int) -> tuple[float, float, int, int] | None:
        occ = self.occluder
        if occ is None or not occ["start"] <= t < occ["start"] + occ["duration"]:
            return None
        x, y, w, h = self.boxes[t]
        progress = (t - occ["start"]) / max(1, occ["duration"] - 1)
        side = math.sqrt(w * h) * (1.6 if occ["heavy"] else 1.1)
        oh = max(4, round(max(h, side) * (1.1 if occ["heavy"] else occ["scale"])))
        ow = max(4, round(side))
        ox = x + w / 2 + (progress - 0.5) * 2.2 * max(w, ow) - ow / 2
        if occ["heavy"] and 0.3 < progress < 0.7:
            ox = x + w / 2 - ow / 2
        oy = y + h / 2 + occ["offset"] * h - oh / 2
        return ox, oy, ow, oh

    def _occluder_layer(self, t: int):
        box = self._occluder_box(t)
        if box is None:
            return None
        ox, oy, ow, oh = box
        return fit_layer(self.occluder["sprite"], ow, oh), round(ox), round(oy)

    def local_background(self, t: int) -> float:
        """Mean background temperature (before any object) inside the target's box at frame ``t``."""
        temp = self._view(self.temp_canvas, t, np.zeros(2))
        x, y, w, h = (int(v) for v in self.gt[t])
        return float(temp[y : y + h, x : x + w].mean())

    def scene_layers(self, t: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``t`` before the sensors: visible ``[H, W, 3]`` float RGB, the temperature field ``[H, W]``
        in degC as the thermal camera sees it (shifted), and the target's alpha ``[H, W]`` in that field."""
        visible = self._view(self.vis_canvas, t, np.zeros(2))
        temp = self._view(self.temp_canvas, t, self.shift)[..., None]
        layers = [self._layer(d, t) for d in self.distractors if not d.front]
        heat = float(self.heat[t])
        target = self._layer(self.target, t, heat, self.local_background(t) if heat < 1 else None)
        layers.append(target)
        front = [self._layer(d, t) for d in self.distractors if d.front]
        occluder = self._occluder_layer(t)
        covering = front + ([occluder] if occluder is not None else [])
        layers += covering
        for layer, lx, ly in layers:
            paste(visible, layer, lx, ly, RGB)
            paste(temp, layer, lx + int(self.shift[0]), ly + int(self.shift[1]), TEMPERATURE)
        mask = np.zeros((self.height, self.width, 1), np.float32)
        alpha = target[0].copy()
        alpha[..., 3] = 1.0
        paste(mask, alpha, target[1] + int(self.shift[0]), target[2] + int(self.shift[1]), TEMPERATURE)
        for layer, lx, ly in covering:  # what an object in front covers is not the target's
            cover = layer.copy()
            cover[..., 3] = 0.0
            paste(mask, cover, lx + int(self.shift[0]), ly + int(self.shift[1]), TEMPERATURE)
        return visible, temp[..., 0], mask[..., 0]

    def distractor_boxes(self, t: int) -> np.ndarray:
        """``[n, 4]`` the distractors' boxes ``ltwh`` in the visible frame at frame ``t``."""
        return np.array([d.boxes[t] for d in self.distractors], np.float64).reshape(-1, 4)

    def frame16(self, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``t``: visible ``[H, W, 3]`` uint8 RGB, thermal ``[H, W]`` uint16 counts, the box ``[4]``."""
        visible, temp, _ = self.scene_layers(t)
        H, W = self.height, self.width
        nx, ny = (int(v) for v in rng.integers(0, 24, 2))
        noise = self.noise_bank[ny : ny + H, nx : nx + W]
        gain = float(self.gain[t])
        visible = visible * gain + (3.0 + 6.0 * (gain < 0.5)) * noise[..., :3]
        temp = cv2.GaussianBlur(temp, (0, 0), self.optics)  # the thermal lens resolves less than the visible
        counts = thermal.to_counts(thermal.halo(temp, *self.halo), self.columns, rng, noise[..., 3])
        return np.clip(visible, 0, 255).astype(np.uint8), counts, self.gt[t].copy()

    def frame(self, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``t``: visible ``[H, W, 3]`` uint8 RGB, thermal ``[H, W, 1]`` uint8 (automatic gain) and the
        visible ground truth ``[x, y, w, h]`` int64; the thermal box is that plus ``self.shift``."""
        visible, counts, box = self.frame16(t, rng)
        return visible, thermal.agc(counts)[..., None], box
