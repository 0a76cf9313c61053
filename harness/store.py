"""Records on disk (placeholder until the store module lands from the `store` branch)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from harness.record import parse_record
from harness.results import atomic_write_text, existing_ok_record, record_path, write_record

__all__ = [
    "atomic_write_text",
    "existing_ok_record",
    "keep_failed_attempt",
    "record_path",
    "write_curve",
    "write_record",
]


def write_curve(results_dir: Path, run_id: str, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    import pandas as pd

    path = record_path(results_dir, run_id).with_suffix(".curve.csv")
    atomic_write_text(path, pd.DataFrame(rows).to_csv(index=False))


def keep_failed_attempt(results_dir: Path, record: dict[str, Any]) -> Path:
    """A failed rerun of a run that has a good record: kept aside, the good record untouched."""
    stamp = record["date"].replace(":", "").replace("-", "")
    path = Path(results_dir) / "runs" / "failed" / f"{record['run_id']}.{stamp}.json"
    atomic_write_text(path, parse_record(record, str(path)).to_json() + "\n")
    return path
