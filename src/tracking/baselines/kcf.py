"""Kernelized correlation filter (KCF) on one or both modalities, vectorized numpy FFT code.

Henriques, Caseiro, Martins, Batista, "High-speed tracking with kernelized correlation filters",
TPAMI 2015: a ridge regression over all cyclic shifts of a feature patch, solved in the Fourier
domain with a Gaussian kernel (their Algorithm 1: ``alphaf = yf / (kf + lambda)``, response
``ifft(alphaf * kzf)``), a cosine window, a Gaussian regression target and a linear-interpolation
model update. The parameters (the paper's HOG setting) are in conf/tracker/kcf.yaml, the one copy:
``python -m src.evaluate tracker=kcf`` builds the tracker from it.

``KCFTracker(modalities=("visible", "infrared"))`` is the RGBT234 benchmark's "KCF+RGBT": the
feature channels of both modalities are concatenated, so one kernel correlates them jointly.

Everything runs on real FFTs (``rfft2``) over ``[S, C, N, N]`` feature stacks, S = search scales:
the crops are cut one per scale (S is 1 or 3), then filtering, kernels and responses are batched, with
no Python loop over scales, channels or pixels. Our window is square (side ``sqrt(w h) (1 +
padding)``, the crop geometry the rest of the suite uses), resampled to ``cells * cell_size``
pixels, so the FFT size is fixed whatever the target size (as OpenCV's KCF does with its
``max_patch_size``).
"""

from __future__ import annotations

from collections.abc import Sequence as SequenceABC

import numpy as np

from src.data.transforms import CropGeometry, crop
from src.tracking.base import checked_box
from src.tracking.baselines.features import multimodal_features

_MIN_SIZE = 4.0  # pixels: a box never collapses below this


class KCFTracker:
    """KCF with HOG-like + intensity features, optionally over both modalities and several scales.

    Args (their values: conf/tracker/kcf.yaml's ``factory``):
        modalities: the frames it reads; their feature channels are concatenated.
        padding: the window is ``1 + padding`` times the target's size (sqrt of its area).
        cells: the window is resampled to ``cells x cells`` feature cells (the FFT size).
        cell_size: pixels per feature cell.
        kernel_sigma: bandwidth of the Gaussian kernel.
        lambda_: ridge regularisation.
        output_sigma_factor: regression-target bandwidth as a fraction of the target size.
        interp_factor: model learning rate.
        scales: relative sizes searched each frame (``[1.0]``: the paper's fixed-size KCF).
        scale_penalty: response multiplier for every scale but 1, against spurious scale jumps.
        subpixel: refine the peak with a parabola through its neighbours.
    """

    def __init__(self, modalities: SequenceABC[str], padding: float, cells: int, cell_size: int,
                 kernel_sigma: float, lambda_: float, output_sigma_factor: float, interp_factor: float,
                 scales: SequenceABC[float], scale_penalty: float, subpixel: bool = True):
        if not modalities:
            raise ValueError("KCFTracker needs at least one modality")
        if 1.0 not in scales:
            raise ValueError(f"scales {list(scales)} must contain 1.0")
        self.modalities = tuple(modalities)
        self.factor = 1.0 + padding
        self.cells = cells
        self.cell_size = cell_size
        self.patch_size = cells * cell_size
        self.kernel_sigma = kernel_sigma
        self.lambda_ = lambda_
        self.interp_factor = interp_factor
        self.scales = np.asarray(sorted(scales), dtype=np.float64)
        self.penalties = np.where(self.scales == 1.0, 1.0, scale_penalty)
        self.subpixel = subpixel

        n = cells
        self.window = np.outer(np.hanning(n), np.hanning(n)).astype(np.float32)  # [N, N]
        # Gaussian target with its peak at shift (0, 0), i.e. wrapped to the corner (KCF's convention)
        target_cells = self.patch_size / self.factor / cell_size
        sigma = target_cells * output_sigma_factor
        offsets = np.arange(n) - n // 2
        labels = np.exp(-0.5 * (offsets[:, None] ** 2 + offsets[None, :] ** 2) / sigma**2)
        self.labels_f = np.fft.rfft2(np.fft.ifftshift(labels))  # [N, N//2+1]
        self._center: np.ndarray | None = None

    # -- the filter ---------------------------------------------------------------------------

    def _features(self, frames: dict[str, np.ndarray], center: np.ndarray, size: np.ndarray,
                  scales: np.ndarray) -> tuple[np.ndarray, list[CropGeometry]]:
        """Windowed features of square crops at each scale: ``[S, C, N, N]`` float32."""
        side = np.sqrt(size[0] * size[1]) * self.factor
        stack, geometries = [], []
        for scale in scales:  # S is 1 or 3: the per-scale work is the crop itself
            s = side * scale
            geometry = CropGeometry(x0=center[0] - s / 2, y0=center[1] - s / 2, scale=self.patch_size / s,
                                    size=self.patch_size)
            patches = {m: crop(frames[m], geometry) for m in self.modalities}
            stack.append(multimodal_features(patches, self.modalities, self.cell_size))
            geometries.append(geometry)
        return np.stack(stack) * self.window, geometries

    def _gaussian_correlation(self, xf: np.ndarray, x_sq: np.ndarray, yf: np.ndarray,
                              y_sq: float) -> np.ndarray:
        """Gaussian kernel between every cyclic shift of x and y, in the Fourier domain.

        Args:
            xf: ``[S, C, N, N//2+1]`` rfft2 of the patches; x_sq: ``[S]`` their squared norms.
            yf: ``[C, N, N//2+1]`` rfft2 of the model; y_sq: its squared norm.

        Returns:
            ``[S, N, N//2+1]`` rfft2 of the kernel correlation.
        """
        n = self.cells
        cross = np.fft.irfft2((xf * np.conj(yf)).sum(axis=1), s=(n, n))  # [S, N, N]
        numel = xf.shape[1] * n * n
        distance = np.maximum(x_sq[:, None, None] + y_sq - 2.0 * cross, 0.0) / numel
        return np.fft.rfft2(np.exp(-distance / self.kernel_sigma**2))

    def _train(self, features: np.ndarray) -> tuple[np.ndarray, float, np.ndarray]:
        """``features [C, N, N]`` -> (xf ``[C, N, N//2+1]``, ``|x|^2``, alphaf ``[N, N//2+1]``)."""
        xf = np.fft.rfft2(features)
        x_sq = float((features.astype(np.float64) ** 2).sum())
        kf = self._gaussian_correlation(xf[None], np.array([x_sq]), xf, x_sq)[0]
        return xf, x_sq, self.labels_f / (kf + self.lambda_)

    # -- the tracker interface ----------------------------------------------------------------

    def initialize(self, frames: dict[str, np.ndarray], box_ltwh: np.ndarray) -> None:
        """Learn the filter on the first frame. frames: modality -> ``[H, W, 3]`` uint8 RGB."""
        box = checked_box(box_ltwh, "initial box", "KCFTracker.initialize")
        self._image_size = np.array(frames[self.modalities[0]].shape[1::-1], dtype=np.float64)  # (W, H)
        self._center = box[:2] + box[2:] / 2
        self._size = box[2:].copy()
        features, _ = self._features(frames, self._center, self._size, np.ones(1))
        self._model_xf, self._model_sq, self._model_alphaf = self._train(features[0])
        self._model_x = features[0]

    def track(self, frames: dict[str, np.ndarray]) -> np.ndarray:
        """Locate the target in the next frame; returns its ``ltwh`` box (float64 ``[4]``)."""
        if self._center is None:
            raise RuntimeError("KCFTracker.track called before initialize")
        n = self.cells
        features, geometries = self._features(frames, self._center, self._size, self.scales)
        zf = np.fft.rfft2(features)  # [S, C, N, N//2+1]
        z_sq = (features.astype(np.float64) ** 2).sum(axis=(1, 2, 3))
        kzf = self._gaussian_correlation(zf, z_sq, self._model_xf, self._model_sq)
        response = np.fft.irfft2(self._model_alphaf * kzf, s=(n, n))  # [S, N, N]

        peaks = response.reshape(len(self.scales), -1).max(axis=1) * self.penalties
        best = int(np.argmax(peaks))
        row, col = np.unravel_index(int(np.argmax(response[best])), (n, n))
        dy, dx = float(row), float(col)
        if self.subpixel:
            dy += _parabola_offset(response[best, (row - 1) % n, col], response[best, row, col],
                                   response[best, (row + 1) % n, col])
            dx += _parabola_offset(response[best, row, (col - 1) % n], response[best, row, col],
                                   response[best, row, (col + 1) % n])
        # cyclic shifts beyond half the window are displacements the other way
        shift_cells = (np.array([dx, dy]) + n / 2) % n - n / 2
        shift = shift_cells * self.cell_size / geometries[best].scale  # image pixels
        self._center = np.clip(self._center + shift, 0.0, self._image_size)
        self._size = np.clip(self._size * self.scales[best], _MIN_SIZE, self._image_size)

        # model update at the new location and size (linear interpolation, KCF's eq. in Alg. 1)
        new_features, _ = self._features(frames, self._center, self._size, np.ones(1))
        xf, _, alphaf = self._train(new_features[0])
        rate = self.interp_factor
        self._model_x = (1 - rate) * self._model_x + rate * new_features[0]
        self._model_xf = (1 - rate) * self._model_xf + rate * xf
        self._model_sq = float((self._model_x.astype(np.float64) ** 2).sum())
        self._model_alphaf = (1 - rate) * self._model_alphaf + rate * alphaf
        return np.concatenate([self._center - self._size / 2, self._size])


def _parabola_offset(left: float, center: float, right: float) -> float:
    """Sub-cell offset of a peak from the parabola through three samples, in [-0.5, 0.5]."""
    denominator = left - 2.0 * center + right
    if denominator >= 0:  # not a maximum (flat or convex): keep the integer peak
        return 0.0
    return float(np.clip(0.5 * (left - right) / denominator, -0.5, 0.5))
