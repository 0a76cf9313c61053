"""End-to-end AlexNet training throughput: torchvision-reference style vs the harness fast path.

Both loops train the paper network (alexnet.model, 224x224 crops, SGD batch
128, momentum 0.9, wd 5e-4) on *the same images* in one process:

(a) reference: a plain eager fp32 NCHW loop fed by ``torch.utils.data.DataLoader``
    whose workers open each JPEG with PIL, resize the short side to 256,
    take a random 224 crop + flip and convert to a normalised float tensor
    per image (the torchvision ImageNet reference recipe's shape); the model
    uses ``nn.LocalResponseNorm``.
(b) fast path: the images decoded once into a 256x256 uint8 cache and trained
    by the harness's own loop (``baselines.cnn.trainer.Trainer``, as
    ``alexnet`` runs it): batches gathered into pinned memory by a background
    thread, crops/flips/PCA noise/mean subtraction on the device
    (alexnet.augment), bf16 autocast, channels_last, torch.compile and the
    fast LRN. The checkpoint the trainer writes after each epoch is outside
    the timed training seconds.

Warm-up steps (compilation, cuDNN autotuning, worker start-up) are excluded
from the timings: (a) runs untimed steps first; (b) trains one untimed epoch
of ``--warmup`` steps (at least ``--steps``, the same rows) then the timed one. Prints images/s of both, the ratio, peak GPU memory, and
the projected wall time of 90 epochs of ILSVRC-2012 at (b)'s rate.

    python benchmarks/alexnet_throughput.py                          # GPU, defaults
    python benchmarks/alexnet_throughput.py --device cpu --steps 2   # smoke test

With ``--save DIR`` the figures are also written as JSON to
``DIR/alexnet_throughput-<device>-<precision>-torch<version>.json``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from alexnet.augment import AlexNetAugment, colour_statistics  # noqa: E402
from alexnet.model import build_alexnet  # noqa: E402

ILSVRC2012_TRAIN_IMAGES = 1_281_167
PAPER_EPOCHS = 90
DEFAULT_IMAGES = Path("/tmp/samples/imagenet-samples-100")
IMAGENET_MEAN = (0.485, 0.456, 0.406)  # the reference recipe's normalisation
IMAGENET_STD = (0.229, 0.224, 0.225)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    p.add_argument("--images", type=Path, default=DEFAULT_IMAGES, help="folder of JPEGs")
    p.add_argument(
        "--n-images", type=int, default=100, help="synthetic JPEGs if --images is absent"
    )
    p.add_argument("--batch-size", type=int, default=None, help="default 128 on cuda, 4 on cpu")
    p.add_argument("--steps", type=int, default=50, help="timed training steps per loop")
    p.add_argument("--warmup", type=int, default=None, help="untimed steps; default 10 cuda, 1 cpu")
    p.add_argument(
        "--workers", type=int, default=os.cpu_count() or 1, help="(a)'s DataLoader workers"
    )
    p.add_argument("--compile", action=argparse.BooleanOptionalAction, default=None,
                   help="torch.compile in (b); default on for cuda")  # fmt: skip
    p.add_argument("--lrn", choices=("fast", "shifted", "torch"), default="fast", help="(b)'s LRN")
    p.add_argument("--only", choices=("a", "b"), default=None, help="run one loop only")
    p.add_argument("--save", type=Path, default=None, help="folder for a JSON record")
    return p.parse_args(argv)


# ----------------------------------------------------------------------------- data


def image_files(folder: Path, n_synthetic: int, scratch: Path) -> list[Path]:
    """The JPEGs of ``folder``, or ``n_synthetic`` random-noise JPEGs written to ``scratch``."""
    if folder.is_dir():
        files = sorted(p for p in folder.iterdir() if p.suffix.lower() in (".jpeg", ".jpg"))
        if files:
            return files
    rng = np.random.default_rng(0)
    files = []
    for i in range(n_synthetic):
        h, w = rng.integers(300, 500, size=2)
        path = scratch / f"synthetic_{i:04d}.JPEG"
        Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8)).save(path, quality=90)
        files.append(path)
    return files


def resize_short_side(img: Image.Image, side: int) -> Image.Image:
    w, h = img.size
    scale = side / min(w, h)
    return img.resize((max(side, round(w * scale)), max(side, round(h * scale))), Image.BILINEAR)


class JpegFolder(torch.utils.data.Dataset):
    """(a)'s dataset: PIL decode + per-image transforms, the reference recipe's shape."""

    def __init__(self, files: list[Path], length: int, crop: int = 224, side: int = 256) -> None:
        self.files, self.length, self.crop, self.side = files, length, crop, side
        self.mean = torch.tensor(IMAGENET_MEAN).view(3, 1, 1)
        self.std = torch.tensor(IMAGENET_STD).view(3, 1, 1)

    def __len__(self) -> int:
        return self.length

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        with Image.open(self.files[i % len(self.files)]) as im:
            img = resize_short_side(im.convert("RGB"), self.side)
        rng = np.random.default_rng()
        top = int(rng.integers(0, img.height - self.crop + 1))
        left = int(rng.integers(0, img.width - self.crop + 1))
        img = img.crop((left, top, left + self.crop, top + self.crop))
        if rng.random() < 0.5:
            img = img.transpose(Image.FLIP_LEFT_RIGHT)
        x = torch.from_numpy(np.asarray(img, dtype=np.uint8).copy()).permute(2, 0, 1).float() / 255
        return (x - self.mean) / self.std, i % 1000


def decode_cache(files: list[Path], side: int = 256) -> np.ndarray:
    """(b)'s uint8 cache: short side to ``side``, centre square crop, as the harness cache does."""
    out = np.empty((len(files), side, side, 3), dtype=np.uint8)
    for i, path in enumerate(files):
        with Image.open(path) as im:
            img = resize_short_side(im.convert("RGB"), side)
        top, left = (img.height - side) // 2, (img.width - side) // 2
        out[i] = np.asarray(img.crop((left, top, left + side, top + side)))
    return out


# ----------------------------------------------------------------------------- loops


def sgd(model: nn.Module) -> torch.optim.Optimizer:
    return torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def timed(
    steps: Iterator[None], n_warmup: int, n_timed: int, device: torch.device
) -> tuple[float, float]:
    """Run warm-up then timed steps; returns (seconds of the timed steps, peak GiB)."""
    for _ in range(n_warmup):
        next(steps)
    sync(device)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    t0 = time.perf_counter()
    for _ in range(n_timed):
        next(steps)
    sync(device)
    seconds = time.perf_counter() - t0
    peak = (
        torch.cuda.max_memory_allocated(device) / 2**30 if device.type == "cuda" else float("nan")
    )
    return seconds, peak


def reference_steps(
    files: list[Path], batch: int, workers: int, device: torch.device, n_total: int
) -> Iterator[None]:
    model = build_alexnet(1000, lrn_impl="torch").to(device)
    opt = sgd(model)
    loader = torch.utils.data.DataLoader(
        JpegFolder(files, n_total * batch),
        batch_size=batch,
        shuffle=True,
        num_workers=workers,
        pin_memory=device.type == "cuda",
        drop_last=True,
        persistent_workers=workers > 0,
    )
    model.train()
    for x, y in loader:
        x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
        loss = F.cross_entropy(model(x), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        yield


def fast_path(
    cache: np.ndarray,
    batch: int,
    device: torch.device,
    n_warmup: int,
    n_timed: int,
    compile_: bool,
    lrn: str,
) -> tuple[float, float]:
    """(b) through the harness's own trainer; returns (images/s of the timed epoch, peak GiB).

    Epoch 1 (``n_warmup`` steps) compiles and autotunes; epoch 2 (``n_timed``
    steps) is timed by the trainer itself (its learning-curve ``images_per_s``:
    training images over the epoch's training wall time, no evaluation).
    """
    from alexnet.baseline import AlexNetBaseline
    from baselines.cnn.trainer import TrainConfig, Trainer
    from harness.api import RunContext, Split

    cuda = device.type == "cuda"
    stats = colour_statistics(cache, device=device)
    aug = AlexNetAugment(stats, crop=224, base=256, device=device)
    rows = np.arange(max(n_warmup, n_timed) * batch) % len(cache)
    split = Split("bench", cache[rows], rows % 1000, tuple(f"n{i:08d}" for i in range(1000)))
    config = TrainConfig(
        epochs=2, batch_size=batch, lr=0.01, momentum=0.9, weight_decay=5e-4,
        drop_last=True, amp=cuda, channels_last=cuda, compile=compile_,
    )  # fmt: skip
    with tempfile.TemporaryDirectory() as work:
        ctx = RunContext(device=str(device), work_dir=Path(work), quiet=True)
        trainer = Trainer(
            lambda: build_alexnet(1000, lrn_impl=lrn),
            config,
            ctx,
            train_transform=aug.train,
            eval_transform=aug.centre_crop,
            run_name="bench",
        )
        if cuda:
            torch.cuda.reset_peak_memory_stats(device)
        trainer.fit(split)
    peak = torch.cuda.max_memory_allocated(device) / 2**30 if cuda else float("nan")
    assert AlexNetBaseline  # the same model/augment/trainer the baseline runs
    return float(trainer.curve_[-1]["images_per_s"]), peak


def main(argv: list[str] | None = None) -> dict[str, object]:
    args = parse_args(argv)
    device = torch.device(args.device)
    cuda = device.type == "cuda"
    batch = args.batch_size or (128 if cuda else 4)
    warmup = args.warmup if args.warmup is not None else (10 if cuda else 1)
    compile_ = args.compile if args.compile is not None else cuda
    if cuda:
        torch.backends.cudnn.benchmark = True
    n_total = warmup + args.steps

    with tempfile.TemporaryDirectory() as scratch:
        files = image_files(args.images, args.n_images, Path(scratch))
        print(f"data: {len(files)} JPEGs from {files[0].parent}; batch {batch}; "
              f"{warmup} warm-up + {args.steps} timed steps; device {device}")  # fmt: skip
        rec: dict[str, object] = {
            "device": torch.cuda.get_device_name(device) if cuda else platform.processor() or "cpu",
            "torch": torch.__version__,
            "batch_size": batch,
            "steps": args.steps,
            "warmup": warmup,
            "n_files": len(files),
            "workers_a": args.workers,
            "compile_b": compile_,
            "lrn_b": args.lrn,
        }
        if args.only in (None, "a"):
            secs, peak = timed(
                reference_steps(files, batch, args.workers, device, n_total),
                warmup,
                args.steps,
                device,
            )
            rec["a_images_per_s"] = args.steps * batch / secs
            rec["a_peak_gib"] = peak
            print(f"(a) eager fp32 + DataLoader/PIL ({args.workers} workers): "
                  f"{rec['a_images_per_s']:,.1f} images/s, peak GPU memory {peak:.2f} GiB")  # fmt: skip
        if args.only in (None, "b"):
            cache = decode_cache(files)
            rate, peak = fast_path(cache, batch, device, warmup, args.steps, compile_, args.lrn)
            rec["b_images_per_s"] = rate
            rec["b_peak_gib"] = peak
            amp = "bf16" if cuda else "fp32"
            print(f"(b) harness fast path (uint8 cache, device aug, {amp}, channels_last, "
                  f"compile={compile_}, lrn={args.lrn}): {rec['b_images_per_s']:,.1f} images/s, "
                  f"peak GPU memory {peak:.2f} GiB")  # fmt: skip
            hours = PAPER_EPOCHS * ILSVRC2012_TRAIN_IMAGES / rec["b_images_per_s"] / 3600
            rec["projected_90_epochs_hours"] = hours
            print(f"projected {PAPER_EPOCHS} epochs of ILSVRC-2012 ({ILSVRC2012_TRAIN_IMAGES:,} "
                  f"images) at (b)'s rate: {hours:.2f} h")  # fmt: skip
        if "a_images_per_s" in rec and "b_images_per_s" in rec:
            rec["ratio_b_over_a"] = rec["b_images_per_s"] / rec["a_images_per_s"]
            print(f"ratio (b)/(a): {rec['ratio_b_over_a']:.2f}x")
    if args.save:
        args.save.mkdir(parents=True, exist_ok=True)
        tag = str(rec["device"]).replace(" ", "_").replace("/", "_")
        precision = "bf16" if cuda else "fp32"
        path = args.save / f"alexnet_throughput-{tag}-{precision}-torch{torch.__version__}.json"
        path.write_text(json.dumps(rec, indent=2) + "\n")
        print(f"wrote {path}")
    return rec


if __name__ == "__main__":
    main()
