"""Learning what the encoders need (PCA, GMM, k-means vocabulary) from training images only.

A fixed-seed random sample of training images is described densely and a
fixed number of descriptors per image is kept (uniformly at random); that
sample is what PCA, the GMM and k-means see. The sample sizes are parameters
of the pipelines (``codebook_images`` x ``descriptors_per_image``): 1,000 x 64
= 64k descriptors for the Fisher-vector GMM (1,000 per component at K = 64)
and 1,000 x 100 = 100k for the BoVW k-means. Chatfield et al. 2011 used
~10^6 descriptors for K = 256, the 256 px suite's 4,000 x 250. The GMM is
fitted by chunked float32 EM in torch (:mod:`baselines.features.gmm`: memory
bounded by the chunk, k-means initialised, converged or not reported in the
notes); PCA and the BoVW k-means use scikit-learn.
"""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np

from baselines.features.fisher import DiagonalGmm
from baselines.features.gmm import fit_diagonal_gmm
from baselines.features.sift_encoders import Pca
from harness.api import MethodError
from harness.memory import read_rows

POINTS_PER_CENTRE = 20  # descriptors a k-means word or GMM component is learned from, at least


def learned_size(size: int, descriptors: int, floor: int = 2) -> int:
    """Words (components) a codebook of ``size`` learns from ``descriptors``: capped at one
    per :data:`POINTS_PER_CENTRE` (tiny training sets), below which most would be
    fitted to a handful of points; at least ``floor``."""
    return max(floor, min(int(size), int(descriptors) // POINTS_PER_CENTRE))


def sample_training_descriptors(
    images: np.ndarray,
    extractor: Any,
    *,
    n_images: int,
    per_image: int,
    seed: int,
    chunk: int = 32,
) -> np.ndarray:
    """``(M, D)`` float32 descriptors from a seeded sample of ``images`` (the train split).

    ``extractor`` is anything with ``descriptors(images) -> (n, P, D)`` and a
    ``grid``: dense SIFT (D = 128) or the colour statistics (D = 96). Every
    descriptor of ``chunk`` images is held at once (at 256 px about 16,000 an
    image, 8 MB of float32 SIFT), so the chunk bounds the memory: 256 images a
    chunk peaked at 9.0 GiB anonymous in sift-fv-svm on a 1,000-class copy.
    The sample does not depend on the chunk (one seeded draw per image, in order).
    """
    rng = np.random.default_rng(seed)
    n = len(images)
    chosen = np.sort(rng.choice(n, size=min(n_images, n), replace=False))
    kept = []
    for start in range(0, len(chosen), chunk):
        rows = chosen[start : start + chunk]
        desc = extractor.descriptors(read_rows(images, rows))  # (b, P, 128)
        p = desc.shape[1]
        if p == 0:
            continue
        take = min(per_image, p)
        for d in desc:
            kept.append(d[rng.choice(p, size=take, replace=False)])
    if not kept:
        raise MethodError(
            f"no dense descriptors to learn a codebook from: training images of {images.shape[1]} px "
            f"are smaller than the smallest descriptor of {extractor.grid} (4 bins of "
            f"{min(extractor.grid.bin_sizes, default=0)} px); use smaller bin_sizes"
        )
    return np.concatenate(kept).astype(np.float32)


def fit_pca(descriptors: np.ndarray, n_components: int, seed: int) -> Pca:
    from sklearn.decomposition import PCA

    n_components = min(n_components, descriptors.shape[1], len(descriptors))
    pca = PCA(n_components=n_components, random_state=seed).fit(descriptors)
    return Pca(mean=pca.mean_.astype(np.float32), components=pca.components_.astype(np.float32))


def fit_gmm(
    x: np.ndarray,
    n_components: int,
    seed: int,
    max_iter: int = 100,
    *,
    device: str = "cpu",
    facts: dict[str, Any] | None = None,
) -> DiagonalGmm:
    """Diagonal GMM by chunked float32 EM in torch on ``device`` (:mod:`baselines.features.gmm`).

    k-means initialised on a subsample, variance floor 1e-4, VLFeat's stopping
    rule, at most 10^6 rows. ``facts``, if given, receives how the fit went
    (iterations, final mean log-likelihood, converged, rows used).
    """
    n_components = learned_size(n_components, len(x), floor=1)
    fit = fit_diagonal_gmm(x, n_components, seed=seed, max_iter=max_iter, device=device)
    if facts is not None:
        facts.update(fit.facts())
    return fit.gmm


KMEANS_BATCH = 4096  # descriptors per mini-batch step of the vocabulary's k-means


def fit_vocabulary(
    descriptors: np.ndarray, n_words: int, seed: int, facts: dict[str, Any] | None = None
) -> np.ndarray:
    """k-means vocabulary ``(V, 128)`` with sklearn's MiniBatchKMeans.

    V is capped at one word per 20 sampled descriptors (tiny training sets),
    below which most words would be fitted to a handful of points. ``facts``, if
    given, receives the words, the mini-batch steps taken (sklearn stops early
    when the smoothed inertia stops falling) and the seconds.
    """
    from sklearn.cluster import MiniBatchKMeans

    n_words = learned_size(n_words, len(descriptors))
    start = time.perf_counter()
    km = MiniBatchKMeans(
        n_clusters=n_words, batch_size=KMEANS_BATCH, n_init=1, random_state=seed, max_iter=100
    ).fit(descriptors)
    if facts is not None:
        facts.update(
            words=n_words,
            steps=int(km.n_steps_),
            max_steps=100 * math.ceil(len(descriptors) / KMEANS_BATCH),
            seconds=round(time.perf_counter() - start, 2),
        )
    return km.cluster_centers_.astype(np.float32)
