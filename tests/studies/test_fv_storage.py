"""studies/fv_storage.py: one row per storage, the paired gap against float32."""

from __future__ import annotations

import numpy as np

from harness.record import ValHits
from studies.fv_storage import table


def _record(dtype: str, top5: np.ndarray, bytes_per_image: int) -> dict:
    hits = ValHits.from_arrays(top5 & False, top5, labels=list(range(len(top5))))
    return {
        "method": "sift-fv-svm",
        "manifest_hash": "m",
        "train_seconds": 10.0,
        "val_hits": {
            "n": hits.n,
            "top1": hits.top1,
            "top5": hits.top5,
            "order_digest": hits.order_digest,
        },  # fmt: skip
        "notes": {
            "sift-fv-svm_feature_storage": {"dtype": dtype, "bytes_per_image": bytes_per_image}
        },
    }


def test_the_table_puts_each_storage_against_float32() -> None:
    rng = np.random.default_rng(0)
    ref = rng.random(400) < 0.8
    worse = ref.copy()
    worse[np.flatnonzero(ref)[:20]] = False  # 20 more misses: +5 points, every one paired
    out = table([_record("pq", worse, 16), _record("float32", ref, 128)])
    rows = [
        line for line in out.splitlines() if line.startswith("| float32") or line.startswith("| pq")
    ]
    assert rows[0].startswith("| float32 | 128 ") and "(reference)" in rows[0]
    assert rows[1].startswith("| pq | 16 ") and "| +5.00 [+3." in rows[1]
