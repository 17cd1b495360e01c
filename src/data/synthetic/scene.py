"""What a synthetic sequence is: the generator's parameters (their schema; the values live in the
``generate`` section of conf/data/synthetic.yaml), the challenge attributes of a sequence, and the
:class:`Scene` drawn from both (background, target, distractors, occluder, camera, sensor).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import ConfigKeyError, MissingMandatoryValue, ValidationError

from src.data.synthetic.motion import camera_path, size_track, trajectory
from src.data.synthetic.render import render_frame
from src.data.synthetic.textures import (
    SPRITE,
    make_sprite,
    pattern,
    random_color,
    shape_mask,
    smooth_noise,
    thermal_pattern,
)

# calibrated: real trajectories, photographs and cutouts, a thermal camera (src/data/synthetic/world.py);
# procedural: textured shapes on procedural clutter (this module; `data=synthetic_v1`)
WORLDS = ("calibrated", "procedural")
ATTRIBUTES = ("BC", "CM", "DEF", "FM", "HO", "LI", "LR", "MB", "NO", "TC", "PO", "SC")
EXTREME = ("LI", "TC", "HO")

# The values live in one place: the `generate` section of conf/data/synthetic.yaml (what
# `data=synthetic` generates and what `python -m src.data.synthetic` writes).
CONFIG_PATH = Path(__file__).resolve().parents[3] / "conf" / "data" / "synthetic.yaml"


# ---------------------------------------------------------------------------------------------
# the parameters


@dataclass
class SplitSpec:
    """One split of the written benchmark."""

    sequences: int
    frames: int


@dataclass
class GenerateConfig:
    """The schema of the ``generate`` section of conf/data/synthetic.yaml: its keys and their types
    (what each means, and its value, is in the YAML). The field order is the order of the keys in
    the resolved parameters (and so in ``synthetic.json``)."""

    seed: int
    width: int
    height: int
    splits: dict[str, SplitSpec]
    target_size: list[int]
    small_target_size: list[int]
    aspect_log_range: list[float]
    distractors: list[int]
    misregistration: int
    attribute_probability: float
    jpeg_quality: int
    workers: int
    world: str
    sources: dict[str, list[str]]
    max_stride: int
    window_tries: int
    crossover_gap: float
    occlusion_probability: float
    pass_by_probability: float


def config_defaults() -> dict:
    """The ``generate`` section of conf/data/synthetic.yaml (the one place users change sizes)."""
    section = OmegaConf.load(CONFIG_PATH).get("generate") if CONFIG_PATH.is_file() else None
    if section is None:
        raise FileNotFoundError(f"{CONFIG_PATH}: no `generate` section (the synthetic benchmark's defaults)")
    return OmegaConf.to_container(section, resolve=True)


def resolve_config(cfg: Mapping | DictConfig | None = None) -> dict:
    """The defaults merged with ``cfg`` (``root``, if there, is ignored), checked against
    :class:`GenerateConfig`: an unknown key, a value of the wrong type or a missing one is an error
    that names the key. A given ``splits`` section replaces the default one as a whole (a benchmark
    with only a test split is legal)."""
    given = {}
    if cfg is not None:
        given = OmegaConf.to_container(cfg, resolve=True) if isinstance(cfg, DictConfig) else dict(cfg)
        given.pop("root", None)
    try:
        params = OmegaConf.merge(OmegaConf.structured(GenerateConfig), config_defaults())
        if given.get("splits") is not None:
            params.splits = {}
        params = OmegaConf.merge(params, {k: v for k, v in given.items() if k != "splits" or v is not None})
        out = OmegaConf.to_container(params, resolve=True, throw_on_missing=True)
    except (ConfigKeyError, ValidationError, MissingMandatoryValue) as error:
        raise _schema_error(error) from None
    for split, spec in out["splits"].items():
        if spec["sequences"] < 0 or spec["frames"] < 2:
            raise ValidationError(f"generate.splits.{split}: need sequences >= 0 and frames >= 2, got {spec}")
    if out["world"] not in WORLDS:
        raise ValidationError(f"generate.world: {out['world']!r} is not one of {', '.join(WORLDS)}")
    if "train" not in out["sources"]:
        raise ValidationError("generate.sources: needs a `train` entry (the pools of the on-the-fly scenes)")
    return out


def _schema_error(error: ConfigKeyError | ValidationError | MissingMandatoryValue) -> Exception:
    """OmegaConf's error as one line that names the key (``generate.<dotted key>: what is wrong``)."""
    key = f"generate.{error.full_key}" if error.full_key else "generate"
    if isinstance(error, ConfigKeyError):
        schema = error.object_type
        known = [f.name for f in dataclasses.fields(schema)] if dataclasses.is_dataclass(schema) else []
        expected = f" (expected one of {', '.join(known)})" if known else ""
        return ConfigKeyError(f"{key}: unknown key{expected}")
    if isinstance(error, MissingMandatoryValue):
        return ValidationError(f"{key}: missing (not given, and not in {CONFIG_PATH.name})")
    return ValidationError(f"{key}: {str(error.msg).splitlines()[0]}")


# ---------------------------------------------------------------------------------------------
# a sequence's attributes


def choose_attributes(rng, split: str, index: int, probability: float) -> set[str]:
    """Test: even indices normal (none of LI/TC/HO), odd extreme (cycling which one); others random."""
    optional = ("PO", "FM", "SC", "DEF", "CM", "BC", "LR", "MB")
    attrs: set[str] = set()
    if split == "test":
        if index % 2 == 1:
            attrs.add(EXTREME[(index // 2) % 3])
            if rng.random() < 0.3:
                attrs.add(str(rng.choice(EXTREME)))
        # 1-3 of the other attributes, spread evenly over the split (a random draw over only 16
        # sequences can leave one attribute on half of them and another on none)
        k = 1 + index % 3
        start = (
            int(rng.integers(len(optional))) if index >= 2 * len(optional) else (3 * index) % len(optional)
        )
        attrs.update(optional[(start + 3 * j) % len(optional)] for j in range(k))
    else:
        for code in (*EXTREME, *optional):
            if rng.random() < probability:
                attrs.add(code)
    if "HO" in attrs:
        attrs.discard("PO")
    if "PO" not in attrs and "HO" not in attrs:
        attrs.add("NO")
    return attrs


# ---------------------------------------------------------------------------------------------
# the scene's parts


@dataclass
class Target:
    sprite: np.ndarray  # [S, S, 5] RGB, temperature, alpha
    sizes: np.ndarray  # [T, 2] (w, h) per frame
    pos: np.ndarray  # [T, 2] top-left per frame
    heat: np.ndarray  # [T] thermal contrast to ambient (TC: dips to almost 0)
    side: float  # square-equivalent side, px (distractors and occluder are sized on it)
    colors: list[np.ndarray]  # its two colours (look-alikes and BC clutter are drawn near them)
    texture: dict  # its pattern's parameters (look-alikes redraw the same texture)
    warmth: float  # its temperature above ambient


@dataclass
class Distractor:
    sprite: np.ndarray
    pos: np.ndarray
    sizes: np.ndarray


@dataclass
class Occluder:
    sprite: np.ndarray
    side: float
    start: int  # first frame it covers the target
    duration: int  # frames
    offset_y: float  # vertical offset from the target's centre, in target heights (PO)


def draw_palette(rng, attrs: set[str]) -> tuple[list[np.ndarray], list[np.ndarray]]:
    """The background's two colours and the target's (BC: the background near the target's)."""
    bg_colors = [random_color(rng) for _ in range(2)]
    target_colors = [random_color(rng), random_color(rng)]
    if "BC" in attrs:  # clutter in the target's colours
        bg_colors = [random_color(rng, target_colors[0], 30), random_color(rng, target_colors[1], 30)]
    return bg_colors, target_colors


def draw_background(
    rng, attrs: set[str], height: int, width: int, bg_colors: list[np.ndarray]
) -> tuple[np.ndarray, np.ndarray, float]:
    """The canvas: colour field + grain + clutter shapes ``[H, W, 3]`` and a matching temperature field
    ``[H, W, 1]`` (float32), and the ambient temperature."""
    CH, CW = height, width
    field = 0.65 * smooth_noise(rng, CH, CW, 60) + 0.35 * smooth_noise(rng, CH, CW, 14)
    vis = field * bg_colors[0] + (1 - field) * bg_colors[1]
    ambient = float(rng.uniform(55, 95))
    thermal = ambient + 30 * (smooth_noise(rng, CH, CW, 80) - 0.5)
    n_shapes = int(rng.integers(60, 90) if "BC" in attrs else rng.integers(25, 45))
    vis = np.ascontiguousarray(vis, dtype=np.float32)
    thermal = np.ascontiguousarray(thermal, dtype=np.float32)
    for _ in range(n_shapes):
        color = random_color(rng, bg_colors[int(rng.integers(2))] if "BC" in attrs else None, 40)
        temp = ambient + (rng.normal(0, 18) if rng.random() < 0.6 else 0.0)
        cx, cy = int(rng.integers(0, CW)), int(rng.integers(0, CH))
        a, b = int(rng.integers(4, 28)), int(rng.integers(4, 28))
        kind = rng.integers(3)
        for img, val in ((vis, tuple(float(c) for c in color)), (thermal, (float(temp),))):
            if kind == 0:
                cv2.rectangle(img, (cx - a, cy - b), (cx + a, cy + b), val, -1)
            elif kind == 1:
                cv2.ellipse(img, (cx, cy), (a, b), float(rng.uniform(0, 180)), 0, 360, val, -1)
            else:
                cv2.line(img, (cx - a, cy - b), (cx + a, cy + b), val, int(rng.integers(2, 6)))
    vis += rng.normal(0, 7, vis.shape).astype(np.float32)  # grain: texture everywhere
    for _ in range(int(rng.integers(1, 3))):  # static hot spots (lamps, engines)
        cx, cy, r = int(rng.integers(0, CW)), int(rng.integers(0, CH)), int(rng.integers(4, 9))
        cv2.circle(thermal, (cx, cy), r, float(ambient + rng.uniform(50, 90)), -1)
    thermal = cv2.GaussianBlur(thermal, (0, 0), 1.2)[..., None]
    return vis, thermal, ambient


def draw_target(
    rng, cfg: Mapping, attrs: set[str], frames: int, width: int, height: int,
    colors: list[np.ndarray], ambient: float,
) -> Target:
    """The target: size track (LR, SC, DEF), path (FM, MB: fast), sprite, and its heat over time (TC)."""
    T = frames
    side_range = cfg["small_target_size"] if "LR" in attrs else cfg["target_size"]
    side = float(rng.uniform(*side_range))
    aspect = float(np.exp(rng.uniform(*cfg["aspect_log_range"])))
    sizes = size_track(rng, T, side, aspect, "SC" in attrs, "DEF" in attrs)
    fast = "FM" in attrs or "MB" in attrs
    speed = float(rng.uniform(5, 9) if fast else rng.uniform(0.8, 2.5)) * side / 32
    pos = trajectory(rng, T, width, height, sizes, speed, turn_every=12 if "FM" in attrs else None)
    tex, tex_params = pattern(rng, SPRITE)
    warmth = float(rng.uniform(75, 120))
    sprite = make_sprite(
        rng, colors, tex, thermal_pattern(rng, ambient, warmth, 3), shape_mask(rng, SPRITE)
    )
    # TC: the target cools to ambient over the middle of the sequence (thermal crossover)
    heat = np.ones(T, np.float32)
    if "TC" in attrs:
        t = np.linspace(0, 1, T)
        start = rng.uniform(0.0, 0.3)
        heat = np.clip(
            1 - np.clip((t - start) / 0.15, 0, 1) * np.clip((start + 0.75 - t) / 0.15, 0, 1), 0.04, 1
        )
        heat = heat.astype(np.float32)
    return Target(sprite, sizes, pos, heat, side, colors, tex_params, warmth)


def draw_distractors(
    rng, cfg: Mapping, attrs: set[str], frames: int, width: int, height: int, target: Target, ambient: float
) -> list[Distractor]:
    """Look-alikes (the target's texture, slightly recoloured, cold), warm different ones, plain ones;
    the first two are one look-alike and one warm one, BC adds two."""
    T, side = frames, target.side
    objects = []
    n_distract = int(rng.integers(cfg["distractors"][0], cfg["distractors"][1] + 1)) + (
        2 if "BC" in attrs else 0
    )
    for k in range(n_distract):
        kind = ("lookalike", "warm")[k] if k < 2 else str(rng.choice(["lookalike", "warm", "plain"]))
        d_side = side * float(rng.uniform(0.75, 1.25))
        d_sizes = size_track(rng, T, d_side, float(np.exp(rng.uniform(-0.5, 0.5))), False, False)
        d_pos = trajectory(rng, T, width, height, d_sizes, float(rng.uniform(0.8, 3.0)) * side / 32, None)
        if kind == "lookalike":
            colors = [random_color(rng, c, 12) for c in target.colors]
            d_tex, _ = pattern(rng, SPRITE, params=target.texture)
            d_thermal = np.full((SPRITE, SPRITE), ambient + rng.uniform(-12, 8), np.float32)
            mask = shape_mask(rng, SPRITE)
        elif kind == "warm":
            colors = [random_color(rng), random_color(rng)]
            d_tex, _ = pattern(rng, SPRITE)
            d_thermal = thermal_pattern(rng, ambient, target.warmth * float(rng.uniform(0.8, 1.1)), 2)
            mask = shape_mask(rng, SPRITE)
        else:
            colors = [random_color(rng), random_color(rng)]
            d_tex, _ = pattern(rng, SPRITE)
            d_thermal = np.full((SPRITE, SPRITE), ambient + rng.normal(0, 10), np.float32)
            mask = shape_mask(rng, SPRITE)
        objects.append(Distractor(make_sprite(rng, colors, d_tex, d_thermal, mask), d_pos, d_sizes))
    return objects


def draw_occluder(rng, attrs: set[str], frames: int, side: float, ambient: float) -> Occluder | None:
    """PO: an occluder covering part of the target; HO: most or all of it for a while; else none."""
    if "PO" not in attrs and "HO" not in attrs:
        return None
    T = frames
    heavy = "HO" in attrs
    o_side = side * (1.5 if heavy else 0.9)
    occ_tex, _ = pattern(rng, SPRITE)
    o_sprite = make_sprite(
        rng,
        [random_color(rng), random_color(rng)],
        occ_tex,
        np.full((SPRITE, SPRITE), ambient - rng.uniform(5, 20), np.float32),
        shape_mask(rng, SPRITE, ellipse=False),
    )
    o_sprite[..., 4] = np.minimum(1.0, o_sprite[..., 4] * 3)  # opaque almost to the edge
    t0 = int(rng.integers(T // 6, max(T // 6 + 1, T // 2)))
    duration = max(8, T // 4)
    offset_y = 0.0 if heavy else float(rng.choice([-0.55, 0.55]))
    return Occluder(o_sprite, o_side, t0, duration, offset_y)


def draw_misregistration(rng, m: int) -> np.ndarray:
    """The thermal camera's offset ``[dx, dy]`` (the infrared ground truth's, too), each within
    ``[-m, m]``, never zero when ``m > 0``."""
    shift = rng.integers(-m, m + 1, 2) if m > 0 else np.zeros(2, int)
    if m > 0 and not shift.any():
        shift[int(rng.integers(2))] = int(rng.choice([-1, 1]))
    return shift


# ---------------------------------------------------------------------------------------------
# the scene


class Scene:
    """One synthetic RGB-T scene of ``frames`` frames, everything but the sensor noise drawn up front
    from ``rng`` (background, target, distractors, occluder, camera path, misregistration).
    ``frame(t, rng)`` renders frame ``t``; frames may be rendered in any order (the written
    benchmark renders them all in order, the on-the-fly training pairs only two)."""

    MARGIN = 40  # canvas border the camera can drift into
    NOISE_PAD = 24  # the sensor-noise bank is this much larger than a frame

    def __init__(self, cfg: Mapping, rng: np.random.Generator, attrs: set[str], frames: int) -> None:
        W, H = int(cfg["width"]), int(cfg["height"])
        T = int(frames)
        self.width, self.height, self.frames, self.attrs = W, H, T, attrs
        self.margin = margin = self.MARGIN
        bg_colors, target_colors = draw_palette(rng, attrs)
        self.vis, self.thermal, self.ambient = draw_background(rng, attrs, H + 2 * margin, W + 2 * margin,
                                                               bg_colors)
        self.target = draw_target(rng, cfg, attrs, T, W, H, target_colors, self.ambient)
        self.objects = draw_distractors(rng, cfg, attrs, T, W, H, self.target, self.ambient)
        self.occluder = draw_occluder(rng, attrs, T, self.target.side, self.ambient)
        m = int(cfg["misregistration"])
        self.cam = camera_path(rng, T, "CM" in attrs, limit=margin - m - 1)
        self.shift = draw_misregistration(rng, m)
        self.dark_gain = float(rng.uniform(0.12, 0.25)) if "LI" in attrs else 1.0  # LI: a dark visible frame
        # sensor noise: one bank drawn up front, a random window of it per frame (drawing a fresh
        # full frame of normals every frame is the single largest cost of the loop otherwise)
        self.noise_pad = self.NOISE_PAD
        self.noise_bank = rng.standard_normal((H + self.noise_pad, W + self.noise_pad, 3), dtype=np.float32)

    def facts(self) -> None:
        """What ``synthetic.json`` records of a written sequence besides its files: nothing in this world
        (the calibrated one records out of view, occluded frames and the source annotation)."""
        return None

    def distractor_boxes(self, t: int) -> np.ndarray:
        """``[n, 4]`` the distractors' boxes ``ltwh`` in the visible frame at frame ``t``."""
        return np.array([[*d.pos[t], *d.sizes[t]] for d in self.objects], np.float64).reshape(-1, 4)

    def frame(self, t: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Frame ``t``: visible ``[H, W, 3]`` uint8 RGB, thermal ``[H, W, 1]`` uint8 and the visible
        ground truth ``[x, y, w, h]`` (int64); the thermal box is that plus ``self.shift``. ``rng``
        draws the sensor noise."""
        return render_frame(self, t, rng)


def draw_scene(cfg: Mapping, rng: np.random.Generator, split: str, index: int | None, frames: int,
               sequences: int | None = None):
    """A scene of ``cfg["world"]``: its attributes drawn (:func:`choose_attributes`), then the scene.
    ``index``/``sequences``: the sequence's place in a written split (None: a scene drawn on the fly). The
    scene's ``attrs`` are final (the calibrated world sets SC, FM and LR from its real trajectory)."""
    attrs = choose_attributes(rng, split, 0 if index is None else index, float(cfg["attribute_probability"]))
    if cfg["world"] == "procedural":
        return Scene(cfg, rng, attrs, frames)
    from src.data.synthetic.world import CalibratedScene

    return CalibratedScene(cfg, rng, attrs, frames, split=split, index=index, sequences=sequences)
