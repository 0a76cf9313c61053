"""Product quantisation of stored features, decoded block by block for the SVMs.

Sánchez & Perronnin (CVPR 2011, "High-dimensional signature compression for
large-scale image classification") stored ILSVRC's Fisher vectors product-
quantised: each vector cut into sub-vectors of ``sub_dim`` (8) dimensions,
each sub-vector replaced by the index of the nearest of ``n_centroids``
(256) centroids learned by k-means for its sub-space, so 8 float32 values
(32 bytes) become 1 byte; SGD decompresses the rows it visits. Here the
codes are the cache's ``uint8`` memory map and :class:`PQFeatures` is what
the SVMs index: ``features[rows]`` decodes those rows to float32, so
:mod:`baselines.linear`'s block loop never holds more than one block.

Learning: Lloyd's k-means run for all sub-spaces at once in torch (batched
distance matrices over a chunk of sub-spaces; memory bounded by
``max_chunk_bytes``), seeded by ``n_centroids`` distinct sample rows per
sub-space. Why not a library: scikit-learn's and faiss's quantisers train
one sub-space at a time (faiss-cpu 1.15's ``ProductQuantizer`` took 326 s
for the 512 sub-spaces of 4,096 dims on this 2-core machine, where a
131,072-dim Fisher vector has 16,384), and neither decodes rows of a memory
map on demand.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = ["STORAGE", "PQFeatures", "ProductQuantizer", "learn_quantizer", "pq_features"]


@dataclass
class ProductQuantizer:
    """``sub_dim``-dimensional sub-vectors, ``n_centroids`` (<= 256) centroids each, 1 byte."""

    sub_dim: int = 8
    n_centroids: int = 256
    iterations: int = 10
    seed: int = 0
    max_chunk_bytes: int = 256 << 20  # distance matrices of one chunk of sub-spaces
    centroids_: np.ndarray | None = field(default=None, repr=False)  # (M, K, sub_dim) float32

    def _split(self, x: Any) -> Any:
        """``(n, D)`` -> ``(M, n, sub_dim)`` (a torch tensor)."""
        n, dim = x.shape
        if dim % self.sub_dim:
            raise ValueError(f"feature dim {dim} is not a multiple of sub_dim {self.sub_dim}")
        return x.reshape(n, dim // self.sub_dim, self.sub_dim).permute(1, 0, 2)

    def _chunk(self, n: int) -> int:
        return max(1, self.max_chunk_bytes // max(1, 4 * n * self.n_centroids))

    def fit(self, X: np.ndarray) -> ProductQuantizer:
        """Learn the centroids of every sub-space from the rows of ``X`` (float, ``(n, D)``)."""
        import torch

        if not 1 <= self.n_centroids <= 256:
            raise ValueError(f"n_centroids must be in 1..256 (one byte), got {self.n_centroids}")
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        n = x.shape[0]
        if n < self.n_centroids:
            raise ValueError(f"{n} training rows for {self.n_centroids} centroids per sub-space")
        subs = self._split(x)  # (M, n, d)
        gen = torch.Generator().manual_seed(self.seed)
        out = torch.empty(subs.shape[0], self.n_centroids, self.sub_dim)
        step = self._chunk(n)
        for s in range(0, subs.shape[0], step):
            data = subs[s : s + step].contiguous()  # (m, n, d)
            m = data.shape[0]
            first = torch.randperm(n, generator=gen)[: self.n_centroids]
            cent = data[:, first].clone()  # (m, K, d)
            for _ in range(self.iterations):
                assign = self._assign(data, cent)  # (m, n)
                sums = torch.zeros_like(cent).scatter_add_(
                    1, assign.unsqueeze(-1).expand(-1, -1, self.sub_dim), data
                )
                counts = torch.zeros(m, self.n_centroids).scatter_add_(1, assign, torch.ones(m, n))
                empty = counts == 0
                cent = torch.where(
                    empty.unsqueeze(-1), cent, sums / counts.clamp(min=1).unsqueeze(-1)
                )
                if empty.any():  # an empty cell takes a random sample row of its sub-space
                    rows = torch.randint(0, n, (int(empty.sum()),), generator=gen)
                    where = empty.nonzero()
                    cent[where[:, 0], where[:, 1]] = data[where[:, 0], rows]
            out[s : s + m] = cent
        self.centroids_ = out.numpy()
        return self

    @staticmethod
    def _assign(data: Any, cent: Any) -> Any:
        """Nearest centroid of each row in each sub-space: ``(m, n)`` int64."""
        import torch

        # |x - c|^2 = |x|^2 - 2 x.c + |c|^2; |x|^2 does not change the argmin
        d = torch.baddbmm((cent * cent).sum(-1).unsqueeze(1), data, cent.transpose(1, 2), alpha=-2)
        return d.argmin(dim=-1)

    def encode(self, X: np.ndarray) -> np.ndarray:
        """``(n, D)`` float -> ``(n, M)`` uint8 codes."""
        import torch

        if self.centroids_ is None:
            raise RuntimeError("ProductQuantizer.encode before fit")
        x = torch.from_numpy(np.ascontiguousarray(X, dtype=np.float32))
        subs = self._split(x)
        cent = torch.from_numpy(self.centroids_)
        codes = np.empty((x.shape[0], subs.shape[0]), dtype=np.uint8)
        step = self._chunk(x.shape[0])
        for s in range(0, subs.shape[0], step):
            codes[:, s : s + step] = self._assign(
                subs[s : s + step].contiguous(), cent[s : s + step]
            ).T.numpy()
        return codes

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """``(n, M)`` uint8 codes -> ``(n, D)`` float32."""
        if self.centroids_ is None:
            raise RuntimeError("ProductQuantizer.decode before fit")
        codes = np.asarray(codes)
        m = self.centroids_.shape[0]
        out = self.centroids_[np.arange(m)[None, :], codes.astype(np.intp)]  # (n, M, d)
        return out.reshape(len(codes), m * self.sub_dim)

    @property
    def bytes_per_vector(self) -> int:
        return 0 if self.centroids_ is None else int(self.centroids_.shape[0])


class PQFeatures:
    """``(n, D)`` float32 features read from ``(n, M)`` codes: ``features[rows]`` decodes rows.

    ``codes`` is the cache's uint8 memory map or a row view of it; indexing,
    ``take`` and ``len``/``shape``/``dtype`` behave as on the decoded array,
    which is never built whole.
    """

    def __init__(self, codes: Any, quantizer: ProductQuantizer) -> None:
        if quantizer.centroids_ is None:
            raise ValueError("PQFeatures needs a fitted quantizer")
        self.codes = codes
        self.quantizer = quantizer

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.codes), int(self.codes.shape[1]) * self.quantizer.sub_dim)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(np.float32)

    @property
    def ndim(self) -> int:
        return 2

    def __len__(self) -> int:
        return len(self.codes)

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, tuple):
            rows, rest = key[0], key[1:]
            return self[rows][(slice(None), *rest)] if rest else self[rows]
        if isinstance(key, (int, np.integer)):
            return self.quantizer.decode(np.asarray(self.codes[int(key)])[None])[0]
        return self.quantizer.decode(np.asarray(self.codes[key]))

    def take(
        self, rows: Any, axis: int = 0, out: np.ndarray | None = None, mode: str = "raise"
    ) -> np.ndarray:
        if axis != 0:
            raise ValueError("PQFeatures.take reads rows (axis=0) only")
        block = self[np.asarray(rows)]
        if out is None:
            return block
        out[...] = block
        return out

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        block = self[slice(None)]
        return block if dtype is None else block.astype(dtype)


#: the storage options of a method's cached features: the cache's dtypes, and "pq"
PQ_SAMPLE_IMAGES = 4096  # fit images the quantiser is learned on (their float32 vectors)
STORAGE = ("float16", "float32", "pq")


def learn_quantizer(
    encoder: Any,
    fit: Any,
    ctx: Any,
    params: dict[str, Any],
    *,
    n_images: int = PQ_SAMPLE_IMAGES,
    chunk_size: int = 256,
    label: str = "features",
) -> ProductQuantizer:
    """The quantizer of ``encoder``'s features, learned on up to ``n_images`` seeded fit rows.

    The sample's features are encoded in float32 in memory (``n_images x dim x 4``
    bytes), the centroids cached by key (encoder ``params``, the fit rows, the seed).
    """
    from baselines.features.cache import cached_arrays, split_fingerprint
    from baselines.features.extraction import map_encoder

    n = min(len(fit), int(n_images))
    if n < 2:
        raise ValueError(f"{label}: product quantisation needs at least 2 fit images, got {n}")
    pq = ProductQuantizer(n_centroids=min(256, n), seed=ctx.seed)  # fewer rows: fewer centroids
    key = {
        "encoder": params,
        "data": split_fingerprint(fit, ctx.manifest_hash, rows=True),
        "n_fit": len(fit),
        "n_images": n,
        "seed": ctx.seed,
        "sub_dim": pq.sub_dim,
        "k": pq.n_centroids,
        "iterations": pq.iterations,
    }

    def build() -> dict[str, np.ndarray]:
        rows = np.sort(np.random.default_rng(ctx.seed).choice(len(fit), n, replace=False))
        sample = fit.view(rows)
        feats = np.zeros((n, encoder.dim(fit.size)), dtype=np.float32)
        for part, block in map_encoder(encoder, sample, ctx, chunk_size, desc=f"{label} pq"):
            feats[part] = block
        ctx.logger.info("%s: product quantiser on %d x %d features", label, *feats.shape)
        return {"centroids": pq.fit(feats).centroids_}

    pq.centroids_ = cached_arrays(ctx, f"{label}-pq", key, build)["centroids"]
    return pq


def pq_features(
    split: Any,
    ctx: Any,
    params: dict[str, Any],
    dim: int,
    encode: Any,
    quantizer: ProductQuantizer,
    label: str,
) -> PQFeatures:
    """``split``'s features stored as PQ codes in the feature cache; rows decoded when read.

    ``encode(todo)`` yields ``(rows, float32 features)`` as for
    :func:`baselines.features.cache.cached_features`; each chunk is quantised
    before it is written, so float features are never stored.
    """
    from baselines.features.cache import array_digest, cached_features

    key = {
        **params,
        "pq": {"sub_dim": quantizer.sub_dim, "centroids": array_digest(quantizer.centroids_)},
    }
    codes = cached_features(
        split,
        ctx,
        key,
        dim // quantizer.sub_dim,
        lambda todo: ((part, quantizer.encode(block)) for part, block in encode(todo)),
        label=f"{label}-pq",
        dtype="uint8",
    )
    return PQFeatures(codes, quantizer)
