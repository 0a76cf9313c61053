"""The public run API: what a study, a ``torchrun`` launcher or a notebook calls.

The CLI (``harness run``) is one caller of these; :mod:`alexnet.train_ddp` and
``studies/`` are others. Everything here is stable, documented API::

    cfg = experiment.config_from_args(["--suite", "tiny-imagenet", "--data", root])
    data = experiment.prepare(cfg)                     # manifest, cache, holdout
    resolved = experiment.resolve(cfg.methods[0], "cpu")
    ctx = experiment.context(cfg, data, resolved)       # the runner's own context
    outcome = experiment.run_method(cfg, data, resolved)
    summary = experiment.run(cfg)                       # every method, records, leaderboard
"""

from __future__ import annotations

from pathlib import Path

from harness.api import RunContext
from harness.config import MethodSpec, RunConfig
from harness.environment import device_name, git_commit, package_versions, resolve_device
from harness.flags import build_config, run_parser
from harness.leaderboard import write_leaderboard
from harness.methods import ResolvedMethod, resolve_method, run_id_for
from harness.prepare import PreparedData, prepare_data
from harness.runner import MethodOutcome, RunSummary, method_context, run
from harness.runner import run_method as _run_method

__all__ = [
    "MethodOutcome",
    "PreparedData",
    "ResolvedMethod",
    "RunSummary",
    "config_from_args",
    "context",
    "device_name",
    "git_commit",
    "package_versions",
    "prepare",
    "resolve",
    "resolve_device",
    "run",
    "run_id",
    "run_method",
    "write_leaderboard",
]


def config_from_args(argv: list[str]) -> RunConfig:
    """The RunConfig that ``harness run ARGV`` would run (the same flags, the same checks)."""
    return build_config(run_parser().parse_args(argv))


def prepare(cfg: RunConfig, results_dir: Path | None = None) -> PreparedData:
    """Manifest -> decoded cache -> train, holdout and val, exactly as ``harness run`` has them.

    The manifest's CSV goes under ``results_dir`` (default: ``cfg.results``).
    """
    return prepare_data(cfg, Path(results_dir or cfg.results))


def resolve(spec: MethodSpec, device: str) -> ResolvedMethod:
    """``spec``'s method constructed for ``device``, with its full parameters and tag."""
    return resolve_method(spec, device)


def run_id(cfg: RunConfig, data: PreparedData, resolved: ResolvedMethod, device: str) -> str:
    """The run id ``harness run`` gives this method on these data (its record's name)."""
    return run_id_for(
        data.subset.name, resolved.spec, cfg, data.manifest.hash, device, params=resolved.params
    )


def context(
    cfg: RunConfig, data: PreparedData, resolved: ResolvedMethod, device: str
) -> RunContext:
    """The context the runner would give this method: the same work folder, so it resumes."""
    return method_context(cfg, data, resolved.spec, run_id(cfg, data, resolved, device), device)


def run_method(
    cfg: RunConfig, data: PreparedData, resolved: ResolvedMethod, device: str
) -> MethodOutcome:
    """Fit (or find the record of), score and record one method, as ``harness run`` does."""
    return _run_method(cfg, data, resolved.spec, device, Path(cfg.results), resolved)
