"""Will a run fit this machine? The guard ``harness run`` applies before decoding anything.

Once the manifest is known and before any image is decoded, :func:`check_resources`
compares

* the disk the run will write, at minimum the decoded-image cache of the subset
  (``images x side x side x 3`` bytes; nothing when a complete cache of the same
  manifest is already there: only what is missing counts), plus the features and
  checkpoints a saved ``harness plan`` projected for the run's methods, with the
  free space of the ``--cache`` folder (:func:`shutil.disk_usage`);
* the peak memory a saved ``harness plan`` projected for each method with the
  machine's memory (:func:`psutil.virtual_memory`).

Reading a saved plan is cheap; without one only the image cache is checked.
A run that does not fit is refused in one line naming the method or the cache,
the figure needed, what is available and :data:`OVERRIDE_FLAG`.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import psutil

from harness.config import ConfigError

__all__ = [
    "OVERRIDE_FLAG",
    "ResourceError",
    "check_resources",
    "format_bytes",
    "free_bytes",
    "image_cache_bytes",
    "load_plan",
    "machine_memory_bytes",
    "missing_cache_bytes",
    "plan_path",
]

OVERRIDE_FLAG = "--ignore-resources"
#: Disk kept free beyond the projection: logs, records, the manifest, filesystem overhead.
DISK_MARGIN_BYTES = 64 * 2**20


class ResourceError(ConfigError):
    """The run needs more disk or memory than there is; the message is one line."""


def format_bytes(n: float) -> str:
    """``"586.0 MiB"``, ``"9.7 GiB"``, ``"1.2 TiB"``."""
    for unit, scale in (("TiB", 2**40), ("GiB", 2**30)):
        if abs(n) >= scale:
            return f"{n / scale:.1f} {unit}"
    return f"{n / 2**20:.1f} MiB"


def image_cache_bytes(manifest: Any) -> int:
    """Bytes of the decoded cache of ``manifest``: one uint8 row of side x side x 3 per image."""
    size = int(manifest.subset.size)
    return len(manifest) * size * size * 3


def missing_cache_bytes(manifest: Any, cache_root: Path) -> int:
    """Bytes the image cache still needs: 0 when a complete cache of this manifest exists.

    Cheap: the metadata and the data file's length, no checksum (the run verifies it).
    """
    from harness.data.cache import DATA_FILE, META_FILE, cache_dir_for

    directory = cache_dir_for(manifest, Path(cache_root))
    try:
        meta = json.loads((directory / META_FILE).read_text(encoding="utf-8"))
        complete = (
            meta.get("manifest_hash") == manifest.hash
            and meta.get("size") == manifest.subset.size
            and (directory / DATA_FILE).stat().st_size == meta.get("data_bytes")
        )
    except (OSError, ValueError, AttributeError):
        complete = False
    return 0 if complete else image_cache_bytes(manifest)


def free_bytes(path: Path) -> int:
    """Free space of the filesystem that holds ``path`` (its nearest existing parent)."""
    path = Path(path).absolute()
    while not path.exists() and path != path.parent:
        path = path.parent
    return int(shutil.disk_usage(path).free)


def machine_memory_bytes() -> int:
    """The machine's physical memory."""
    return int(psutil.virtual_memory().total)


def plan_path(cache_root: Path, manifest: Any) -> Path:
    """Where ``harness plan`` saves its projections for ``manifest``."""
    name = re.sub(r"[^A-Za-z0-9._-]+", "_", manifest.subset.name)
    return Path(cache_root) / "plans" / f"{name}-{manifest.hash[:16]}.json"


def load_plan(cache_root: Path, manifest: Any) -> dict[str, dict[str, Any]]:
    """A saved plan's projections by run id; empty when there is none (or it is unreadable)."""
    try:
        rows = json.loads(plan_path(cache_root, manifest).read_text(encoding="utf-8"))
        return {r["run_id"]: r for r in rows if isinstance(r, dict) and r.get("run_id")}
    except (OSError, ValueError, TypeError, KeyError):
        return {}


def _refuse(what: str, need: int, have: int, where: str, fix: str = "") -> ResourceError:
    override = f"{'or pass' if fix else 'pass'} {OVERRIDE_FLAG} to run anyway"
    return ResourceError(
        f"{what} needs {format_bytes(need)}, {where} has {format_bytes(have)}; {fix}{override}"
    )


def check_resources(cache_root: Path, manifest: Any, run_ids: dict[str, str] | None = None) -> None:
    """Refuse (:class:`ResourceError`, one line) a run that will not fit; else return.

    ``cache_root``: the ``--cache`` folder (the image cache is its ``images/``).

    ``run_ids``: method row -> run id, to find a saved plan's projections of the
    run's methods (the same manifest, parameters and seed).
    """
    cache_root = Path(cache_root)
    free = free_bytes(cache_root)
    missing = missing_cache_bytes(manifest, cache_root / "images")
    if missing and missing + DISK_MARGIN_BYTES > free:
        raise _refuse(
            f"the image cache of {manifest.subset.name} ({len(manifest):,} images at "
            f"{manifest.subset.size} px)",
            missing + DISK_MARGIN_BYTES,
            free,
            f"{cache_root} (free)",
            "free space, pass --cache DIR on a larger disk, ",
        )
    plan = load_plan(cache_root, manifest)
    if not plan or not run_ids:
        return
    memory = machine_memory_bytes()
    need = missing + DISK_MARGIN_BYTES
    for row, run_id in run_ids.items():
        proj = plan.get(run_id)
        if proj is None:
            continue
        # the anonymous peak: the resident figure also counts memory-mapped cache pages,
        # which the kernel drops under pressure (plans saved before it: the resident one)
        anon = "peak_anon_mib" in proj
        peak = int(float(proj.get("peak_anon_mib" if anon else "peak_rss_mib") or 0) * 2**20)
        if peak > memory:
            raise _refuse(
                f"{row}'s memory (projected by harness plan"
                + (", less file-backed pages)" if anon else ")"),
                peak,
                memory,
                "this machine",
            )
        done = _folder_bytes(cache_root / "work" / run_id)
        need += max(0, int(float(proj.get("method_disk_mib", 0)) * 2**20) - done)
        if need > free:
            raise _refuse(
                f"{row}'s features and checkpoints with the image cache (projected by "
                f"harness plan)",
                need,
                free,
                f"{cache_root} (free)",
                "free space, pass --cache DIR on a larger disk, ",
            )


def _folder_bytes(folder: Path) -> int:
    """Bytes of the files under ``folder`` (0 when it does not exist)."""
    total = 0
    if folder.is_dir():
        for p in folder.rglob("*"):
            try:
                if p.is_file():
                    total += p.stat().st_size
            except OSError:
                continue
    return total
