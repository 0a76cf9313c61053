"""The one command that proves the GPU path on a user's GPU, as one Markdown report.

    python benchmarks/gpu_evidence.py                                   # on a GPU machine
    python benchmarks/gpu_evidence.py --tiny /data/tiny-imagenet-100 --ilsvrc /data/imagenet
    python benchmarks/gpu_evidence.py --smoke                           # every stage, CPU, toy size
    python benchmarks/gpu_evidence.py --device cpu --stages step        # CPU step vs the bare loop

Stages, in order (``--stages`` picks some):

1. ``tests``: ``pytest -m gpu`` (the CUDA tests; on a CPU they skip, and say so).
2. ``step``: images/s of the AlexNet training step through the harness
   (:func:`baselines.cnn.loop.train_epoch`: cache rows -> device batches ->
   :class:`alexnet.augment.AlexNetAugment` -> forward/backward/SGD), eager
   fp32 and compiled bf16 channels-last, each against the *bare model loop*
   (the same network and optimiser stepping on one fixed device tensor) in
   the same process, so the ratio holds on any GPU.
3. ``input``: the input pipeline's images/s, each part alone: JPEG decode +
   short-side resize to 256 (:func:`harness.data.decode.decode_image`), cache
   read (:class:`baselines.cnn.batches.BatchStream` over a memory map) and the
   augmentation, against the step's images/s.
4. ``handcrafted``: images/s of the hand-crafted extractors at 256 px (dense
   SIFT, numpy and torch backends; HOG).
5. ``runs``: the paper AlexNet on Tiny ImageNet-100 (``--tiny``; the full
   recipe through ``harness run``) and on an ILSVRC copy (``--ilsvrc``).
   ``--smoke`` runs it on a generated 64 px Tiny ImageNet under a step budget.

Targets (what the report is read against):

* the paper AlexNet step (profile ``paper``, 224 crops, batch 128, compiled
  bf16 channels-last) at **>= 20,000 images/s end to end** on an H200-class GPU;
* the input pipeline **never the bottleneck**: cache read and augmentation
  each faster than the step (decode happens once, when the cache is built);
* the hand-crafted side at **>= 10,000 images/s at 256 px** on that GPU;
* on a CPU: the harness's step at >= 0.9x the bare loop's images/s (run it
  alone: ``--device cpu --stages step --profile cpu``).

``--smoke`` runs every stage on the CPU at toy size (a quarter-width network,
a few steps, a few images) in under 3 minutes; CI runs it. The report goes to
``--out`` (default ``results/benchmarks/gpu_evidence-<device>.md``).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

REPO = Path(__file__).resolve().parent.parent
STAGES = ("tests", "step", "input", "handcrafted", "runs")


@dataclass(frozen=True)
class Scale:
    """How big each stage is: the real one, or ``--smoke``'s toy size."""

    profile: str  # alexnet profile for the step stage
    width: float  # layer-width multiplier of the network timed
    batch: int  # images per step
    steps: int  # timed steps per measurement
    warmup: int  # untimed steps first (compilation included)
    n_images: int  # images in the generated cache / decode / extractor sets
    run_steps: int | None  # step budget of the `runs` stage (None: the full recipe)
    rounds: int  # timed windows of each loop in the step stage, alternated (median)


REAL = Scale("paper", 1.0, 128, 30, 5, 512, None, 5)
SMOKE = Scale("paper", 0.25, 4, 2, 1, 8, 2, 1)


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextlib.contextmanager
def _timer(device: torch.device, out: list[float]) -> Iterator[None]:
    _sync(device)
    start = time.perf_counter()
    yield
    _sync(device)
    out.append(time.perf_counter() - start)


def _settings(scale: Scale, batch: int | None):
    from alexnet.baseline import AlexNetBaseline

    model = AlexNetBaseline(profile=scale.profile, width=scale.width, batch_size=batch)
    return model.settings()


# ------------------------------------------------------------------ step


def bare_loop(settings, device: torch.device, compiled: bool, scale: Scale) -> Callable[[], float]:
    """The network alone (fixed input tensor, forward, loss, backward, SGD), warmed up: a
    function that times ``scale.steps`` steps and returns their images/s."""
    from alexnet.model import build_alexnet

    model = build_alexnet(100, settings.stem, width=settings.width, init=settings.init).to(device)
    x = torch.randn(scale.batch, 3, settings.crop, settings.crop, device=device)
    # channels-last in both variants: the device rule's layout (baselines.cnn.device), which
    # the harness's eager run uses too
    model = model.to(memory_format=torch.channels_last)
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.randint(0, 100, (scale.batch,), device=device)
    opt = torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9, weight_decay=5e-4)
    step_model = torch.compile(model) if compiled else model
    amp = torch.autocast(device.type, dtype=torch.bfloat16, enabled=compiled)

    def step() -> None:
        with amp:
            logits = step_model(x)
        loss = F.cross_entropy(logits.float(), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    for _ in range(scale.warmup):
        step()

    def timed() -> float:
        seconds: list[float] = []
        with _timer(device, seconds):
            for _ in range(scale.steps):
                step()
        return scale.steps * scale.batch / seconds[0]

    return timed


def harness_step(
    settings, device: torch.device, compiled: bool, scale: Scale, tmp: Path
) -> Callable[[], float]:
    """The harness's training epoch loop over a uint8 cache, augmentation included, warmed
    up: a function that trains ``scale.steps`` steps and returns their images/s."""
    from alexnet.augment import AlexNetAugment, colour_statistics
    from alexnet.model import STEMS, build_alexnet
    from alexnet.recipe import trainer_config
    from baselines.cnn.loop import train_epoch
    from baselines.cnn.trainer import Trainer
    from harness.api import RunContext, Split

    spec = STEMS[settings.stem]
    n = scale.batch * (scale.steps + scale.warmup)
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (n, spec.base, spec.base, 3), dtype=np.uint8)
    labels = rng.integers(0, 100, n).astype(np.int64)
    stats = colour_statistics(images[: min(n, 64)], device=str(device))
    augment = AlexNetAugment(stats, crop=spec.crop, base=spec.base, device=device,
                             standardise=settings.init == "kaiming")  # fmt: skip
    cuda = device.type == "cuda"
    config = trainer_config(settings, n, cuda, amp=compiled, channels_last=None,
                            compile=compiled)  # fmt: skip
    ctx = RunContext(device=str(device), work_dir=tmp, cache_dir=tmp, quiet=True)
    trainer = Trainer(lambda: build_alexnet(100, settings.stem, width=settings.width,
                      init=settings.init), config, ctx, train_transform=augment.train,
                      eval_transform=augment.centre_crop)  # fmt: skip
    state = trainer._build(n)
    gen = torch.Generator(device=device).manual_seed(0)

    class _Bar:
        def update(self, n: int = 1) -> None: ...
        def set_postfix(self, **kw: object) -> None: ...

    cache = Split("bench", images, labels, tuple(f"n{c:08d}" for c in range(100)))
    rows = np.arange(n)
    train_epoch(state, cache, rows[: scale.warmup * scale.batch], augment.train, gen, _Bar())

    def timed() -> float:
        result = train_epoch(state, cache, rows[scale.warmup * scale.batch :], augment.train,
                             gen, _Bar())  # fmt: skip
        return result.images / result.seconds

    return timed


def stage_step(device: torch.device, scale: Scale, tmp: Path) -> tuple[list[str], float]:
    settings = _settings(scale, scale.batch)
    lines = ["| variant | bare loop img/s | harness img/s | harness / bare |", "|---|---|---|---|"]
    best = 0.0
    for compiled in (False, True):
        name = "compiled bf16 channels-last" if compiled else "eager fp32 channels-last"
        try:
            time_bare = bare_loop(settings, device, compiled, scale)
            time_ours = harness_step(settings, device, compiled, scale, tmp)
            # alternate the two, so that a change in the machine's load touches both alike
            rates = [(time_bare(), time_ours()) for _ in range(scale.rounds)]
        except Exception as exc:  # e.g. no C++ compiler for inductor on this CPU
            lines.append(f"| {name} | failed: {type(exc).__name__}: {str(exc)[:120]} | | |")
            continue
        bare, ours = (float(np.median([r[i] for r in rates])) for i in (0, 1))
        best = max(best, ours)
        lines.append(f"| {name} | {bare:,.1f} | {ours:,.1f} | {ours / bare:.2f}x |")
    what = (f"profile `{scale.profile}`, stem `{settings.stem}` ({settings.crop} px crops), "
            f"width {settings.width:g}, batch {scale.batch}, {scale.steps} timed steps after "
            f"{scale.warmup} warm-up; bare loop and harness alternated {scale.rounds} times, "
            "medians")  # fmt: skip
    return [what, "", *lines], best


# ----------------------------------------------------------------- input


def stage_input(device: torch.device, scale: Scale, step_rate: float, tmp: Path) -> list[str]:
    from PIL import Image

    from alexnet.augment import AlexNetAugment, colour_statistics
    from baselines.cnn.batches import BatchStream
    from harness.data.decode import decode_image

    n, rng = scale.n_images, np.random.default_rng(1)
    files = []
    for i in range(n):  # full-size-like JPEGs: 500x375, ImageNet's median shape
        path = tmp / f"img{i}.JPEG"
        Image.fromarray(rng.integers(0, 256, (375, 500, 3), dtype=np.uint8)).save(path)
        files.append(path)
    start = time.perf_counter()
    decoded = np.stack([decode_image(p, 256) for p in files])
    decode = n / (time.perf_counter() - start)
    memmap = np.lib.format.open_memmap(tmp / "cache.npy", "w+", np.uint8, decoded.shape)
    memmap[:] = decoded
    memmap.flush()
    cached = np.load(tmp / "cache.npy", mmap_mode="r")
    batch = min(scale.batch, n)
    reads = max(1, scale.steps)
    order = np.tile(np.arange(n), reads * batch // n + 1)[: reads * batch]
    seconds: list[float] = []
    with _timer(device, seconds):
        for _ in BatchStream(cached, np.zeros(n, np.int64), order, batch, device):
            pass
    read = len(order) / seconds[0]
    stats = colour_statistics(decoded, device=str(device))
    augment = AlexNetAugment(stats, crop=224, base=256, device=device)
    x = torch.from_numpy(decoded[:batch]).to(device)
    gen = torch.Generator(device=device).manual_seed(0)
    augment.train(x, gen)  # warm-up
    seconds = []
    with _timer(device, seconds):
        for _ in range(reads):
            augment.train(x, gen)
    aug = reads * batch / seconds[0]
    rows = [("JPEG decode + resize to 256 (once, building the cache)", decode),
            ("cache read to the device (BatchStream, memory map)", read),
            ("augmentation (crops, mirrors, PCA lighting, mean)", aug)]  # fmt: skip
    out = ["| part | img/s | / step img/s |", "|---|---|---|"]
    for name, rate in rows:
        ratio = f"{rate / step_rate:.1f}x" if step_rate else "n/a"
        out.append(f"| {name} | {rate:,.1f} | {ratio} |")
    return out


# ----------------------------------------------------------- hand-crafted


def stage_handcrafted(device: torch.device, scale: Scale) -> list[str]:
    from baselines.features.dense_sift import DenseGrid
    from baselines.features.hog import HogEncoder
    from baselines.features.sift_encoders import DenseSiftExtractor

    images = np.random.default_rng(2).integers(0, 256, (scale.n_images, 256, 256, 3), np.uint8)
    grid = DenseGrid((4, 6, 8, 10), 4)
    candidates: list[tuple[str, Callable[[np.ndarray], object]]] = [
        ("dense SIFT, numpy (CPU)", DenseSiftExtractor(grid, "numpy", "cpu").descriptors),
        (f"dense SIFT, torch ({device.type})",
         DenseSiftExtractor(grid, "torch", str(device)).descriptors),
        ("HOG (CPU)", HogEncoder().encode),
    ]  # fmt: skip
    out = ["| extractor (256 px) | img/s |", "|---|---|"]
    for name, fn in candidates:
        fn(images[:1])  # warm-up
        seconds: list[float] = []
        with _timer(device, seconds):
            fn(images)
        out.append(f"| {name} | {len(images) / seconds[0]:,.1f} |")
    return out


# ------------------------------------------------------------------ runs


def _harness(args: list[str]) -> tuple[int, float, str]:
    cmd = [sys.executable, "-m", "harness", "run", *args]
    start = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    # the run's summary table (stdout) whole, then the last lines of its log (stderr)
    log = "\n".join(proc.stderr.strip().splitlines()[-6:])
    text = f"{proc.stdout.strip()}\n\nlog (last lines):\n{log}"
    return proc.returncode, time.perf_counter() - start, "`" + " ".join(cmd[1:]) + "`\n\n" + text


def stage_runs(opts: argparse.Namespace, scale: Scale, tmp: Path) -> list[str]:
    device = ["--device", opts.device, "--results", str(opts.results), "--quiet", "--no-report"]
    jobs = []
    if opts.smoke:
        from harness.data import make_synthetic_imagenet

        root = make_synthetic_imagenet(tmp / "tiny", layout="tiny-imagenet", n_classes=3,
                                       train_per_class=4, val_per_class=2, size=64)  # fmt: skip
        budget = ["--param", f"alexnet.max_steps={scale.run_steps}", "--param",
                  "alexnet.batch_size=4", "--param", "alexnet.width=0.25"]  # fmt: skip
        jobs.append(("paper AlexNet, generated Tiny ImageNet (smoke)",
                     ["--data", str(root), "--cache", str(tmp / "cache"), *budget]))  # fmt: skip
    if opts.tiny:
        jobs.append(("paper AlexNet, Tiny ImageNet-100", ["--suite", "tiny-imagenet", "--data",
                                                         str(opts.tiny)]))  # fmt: skip
    if opts.ilsvrc:
        jobs.append(("paper AlexNet, ILSVRC-2012", ["--suite", "ilsvrc2012", "--data",
                                                   str(opts.ilsvrc)]))  # fmt: skip
    if not jobs:
        return ["no dataset given (`--tiny`, `--ilsvrc`); skipped"]
    out = []
    for name, args in jobs:
        profile = ["--methods", "alexnet", "--param", "alexnet.profile=paper"]
        rc, seconds, text = _harness([*args, *profile, *device])
        out += [f"**{name}**: exit {rc}, {seconds:.0f} s", "", "```", text, "```", ""]
    return out


# ------------------------------------------------------------------ main


def stage_tests(opts: argparse.Namespace) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "-m", "gpu", "-q", "-p", "no:cacheprovider", "tests"]
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    lines = (proc.stdout + proc.stderr).strip().splitlines()
    return [
        f"`{' '.join(cmd[1:])}`: exit {proc.returncode}",
        "",
        f"    {lines[-1] if lines else ''}",
    ]


def header(opts: argparse.Namespace, device: torch.device) -> list[str]:
    from harness.environment import cpu_flags, device_name

    name = device_name(device.type)  # the GPU's or the CPU's model name, with the core count
    return [
        f"# GPU evidence ({'smoke, ' if opts.smoke else ''}{device.type})", "",
        f"- device: {name}, {platform.machine()}, {torch.get_num_threads()} threads"
        f"{cpu_flags() if device.type == 'cpu' else ''}; load average {os.getloadavg()[0]:.2f}",
        f"- torch {torch.__version__}, CUDA {torch.version.cuda}, cuDNN "
        f"{torch.backends.cudnn.version() if torch.cuda.is_available() else None}, "
        f"Python {platform.python_version()}, {platform.platform()}",
        f"- command: `python {' '.join(sys.argv)}`",
        f"- date: {time.strftime('%Y-%m-%d %H:%M:%S %Z')}", "",
        "Targets: paper step >= 20,000 img/s end to end on an H200-class GPU; the input "
        "pipeline never the bottleneck; hand-crafted >= 10,000 img/s at 256 px; on a CPU the "
        "harness step >= 0.9x the bare loop.", "",
    ]  # fmt: skip


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--smoke", action="store_true", help="every stage on the CPU at toy size")
    p.add_argument("--device", default=None, help="default: cuda if available, else cpu")
    p.add_argument("--stages", default=",".join(STAGES), help=f"comma-separated of {STAGES}")
    p.add_argument("--profile", default=None, help="alexnet profile of the step (default paper)")
    p.add_argument("--batch", type=int, default=None, help="images per timed step")
    p.add_argument("--steps", type=int, default=None, help="timed steps per measurement")
    p.add_argument(
        "--rounds",
        type=int,
        default=None,
        help="timed windows of each loop, alternated (the medians are reported)",
    )
    p.add_argument("--tiny", type=Path, default=None, help="Tiny ImageNet-100 root")
    p.add_argument("--ilsvrc", type=Path, default=None, help="ILSVRC-2012 root")
    p.add_argument("--results", type=Path, default=REPO / "results" / "evidence")
    p.add_argument("--out", type=Path, default=None, help="the report (Markdown)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> Path:
    opts = parse_args(argv)
    if opts.smoke:
        opts.device = "cpu"
    opts.device = opts.device or ("cuda" if torch.cuda.is_available() else "cpu")
    device = torch.device(opts.device)
    scale = SMOKE if opts.smoke else REAL
    scale = dataclasses.replace(
        scale,
        profile=opts.profile or scale.profile,
        width=0.5 if opts.profile == "cpu" else scale.width,
        batch=opts.batch or (64 if opts.profile == "cpu" else scale.batch),
        steps=opts.steps or scale.steps,
        rounds=opts.rounds or scale.rounds,
    )
    stages = [s for s in opts.stages.split(",") if s]
    unknown = sorted(set(stages) - set(STAGES))
    if unknown:
        raise SystemExit(f"unknown stage(s) {unknown}; known: {', '.join(STAGES)}")
    out = opts.out or REPO / "results" / "benchmarks" / f"gpu_evidence-{device.type}.md"
    report, step_rate = header(opts, device), 0.0
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        for stage in STAGES:
            if stage not in stages:
                continue
            start = time.perf_counter()
            print(f"gpu_evidence: {stage} ...", flush=True)
            if stage == "tests":
                body = stage_tests(opts)
            elif stage == "step":
                body, step_rate = stage_step(device, scale, tmp)
            elif stage == "input":
                body = stage_input(device, scale, step_rate, tmp)
            elif stage == "handcrafted":
                body = stage_handcrafted(device, scale)
            else:
                body = stage_runs(opts, scale, tmp)
            report += [f"## {stage} ({time.perf_counter() - start:.0f} s)", "", *body, ""]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(report) + "\n")
    print(f"gpu_evidence: report written to {out}")
    return out


if __name__ == "__main__":
    main()
