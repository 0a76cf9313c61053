"""The report: the 2012 gap, regenerated from run records and the historical numbers.

One module per part:

- :mod:`~harness.report.frames`: the rows every table and figure selects from
  (measured rows aggregated over seeds, groups per manifest, sweep cells, CNN
  progress);
- sections, each returning document blocks (and the figures it wrote):
  :mod:`~harness.report.gap_table` (the gap, historical and measured, with its
  paired interval), :mod:`~harness.report.measured` (the measured table with
  intervals), :mod:`~harness.report.curves` (learning curves),
  :mod:`~harness.report.compute` (the gap against compute),
  :mod:`~harness.report.sweep` (gap versus scale; also ``sweep.csv`` /
  ``sweep.md``), :mod:`~harness.report.history_table`,
  :mod:`~harness.report.reproduce`;
- :mod:`~harness.report.figures` and :mod:`~harness.report.style`: the
  figures beside the 2012 results and the one matplotlib style of all;
- :mod:`~harness.report.notes`: the small print;
- :mod:`~harness.report.document`: blocks -> Markdown -> HTML (markdown-it-py);
- :mod:`~harness.report.build`: :func:`write_report`, the whole document.
"""

from __future__ import annotations

from harness.frame import is_demo_subset, is_sweep_record
from harness.report.build import write_report
from harness.report.frames import measured_frame
from harness.report.notes import (
    REAL_DATA_COMMAND,
    demo_warning,
    monitor_note,
    provenance_note,
    settings_note,
)
from harness.report.reproduce import reproduce_commands
from harness.report.sweep import write_sweep_report

__all__ = [
    "REAL_DATA_COMMAND",
    "demo_warning",
    "is_demo_subset",
    "is_sweep_record",
    "measured_frame",
    "monitor_note",
    "provenance_note",
    "reproduce_commands",
    "settings_note",
    "write_report",
    "write_sweep_report",
]
