"""Training images/s of the later networks (decade/) in the harness against the bare model loop.

For each network's ``cpu`` profile (or ``--profile``): the **bare loop** is the
network alone on a fixed random input of its crop size (forward, the
method's loss, backward, SGD with momentum and weight decay); the
**harness** is the shared trainer's epoch loop
(:func:`baselines.cnn.loop.train_epoch`) over a uint8 cache of the stem's
stored size, with the method's own input transform (resize, random crop,
flip, standardise) and the optimiser the method builds. The two are
warmed up, then timed alternately ``--rounds`` times, so that a change in
the machine's load touches both alike; the medians and their ratio are
printed, with the CPU, its flags and the load average.

    python benchmarks/decade_throughput.py                         # ~4 min on 2 cores
    python benchmarks/decade_throughput.py --methods resnet18 --steps 5 --rounds 2
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

METHODS = ("zfnet", "vgg11", "googlenet", "resnet18")


class _Bar:
    def update(self, n: int = 1) -> None: ...
    def set_postfix(self, **kw: object) -> None: ...


def _method(name: str, profile: str, batch: int | None):
    from harness.registry import BASELINES

    method = BASELINES.get(name)(profile=profile, batch_size=batch)
    method.resolve_profile("cpu")
    return method, method.recipe()


def bare_loop(
    name: str, profile: str, batch: int | None, steps: int, warmup: int
) -> Callable[[], float]:
    """The network alone on a fixed input, warmed up: returns a timer of ``steps`` steps (img/s)."""
    from decade.layers import STEMS

    method, r = _method(name, profile, batch)
    crop, _ = STEMS[r.stem]
    model = method.build(100, r).train()
    x = torch.randn(r.batch_size, 3, crop, crop)
    y = torch.randint(0, 100, (r.batch_size,))
    opt = torch.optim.SGD(
        model.parameters(), lr=1e-3, momentum=r.momentum, weight_decay=r.weight_decay
    )
    loss_fn = type(method).loss_fn

    def step() -> None:
        loss = loss_fn(model(x), y, 0.0)[0]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(warmup):
        step()

    def timed() -> float:
        start = time.perf_counter()
        for _ in range(steps):
            step()
        return steps * r.batch_size / (time.perf_counter() - start)

    return timed


def harness_loop(
    name: str, profile: str, batch: int | None, steps: int, warmup: int, tmp: Path
) -> Callable[[], float]:
    """The shared trainer's epoch loop over a uint8 cache with the method's transform, warmed up."""
    from baselines.cnn import Trainer
    from baselines.cnn.loop import train_epoch
    from decade.inputs import CropInputs
    from decade.layers import STEMS
    from harness.api import RunContext, Split

    method, r = _method(name, profile, batch)
    crop, base = STEMS[r.stem]
    stored = 64 if r.stem == "small" else 256  # the cache the stem is made for
    n = r.batch_size * (steps + warmup)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, stored, stored, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, n).astype(np.int64)
    inputs = CropInputs(crop, base, [120.0] * 3, [60.0] * 3 if r.standardise else None)
    ctx = RunContext(device="cpu", work_dir=tmp, cache_dir=tmp, quiet=True)
    trainer = Trainer(
        lambda: method.build(100, r),
        method.train_config(r, cuda=False),
        ctx,
        train_transform=inputs.train,
        eval_transform=inputs.centre_crop,
        loss_fn=type(method).loss_fn,
    )
    state = trainer._build(n)
    gen = torch.Generator().manual_seed(0)
    cache = Split("bench", images, labels, tuple(f"n{c:08d}" for c in range(100)))
    rows = np.arange(n)
    train_epoch(state, cache, rows[: warmup * r.batch_size], inputs.train, gen, _Bar())
    timed_rows = rows[warmup * r.batch_size :]

    def timed() -> float:
        result = train_epoch(state, cache, timed_rows, inputs.train, gen, _Bar())
        return result.images / result.seconds

    return timed


def _cpu() -> str:
    from harness.environment import cpu_flags, device_name

    return f"{device_name('cpu')}{cpu_flags()}, torch {torch.__version__}, {torch.get_num_threads()} threads"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--methods", default=",".join(METHODS))
    p.add_argument("--profile", default="cpu", help="recipe profile of every network")
    p.add_argument(
        "--batch", type=int, default=None, help="images per step (default: the profile's)"
    )
    p.add_argument("--steps", type=int, default=8, help="timed steps per window")
    p.add_argument("--warmup", type=int, default=2, help="untimed steps first")
    p.add_argument("--rounds", type=int, default=3, help="alternated windows of each loop (median)")
    args = p.parse_args(argv)
    print("# later networks: harness training loop against the bare model loop")
    print(f"machine: {_cpu()}; load average at start {os.getloadavg()[0]:.2f}")
    print(f"profile {args.profile}, {args.steps} timed steps per window after {args.warmup} "
          f"warm-up, {args.rounds} alternated windows, medians\n")  # fmt: skip
    print("| method | batch | bare loop img/s | harness img/s | harness / bare |")
    print("|---|---:|---:|---:|---:|")
    with tempfile.TemporaryDirectory() as tmp:
        for name in [m.strip() for m in args.methods.split(",") if m.strip()]:
            torch.manual_seed(0)
            bare = bare_loop(name, args.profile, args.batch, args.steps, args.warmup)
            ours = harness_loop(name, args.profile, args.batch, args.steps, args.warmup, Path(tmp))
            rates = [(bare(), ours()) for _ in range(args.rounds)]
            b, h = (float(np.median([r[i] for r in rates])) for i in (0, 1))
            batch = _method(name, args.profile, args.batch)[1].batch_size
            print(f"| {name} | {batch} | {b:,.1f} | {h:,.1f} | {h / b:.2f}x |", flush=True)
    print(f"\nload average at end {os.getloadavg()[0]:.2f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
