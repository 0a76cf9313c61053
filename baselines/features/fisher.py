"""Improved Fisher vectors (Perronnin, Sanchez & Mensink 2010), batched, numpy and torch.

The reference is ``skimage.feature.fisher_vector``: for one image's
descriptors and a diagonal ``sklearn`` GaussianMixture it returns the
gradients with respect to weights (K), means (K*D) and variances (K*D),
normalised by the Fisher information, then signed square root and L2
(``improved=True``). It works on one image and one region at a time and calls
``gmm.predict_proba``; here the same formulas run over a whole batch and all
spatial-pyramid cells with a few matrix products, which is what makes
encoding 10^4-10^6 images practical. ``tests/baselines/test_features_fisher.py``
checks both encoders against skimage.

Conventions (kept identical to skimage so the comparison is exact):
the variance gradient carries skimage's sign, and with ``include_weights`` the
K weight gradients come first. The pipelines drop the weight gradients (the
usual 2KD-dimensional improved FV of the ILSVRC systems; they carry almost no
information). Each pyramid cell is power- and L2-normalised on its own, as in
Chatfield et al. 2011; a cell with no descriptors is all zeros.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

_NP_BATCH = 16  # images per numpy step; bounds the (b, P, K) posteriors


@dataclass(frozen=True)
class DiagonalGmm:
    """A diagonal-covariance GMM as plain arrays (picklable, backend-free)."""

    weights: np.ndarray  # (K,)
    means: np.ndarray  # (K, D)
    variances: np.ndarray  # (K, D)

    @classmethod
    def from_sklearn(cls, gmm: Any) -> DiagonalGmm:
        if getattr(gmm, "covariance_type", None) != "diag":
            raise ValueError("Fisher vectors here need a GaussianMixture(covariance_type='diag')")
        return cls(
            weights=np.asarray(gmm.weights_, dtype=np.float64),
            means=np.asarray(gmm.means_, dtype=np.float64),
            variances=np.asarray(gmm.covariances_, dtype=np.float64),
        )

    @property
    def n_components(self) -> int:
        return len(self.weights)

    @property
    def dim(self) -> int:
        return int(self.means.shape[1])


def fisher_dim(n_components: int, dim: int, n_cells: int = 1, include_weights: bool = False) -> int:
    per_cell = 2 * n_components * dim + (n_components if include_weights else 0)
    return per_cell * n_cells


def _log_posteriors_np(x: np.ndarray, gmm: DiagonalGmm) -> np.ndarray:
    """log p(k | x) for ``x`` (n, P, D) -> (n, P, K), as GaussianMixture.predict_proba."""
    prec = (1.0 / gmm.variances).astype(x.dtype)  # (K, D)
    log_det = np.sum(np.log(gmm.variances), axis=1)  # (K,)
    const = np.log(gmm.weights) - 0.5 * (gmm.dim * np.log(2 * np.pi) + log_det)
    const = const - 0.5 * np.sum(gmm.means**2 * prec, axis=1)
    log_p = (
        -0.5 * (x**2 @ prec.T) + x @ (gmm.means * prec).T.astype(x.dtype) + const.astype(x.dtype)
    )
    log_p -= log_p.max(axis=-1, keepdims=True)
    log_p -= np.log(np.exp(log_p).sum(axis=-1, keepdims=True))
    return log_p


def _normalise_cells(fv: np.ndarray | Any, improved: bool, alpha: float, xp: Any) -> Any:
    """fv (n, C, F): signed power then L2 per cell; zero cells stay zero."""
    if not improved:
        return fv
    fv = xp.sign(fv) * xp.abs(fv) ** alpha
    norm = (fv**2).sum(-1, keepdims=True) ** 0.5
    return fv / xp.where(norm > 0, norm, xp.ones_like(norm))


def fisher_vectors_np(
    descriptors: np.ndarray,
    gmm: DiagonalGmm,
    cells: np.ndarray | None = None,
    *,
    improved: bool = True,
    alpha: float = 0.5,
    include_weights: bool = False,
    dtype: Any = np.float32,
) -> np.ndarray:
    """Batched Fisher vectors in numpy.

    ``descriptors`` (n, P, D); ``cells`` (P, C) 0/1 assignment of points to
    pyramid cells (None: one cell with every point). Returns (n, C * F) float32
    with F = 2KD (+K with ``include_weights``), cell-major. ``dtype`` is the
    precision of the posteriors and the big products (float64 reproduces
    skimage to ~1e-12; float32 to ~1e-5 at half the cost); the statistics are
    finished in float64.
    """
    x_all = np.asarray(descriptors)
    n, p, d = x_all.shape
    if cells is None:
        cells = np.ones((p, 1))
    k, c = gmm.n_components, cells.shape[1]
    out = np.zeros((n, fisher_dim(k, d, c, include_weights)), dtype=np.float32)
    if p == 0:
        return out
    members = [np.flatnonzero(cells[:, j]) for j in range(c)]
    gmm_t = _as_tuple(gmm)
    # a few images at a time bounds the (b, P, K) posteriors
    for start in range(0, n, _NP_BATCH):
        x = x_all[start : start + _NP_BATCH].astype(dtype)
        b = len(x)
        gamma = np.exp(_log_posteriors_np(x, gmm).astype(dtype))  # (b, P, K)
        xx = np.concatenate([x, x * x], axis=2)  # first and second moments in one product
        s0 = np.zeros((b, c, k))
        s12 = np.zeros((b, c, k, 2 * d))
        # one product per cell over its own points: cost = levels x P K D, not cells x P K D
        for j, idx in enumerate(members):
            if len(idx) == 0:
                continue
            g = gamma[:, idx]
            s0[:, j] = g.sum(1) / len(idx)
            s12[:, j] = np.matmul(g.transpose(0, 2, 1), xx[:, idx]) / len(idx)
        fv = _fisher_from_stats(s0, s12[..., :d], s12[..., d:], gmm_t, include_weights, np)
        for j, idx in enumerate(members):
            if len(idx) == 0:
                fv[:, j] = 0.0
        fv = _normalise_cells(fv, improved, alpha, np)
        out[start : start + b] = fv.reshape(b, -1)
    return out


def _fisher_from_stats(s0: Any, s1: Any, s2: Any, gmm: Any, include_weights: bool, xp: Any) -> Any:
    """skimage's formulas on per-cell averaged statistics; returns (n, C, F)."""
    w, mu, var = gmm  # arrays of the backend in use
    s0e = s0[..., None]
    d_mu = (s1 - s0e * mu) / (w[:, None] ** 0.5 * var**0.5)
    d_sigma = (-s2 - s0e * mu**2 + s0e * var + 2 * s1 * mu) / (2**0.5 * w[:, None] ** 0.5 * var)
    n, c = s0.shape[:2]
    parts = [d_mu.reshape(n, c, -1), d_sigma.reshape(n, c, -1)]
    if include_weights:
        parts.insert(0, (s0 - w) / w**0.5)
    return xp.concatenate(parts, -1) if xp is np else xp.cat(parts, -1)


def _as_tuple(gmm: DiagonalGmm) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return gmm.weights, gmm.means, gmm.variances


def fisher_vectors_torch(
    descriptors: Any,
    gmm: DiagonalGmm,
    cells: np.ndarray | None = None,
    *,
    improved: bool = True,
    alpha: float = 0.5,
    include_weights: bool = False,
) -> Any:
    """The same as :func:`fisher_vectors_np` on a torch tensor (any device); returns a tensor."""
    import torch

    x = descriptors
    n, p, d = x.shape
    dev, dt = x.device, x.dtype
    if cells is None:
        cells = np.ones((p, 1), dtype=np.float32)
    k, c = gmm.n_components, cells.shape[1]
    if p == 0:
        return torch.zeros((n, fisher_dim(k, d, c, include_weights)), dtype=dt, device=dev)
    w = torch.as_tensor(gmm.weights, dtype=dt, device=dev)
    mu = torch.as_tensor(gmm.means, dtype=dt, device=dev)
    var = torch.as_tensor(gmm.variances, dtype=dt, device=dev)
    a = torch.as_tensor(cells, dtype=dt, device=dev)
    prec = 1.0 / var
    const = torch.log(w) - 0.5 * (d * float(np.log(2 * np.pi)) + torch.log(var).sum(1))
    const = const - 0.5 * (mu**2 * prec).sum(1)
    log_p = -0.5 * (x**2 @ prec.T) + x @ (mu * prec).T + const
    gamma = torch.softmax(log_p, dim=-1)  # (n, P, K)
    gamma_cells = (gamma[:, :, None, :] * a[None, :, :, None]).reshape(n, p, c * k)
    counts = a.sum(0).clamp_min(1.0)[:, None]
    s0 = gamma_cells.sum(1).reshape(n, c, k) / counts
    gt = gamma_cells.transpose(1, 2)
    s1 = torch.bmm(gt, x).reshape(n, c, k, d) / counts[..., None]
    s2 = torch.bmm(gt, x * x).reshape(n, c, k, d) / counts[..., None]
    fv = _fisher_from_stats(s0, s1, s2, (w, mu, var), include_weights, torch)
    empty = a.sum(0) == 0
    fv[:, empty] = 0.0
    if improved:
        fv = torch.sign(fv) * fv.abs() ** alpha
        fv = torch.nn.functional.normalize(fv, dim=-1)
    return fv.reshape(n, -1)
