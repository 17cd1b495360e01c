"""Spatially regularised, continuous-domain correlation filters: ECO, C-COT and SRDCF, vectorized numpy.

One implementation of the learning problem the three papers share, with the parts each adds switched
by arguments (their values: conf/tracker/eco.yaml, ccot.yaml, srdcf.yaml):

- SRDCF (Danelljan, Hager, Khan, Felsberg, "Learning spatially regularized correlation filters for
  visual tracking", ICCV 2015): a multi-channel filter ``f`` minimising (their eq. 3)
  ``sum_j alpha_j || sum_c x_jc * f_c - y ||^2 + sum_c || w . f_c ||^2`` with a spatial weight ``w``
  that grows quadratically away from the target, so the filter may be learnt on a search area
  several times the target's without the boundary effects of a plain DCF. The paper keeps the normal
  equations' left side as a learning-rate running average (their Sec. 4.2) and solves them by
  Gauss-Seidel; we keep the same running average (per frequency, the channels' weighted Gram
  matrix, ``data="average"``) and solve by preconditioned conjugate gradient (a different iterative
  solver of the same system, as the authors' later code does). Detection: the scores at sub-cell
  positions by trigonometric interpolation, maximised by Newton's method (their Sec. 4.3), at
  several scales.
- C-COT (Danelljan, Robinson, Khan, Felsberg, "Beyond correlation filters: learning continuous
  convolution operators for visual tracking", ECCV 2016): the same objective in the continuous
  domain (their eq. 4 and 10): each feature channel is interpolated by a kernel ``b`` (their eq. 1),
  i.e. its Fourier coefficients are multiplied by ``b``'s (cubic, Keys' a = -0.75), the label is the
  Fourier series of a periodic Gaussian, and the system (their eq. 12-13) is solved by conjugate
  gradient warm-started from the previous filter every frame. The paper bounds its sample memory
  (400 samples whose learning-rate weights decay by ``1 - lr`` a frame); we keep the learning-rate
  weighted Gram matrix instead (``data="average"``: the same data term with an unbounded memory;
  the oldest of 400 samples weighs (1 - 0.0075)^400 = 5 % of the newest).
- ECO (Danelljan, Bhat, Khan, Felsberg, "ECO: efficient convolution operators for tracking", CVPR
  2017) adds, on top of C-COT: the factorized convolution (their eq. 5-6: a ``C x D`` projection
  matrix ``P`` per feature block, learnt jointly with the filter on the first frame by Gauss-Newton
  and conjugate gradient, eq. 8-10, then fixed), the generative sample space model (Sec. 3.2: a
  Gaussian mixture of the projected samples, ``data="gmm"``, ``gmm_components`` components, merged
  as in their Sec. 3.2 when full) and the sparse update (Sec. 3.3: the filter is retrained every
  ``update_interval`` frames, ``cg_iterations`` CG steps warm-started, the mixture every frame).

So ``conf/tracker/ccot.yaml`` is this class with ECO's three additions off (no projection, the
learning-rate weighted data term, update every frame), and ``srdcf.yaml`` is C-COT with the ideal
(identity) interpolation and SRDCF's settings, as the ECO authors' own code runs both.

Our choices where the papers leave room (compared against the reference Python implementation by
scripts/check_cf_reference.py, figures in docs/baselines.md):

- The window is square (side ``search_area_scale * sqrt(w h)``, the crop geometry the rest of the
  suite uses), resampled to ``cells x cells`` cells of ``cell_size`` pixels, ``cells`` odd so the centre
  cell is centred on the target. All feature blocks share that grid, so the filter's Fourier
  coefficients live on the feature map's full DFT grid (``K = (cells - 1) / 2``) and the regulariser
  ``w . f`` is applied in the spatial domain (its Fourier-domain convolution ``w^ * f^`` being
  circular on that grid); ``w`` is the quadratic window of the papers sampled on that grid, with its
  DFT made sparse as theirs (``reg_sparsity``).
- Features (features.py): HOG-like + intensity for every modality, colour names for the visible one,
  each block normalised to unit mean energy and cosine-windowed; a "+RGBT" tracker concatenates the
  modalities' blocks (RGBT234's recipe), and ECO projects each block with its own matrix.
- Scale: every tracker evaluates its filter at ``scales`` (relative sizes, C-COT's and SRDCF's
  multi-scale search) and keeps the best; ECO-HC's separate fDSST scale filter is not implemented.
- The filter updates continue one conjugate-gradient run across frames: the search direction of the
  last update carries over, damped (``cg_forgetting_rate``, Polak-Ribiere), as the ECO authors' code
  runs all three trackers; the papers state only the warm start from the previous filter.
- The training sample is the detection sample at the chosen scale, shifted in the Fourier domain so
  the target sits at its centre (as ECO's and C-COT's code do), the first frame's crop otherwise.

Everything is batched over scales, channels and frequencies on real FFTs (``rfft2``): no Python loop
over pixels, channels or frequencies (the loops are over CG / Newton iterations and, when cutting
crops, over the few scales).
"""

from __future__ import annotations

from collections.abc import Mapping
from collections.abc import Sequence as SequenceABC

import numpy as np

from src.data.transforms import BORDERS, CropGeometry, crop
from src.tracking.base import checked_box
from src.tracking.baselines.features import (
    COLOUR_NAMES,
    NUM_CHANNELS,
    colour_name_features,
    gradient_orientation_features,
    to_gray,
)

_MIN_SIZE = 4.0  # pixels: a box never collapses below this
_BLOCKS = ("hog", "cn")  # feature blocks: HOG-like + intensity (every modality), colour names (visible)


class ECOTracker:
    """ECO / C-COT / SRDCF on one or several modalities (see the module docstring).

    Args (their values: conf/tracker/{eco,ccot,srdcf}.yaml's ``factory``):
        modalities: the frames it reads; their feature blocks are concatenated ("+RGBT").
        colour_names: add the colour-name block to the visible modality's features.
        search_area_scale: the window's side over the target's (sqrt of its area).
        cells: the window is resampled to ``cells x cells`` feature cells (odd).
        cell_size: pixels per feature cell.
        output_sigma_factor: label bandwidth as a fraction of the target's size (sqrt of its area).
        interpolation: ``"cubic"`` (C-COT / ECO's interpolation kernel, Keys' cubic with
            ``cubic_a``) or ``"ideal"`` (the identity: a discrete filter, SRDCF).
        cubic_a: the cubic kernel's parameter.
        reg_window_min, reg_window_edge: the spatial regularisation ``w``: ``reg_window_min`` at the
            target's centre, growing quadratically to ``reg_window_edge`` at its border.
        reg_sparsity: ``w``'s DFT coefficients below this fraction of the largest are dropped (the
            papers' and the authors' sparse ``w``); 0 keeps the exact quadratic.
        learning_rate: weight of each new sample (the older ones decay by ``1 - learning_rate``).
        data: ``"average"`` (the learning-rate weighted data term, SRDCF / C-COT) or ``"gmm"`` (ECO's
            Gaussian mixture sample space model of ``gmm_components`` components).
        gmm_components: the mixture's size (``data="gmm"`` only; null otherwise).
        projection_dims: output dimensions of ECO's factorized convolution per feature block, e.g.
            ``{hog: 10, cn: 3}``; null: no projection (C-COT, SRDCF).
        projection_reg: the projection matrix's regularisation (ECO eq. 10's lambda).
        init_gn_iterations, init_cg_iterations: Gauss-Newton iterations (with projection) and CG
            iterations in all on the first frame.
        cg_iterations: CG iterations per filter update after the first frame.
        cg_forgetting_rate: the CG search direction carries over between updates, damped by
            ``(1 - learning_rate) ** cg_forgetting_rate`` (the ECO code's 50); null restarts every update.
        update_interval: retrain the filter every this many frames (ECO's N_S; 1: every frame).
        dense_frames: frames (after the first) that update every frame before the sparse scheme.
        newton_iterations: Newton steps refining the peak of the continuous score.
        scales: relative sizes searched each frame (must contain 1.0).
        crop_border: how crops are padded outside the image: ``zero`` (the suite's crops) or ``replicate``
            (the edge pixels repeated, as the ECO authors' code and pyCFTrackers pad).
    """

    def __init__(self, modalities: SequenceABC[str], colour_names: bool, search_area_scale: float,
                 cells: int, cell_size: int, output_sigma_factor: float, interpolation: str,
                 cubic_a: float, reg_window_min: float, reg_window_edge: float, learning_rate: float,
                 data: str, gmm_components: int | None, projection_dims: Mapping[str, int] | None,
                 projection_reg: float, init_gn_iterations: int, init_cg_iterations: int,
                 cg_iterations: int, update_interval: int, dense_frames: int, newton_iterations: int,
                 scales: SequenceABC[float], reg_sparsity: float, cg_forgetting_rate: float | None,
                 crop_border: str = "zero"):
        if not modalities:
            raise ValueError("ECOTracker needs at least one modality")
        if cells % 2 == 0:
            raise ValueError(f"ECOTracker: cells must be odd (the centre cell on the target), got {cells}")
        if 1.0 not in scales:
            raise ValueError(f"ECOTracker: scales {list(scales)} must contain 1.0")
        if interpolation not in ("cubic", "ideal"):
            raise ValueError(f"ECOTracker: interpolation must be 'cubic' or 'ideal', got {interpolation!r}")
        if data not in ("average", "gmm") or (data == "gmm") != (gmm_components is not None):
            raise ValueError(f"ECOTracker: data must be 'average' (gmm_components null) or 'gmm' "
                             f"(gmm_components set), got {data!r} and {gmm_components!r}")
        if crop_border not in BORDERS:
            raise ValueError(f"ECOTracker: crop_border must be one of {', '.join(BORDERS)}, "
                             f"got {crop_border!r}")
        self.modalities = tuple(modalities)
        self.crop_border = crop_border
        self.colour_names = colour_names
        self.factor = search_area_scale
        self.cells = n = cells
        # the score's frequencies as Newton's method differentiates them: i 2 pi k / N, and their squares
        self._newton_k = np.fft.fftfreq(n, 1.0 / n) * (2j * np.pi / n)
        self._newton_k2 = self._newton_k**2
        self.cell_size = cell_size
        self.patch_size = cells * cell_size
        self.learning_rate = learning_rate
        self.data = data
        self.gmm_components = gmm_components
        self.projection_reg = projection_reg
        self.init_gn_iterations = init_gn_iterations
        self.init_cg_iterations = init_cg_iterations
        self.cg_iterations = cg_iterations
        self.update_interval = update_interval
        self.dense_frames = dense_frames
        self.newton_iterations = newton_iterations
        self.scales = np.asarray(sorted(scales), dtype=np.float64)

        # feature blocks: (modality, kind) in channel order, and their channel counts
        self.blocks = [(m, kind) for m in self.modalities for kind in _BLOCKS
                       if kind == "hog" or (colour_names and m == "visible")]
        unknown = set(projection_dims or {}) - set(_BLOCKS)
        if unknown:
            raise ValueError(f"ECOTracker: unknown projection_dims {sorted(unknown)}, known: {_BLOCKS}")
        self.projection_dims = dict(projection_dims) if projection_dims else None

        # frequencies of the rfft2 grid (rows: fftfreq, cols: rfftfreq), in cycles per window
        self.ky = np.fft.fftfreq(n, 1.0 / n)[:, None]  # [N, 1]
        self.kx = np.fft.rfftfreq(n, 1.0 / n)[None, :]  # [1, N//2+1]
        # Hermitian weights: each rfft column but the first stands for itself and its mirror
        self.omega = np.where(self.kx == 0, 1.0, 2.0) * np.ones_like(self.ky)  # [N, N//2+1]
        # cosine window (as ECO: a Hann window two samples longer, without its zero ends)
        hann = np.hanning(n + 2)[1:-1]
        self.window = np.outer(hann, hann).astype(np.float32)
        # interpolation kernel's Fourier coefficients (C-COT eq. 1-2), real and even
        if interpolation == "cubic":
            self.interp = _cubic_kernel_fourier(self.ky[:, 0] / n, cubic_a)[:, None] * \
                _cubic_kernel_fourier(self.kx[0] / n, cubic_a)[None, :]
        else:
            self.interp = np.ones((n, n // 2 + 1))
        # label: Fourier series of a periodic Gaussian of peak 1 at shift 0 (C-COT Sec. 3.1)
        target_cells = n / search_area_scale
        sigma = output_sigma_factor * target_cells
        gaussian = np.exp(-2 * (np.pi * sigma / n) ** 2 * (self.ky**2 + self.kx**2))
        self.label = ((2 * np.pi * sigma**2 / n**2) * gaussian).astype(np.complex128)
        # spatial regularisation window (SRDCF eq. 3's w): set per sequence (it uses the aspect)
        self._reg_min, self._reg_edge = reg_window_min, reg_window_edge
        # the CG state carried between updates (None: restart), and how much of it carries over
        self._cg_state: tuple[np.ndarray, float, np.ndarray | None] | None = None
        self._cg_forget = 0.0 if cg_forgetting_rate is None else (1.0 - learning_rate) ** cg_forgetting_rate
        if not 0.0 <= reg_sparsity < 1.0:
            raise ValueError(f"ECOTracker: reg_sparsity must be in [0, 1), got {reg_sparsity}")
        self._reg_sparsity = float(reg_sparsity)
        self._center: np.ndarray | None = None

    # -- features ------------------------------------------------------------------------------

    def _samples(self, frames: Mapping[str, np.ndarray], center: np.ndarray, side: float,
                 scales: np.ndarray) -> tuple[np.ndarray, list[CropGeometry]]:
        """Fourier coefficients of the interpolated features at each scale: ``[S, C, N, N//2+1]``."""
        stack, geometries = [], []
        for scale in scales:  # S is small: the per-scale work is cutting the crops
            s = side * scale
            geometry = CropGeometry(x0=center[0] - s / 2, y0=center[1] - s / 2, scale=self.patch_size / s,
                                    size=self.patch_size)
            patches = {m: crop(frames[m], geometry, border=self.crop_border) for m in self.modalities}
            stack.append(np.concatenate([self._block(patches[m], kind) for m, kind in self.blocks]))
            geometries.append(geometry)
        features = np.stack(stack) * self.window  # [S, C, N, N]
        return np.fft.rfft2(features) * (self.interp / self.cells**2), geometries

    def _block(self, patch: np.ndarray, kind: str) -> np.ndarray:
        """One feature block, normalised to unit mean energy per element (as ECO's code does)."""
        if kind == "hog":
            block = gradient_orientation_features(to_gray(patch), self.cell_size)
        else:
            block = colour_name_features(patch, self.cell_size)
        energy = float((block.astype(np.float64) ** 2).mean())
        return block / np.sqrt(energy + 1e-12)

    def _block_slices(self, dims: list[int]) -> list[slice]:
        edges = np.cumsum([0, *dims])
        return [slice(int(a), int(b)) for a, b in zip(edges[:-1], edges[1:])]

    # -- the learning problem ------------------------------------------------------------------

    def _inner(self, a: np.ndarray, b: np.ndarray) -> float:
        """Real inner product of two sets of rfft2 coefficients ``[..., N, N//2+1]`` (Parseval)."""
        return float((self.omega * (np.conj(a) * b).real).sum())

    def _inner_many(self, many: np.ndarray, b: np.ndarray) -> np.ndarray:
        """``[M]`` inner products of ``many [M, D, N, Nh]`` with ``b [D, N, Nh]``."""
        return (np.conj(many.reshape(len(many), b.size)) @ (self.omega * b).reshape(-1)).real

    def _regularise(self, f: np.ndarray) -> np.ndarray:
        """``W^H W f``: the spatial regulariser's normal-equation term, ``[D, N, N//2+1]``."""
        n = self.cells
        return np.fft.rfft2(self._reg_sq * np.fft.irfft2(f, s=(n, n)))

    def _data_apply(self, f: np.ndarray) -> np.ndarray:
        """``sum_j alpha_j x_j^H x_j f`` per frequency, ``f [D, N, N//2+1]``."""
        if self.data == "average":
            columns = np.ascontiguousarray(f.reshape(len(f), -1).T, dtype=np.complex64)[:, :, None]
            out = np.matmul(self._gram, columns)[:, :, 0]  # [K, D]: one small gemv per frequency
            return out.T.reshape(f.shape)
        weighted = self._weights[:self._count, None, None]
        samples = self._means[:self._count]  # [M, D, N, Nh]
        scores = (samples * f).sum(axis=1)  # [M, N, Nh]
        return (np.conj(samples) * (weighted * scores)[:, None]).sum(axis=0)

    def _data_rhs(self) -> np.ndarray:
        if self.data == "average":
            return self._rhs
        weighted = self._weights[:self._count, None, None, None]
        return (np.conj(self._means[:self._count]) * weighted).sum(axis=0) * self.label

    def _data_diagonal(self) -> np.ndarray:
        if self.data == "average":
            diag = np.einsum("kcc->ck", self._gram).real.reshape(-1, *self.omega.shape)
        else:
            weighted = self._weights[:self._count, None, None, None]
            diag = (weighted * np.abs(self._means[:self._count]) ** 2).sum(axis=0)
        return diag

    def _conjugate_gradient(self, f: np.ndarray, iterations: int) -> np.ndarray:
        """Preconditioned CG on ``(A^H Gamma A + W^H W) f = A^H Gamma y`` (C-COT eq. 13), warm start.

        With ``cg_forgetting_rate`` set, the search direction carries over from the previous update
        (Polak-Ribiere, its weight damped by ``(1 - learning_rate) ** cg_forgetting_rate``), as the ECO
        authors' code does: the few iterations of each update continue one optimisation across frames.
        Without it, every update restarts from the steepest descent direction (Fletcher-Reeves)."""
        diag = self._data_diagonal()
        # Jacobi preconditioner (ECO's: a blend of each channel's and the mean data energy, plus w's)
        precond = 0.75 * diag + 0.25 * diag.mean(axis=0, keepdims=True) + self._reg_energy
        rhs = self._data_rhs()
        residual = rhs - self._data_apply(f) - self._regularise(f)
        direction, rho, previous = None, 1.0, None
        if self._cg_state is not None:
            direction, rho, previous = self._cg_state
            rho = rho / self._cg_forget
        for _ in range(iterations):
            z = residual / precond
            rho_old, rho = rho, self._inner(residual, z)
            if rho <= 0:
                break
            if direction is None:
                direction = z
            else:
                beta = rho / rho_old if previous is None else (rho - self._inner(previous, z)) / rho_old
                direction = z + max(beta, 0.0) * direction
            q = self._data_apply(direction) + self._regularise(direction)
            denominator = self._inner(direction, q)
            if denominator <= 0:
                break
            alpha = rho / denominator
            if self._cg_forget > 0:
                previous = residual
            f = f + alpha * direction
            residual = residual - alpha * q
        if self._cg_forget > 0 and direction is not None:
            self._cg_state = (direction, rho, previous)
        return f

    def _init_projection(self, x: np.ndarray) -> np.ndarray:
        """``[C, D]`` block-diagonal projection, each block's first principal components (ECO's init)."""
        n = self.cells
        features = np.fft.irfft2(x, s=(n, n))  # the windowed, interpolated features (a common scale)
        matrix = np.zeros((x.shape[0], sum(self._dims)))
        for rows, cols in zip(self._in_slices, self._out_slices):
            block = features[rows].reshape(rows.stop - rows.start, -1)
            block = block - block.mean(axis=1, keepdims=True)
            u, _, _ = np.linalg.svd(block @ block.T)
            matrix[rows, cols] = u[:, :cols.stop - cols.start]
        return matrix

    def _train_joint(self, x: np.ndarray) -> None:
        """ECO's first frame (eq. 8-10): Gauss-Newton on the filter and the projection, each step a CG
        on the linearised least squares, then the filter alone on the projected sample."""
        projection = self._projection
        mask = projection != 0
        f = np.zeros((projection.shape[1], *self.omega.shape), dtype=np.complex128)
        label_energy = float((self.label.real ** 2 * self.omega).sum())
        proj_precond = 2 * label_energy / x.shape[0]  # ECO's preconditioner of the projection's part
        steps = max(1, self.init_cg_iterations // max(1, self.init_gn_iterations))
        xk = x.reshape(len(x), -1)  # [C, K]
        y = self.label.reshape(-1)
        omega = self.omega.reshape(-1)
        for _ in range(self.init_gn_iterations):
            u = (projection.T @ xk)  # projected sample [D, K]
            f0 = f.reshape(len(f), -1)
            diag = np.abs(u) ** 2
            precond = (0.75 * diag + 0.25 * diag.mean(axis=0, keepdims=True)).reshape(f.shape)
            precond = precond + self._reg_energy

            def apply(df: np.ndarray, dp: np.ndarray, u=u, f0=f0) -> tuple[np.ndarray, np.ndarray]:
                scores = (u * df.reshape(len(df), -1)).sum(axis=0) + ((dp.T @ xk) * f0).sum(axis=0)  # [K]
                out_f = (np.conj(u) * scores).reshape(df.shape) + self._regularise(df)
                out_p = (np.conj(xk) @ (np.conj(f0) * (omega * scores)).T).real + self.projection_reg * dp
                return out_f, out_p * mask

            rhs_f = (np.conj(u) * y).reshape(f.shape)
            rhs_p = (np.conj(xk) @ (np.conj(f0) * (omega * y)).T).real * mask
            # CG on (f_new, dP) with the inner product <f, f'>_omega + <P, P'>, warm start (f, 0)
            df, dp = f, np.zeros_like(projection)
            af, ap = apply(df, dp)
            rf, rp = rhs_f - af, rhs_p - ap
            zf, zp = rf / precond, rp / proj_precond
            pf, pp = zf, zp
            rho = self._inner(rf, zf) + float((rp * zp).sum())
            for _ in range(steps):
                qf, qp = apply(pf, pp)
                denominator = self._inner(pf, qf) + float((pp * qp).sum())
                if denominator <= 0 or rho <= 0:
                    break
                alpha = rho / denominator
                df, dp = df + alpha * pf, dp + alpha * pp
                rf, rp = rf - alpha * qf, rp - alpha * qp
                zf, zp = rf / precond, rp / proj_precond
                rho_new = self._inner(rf, zf) + float((rp * zp).sum())
                pf, pp = zf + (rho_new / rho) * pf, zp + (rho_new / rho) * pp
                rho = rho_new
            f, projection = df, projection + dp
        self._projection = projection
        self._filter = f

    def _project(self, x: np.ndarray) -> np.ndarray:
        """``[..., C, N, Nh]`` -> ``[..., D, N, Nh]`` (identity without projection)."""
        if self._projection is None:
            return x
        flat = x.reshape(*x.shape[:-3], x.shape[-3], -1)  # [..., C, K]
        return np.matmul(self._projection.T.astype(x.dtype), flat).reshape(*x.shape[:-3], -1, *x.shape[-2:])

    # -- the sample memory (SRDCF / C-COT's running average, or ECO's mixture) -----------------

    def _add_sample(self, x: np.ndarray, first: bool) -> None:
        rate = 1.0 if first else self.learning_rate
        if self.data == "average":
            xk = np.ascontiguousarray(x.reshape(len(x), -1).T, dtype=np.complex64)  # [K, D]
            rhs = np.conj(x) * self.label
            if first:
                self._gram = np.zeros((xk.shape[0], xk.shape[1], xk.shape[1]), dtype=np.complex64)
                self._rhs = np.zeros_like(rhs)
            # the running average of SRDCF Sec. 4.2, in place: G <- (1 - rate) G + rate conj(x) x^T
            self._gram *= 1 - rate
            self._gram += (rate * np.conj(xk))[:, :, None] * xk[:, None, :]
            self._rhs = (1 - rate) * self._rhs + rate * rhs
            return
        self._gmm_update(x, rate, first)

    def _gmm_update(self, x: np.ndarray, rate: float, first: bool) -> None:
        """ECO Sec. 3.2: the new sample becomes a component of weight ``rate``; when the mixture is
        full, a component whose weight fell below a floor is replaced, else the two closest (the new
        sample included) are merged into their weighted mean."""
        m = self.gmm_components
        if first:
            self._means = np.zeros((m, *x.shape), dtype=np.complex128)
            self._weights = np.zeros(m)
            self._gram_gmm = np.zeros((m, m))
            self._count = 0
        self._weights *= 1 - rate
        count = self._count
        means = self._means
        cross = self._inner_many(means[:count], x)
        x_energy = self._inner(x, x)
        if count < m:
            slot = count
            self._count += 1
        else:
            floor = self.learning_rate * (1 - self.learning_rate) ** (2 * m)
            lowest = int(np.argmin(self._weights))
            if self._weights[lowest] < floor:
                slot = lowest
            else:
                diag = np.diag(self._gram_gmm)
                pair = diag[:, None] + diag[None, :] - 2 * self._gram_gmm
                np.fill_diagonal(pair, np.inf)
                to_new = diag + x_energy - 2 * cross
                i, j = np.unravel_index(int(np.argmin(pair)), pair.shape)
                nearest = int(np.argmin(to_new))
                if to_new[nearest] <= pair[i, j]:  # merge the new sample into its nearest component
                    w0 = self._weights[nearest]
                    means[nearest] = (w0 * means[nearest] + rate * x) / (w0 + rate)
                    self._weights[nearest] = w0 + rate
                    self._refresh_gram(nearest)
                    self._weights /= self._weights.sum()
                    return
                wi, wj = self._weights[i], self._weights[j]  # merge the two closest, free slot j
                means[i] = (wi * means[i] + wj * means[j]) / (wi + wj)
                self._weights[i] = wi + wj
                self._refresh_gram(i)
                slot = j
        means[slot] = x
        self._weights[slot] = rate
        self._refresh_gram(slot)
        self._weights[:self._count] /= self._weights[:self._count].sum()

    def _refresh_gram(self, slot: int) -> None:
        count = self._count
        row = self._inner_many(self._means[:count], self._means[slot])
        self._gram_gmm[slot, :count] = row
        self._gram_gmm[:count, slot] = row

    # -- detection -----------------------------------------------------------------------------

    def _newton(self, scores: np.ndarray, start: np.ndarray) -> np.ndarray:
        """Maximise the trigonometric polynomial with coefficients ``scores`` (full ``[N, N]`` fft2 of
        the score map) from ``start`` (cells, (row, col)) by Newton's method (C-COT Sec. 3.3; SRDCF
        Sec. 4.3), staying within a cell of ``start``."""
        k, k2 = self._newton_k, self._newton_k2
        t = start.astype(np.float64)
        for _ in range(self.newton_iterations):
            ey = np.exp(k * t[0])  # [N]
            ex = np.exp(k * t[1])
            field = scores * ey[:, None] * ex[None, :]
            gy = (field * k[:, None]).sum().real
            gx = (field * k[None, :]).sum().real
            hyy = (field * k2[:, None]).sum().real
            hxx = (field * k2[None, :]).sum().real
            hxy = (field * k[:, None] * k[None, :]).sum().real
            det = hyy * hxx - hxy**2
            if det <= 0 or hyy >= 0:  # not at a maximum's basin: keep the current point
                break
            step = np.array([(hxx * gy - hxy * gx) / det, (hyy * gx - hxy * gy) / det])
            t = t - np.clip(step, -0.5, 0.5)  # a damped step: the grid maximum is within half a cell
            if np.abs(step).max() < 1e-3:
                break
        # the grid maximum is the nearest sample to the true one: a Newton path that wandered off (to
        # another peak of the interpolated, ringing score) is discarded
        return t if np.abs(t - start).max() <= 1.0 else start

    # -- the tracker interface -----------------------------------------------------------------

    def initialize(self, frames: Mapping[str, np.ndarray], box_ltwh: np.ndarray) -> None:
        """Learn the filter on the first frame. frames: modality -> ``[H, W, 3]`` uint8 RGB."""
        box = checked_box(box_ltwh, "initial box", "ECOTracker.initialize")
        missing = [m for m in self.modalities if m not in frames]
        if missing:
            raise ValueError(f"ECOTracker.initialize: frames lack modalities {missing}")
        self._image_size = np.array(frames[self.modalities[0]].shape[1::-1], dtype=np.float64)  # (W, H)
        self._center = box[:2] + box[2:] / 2
        self._size = box[2:].copy()
        self._frame = 0
        self._cg_state = None  # ECO's joint first frame leaves none: its first update starts afresh
        self._set_reg_window(box[2:])
        x, _ = self._samples(frames, self._center, self._side(), np.ones(1))
        x = x[0].astype(np.complex128)
        if self.projection_dims is not None:
            in_dims = [self._block_channels(kind) for _, kind in self.blocks]
            self._dims = [min(self.projection_dims[kind], c) for (_, kind), c in zip(self.blocks, in_dims)]
            self._in_slices, self._out_slices = self._block_slices(in_dims), self._block_slices(self._dims)
            self._projection = self._init_projection(x)
            self._train_joint(x)
            self._add_sample(self._project(x), first=True)
        else:
            self._projection = None
            self._add_sample(x, first=True)
            self._filter = self._conjugate_gradient(np.zeros_like(x), self.init_cg_iterations)

    @staticmethod
    def _block_channels(kind: str) -> int:
        return NUM_CHANNELS if kind == "hog" else len(COLOUR_NAMES)

    def _side(self) -> float:
        return float(np.sqrt(self._size[0] * self._size[1]) * self.factor)

    def _set_reg_window(self, size: np.ndarray) -> None:
        """SRDCF's w: ``reg_min + (reg_edge - reg_min) ((2 t_x / w)^2 + (2 t_y / h)^2)``, t in cells
        from the filter's centre (ECO's quadratic window: reg_window_power 2), then made sparse in the
        Fourier domain: the DFT coefficients below ``reg_sparsity`` times the largest are dropped and the
        window shifted so its minimum is ``reg_min`` again (SRDCF Sec. 4.1 builds w with a sparse DFT; the
        ECO authors' code drops below 0.05, ``reg_sparsity_threshold``). What is left is a smooth, low-order
        trigonometric window, lower than the exact quadratic far from the target."""
        n = self.cells
        # the response at shift 0 is sum_u x(u) f(-u) and the target sits at the window's centre cell
        # (n - 1) / 2, so the filter's support is centred on -(n - 1) / 2 = (n + 1) / 2 (mod n)
        offsets = (np.arange(n) - (n + 1) // 2 + n // 2) % n - n // 2
        side = float(np.sqrt(size[0] * size[1]))
        cells_per_pixel = n / (side * self.factor)
        half_w, half_h = size[0] / 2 * cells_per_pixel, size[1] / 2 * cells_per_pixel
        w = self._reg_min + (self._reg_edge - self._reg_min) * \
            ((offsets[:, None] / half_h) ** 2 + (offsets[None, :] / half_w) ** 2)
        if self._reg_sparsity > 0:  # keep the DFT's large coefficients only, then restore the minimum
            dft = np.fft.fft2(w)
            dft[np.abs(dft) < self._reg_sparsity * np.abs(dft).max()] = 0
            w = np.fft.ifft2(dft).real
            w = w - w.min() + self._reg_min
        self._reg_sq = w**2
        self._reg_energy = float((w**2).mean())

    def track(self, frames: Mapping[str, np.ndarray]) -> np.ndarray:
        """Locate the target in the next frame; returns its ``ltwh`` box (float64 ``[4]``)."""
        if self._center is None:
            raise RuntimeError("ECOTracker.track called before initialize")
        n = self.cells
        self._frame += 1
        x, geometries = self._samples(frames, self._center, self._side(), self.scales)
        xp = self._project(x.astype(np.complex128))  # [S, D, N, Nh]
        response_f = (xp * self._filter).sum(axis=1)  # [S, N, Nh]
        response = np.fft.irfft2(response_f, s=(n, n))  # [S, N, N]
        best = int(np.argmax(response.reshape(len(self.scales), -1).max(axis=1)))
        row, col = np.unravel_index(int(np.argmax(response[best])), (n, n))
        start = (np.array([row, col], dtype=np.float64) + n / 2) % n - n / 2
        t = self._newton(np.fft.fft2(response[best]), start) if self.newton_iterations else start
        t = (t + n / 2) % n - n / 2  # cyclic shifts beyond half the window are the other way
        shift = t[::-1] * self.cell_size / geometries[best].scale  # (dx, dy) image pixels
        self._center = np.clip(self._center + shift, 0.0, self._image_size)
        self._size = np.clip(self._size * self.scales[best], _MIN_SIZE, self._image_size)

        # the training sample: the detection sample at the chosen scale, re-centred on the target
        phase = np.exp(2j * np.pi * (self.ky * t[0] + self.kx * t[1]) / n)
        self._add_sample(xp[best] * phase, first=False)
        dense = self._frame <= self.dense_frames
        if dense or self._frame % self.update_interval == 0:
            self._filter = self._conjugate_gradient(self._filter, self.cg_iterations)
        return np.concatenate([self._center - self._size / 2, self._size])


def _cubic_kernel_fourier(frequency: np.ndarray, a: float) -> np.ndarray:
    """Continuous Fourier transform of Keys' cubic kernel (support [-2, 2] samples) at ``frequency``
    (cycles per sample), by quadrature on a fine grid (the kernel is even: a cosine transform)."""
    u = np.linspace(0.0, 2.0, 2001)
    absu = u
    kernel = np.where(absu <= 1, (a + 2) * absu**3 - (a + 3) * absu**2 + 1,
                      a * absu**3 - 5 * a * absu**2 + 8 * a * absu - 4 * a)
    integrand = kernel[None, :] * np.cos(2 * np.pi * np.asarray(frequency)[:, None] * u[None, :])
    return 2 * np.trapezoid(integrand, u, axis=1)
