"""Build the calibrated world's asset pack (src/data/synthetic/assets/) from two Debian packages.

    python scripts/make_world_assets.py                 # apt-get download both packages into a temp dir
    python scripts/make_world_assets.py --debs DIR      # or use the .deb files already in DIR

Sources (their licences are recorded in src/data/synthetic/assets/LICENSES.md):
- ``tuxpaint-stamps-default`` (GPL-2+): object cutouts with alpha. Every PNG stamp of the object
  categories (not ``symbols``: letters, flags, signs), cropped to its alpha's bounding box and resized to
  at most ``--cutout-side`` px, written as RGBA PNG under ``cutouts/<category>/``.
- ``opencv-doc`` (OpenCV's sample data, BSD-3-Clause): colour photographs from ``examples/data`` and
  the first frame of ``tree.avi``, resized to at most ``--background-side`` px, written as JPEG under
  ``backgrounds/``. ``vtest.avi`` is left out on purpose: it is a real video the learned tracker is read
  on, so no frame of it may be in the training world.

The output is deterministic for the same package versions (recorded in ``manifest.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import shutil
import subprocess
import tempfile
from pathlib import Path

import cv2
import numpy as np

OUT = Path(__file__).resolve().parents[1] / "src" / "data" / "synthetic" / "assets"
PACKAGES = ("tuxpaint-stamps-default", "opencv-doc")
# tux paint stamp folders that hold objects (symbols: letters, flags, road signs; body_parts: eyes, hands)
CATEGORIES = (
    "animals",
    "clothes",
    "food",
    "hobbies",
    "household",
    "military",
    "people",
    "plants",
    "seasonal",
    "space",
    "sports",
    "town",
    "vehicles",
)
SKIP_PARTS = ("body_parts",)
# opencv-doc's colour photographs (not charts, text, logos, calibration boards or renders)
PHOTOS = (
    "aero1.jpg",
    "aero3.jpg",
    "aloeL.jpg",
    "apple.jpg",
    "baboon.jpg",
    "board.jpg",
    "building.jpg",
    "butterfly.jpg",
    "ela_original.jpg",
    "fruits.jpg",
    "graf1.png",
    "graf3.png",
    "home.jpg",
    "left.jpg",
    "leuvenA.jpg",
    "leuvenB.jpg",
    "licenseplate_motion.jpg",
    "messi5.jpg",
    "orange.jpg",
    "rubberwhale1.png",
    "smarties.png",
    "squirrel_cls.jpg",
    "starry_night.jpg",
    "stuff.jpg",
    "HappyFish.jpg",
    "box_in_scene.png",
    "basketball1.png",
)
VIDEOS = {"tree.avi": 1}  # video -> frames taken, evenly spaced (the first frame of tree.avi)


def download(folder: Path) -> None:
    subprocess.run(["apt-get", "download", *PACKAGES], cwd=folder, check=True)


def extract(debs: Path, into: Path) -> dict[str, str]:
    versions = {}
    for package in PACKAGES:
        found = sorted(debs.glob(f"{package}_*.deb"))
        if not found:
            raise FileNotFoundError(f"{debs}: no {package}_*.deb (run without --debs to download it)")
        subprocess.run(["dpkg-deb", "-x", str(found[-1]), str(into)], check=True)
        versions[package] = found[-1].name.split("_")[1]
    return versions


def fit(image: np.ndarray, side: int) -> np.ndarray:
    scale = side / max(image.shape[:2])
    if scale >= 1:
        return image
    size = (max(1, round(image.shape[1] * scale)), max(1, round(image.shape[0] * scale)))
    return cv2.resize(image, size, interpolation=cv2.INTER_AREA)


def cutouts(stamps: Path, out: Path, side: int) -> list[dict]:
    records = []
    for category in CATEGORIES:
        for path in sorted((stamps / category).rglob("*.png")):
            if any(part in path.parts for part in SKIP_PARTS):
                continue
            image = cv2.imread(str(path), cv2.IMREAD_UNCHANGED)
            if image is None or image.ndim != 3 or image.shape[2] != 4:
                continue
            alpha = image[..., 3]
            ys, xs = np.nonzero(alpha > 127)
            if len(xs) < 64:
                continue
            image = fit(image[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1], side)
            h, w = image.shape[:2]
            if min(h, w) < 8 or (image[..., 3] > 127).mean() < 0.25:  # slivers and line art
                continue
            rel = path.relative_to(stamps)
            name = f"{category}/{'_'.join(rel.parts[1:]).removesuffix('.png')}.png"
            (out / "cutouts" / name).parent.mkdir(parents=True, exist_ok=True)
            cv2.imwrite(str(out / "cutouts" / name), image, [cv2.IMWRITE_PNG_COMPRESSION, 9])
            records.append(
                {
                    "file": f"cutouts/{name}",
                    "category": category,
                    "source": str(rel),
                    "package": "tuxpaint-stamps-default",
                    "licence": "GPL-2.0-or-later",
                    "width": w,
                    "height": h,
                }
            )
    return records


def backgrounds(data: Path, out: Path, side: int) -> list[dict]:
    records = []
    (out / "backgrounds").mkdir(parents=True, exist_ok=True)

    def write(image: np.ndarray, file: str, source: str) -> None:
        cv2.imwrite(str(out / file), fit(image, side), [cv2.IMWRITE_JPEG_QUALITY, 90])
        records.append({"file": file, "source": source, "package": "opencv-doc", "licence": "BSD-3-Clause"})

    for name in PHOTOS:
        image = cv2.imread(str(data / name), cv2.IMREAD_COLOR)
        if image is None:
            raise FileNotFoundError(data / name)
        write(image, f"backgrounds/{Path(name).stem}.jpg", f"examples/data/{name}")
    for name, count in VIDEOS.items():
        video = cv2.VideoCapture(str(data / name))
        total = int(video.get(cv2.CAP_PROP_FRAME_COUNT))
        for k in range(count):
            index = (k * total) // count
            video.set(cv2.CAP_PROP_POS_FRAMES, index)
            ok, image = video.read()
            if not ok:
                continue
            file = f"backgrounds/{Path(name).stem}_{index:04d}.jpg"
            write(image, file, f"examples/data/{name} frame {index}")
    return records


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--debs", type=Path, help="folder with the two .deb files (default: download them)")
    parser.add_argument("--cutout-side", type=int, default=96)
    parser.add_argument("--background-side", type=int, default=400)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        debs = args.debs or tmp
        if args.debs is None:
            download(tmp)
        versions = extract(debs, tmp / "root")
        for sub in ("cutouts", "backgrounds"):
            shutil.rmtree(OUT / sub, ignore_errors=True)
        OUT.mkdir(parents=True, exist_ok=True)
        share = tmp / "root" / "usr" / "share"
        records = cutouts(share / "tuxpaint" / "stamps", OUT, args.cutout_side)
        records += backgrounds(share / "doc" / "opencv-doc" / "examples" / "data", OUT, args.background_side)
    for record in records:
        record["sha256"] = hashlib.sha256((OUT / record["file"]).read_bytes()).hexdigest()
    manifest = {
        "packages": versions,
        "cutout_side": args.cutout_side,
        "background_side": args.background_side,
        "files": records,
    }
    (OUT / "manifest.json").write_text(json.dumps(manifest, indent=1) + "\n")
    size = sum((OUT / r["file"]).stat().st_size for r in records)
    kinds = {k: sum(r["file"].startswith(k) for r in records) for k in ("cutouts", "backgrounds")}
    print(f"wrote {OUT}: {kinds['cutouts']} cutouts, {kinds['backgrounds']} backgrounds, {size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()
