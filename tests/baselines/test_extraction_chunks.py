"""map_encoder: a split smaller than n_jobs chunks still keeps every core busy, same features."""

from __future__ import annotations

import numpy as np

from baselines.features.extraction import map_encoder
from harness.api import RunContext
from harness.registry import BASELINES
from tests.baselines.test_svm_selection import oriented_texture_split


def _encode(n_jobs: int) -> tuple[list[slice], np.ndarray]:
    split = oriented_texture_split("train", 5, 0)  # 20 images: one chunk of the default 256
    ctx = RunContext(quiet=True, n_jobs=n_jobs)
    encoder = BASELINES.get("hog-svm")().learn_encoder(split, ctx)
    out = np.zeros((len(split), encoder.dim(split.size)), np.float32)
    slices = []
    for rows, feats in map_encoder(encoder, split, ctx, chunk_size=256):
        slices.append(rows)
        out[rows] = feats
    return slices, out


def test_a_small_split_is_cut_into_a_chunk_per_worker_with_the_same_features() -> None:
    one, features_one = _encode(1)
    two, features_two = _encode(2)
    assert len(one) == 1 and len(two) == 2
    assert sorted(s.start for s in two) == [0, 10]
    np.testing.assert_array_equal(features_one, features_two)


def test_the_codebook_sample_does_not_depend_on_its_chunk() -> None:
    """The descriptors held at once are bounded by the chunk; the sample is the same."""
    from baselines.features.codebook import sample_training_descriptors
    from baselines.features.dense_sift import DenseGrid
    from baselines.features.sift_encoders import DenseSiftExtractor

    images = oriented_texture_split("train", 5, 0).images
    extractor = DenseSiftExtractor(DenseGrid((2, 3), 4), "numpy")
    kw = {"n_images": 15, "per_image": 7, "seed": 3}
    whole = sample_training_descriptors(images, extractor, chunk=256, **kw)
    np.testing.assert_array_equal(
        whole, sample_training_descriptors(images, extractor, chunk=4, **kw)
    )
    assert whole.shape == (15 * 7, 128)
