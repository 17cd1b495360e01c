"""The calibrated world's asset pack (``src/data/synthetic/assets/``, made by
``scripts/make_world_assets.py``; sources and licences in ``assets/LICENSES.md`` and docs/data.md):
object cutouts with alpha and background photographs, loaded once per process."""

from __future__ import annotations

import functools
import json
from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np

ASSETS = Path(__file__).resolve().parent / "assets"
# what each cutout category is in thermal: warm bodies, engines, or things at the ambient temperature
WARM = ("people", "animals")
ENGINES = ("vehicles", "military", "space")
SUNLIT = ("town", "household")


@dataclass(frozen=True, eq=False)
class Cutout:
    name: str
    category: str
    rgba: np.ndarray  # [h, w, 4] float32: RGB 0-255, alpha 0-1 (straight, not premultiplied)

    @property
    def aspect(self) -> float:
        return self.rgba.shape[1] / self.rgba.shape[0]

    @functools.cached_property
    def detail(self) -> np.ndarray:
        """``[h, w]`` its luminance less 0.5, blurred: the little texture a thermal camera sees of it."""
        lum = self.rgba[..., :3].mean(axis=2) / 255.0 - 0.5
        return cv2.GaussianBlur(lum.astype(np.float32), (0, 0), 1.5)


@functools.lru_cache(maxsize=1)
def manifest() -> dict:
    path = ASSETS / "manifest.json"
    if not path.is_file():
        raise FileNotFoundError(
            f"{path}: the world's asset pack is missing (python scripts/make_world_assets.py)"
        )
    return json.loads(path.read_text())


def read_cutout(path: Path) -> np.ndarray:
    """``[h, w, 4]`` float32 RGB + alpha in [0, 1] from an RGBA PNG."""
    image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
    if image is None or image.ndim != 3 or image.shape[2] != 4:
        raise ValueError(f"{path}: not an RGBA PNG")
    rgb = cv2.cvtColor(image[..., :3], cv2.COLOR_BGR2RGB).astype(np.float32)
    return np.concatenate([rgb, image[..., 3:4].astype(np.float32) / 255.0], axis=2)


@functools.lru_cache(maxsize=1)
def cutouts() -> tuple[Cutout, ...]:
    return tuple(
        Cutout(r["file"], r["category"], read_cutout(ASSETS / r["file"]))
        for r in manifest()["files"]
        if r["file"].startswith("cutouts/")
    )


@functools.lru_cache(maxsize=1)
def backgrounds() -> tuple[np.ndarray, ...]:
    """RGB uint8 photographs."""
    out = []
    for r in manifest()["files"]:
        if r["file"].startswith("backgrounds/"):
            image = cv2.imread(str(ASSETS / r["file"]), cv2.IMREAD_COLOR)
            if image is None:
                raise ValueError(f"{ASSETS / r['file']}: not an image")
            out.append(cv2.cvtColor(image, cv2.COLOR_BGR2RGB))
    return tuple(out)


def by_category(categories: tuple[str, ...] | None = None, exclude: tuple[str, ...] = ()) -> list[Cutout]:
    return [
        c for c in cutouts() if (categories is None or c.category in categories) and c.category not in exclude
    ]


def nearest_aspect(rng: np.random.Generator, pool: list[Cutout], aspect: float, k: int = 8) -> Cutout:
    """One of the ``k`` cutouts of ``pool`` whose aspect ratio is nearest ``aspect`` (in log ratio)."""
    order = np.argsort([abs(np.log(c.aspect / aspect)) for c in pool], kind="stable")
    return pool[int(order[int(rng.integers(min(k, len(pool))))])]
