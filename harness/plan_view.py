"""The console's view of a :class:`harness.plan.Plan`: one row per method and what the figures are."""

from __future__ import annotations

from harness.plan import MIB, Plan
from harness.resources import format_bytes

__all__ = ["plan_table"]


def _duration(seconds: float) -> str:
    if seconds >= 2 * 86400:
        return f"{seconds / 86400:.1f} days"
    if seconds >= 3600:
        return f"{seconds / 3600:.1f} h"
    if seconds >= 60:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.0f} s"


def plan_table(plan: Plan) -> str:
    """The console's view: one row per method, and the lines that say what the figures are."""
    from harness.console import fit_line, format_table

    rows = [
        {
            "method": p.method,
            "time": _duration(p.seconds),
            "peak memory": format_bytes(p.peak_rss_mib * MIB),
            "disk": format_bytes(p.disk_mib * MIB),
            "dominant stage": f"{p.dominant_stage} ({_duration(p.stages[p.dominant_stage])})",
        }
        for p in plan.projections
    ]
    cols = ["method", "time", "peak memory", "disk", "dominant stage"]
    lines = [
        fit_line(
            f"subset {plan.subset}: {plan.n_classes} classes, {plan.n_train:,} train / "
            f"{plan.n_val:,} val images at {plan.size} px"
        ),
        fit_line(
            f"image cache: {format_bytes(plan.image_cache_mib * MIB)} "
            f"({format_bytes(plan.image_cache_missing_mib * MIB)} still to decode and write, "
            f"~{_duration(plan.decode_seconds)})"
        ),
        fit_line(
            f"free in --cache: {format_bytes(plan.free_disk_mib * MIB)}; memory: "
            f"{format_bytes(plan.memory_mib * MIB)}; device: {plan.device}"
        ),
        "",
        format_table(rows, cols, shrink="dominant stage"),
        "",
    ]
    lines.append(
        fit_line(f"Projections, not measurements, on {plan.device} (disk: with the image cache):")
    )
    for basis in dict.fromkeys(p.basis for p in plan.projections):
        who = ", ".join(p.method for p in plan.projections if p.basis == basis)
        lines.append(fit_line(f"  {who}: {basis}"))
    lines.append(f"(plan took {plan.plan_seconds:.0f} s)")
    return "\n".join(lines)
