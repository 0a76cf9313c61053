"""Data-parallel AlexNet training under ``torchrun`` (DDP), ending in the usual harness record.

    torchrun --standalone --nproc-per-node 8 -m alexnet.train_ddp \\
        --suite ilsvrc2012 --data /data/imagenet [--param alexnet.ensemble=5 ...]

Takes the same flags as ``harness run`` (suite, data, subset, ``--param``
overrides, cache, results, ...) and runs only the suite's ``alexnet`` entry.
Every process builds the same manifest, memory-maps the same decoded cache
and the same holdout (rank 0 prepares them first through
:func:`harness.experiment.prepare`; the others then find them) and gets
its context from :func:`harness.experiment.context`, the runner's own, so
the work folder, fit rows and monitor are exactly those ``harness run`` uses.
Rank 0 runs the method's pre-flight check (a CPU training estimated in days
stops here, before any work, unless ``allow_slow_cpu``), then every rank
trains every ensemble member with :class:`alexnet.baseline.AlexNetBaseline`
wrapped in ``DistributedDataParallel``: each rank takes every
``world_size``-th fit row of the epoch's shared permutation (the
``DistributedSampler`` rule, done by the shared trainer) and draws its own
crops, flips, colour noise and dropout masks; gradients are averaged across
ranks, rank 0 checkpoints. NCCL on CUDA, gloo on CPU.

Effective batch and lr (see :mod:`alexnet.recipe`): by default
(``batch_scaling="global"``) the recipe's 128 is the global batch, i.e.
``128 / world_size`` per GPU at lr 0.01, so one step is the paper's step;
``--param alexnet.batch_scaling='"linear"'`` keeps 128 per GPU (effective
``128 x world_size``) and multiplies the lr by ``world_size`` (Goyal et al.
2017). ``ddp_world_size`` is set to the real world size automatically and
is part of the run's params, so the record says how it was trained.

When training is done, rank 0 leaves the process group and runs the normal
harness path (:func:`harness.experiment.run_method`) on the same work folder:
the members' checkpoints are complete, so it only evaluates (10-crop, centre
crop, ensemble) and writes the record, learning curve included, exactly as
``harness run`` would. A killed job resumes from the last epoch's checkpoint
when started again with the same flags.
"""

from __future__ import annotations

import logging
import os
import shlex
import shutil
import sys
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import torch
import torch.distributed as dist

from harness.api import MethodError
from harness.config import ConfigError, MethodSpec, RunConfig

log = logging.getLogger("alexnet.train_ddp")

__all__ = ["alexnet_spec", "main"]


#: minutes a training collective waits for a lost rank before the job fails (default 30)
TIMEOUT_ENV = "HARNESS_DDP_TIMEOUT_MINUTES"
#: how long the other ranks wait for rank 0 to decode the image cache (once, at the start)
DECODE_WAIT = timedelta(hours=6)


def collective_timeout() -> timedelta:
    """The training collectives' timeout: ``$HARNESS_DDP_TIMEOUT_MINUTES`` or 30 minutes."""
    raw = os.environ.get(TIMEOUT_ENV, "30")
    try:
        minutes = float(raw)
    except ValueError:
        minutes = -1.0
    if not minutes > 0:
        raise ConfigError(f"{TIMEOUT_ENV}={raw!r} is not a positive number of minutes; e.g. 30")
    return timedelta(minutes=minutes)


def alexnet_spec(cfg: RunConfig, world_size: int) -> MethodSpec:
    """The suite's ``alexnet`` entry with ``ddp_world_size`` set to the real world size."""
    specs = [m for m in cfg.methods if m.name == "alexnet"]
    if not specs:
        raise ConfigError(f"suite {cfg.suite!r} has no [methods.alexnet] entry")
    params = dict(specs[0].params)
    params["ddp_world_size"] = world_size
    return MethodSpec("alexnet", tuple(sorted(params.items())))


def _preflight_on_rank0(method: object, n_train: int, device: str, cfg: RunConfig) -> None:
    """Rank 0 estimates the training time; every rank raises the same error, or none."""
    problem = [None]
    if dist.get_rank() == 0:
        try:
            method.preflight(n_train, device, allow_slow_cpu=cfg.allow_slow_cpu)  # type: ignore[attr-defined]
        except MethodError as exc:
            problem[0] = str(exc)
    dist.broadcast_object_list(problem, src=0)
    if problem[0] is not None:
        raise MethodError(problem[0])


def main(argv: list[str] | None = None) -> int:
    from harness import experiment

    argv = list(sys.argv[1:] if argv is None else argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s: %(message)s")

    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    cfg = experiment.config_from_args(argv)  # the flags of `harness run`
    cfg = replace(cfg, command="torchrun ... -m alexnet.train_ddp " + shlex.join(argv))
    device = experiment.resolve_device(cfg.device)
    if device == "cuda":
        torch.cuda.set_device(local_rank)
    backend = "nccl" if device == "cuda" else "gloo"
    # A lost rank fails the others' next collective after collective_timeout(); only the
    # wait for rank 0's decoding of a full ImageNet cache gets DECODE_WAIT, on a gloo group.
    dist.init_process_group(backend, timeout=collective_timeout())
    try:
        spec = alexnet_spec(cfg, world)
        cfg = replace(cfg, methods=(spec,), quiet=cfg.quiet or rank != 0)
        decode_wait = dist.new_group(backend="gloo", timeout=DECODE_WAIT)
        if rank == 0:
            data = experiment.prepare(cfg)
        dist.barrier(group=decode_wait)
        if rank != 0:
            data = experiment.prepare(cfg)
        resolved = experiment.resolve(spec, device)
        method = resolved.method
        _preflight_on_rank0(method, len(data.train), device, cfg)
        # the same id, folder, holdout and monitor as `harness run` (run_method below)
        ctx = experiment.context(cfg, data, resolved, device)
        ctx.logger = logging.getLogger(f"harness.method.alexnet.rank{rank}")
        dist.barrier()  # every rank has its context before rank 0 may clear the folder
        if cfg.fresh and rank == 0:  # retrain from scratch: drop the old checkpoints first
            shutil.rmtree(ctx.work_dir, ignore_errors=True)
        dist.barrier()
        ctx.work_dir.mkdir(parents=True, exist_ok=True)
        method.fit(data.train_data(cfg.monitor), ctx)
        dist.barrier()
        if rank == 0:
            method.write_ddp_marker(
                ctx,
                {
                    "world_size": world,
                    "backend": backend,
                    "training": ctx.training.model_dump(mode="json"),
                },
            )
    finally:
        dist.destroy_process_group()
    if rank != 0:
        return 0
    # Single-process evaluation and the record, through the harness's own path.
    # fresh=False: the training just done is what the record must evaluate
    cfg = replace(cfg, fresh=False)
    outcome = experiment.run_method(cfg, data, experiment.resolve(spec, device), device)
    experiment.write_leaderboard(Path(cfg.results))
    for rec in outcome.records:
        print(
            f"{rec['method']}{'[' + rec['variant'] + ']' if rec.get('variant') else ''}: "
            f"top-1 err {rec.get('top1_err')}, top-5 err {rec.get('top5_err')}"
            + (f", error: {rec['error']}" if rec.get("error") else "")
        )
    return 1 if outcome.failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
