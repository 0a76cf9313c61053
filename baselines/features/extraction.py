"""Running an encoder over a split in chunks: in-process, a local joblib pool, or Dask.

* ``ctx.dask_scheduler`` set: each chunk is a Dask task on that cluster
  (``distributed.Client(address)``); the chunk's pixels travel with the task,
  so workers need this package installed but no access to the cache. At most
  two chunks per worker thread are in flight, which bounds memory.
* otherwise, ``ctx.n_jobs > 1`` and a CPU encoder: a local joblib (loky)
  process pool, each worker single-threaded (OpenCV and BLAS) so n_jobs
  processes use n_jobs cores.
* otherwise (one job, or a torch encoder that already parallelises inside
  its kernels / on the GPU): in this process.

Whatever the executor, chunk boundaries and the encoder are the same, so the
features are identical; ``tests/baselines/test_features_dask.py`` checks it.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, Protocol

import numpy as np

from harness.api import RunContext, Split
from harness.memory import read_rows


class Encoder(Protocol):
    def encode(self, images: np.ndarray) -> np.ndarray: ...


def encode_chunk(encoder: Encoder, images: np.ndarray, single_thread: bool = True) -> np.ndarray:
    """Encode one chunk; the unit of work shipped to pool and Dask workers."""
    if not single_thread:
        return encoder.encode(images)
    import cv2
    from threadpoolctl import threadpool_limits

    cv2.setNumThreads(1)
    with threadpool_limits(1):
        return encoder.encode(images)


def _chunks(split: Split, chunk_size: int) -> list[slice]:
    return [slice(s, min(s + chunk_size, len(split))) for s in range(0, len(split), chunk_size)]


def _uses_torch(encoder: Any) -> bool:
    extractor = getattr(encoder, "extractor", None)
    return extractor is not None and extractor.backend == "torch"


def map_encoder(
    encoder: Encoder, split: Split, ctx: RunContext, chunk_size: int = 256, desc: str = "features"
) -> Iterator[tuple[slice, np.ndarray]]:
    """Yield ``(rows, features)`` for every chunk of ``split`` (any order).

    A split of fewer than ``n_jobs`` chunks is cut into ``n_jobs`` smaller ones, so
    every core works on it (the features are per image: the same either way).
    """
    if not ctx.dask_scheduler and ctx.n_jobs > 1 and not _uses_torch(encoder):  # the pool's
        chunk_size = min(chunk_size, max(1, -(-len(split) // ctx.n_jobs)))
    slices = _chunks(split, chunk_size)
    if ctx.dask_scheduler:
        yield from _map_dask(encoder, split, slices, ctx.dask_scheduler, ctx, desc)
    elif ctx.n_jobs > 1 and not _uses_torch(encoder) and len(slices) > 1:
        from joblib import Parallel, delayed

        pool = Parallel(n_jobs=ctx.n_jobs, return_as="generator")
        # each chunk read, not mapped: no cache page becomes the run's (harness.memory)
        results = pool(delayed(encode_chunk)(encoder, read_rows(split.images, s)) for s in slices)
        yield from zip(slices, ctx.progress(results, total=len(slices), desc=desc), strict=True)
    else:
        for s in ctx.progress(slices, desc=desc):
            yield s, encode_chunk(encoder, read_rows(split.images, s), single_thread=False)


def _map_dask(
    encoder: Encoder, split: Split, slices: list[slice], address: str, ctx: RunContext, desc: str
) -> Iterator[tuple[slice, np.ndarray]]:
    from collections import deque

    from distributed import Client

    with Client(address, set_as_default=False) as client:
        window = 2 * max(sum(client.nthreads().values()), 1)
        remote_encoder = client.scatter(encoder, broadcast=True)
        in_flight: deque = deque()
        # results come back in submission order; the window keeps every worker busy
        for s in ctx.progress(slices, desc=f"{desc} (dask)"):
            images = read_rows(split.images, s)  # a copy travels with the task
            in_flight.append((s, client.submit(encode_chunk, remote_encoder, images, pure=False)))
            if len(in_flight) >= window:
                done, fut = in_flight.popleft()
                yield done, fut.result()
        while in_flight:
            done, fut = in_flight.popleft()
            yield done, fut.result()
