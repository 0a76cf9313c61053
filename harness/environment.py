"""The machine a run ran on: the resolved device, its name, package versions, the commit."""

from __future__ import annotations

import os
import platform
import subprocess
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

from harness import __version__
from harness.config import ConfigError

__all__ = [
    "cpu_flags",
    "device_name",
    "git_commit",
    "images_per_s",
    "package_versions",
    "resolve_device",
]

_VERSIONED = (
    "numpy",
    "torch",
    "scikit-learn",
    "scikit-image",
    "opencv-python-headless",
    "opencv-python",
    "pandas",
    "kornia",
    "dask",
)


def resolve_device(device: str) -> str:
    """``auto`` -> ``cuda`` when a CUDA GPU is usable, else ``cpu``.

    Without an NVIDIA device node torch is not imported at all, so the
    hand-crafted methods on a CPU machine never pay for importing it.
    """
    if device not in ("auto", "cpu", "cuda"):
        raise ConfigError(f"--device must be auto, cpu or cuda, not {device!r}")
    if device == "cpu":
        return "cpu"
    has_node = any(Path("/dev").glob("nvidia[0-9]*"))
    cuda = False
    if has_node or device == "cuda":
        try:
            import torch

            cuda = bool(torch.cuda.is_available())
        except ImportError:
            cuda = False
    if device == "cuda" and not cuda:
        raise ConfigError("--device cuda was asked for but torch sees no CUDA GPU")
    return "cuda" if cuda else "cpu"


def device_name(device: str) -> str:
    """A human-readable name of the hardware a run used."""
    if device == "cuda":
        import torch

        return f"cuda: {torch.cuda.get_device_name(0)}"
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return f"cpu: {model} ({os.cpu_count()} cores)"


def package_versions() -> dict[str, str]:
    versions = {"python": platform.python_version(), "ilsvrc-harness": __version__}
    for name in _VERSIONED:
        try:
            versions[name] = version(name)
        except PackageNotFoundError:
            continue
    return versions


def git_commit(root: Path | None = None) -> str | None:
    """The commit of the harness checkout, or None when the package is not a checkout.

    A wheel installed into a venv that sits inside some other git repository
    must not record that repository's HEAD, so the package's parent folder must
    itself be the top of the work tree.
    """
    root = Path(root or Path(__file__).resolve().parent.parent).resolve()
    if not (root / ".git").exists():
        return None
    try:
        out = subprocess.run(
            ["git", "rev-parse", "--show-toplevel", "HEAD"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=5,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    lines = out.stdout.split()
    if out.returncode != 0 or len(lines) != 2 or Path(lines[0]).resolve() != root:
        return None
    return lines[1]


MIN_TIMED_SECONDS = 0.01  # below this a rate is clock noise (e.g. ``random``), not a speed


def images_per_s(n_images: int, seconds: float) -> float | None:
    """Throughput for the record; ``None`` when the interval is too short to time."""
    return round(n_images / seconds, 2) if seconds >= MIN_TIMED_SECONDS else None


def cpu_flags() -> str:
    """The CPU's vector and bf16 features, which decide its speed switches: " (avx2, ...)"."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return ""
    flags = set(next((ln.split(":", 1)[1].split() for ln in text.splitlines()
                      if ln.startswith("flags")), []))  # fmt: skip
    wanted = ("avx2", "avx512f", "avx512_bf16", "amx_bf16")
    return " (" + ", ".join(f if f in flags else f"no {f}" for f in wanted) + ")"
