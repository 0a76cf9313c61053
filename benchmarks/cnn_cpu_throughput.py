"""CPU training throughput of the CNNs' CPU recipes, and the share of the CPU's peak they reach.

For AlexNet's ``cpu`` profile (:data:`alexnet.recipe.PROFILES`: small stem,
its crop, its width and batch) and LeNet-5 (32x32 grey input, batch 32),
one training step is forward + cross entropy + backward + the recipe's SGD
update (momentum 0.9, weight decay on weights only, as
:mod:`baselines.cnn.optim` builds it), on random inputs of the network's
input size in the memory layout the harness's transform hands over
(AlexNetAugment returns a permuted NHWC tensor, i.e. channels-last strides,
which oneDNN's convolutions follow; LeNet's input is contiguous NCHW): the
model's arithmetic only (no cache reads, no augmentation, no monitor
evaluation; those come on top in a real fit).

Variants, each warmed up first (``--warmup`` steps, compilation included),
then the median of ``--windows`` timed windows of at least
``--window-seconds``. The windows of a group of variants are interleaved
round-robin, so that a change in the machine's load (other jobs) touches the
whole group alike, and every ratio is to variants of its own group (the
references are re-timed in each group, which also shows the drift):

* ``eager fp32``, torch's default intra-op threads: the baseline;
* ``1 thread`` and ``all cores`` (``torch.set_num_threads``), and the
  default threads with ``OMP_WAIT_POLICY=PASSIVE`` (in a child process: the
  OpenMP runtime reads it once, at start);

then, at the fastest of those thread settings:

* ``contiguous NCHW input`` (AlexNet only): what its input layout is worth;
* ``channels_last`` model + input;
* ``torch.compile`` (inductor), only when a C++ compiler is found; a failure
  is printed and the variant falls back to eager;
* ``bf16 autocast``, only when ``/proc/cpuinfo`` lists ``avx512_bf16`` or
  ``amx_bf16`` (native bf16 dot products; elsewhere bf16 is emulated and
  slower); not a free speed switch: it changes the arithmetic;
* ``combined``: the fastest thread setting plus every fp32 switch that beat
  eager fp32 at that setting by more than 3% (bf16 is never added).

FLOPs of one step are counted by ``torch.utils.flop_counter.FlopCounterMode``
(convolutions and matrix products of forward and backward; element-wise
work, pooling, LRN and the SGD update are not counted, so the fraction of
peak is a lower bound on how busy the FMA units are). The peak is
``cores x clock x FLOPs/cycle/core``: cores from the CPUs this process may
use (divided by threads per core), the clock from ``lscpu``'s max MHz or
else ``/proc/cpuinfo``'s "cpu MHz", FLOPs/cycle from the vector width and
FMA units (AVX-512 with 2 FMA units: 2 x 16 lanes x 2 = 64; AMD Zen 4,
family 25, runs 512-bit FMAs as two 256-bit halves: 32; AVX2 + FMA: 32);
each input and assumption is printed, and ``--clock-mhz`` /
``--flops-per-cycle`` override them.

    python benchmarks/cnn_cpu_throughput.py                      # ~2-3 min on 2 cores
    python benchmarks/cnn_cpu_throughput.py --models alexnet --windows 5 --window-seconds 3
    python benchmarks/cnn_cpu_throughput.py --no-compile --save /tmp/bench

Timings on a machine shared with other jobs are noisy: the 1-minute load
average is printed with the figures.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import shutil
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alexnet.model import STEMS, build_alexnet  # noqa: E402
from alexnet.recipe import PAPER, PROFILES  # noqa: E402
from baselines.cnn.config import TrainConfig  # noqa: E402
from baselines.cnn.optim import parameter_groups, sgd_optimizer  # noqa: E402
from baselines.lenet5 import INPUT_SIZE as LENET_INPUT  # noqa: E402
from baselines.lenet5 import LeNet5  # noqa: E402

N_CLASSES = 100  # Tiny ImageNet-100
MODELS = ("alexnet", "lenet5")
HELPED = 1.03  # a switch "helps" when it beats the baseline by more than 3%


# ----------------------------------------------------------------------------- the CPU


@dataclass(frozen=True)
class CpuPeak:
    """The CPU's peak fp32 FLOP/s and every input it was computed from."""

    model: str  # "model name" of /proc/cpuinfo
    logical_cpus: int  # CPUs this process may run on
    threads_per_core: int
    cores: int  # logical_cpus / threads_per_core
    clock_mhz: float
    clock_source: str
    flops_per_cycle: int  # fp32 FLOPs per cycle per core
    flops_per_cycle_reason: str
    bf16_native: bool  # avx512_bf16 or amx_bf16 in the flags
    flags: tuple[str, ...]  # the vector flags that decided the above

    @property
    def peak_flops(self) -> float:
        return self.cores * self.clock_mhz * 1e6 * self.flops_per_cycle


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields of /proc/cpuinfo (empty where there is none)."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return {}
    out: dict[str, str] = {}
    mhz = []
    for line in text.splitlines():
        if ":" not in line:
            continue
        key, value = (s.strip() for s in line.split(":", 1))
        if key == "cpu MHz":
            mhz.append(float(value))
        out.setdefault(key, value)
    if mhz:
        out["cpu MHz"] = f"{statistics.fmean(mhz):.1f}"
    return out


def _lscpu() -> dict[str, str]:
    import subprocess

    try:
        text = subprocess.run(
            ["lscpu"], capture_output=True, text=True, timeout=10, check=False
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return {}
    return {
        k.strip(): v.strip() for k, v in (ln.split(":", 1) for ln in text.splitlines() if ":" in ln)
    }


def cpu_peak(clock_mhz: float | None = None, flops_per_cycle: int | None = None) -> CpuPeak:
    """This CPU's peak fp32 FLOP/s from its flags, cores and clock (see the module docstring)."""
    info, lscpu = _cpuinfo(), _lscpu()
    flags = set(info.get("flags", "").split())
    logical = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    tpc = int(lscpu.get("Thread(s) per core", "1") or 1)
    cores = max(1, (logical or 1) // max(1, tpc))
    if clock_mhz is not None:
        clock, source = clock_mhz, "--clock-mhz"
    elif lscpu.get("CPU max MHz"):
        clock, source = float(lscpu["CPU max MHz"]), "lscpu 'CPU max MHz'"
    elif info.get("cpu MHz"):
        clock = float(info["cpu MHz"])
        source = "/proc/cpuinfo 'cpu MHz' (no max MHz exposed, e.g. a VM; turbo would be higher)"
    else:
        clock, source = 2000.0, "unknown; assumed 2000 MHz"
    vendor, family = info.get("vendor_id", ""), int(info.get("cpu family", "0") or 0)
    if flops_per_cycle is not None:
        fpc, why = flops_per_cycle, "--flops-per-cycle"
    elif "avx512f" in flags and vendor == "AuthenticAMD" and family == 25:
        fpc = 32
        why = (
            "AVX-512 on AMD Zen 4 (family 25): 512-bit FMAs run as two 256-bit halves on "
            "2 FMA pipes = 2 x 8 lanes x 2"
        )
    elif "avx512f" in flags:
        fpc, why = 64, "AVX-512, assuming 2 FMA units = 2 x 16 lanes x 2"
    elif "avx2" in flags and "fma" in flags:
        fpc, why = 32, "AVX2 + FMA, assuming 2 FMA units = 2 x 8 lanes x 2"
    elif "avx" in flags:
        fpc, why = 16, "AVX without FMA: 8-lane add + 8-lane multiply"
    else:
        fpc, why = 8, "SSE: 4-lane add + 4-lane multiply"
    vector = tuple(
        sorted(f for f in flags if f.startswith(("avx512", "amx")) or f in ("avx2", "fma"))
    )
    return CpuPeak(
        model=info.get("model name", platform.processor() or platform.machine()),
        logical_cpus=logical or 1,
        threads_per_core=tpc,
        cores=cores,
        clock_mhz=clock,
        clock_source=source,
        flops_per_cycle=fpc,
        flops_per_cycle_reason=why,
        bf16_native=bool(flags & {"avx512_bf16", "amx_bf16"}),
        flags=vector,
    )


def cxx_compiler() -> str | None:
    """The C++ compiler inductor would use ($CXX, g++, c++, clang++), or None."""
    for name in (os.environ.get("CXX", ""), "g++", "c++", "clang++"):
        if name and shutil.which(name):
            return shutil.which(name)
    return None


# ----------------------------------------------------------------------------- models


@dataclass(frozen=True)
class Workload:
    """One network at its recipe's input size and batch."""

    name: str
    describe: str
    build: Callable[[], nn.Module]
    input_shape: tuple[int, int, int]  # (C, H, W)
    input_layout: str  # how the harness's transform hands the batch over: "nchw" | "nhwc-view"
    batch_size: int
    lr: float
    momentum: float
    weight_decay: float


def workload(name: str, batch_size: int | None = None) -> Workload:
    if name == "alexnet":
        p = PROFILES["cpu"]
        crop = STEMS[p.stem].crop
        batch = batch_size or p.batch_size
        return Workload(
            name="alexnet",
            describe=(
                f"AlexNet cpu profile: {p.stem} stem, {crop}px input, width {p.width:g}, "
                f"{p.init} init, batch {batch}"
            ),
            build=lambda: build_alexnet(N_CLASSES, p.stem, "fast", width=p.width, init=p.init),
            input_shape=(3, crop, crop),
            # AlexNetAugment crops NHWC and returns a permuted view: channels-last strides
            input_layout="nhwc-view",
            batch_size=batch,
            lr=p.lr,
            momentum=PAPER.momentum,
            weight_decay=PAPER.weight_decay,
        )
    if name == "lenet5":
        batch = batch_size or 32
        return Workload(
            name="lenet5",
            describe=f"LeNet-5: 1x{LENET_INPUT}x{LENET_INPUT} input, batch {batch}",
            build=lambda: LeNet5(n_classes=N_CLASSES, in_channels=1),
            input_shape=(1, LENET_INPUT, LENET_INPUT),
            input_layout="nchw",  # grey conversion and resize give contiguous NCHW
            batch_size=batch,
            lr=0.1,
            momentum=0.0,
            weight_decay=0.0,
        )
    raise ValueError(f"unknown model {name!r}; known: {', '.join(MODELS)}")


# ----------------------------------------------------------------------------- one variant


@dataclass
class Variant:
    """What one measured setting changes relative to the baseline."""

    name: str
    threads: int  # torch intra-op threads
    channels_last: bool = False  # model weights (and input) channels-last
    nchw_input: bool = False  # a contiguous NCHW input instead of the harness's layout
    compile: bool = False
    bf16: bool = False
    wait_policy: str = ""  # OMP_WAIT_POLICY of a child process ("" = this process, as it is)
    kind: str = "switch"  # "baseline" | "threads" | "switch" | "combined"


@dataclass
class Measured:
    """A variant's figures; ``images_per_s`` is the median of ``windows``."""

    variant: Variant
    images_per_s: float | None = None  # None: the variant could not run
    windows: list[float] = field(default_factory=list)  # images/s of each timed window
    warmup_seconds: float = 0.0  # includes compilation for torch.compile
    note: str = ""
    group: str = ""  # the variants timed interleaved with this one
    ref_base: float | None = None  # the baseline's images/s in that group (else the first)
    ref_same: float | None = None  # eager fp32 at this variant's thread setting, same group


@contextlib.contextmanager
def torch_threads(n: int) -> Iterator[None]:
    before = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _optimizer(w: Workload, model: nn.Module) -> torch.optim.Optimizer:
    cfg = TrainConfig(
        epochs=1, batch_size=w.batch_size, lr=w.lr, momentum=w.momentum, weight_decay=w.weight_decay
    )
    return sgd_optimizer(parameter_groups(model, cfg), cfg)


def make_step(w: Workload, v: Variant, seed: int = 0) -> Callable[[], None]:
    """A closure doing one SGD step of ``w`` as ``v`` asks (layout, compile, autocast)."""
    torch.manual_seed(seed)
    model = w.build()
    model.train()
    c, h, wd = w.input_shape
    if w.input_layout == "nhwc-view" and not v.nchw_input:
        x = torch.randn(w.batch_size, h, wd, c).permute(0, 3, 1, 2)
    else:
        x = torch.randn(w.batch_size, c, h, wd)
    y = torch.randint(0, N_CLASSES, (w.batch_size,))
    if v.channels_last:
        model = model.to(memory_format=torch.channels_last)
        x = x.contiguous(memory_format=torch.channels_last)
    optimizer = _optimizer(w, model)
    run = torch.compile(model) if v.compile else model

    def step() -> None:
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=v.bf16):
            logits = run(x)
        loss = F.cross_entropy(logits.float(), y)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()

    return step


def _warm(w: Workload, v: Variant, warmup: int) -> tuple[Callable[[], None], float, str]:
    """Build and warm up ``v``; a failing torch.compile falls back to eager, saying why."""
    if v.compile:
        torch._dynamo.reset()
    t0 = time.perf_counter()
    try:
        step = make_step(w, v)
        for _ in range(max(1, warmup)):
            step()
        return step, time.perf_counter() - t0, ""
    except Exception as exc:
        if not v.compile:
            raise
        why = f"torch.compile failed ({type(exc).__name__}: {str(exc)[:200]}); eager fallback"
        print(f"  {v.name}: {why}")
        eager = Variant(**{**asdict(v), "compile": False})
        step = make_step(w, eager)
        for _ in range(max(1, warmup)):
            step()
        return step, time.perf_counter() - t0, why


def measure_group(
    w: Workload, variants: list[Variant], *, warmup: int, windows: int, window_seconds: float
) -> list[Measured]:
    """Median images/s of each variant, their timed windows interleaved round-robin.

    Every variant is built and warmed up first (``warmup`` untimed steps,
    compilation included); then each round times one window of at least
    ``window_seconds`` per variant, so a change in the machine's load during
    the measurement touches every variant alike.
    """
    out = [Measured(v) for v in variants]
    steps: list[Callable[[], None] | None] = []
    for m in out:
        with torch_threads(m.variant.threads):
            try:
                step, m.warmup_seconds, m.note = _warm(w, m.variant, warmup)
            except Exception as exc:
                m.note = f"failed: {type(exc).__name__}: {str(exc)[:200]}"
                step = None
        steps.append(step)
    for _ in range(max(1, windows)):
        for m, step in zip(out, steps, strict=True):
            if step is None:
                continue
            with torch_threads(m.variant.threads):
                n, t0 = 0, time.perf_counter()
                while True:
                    step()
                    n += 1
                    elapsed = time.perf_counter() - t0
                    if elapsed >= window_seconds:
                        break
            m.windows.append(n * w.batch_size / elapsed)
    for m in out:
        if m.windows:
            m.images_per_s = statistics.median(m.windows)
    return out


def measure(
    w: Workload, v: Variant, *, warmup: int, windows: int, window_seconds: float
) -> Measured:
    """One variant alone (:func:`measure_group` of one)."""
    return measure_group(w, [v], warmup=warmup, windows=windows, window_seconds=window_seconds)[0]


CHILD_PREFIX = "CNN_CPU_THROUGHPUT_CHILD "


def measure_in_child(
    w: Workload, variants: list[Variant], *, warmup: int, windows: int, window_seconds: float
) -> list[Measured]:
    """:func:`measure_group` in a fresh process with the variants' ``OMP_WAIT_POLICY``.

    OpenMP reads its wait policy once, when the runtime starts, so a policy
    other than this process's needs a process of its own.
    """
    import subprocess

    spec = {
        "model": w.name,
        "batch_size": w.batch_size,
        "variants": [asdict(v) for v in variants],
        "warmup": warmup,
        "windows": windows,
        "window_seconds": window_seconds,
    }
    env = {**os.environ, "OMP_WAIT_POLICY": variants[0].wait_policy}
    cmd = [sys.executable, str(Path(__file__).resolve()), "--child", json.dumps(spec)]
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith(CHILD_PREFIX)]
    if proc.returncode != 0 or not lines:
        why = (proc.stderr.strip().splitlines() or ["no output"])[-1][:200]
        return [Measured(v, note=f"child process failed: {why}") for v in variants]
    for ln in proc.stdout.splitlines():
        if not ln.startswith(CHILD_PREFIX) and ln.strip():
            print(ln)  # e.g. a compile fallback message
    rows = json.loads(lines[-1][len(CHILD_PREFIX) :])
    return [
        Measured(v, r["images_per_s"], r["windows"], r["warmup_seconds"], r["note"])
        for v, r in zip(variants, rows, strict=True)
    ]


def _child_main(spec_json: str) -> None:
    spec = json.loads(spec_json)
    w = workload(spec["model"], spec["batch_size"])
    measured = measure_group(
        w,
        [Variant(**raw) for raw in spec["variants"]],
        warmup=spec["warmup"],
        windows=spec["windows"],
        window_seconds=spec["window_seconds"],
    )
    out = [{k: v for k, v in asdict(m).items() if k != "variant"} for m in measured]
    print(CHILD_PREFIX + json.dumps(out), flush=True)


def step_flops(w: Workload) -> int:
    """FLOPs of one training step (forward + backward), counted by torch's FlopCounterMode."""
    from torch.utils.flop_counter import FlopCounterMode

    step = make_step(w, Variant("count", torch.get_num_threads()))
    counter = FlopCounterMode(display=False)
    with counter:
        step()
    return int(counter.get_total_flops())


# ----------------------------------------------------------------------------- the run


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--models", default=",".join(MODELS), help="comma-separated: alexnet,lenet5")
    p.add_argument("--batch-size", type=int, default=None, help="default: the recipe's")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps per variant")
    p.add_argument("--windows", type=int, default=3, help="timed windows per variant (median)")
    p.add_argument("--window-seconds", type=float, default=1.0, help="minimum seconds per window")
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=True,
                   help="measure torch.compile when a C++ compiler is found")  # fmt: skip
    p.add_argument("--bf16", action=argparse.BooleanOptionalAction, default=True,
                   help="measure bf16 autocast when the CPU has it natively")  # fmt: skip
    p.add_argument("--passive", action=argparse.BooleanOptionalAction, default=True,
                   help="measure OMP_WAIT_POLICY=PASSIVE in a child process")  # fmt: skip
    p.add_argument("--clock-mhz", type=float, default=None, help="override the detected clock")
    p.add_argument("--flops-per-cycle", type=int, default=None, help="override (fp32, per core)")
    p.add_argument("--save", type=Path, default=None, help="folder for a JSON record")
    p.add_argument("--child", default=None, help=argparse.SUPPRESS)
    return p.parse_args(argv)


class Runner:
    """Measures variants of one workload in this process or, for a wait policy, in a child."""

    def __init__(self, w: Workload, args: argparse.Namespace) -> None:
        self.w = w
        self.kw = {
            "warmup": args.warmup,
            "windows": args.windows,
            "window_seconds": args.window_seconds,
        }

    def __call__(self, variants: list[Variant]) -> list[Measured]:
        if not variants:
            return []
        if variants[0].wait_policy:
            return measure_in_child(self.w, variants, **self.kw)
        return measure_group(self.w, variants, **self.kw)


def _thread_variants(
    args: argparse.Namespace, peak: CpuPeak, default_threads: int, said: list[str]
) -> list[Variant]:
    out = [
        Variant(
            f"eager fp32, {default_threads} threads (default)", default_threads, kind="baseline"
        )
    ]
    if default_threads != 1:
        out.append(Variant("1 thread", 1, kind="threads"))
    if peak.logical_cpus != default_threads:
        out.append(
            Variant(f"{peak.logical_cpus} threads (all CPUs)", peak.logical_cpus, kind="threads")
        )
    else:
        said.append(f"all CPUs = torch's default ({default_threads} threads): the baseline")
    policy = os.environ.get("OMP_WAIT_POLICY", "")
    if args.passive and default_threads > 1 and policy.upper() != "PASSIVE":
        out.append(
            Variant(
                f"{default_threads} threads, OMP_WAIT_POLICY=PASSIVE",
                default_threads,
                wait_policy="PASSIVE",
                kind="threads",
            )
        )
    said.append(f"this process's OMP_WAIT_POLICY: {policy or 'unset (libgomp: spin, then sleep)'}")
    return out


def _switch_variants(
    w: Workload, args: argparse.Namespace, peak: CpuPeak, at: Variant, said: list[str]
) -> list[Variant]:
    """channels_last, torch.compile and bf16 at the thread setting ``at``."""
    base = {"threads": at.threads, "wait_policy": at.wait_policy}
    out = []
    if w.input_layout == "nhwc-view":  # what the harness's input layout already gives
        out.append(Variant("contiguous NCHW input (not the harness's)", nchw_input=True, **base))
    out.append(Variant("channels_last model + input", channels_last=True, **base))
    cxx = cxx_compiler()
    if not args.compile:
        said.append("torch.compile: not measured (--no-compile)")
    elif cxx is None:
        said.append("torch.compile: skipped, no C++ compiler found (inductor's CPU code needs one)")
    else:
        said.append(f"torch.compile: measured (inductor, C++ compiler {cxx})")
        out.append(Variant("torch.compile", compile=True, **base))
    native = [f for f in peak.flags if f in ("avx512_bf16", "amx_bf16")]
    if not args.bf16:
        said.append("bf16 autocast: not measured (--no-bf16)")
    elif native:
        said.append(f"bf16 autocast: measured, the CPU has native bf16 ({', '.join(native)})")
        out.append(Variant("bf16 autocast", bf16=True, **base))
    else:
        said.append("bf16 autocast: skipped, no avx512_bf16/amx_bf16 flag (bf16 would be emulated)")
    return out


def _print_table(
    w: Workload, flops: int, peak: CpuPeak, results: list[Measured]
) -> list[dict[str, Any]]:
    """One line per variant: images/s, x the baseline, x eager at its threads, GFLOP/s, % peak.

    Ratios are to variants timed interleaved with it (its group); "% of used"
    is the fraction of the peak of the cores its threads can occupy (one
    thread: one core's peak).
    """
    print(f"  {'variant':<54} {'images/s':>9} {'x base':>7} {'x same-thr':>10} "
          f"{'GFLOP/s':>8} {'% peak':>7} {'% of used':>9}")  # fmt: skip
    rows, group = [], None
    for m in results:
        v, rate = m.variant, m.images_per_s
        if m.group != group:
            group = m.group
            print(f"  -- {group}")
        row: dict[str, Any] = {**asdict(m), "variant": asdict(v)}
        rows.append(row)
        if rate is None:
            print(f"  {v.name:<54} {'-':>9}  ({m.note})")
            continue
        base, same = m.ref_base or float("nan"), m.ref_same or float("nan")
        gflops = rate / w.batch_size * flops / 1e9
        frac = gflops * 1e9 / peak.peak_flops
        used = frac * peak.cores / min(v.threads, peak.cores)
        row.update(
            ratio_to_baseline=rate / base,
            ratio_to_eager_same_threads=rate / same,
            gflop_per_s=gflops,
            fraction_of_peak=frac,
            fraction_of_used_cores_peak=used,
        )
        extra = f"  (warm-up incl. compile: {m.warmup_seconds:.0f} s)" if v.compile else ""
        print(f"  {v.name:<54} {rate:>9.1f} {rate / base:>6.2f}x {rate / same:>9.2f}x "
              f"{gflops:>8.1f} {100 * frac:>6.1f}% {100 * used:>8.1f}%{extra}")  # fmt: skip
    return rows


def _again(v: Variant, what: str) -> Variant:
    """``v`` re-timed as a reference inside a later group."""
    return Variant(f"{what} (again)", v.threads, wait_policy=v.wait_policy, kind="reference")


def _group_with_references(
    runner: Runner, baseline: Variant, at: Variant, variants: list[Variant], label: str,
    base_before: float,
) -> list[Measured]:  # fmt: skip
    """``variants`` (all at ``at``'s setting) interleaved with eager at ``at`` and the baseline.

    The baseline cannot join a child process with another wait policy; there
    the ratio to the baseline uses ``base_before`` (its first measurement).
    """
    group = [_again(at, f"eager fp32, {at.name}")]
    with_base = not at.wait_policy and at.kind != "baseline"
    if with_base:
        group.append(_again(baseline, baseline.name))
    measured = runner(group + variants)
    same = measured[0].images_per_s
    if at.kind == "baseline":
        base = same
    elif with_base:
        base = measured[1].images_per_s
    else:
        base, label = base_before, label + " (x base: the baseline's first measurement)"
    for m in measured:
        m.group, m.ref_base, m.ref_same = label, base, same
    return measured


def run_model(
    w: Workload, args: argparse.Namespace, peak: CpuPeak, default_threads: int
) -> dict[str, Any]:
    """Every variant of one workload, in interleaved groups; prints the table, returns figures."""
    flops = step_flops(w)
    print(f"\n== {w.describe}")
    print(f"FLOPs per training step (forward + backward, FlopCounterMode): {flops / 1e9:.3f} G "
          f"= {flops / w.batch_size / 1e6:.1f} MFLOP per image")  # fmt: skip
    said: list[str] = []
    runner = Runner(w, args)
    thread_vs = _thread_variants(args, peak, default_threads, said)
    baseline = thread_vs[0]
    results = runner([v for v in thread_vs if not v.wait_policy])
    base = results[0].images_per_s
    if not base:
        raise SystemExit(f"{w.name}: the baseline could not run: {results[0].note}")
    for m in results:
        m.group, m.ref_base, m.ref_same = "thread settings", base, m.images_per_s
    child = [v for v in thread_vs if v.wait_policy]
    if child:  # the 1-thread anchor shows whether the child saw the same machine
        anchor = Variant(f"1 thread, {child[0].wait_policy} child (anchor)", 1,
                         wait_policy=child[0].wait_policy, kind="reference")  # fmt: skip
        for m in runner([*child, anchor]):
            m.group = f"thread settings, OMP_WAIT_POLICY={child[0].wait_policy} child process"
            m.ref_base, m.ref_same = base, m.images_per_s
            results.append(m)
    ok = [m for m in results if m.variant.kind != "reference" and m.images_per_s]
    fastest = max(ok, key=lambda m: m.images_per_s or 0.0).variant
    said.append(f"switches measured at the fastest thread setting: {fastest.name}")
    switch_vs = _switch_variants(w, args, peak, fastest, said)
    label = f"switches at '{fastest.name}', interleaved"
    switches = _group_with_references(runner, baseline, fastest, switch_vs, label, base)
    results += switches
    same = switches[0].images_per_s or float("nan")
    helped = [
        m.variant
        for m in switches
        if m.images_per_s
        and m.variant.kind == "switch"
        and not (m.variant.bf16 or m.variant.nchw_input or m.note)
        and m.images_per_s > HELPED * same
    ]
    if len(helped) > 1:  # a single switch is its own line already
        combo = Variant(
            "combined: " + " + ".join(v.name for v in helped),
            fastest.threads,
            channels_last=any(v.channels_last for v in helped),
            compile=any(v.compile for v in helped),
            wait_policy=fastest.wait_policy,
            kind="combined",
        )
        label = f"combined at '{fastest.name}', interleaved"
        results += _group_with_references(runner, baseline, fastest, [combo], label, base)
    for line in said:
        print(f"  {line}")
    rows = _print_table(w, flops, peak, results)
    bf16 = next((m for m in switches if m.variant.bf16 and m.images_per_s), None)
    if bf16 is not None:
        frac = bf16.images_per_s / w.batch_size * flops / (2 * peak.peak_flops)
        print(f"  bf16 autocast: {100 * frac:.1f}% of the bf16 peak (2x fp32: VDPBF16PS "
              f"multiplies pairs of bf16 per fp32 lane); it changes the arithmetic, so it is "
              f"never in 'combined'")  # fmt: skip
    fp32 = [m for m in results if m.images_per_s and m.variant.kind != "reference"
            and not (m.variant.bf16 or m.variant.nchw_input)]  # fmt: skip
    best = max(fp32, key=lambda m: (m.images_per_s or 0.0) / (m.ref_base or 1.0))
    gain = best.images_per_s / (best.ref_base or float("nan"))
    where = "" if best.variant.kind in ("baseline", "threads") else f" at '{fastest.name}'"
    print(f"  fastest fp32: {best.variant.name}{where}: {best.images_per_s:.1f} images/s, "
          f"{gain:.2f}x the default measured beside it")  # fmt: skip
    return {
        "model": w.name,
        "describe": w.describe,
        "batch_size": w.batch_size,
        "input_shape": list(w.input_shape),
        "input_layout": w.input_layout,
        "flops_per_step": flops,
        "notes": said,
        "variants": rows,
        "fastest_thread_setting": fastest.name,
        "fastest_fp32": best.variant.name + where,
        "fastest_fp32_images_per_s": best.images_per_s,
        "fastest_fp32_ratio_to_baseline": gain,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args = parse_args(argv)
    if args.child is not None:
        _child_main(args.child)
        return {}
    names = [s.strip() for s in args.models.split(",") if s.strip()]
    for n in names:
        if n not in MODELS:
            raise SystemExit(f"--models: unknown model {n!r}; known: {', '.join(MODELS)}")
    peak = cpu_peak(args.clock_mhz, args.flops_per_cycle)
    default_threads = torch.get_num_threads()
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"CPU: {peak.model}; {peak.logical_cpus} logical CPUs, {peak.threads_per_core} "
          f"thread(s)/core -> {peak.cores} cores; torch {torch.__version__}, "
          f"{default_threads} default threads, ATen CPU capability "
          f"{torch.backends.cpu.get_cpu_capability()}")  # fmt: skip
    print(f"vector flags: {' '.join(peak.flags) or 'none'}")
    print(f"clock: {peak.clock_mhz:.0f} MHz from {peak.clock_source}")
    print(f"FLOPs/cycle/core (fp32): {peak.flops_per_cycle} ({peak.flops_per_cycle_reason})")
    print(f"peak fp32 = {peak.cores} cores x {peak.clock_mhz / 1e3:.3f} GHz x "
          f"{peak.flops_per_cycle} = {peak.peak_flops / 1e9:.1f} GFLOP/s")  # fmt: skip
    print(f"1-minute load average before the run: {load:.2f} on {peak.logical_cpus} CPUs "
          f"(other jobs on these cores slow every figure, multi-threaded ones most)")  # fmt: skip
    print(f"timing: {args.warmup} warm-up steps, median of {args.windows} windows of "
          f">= {args.window_seconds:g} s; random inputs, the model's arithmetic only")  # fmt: skip
    rec: dict[str, Any] = {
        "cpu": asdict(peak),
        "peak_flops": peak.peak_flops,
        "torch": torch.__version__,
        "default_threads": default_threads,
        "load_average_1min": load,
        "warmup": args.warmup,
        "windows": args.windows,
        "window_seconds": args.window_seconds,
        "models": {},
    }
    for n in names:
        rec["models"][n] = run_model(workload(n, args.batch_size), args, peak, default_threads)
    rec["load_average_1min_after"] = os.getloadavg()[0] if hasattr(os, "getloadavg") else None
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        tag = peak.model.replace(" ", "_").replace("/", "_")
        path = args.save / f"cnn_cpu_throughput-{tag}-{peak.cores}c-torch{torch.__version__}.json"
        path.write_text(json.dumps(rec, indent=2, default=str) + "\n")
        print(f"wrote {path}")
    return rec


if __name__ == "__main__":
    main()
