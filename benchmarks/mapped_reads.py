"""Rows read through a memory map against ``harness.memory.read_rows``: resident pages and time.

The SVMs, the CNN batches and the codebooks' sample read random rows of a
memory-mapped cache. Read through the map, every page a row faults counts in
the process's resident set until it is dropped, and on a kernel whose page
cache holds large folios (ext4 since Linux 6.16) a fault maps the whole folio
around the row. This writes a file of ``--rows`` rows of ``--row-bytes`` (as a
feature cache is written: through a shared map, in chunks), then reads
``--block`` random rows (one SVM block) both ways and prints, for each, the rise
of the process's file-backed resident memory while the block is held, and the
milliseconds it took; then the ratio of the two times, measured in the same run.

    python benchmarks/mapped_reads.py                       # 20,000 rows of 63 KiB: 1.2 GiB
    python benchmarks/mapped_reads.py --rows 50000 --dir /big/disk
"""

from __future__ import annotations

import argparse
import platform
import tempfile
import time
from pathlib import Path

import numpy as np
import psutil

from harness.memory import read_rows, release_rows

MIB = 2**20


def _file_backed() -> int:
    info = psutil.Process().memory_info()
    return int(getattr(info, "shared", 0))


def _write(path: Path, rows: int, row_bytes: int) -> None:
    out = np.lib.format.open_memmap(path, mode="w+", dtype=np.uint8, shape=(rows, row_bytes))
    rng = np.random.default_rng(0)
    for s in range(0, rows, 512):
        part = np.arange(s, min(rows, s + 512))
        out[part] = rng.integers(0, 255, (len(part), row_bytes), dtype=np.uint8)
        release_rows(out, part)
    out.flush()
    del out


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rows", type=int, default=20_000)
    p.add_argument("--row-bytes", type=int, default=64_512, help="63 KiB: a BoW feature row")
    p.add_argument("--block", type=int, default=2048, help="rows read at once (an SVM block)")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--dir", type=Path, default=None, help="where the file goes (default: tmp)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "rows.npy"
        _write(path, args.rows, args.row_bytes)
        mapped = np.load(path, mmap_mode="r")
        rng = np.random.default_rng(1)
        print(
            f"{platform.platform()}; {args.rows:,} rows of {args.row_bytes:,} bytes, "
            f"blocks of {args.block:,} random rows ({args.block * args.row_bytes / MIB:.0f} MiB)"
        )
        times: dict[str, list[float]] = {"through the map": [], "read_rows (preadv)": []}
        for _ in range(args.repeats):
            for how in times:
                rows = np.sort(rng.choice(args.rows, args.block, replace=False))
                before = _file_backed()
                t0 = time.perf_counter()
                block = mapped[rows] if how == "through the map" else read_rows(mapped, rows)
                seconds = time.perf_counter() - t0
                rise = (_file_backed() - before) / MIB
                release_rows(mapped, rows)
                times[how].append(seconds)
                print(f"  {how:<20} file-backed resident +{rise:7.0f} MiB, {seconds * 1e3:6.0f} ms")
                del block
        a, b = (float(np.median(v)) for v in times.values())
        print(f"median time, read_rows / through the map: {b / a:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
