"""Product-quantised Fisher vectors (sift-fv-svm's feature_dtype="pq"): codes, decoding, SVMs."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from baselines.features.pq import PQFeatures, ProductQuantizer
from baselines.linear import OvrHingeSgd
from harness.api import RowView
from tests.baselines.test_fv_storage import fitted_sift_fv, fv_like


def test_codes_are_one_byte_per_8_dims_and_decode_close() -> None:
    x, _ = fv_like(1200, 512, 5)
    pq = ProductQuantizer(iterations=8).fit(x[:1000])
    codes = pq.encode(x)
    assert codes.dtype == np.uint8 and codes.shape == (1200, 64)
    assert pq.centroids_.shape == (64, 256, 8) and pq.bytes_per_vector == 64
    y = pq.decode(codes)
    assert y.dtype == np.float32 and y.shape == x.shape
    rel = float(np.sum((x - y) ** 2) / np.sum(x**2))
    # nearest centroid: never worse than a random centroid, and far better than nothing
    rand = pq.decode(np.random.default_rng(0).integers(0, 256, codes.shape, dtype=np.uint8))
    assert rel < 0.8 * float(np.sum((x - rand) ** 2) / np.sum(x**2)), rel
    again = ProductQuantizer(iterations=8).fit(x[:1000])  # seeded: the same centroids
    np.testing.assert_array_equal(again.centroids_, pq.centroids_)


def test_pq_features_index_like_the_decoded_array() -> None:
    x, _ = fv_like(300, 64, 3)
    pq = ProductQuantizer(iterations=3).fit(x)
    codes = pq.encode(x)
    dense = pq.decode(codes)
    feats = PQFeatures(codes, pq)
    assert feats.shape == (300, 64) and feats.dtype == np.float32 and len(feats) == 300
    rows = np.array([5, 1, 299])
    np.testing.assert_array_equal(feats[rows], dense[rows])
    np.testing.assert_array_equal(feats[10:20], dense[10:20])
    np.testing.assert_array_equal(feats[7], dense[7])
    np.testing.assert_array_equal(np.take(feats, rows, axis=0), dense[rows])
    view = PQFeatures(RowView(codes, np.array([3, 4, 9])), pq)  # the monitor's rows of a file
    np.testing.assert_array_equal(view[np.array([0, 2])], dense[[3, 9]])


def test_svm_on_pq_codes_scores_close_to_float32() -> None:
    n_classes = 10
    x, labels = fv_like(1500, 2048, n_classes)
    val, val_labels = fv_like(400, 2048, n_classes, seed=1)
    pq = ProductQuantizer(iterations=8).fit(x[:1024])
    acc = {}
    for name, train in (("f32", x), ("pq", PQFeatures(pq.encode(x), pq))):
        svm = OvrHingeSgd(reg=1e-4, epochs=4, eta0=16.0, seed=0, block_rows=256)
        svm.fit(train, labels, n_classes)
        # trained on decoded codes, scored on the uncompressed vectors (as the method does)
        acc[name] = float(np.mean(svm.decision_function(val).argmax(1) == val_labels))
    assert acc["f32"] > 0.5  # a real signal (chance: 0.1)
    # noise-dominated generated data at 1 byte per 8 dims: measured 77.3% vs 73.3% top-1
    assert acc["pq"] >= acc["f32"] - 0.08, acc


def test_sift_fv_stores_pq_codes_and_notes_the_bytes(tmp_path: Path) -> None:
    method, train, ctx = fitted_sift_fv("pq", tmp_path)
    dim = method.n_features_
    assert ctx.notes["sift-fv-svm_feature_storage"] == {"dtype": "pq", "bytes_per_image": dim // 8}
    assert method.features(train, ctx, scored=True).dtype == np.float16  # scored: uncompressed
    feats = method.features(train, ctx)
    assert isinstance(feats, PQFeatures) and feats.shape == (16, dim)
    assert feats.codes.dtype == np.uint8 and feats.codes.shape == (16, dim // 8)
    method.refit(train, ctx)
    scores = method.decision_function(train, ctx)
    assert scores.shape == (16, 2) and np.isfinite(scores).all()
