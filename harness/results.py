"""Backward-compatible names only: the results code now lives in three modules.

- :mod:`harness.store`: atomic writes, paths, reading and writing records;
- :mod:`harness.frame`: the column declaration and the records frame;
- :mod:`harness.leaderboard`: the ranked views and ``leaderboard.csv``.

New code imports from those. This module re-exports their names for callers
not yet moved (``harness.runner``, ``alexnet.train_ddp``) and is to be removed
once they are.
"""

from __future__ import annotations

from harness.frame import (
    LEADERBOARD_COLUMNS,
    RECORD_COLUMNS,
    config_key,
    is_demo_run,
    is_demo_subset,
    is_sweep_record,
    method_overrides,
    records_frame,
)
from harness.leaderboard import (
    RANK_BY,
    latest_rows,
    leaderboard_frame,
    rank_order,
    rank_rows,
    repeat_rows,
    write_leaderboard,
)
from harness.record import SCHEMA_VERSION, RecordError, RunRecord
from harness.store import (
    ResultsWriteError,
    atomic_write_text,
    ensure_folder,
    existing_ok_record,
    keep_failed_attempt,
    load_records,
    read_record,
    record_path,
    records_dir,
    write_curve,
    write_error,
    write_record,
)

__all__ = [
    "LEADERBOARD_COLUMNS",
    "RANK_BY",
    "RECORD_COLUMNS",
    "SCHEMA_VERSION",
    "RecordError",
    "ResultsWriteError",
    "RunRecord",
    "atomic_write_text",
    "config_key",
    "ensure_folder",
    "existing_ok_record",
    "is_demo_run",
    "is_demo_subset",
    "is_sweep_record",
    "keep_failed_attempt",
    "latest_rows",
    "leaderboard_frame",
    "load_records",
    "method_overrides",
    "rank_order",
    "rank_rows",
    "read_record",
    "record_path",
    "records_dir",
    "records_frame",
    "repeat_rows",
    "write_curve",
    "write_error",
    "write_leaderboard",
    "write_record",
]
