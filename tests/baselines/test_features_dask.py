"""Feature extraction as Dask tasks on a loopback LocalCluster equals the single-process path."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.features.extraction import map_encoder
from baselines.features.hog import HogEncoder
from baselines.sift_fv_svm import SiftFvSvm
from harness.api import RunContext, Split
from tests.fixtures.dask_cluster import loopback_cluster


@pytest.fixture(scope="module")
def scheduler_address():
    with loopback_cluster(n_workers=1, threads_per_worker=2, processes=False) as address:
        yield address


def textured_split(n: int = 24, size: int = 32) -> Split:
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, size, size, 3), dtype=np.uint8)
    return Split("train", images, np.arange(n) % 3, ("a", "b", "c"))


def gather(pairs, n: int, dim: int) -> np.ndarray:
    out = np.full((n, dim), np.nan, dtype=np.float32)
    for rows, feats in pairs:
        out[rows] = feats
    return out


def test_dask_chunks_equal_in_process(scheduler_address: str, tmp_path: Path) -> None:
    split = textured_split()
    enc = HogEncoder()
    local = gather(map_encoder(enc, split, RunContext(quiet=True), chunk_size=5), 24, enc.dim(32))
    ctx = RunContext(quiet=True, dask_scheduler=scheduler_address)
    remote = gather(map_encoder(enc, split, ctx, chunk_size=5), 24, enc.dim(32))
    np.testing.assert_array_equal(remote, local)


def test_fisher_features_identical_with_dask(scheduler_address: str, tmp_path: Path) -> None:
    split = textured_split()
    params = {
        "n_components": 4,
        "pca_dim": 8,
        "codebook_images": 12,
        "descriptors_per_image": 20,
        "chunk_size": 7,
    }
    single = RunContext(cache_dir=tmp_path / "single", quiet=True)
    on_dask = RunContext(cache_dir=tmp_path / "dask", quiet=True, dask_scheduler=scheduler_address)
    pooled = RunContext(cache_dir=tmp_path / "pool", quiet=True, n_jobs=2)
    feats = []
    for ctx in (single, on_dask, pooled):
        method = SiftFvSvm(**params)
        method.encoder_ = method.learn_encoder(split, ctx)
        feats.append(np.asarray(method.features(split, ctx)))
    np.testing.assert_array_equal(feats[1], feats[0])
    np.testing.assert_array_equal(feats[2], feats[0])
    assert np.abs(feats[0]).sum() > 0
