"""The cost of storing Fisher vectors in float16 or product-quantised, against float32.

Reads ``sift-fv-svm`` run records on one manifest that differ in
``feature_dtype`` and prints one markdown row per storage: bytes per image and
channel, val top-1 / top-5 with their 95% intervals, the fused monitor top-5,
training seconds, and the paired 95% interval of each storage's top-5 error
minus float32's (the same val images resampled for both:
:func:`harness.intervals.paired_gap_ci`).

    python -m studies.fv_storage results/fv-storage/runs/*.json results/encoder-check/runs/*.json
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from harness.intervals import bootstrap_error_ci, paired_gap_ci
from harness.record import ValHits

ORDER = ("float32", "float16", "pq")


def _storage(rec: dict[str, Any]) -> dict[str, Any]:
    return rec["notes"].get(f"{rec['method']}_feature_storage") or {"dtype": "float16"}


def table(records: list[dict[str, Any]]) -> str:
    """The markdown table of ``records`` (one per storage; float32 is the reference)."""
    by = {_storage(r)["dtype"]: r for r in records}
    if len({r["manifest_hash"] for r in records}) != 1:
        raise SystemExit("fv_storage: the records are not on one manifest")
    ref = ValHits(**by["float32"]["val_hits"]) if "float32" in by else None
    lines = [
        "| storage | bytes per image and channel | val top-1 % [95% CI] | val top-5 % [95% CI] "
        "| top-5 minus float32 [paired 95% CI] | fused monitor top-5 % | training s |",
        "| --- | ---: | --- | --- | --- | ---: | ---: |",
    ]
    for dtype in sorted(by, key=lambda d: ORDER.index(d) if d in ORDER else len(ORDER)):
        rec = by[dtype]
        hits = ValHits(**rec["val_hits"])
        cells = []
        for k in (1, 5):
            low, high = bootstrap_error_ci(hits.hits(k))
            cells.append(f"{hits.error(k):.2f} [{low:.2f}, {high:.2f}]")
        gap = "(reference)"
        if ref is not None and dtype != "float32":
            low, high = paired_gap_ci(hits.hits(5), ref.hits(5))
            gap = f"{hits.error(5) - ref.error(5):+.2f} [{low:+.2f}, {high:+.2f}]"
        fused = rec["notes"].get(f"{rec['method']}_fused_monitor_err", {}).get("monitor_top5_err")
        lines.append(
            f"| {dtype} | {_storage(rec).get('bytes_per_image', 0):,} | {cells[0]} | {cells[1]} "
            f"| {gap} | {fused if fused is not None else '-'} | {rec['train_seconds']:,.0f} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("records", nargs="+", type=Path, help="run records (*.json; curves skipped)")
    args = p.parse_args(argv)
    records = [
        json.loads(f.read_text(encoding="utf-8"))
        for f in args.records
        if f.suffix == ".json" and not f.name.endswith(".curve.json")
    ]
    print(table(records))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
