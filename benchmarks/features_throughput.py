"""Images/s of dense SIFT + Fisher-vector encoding: numpy backend (all cores) vs torch backend.

Both backends compute the same vl_phow descriptor
(``baselines/features/dense_sift.py``); this measures which is faster where.
In one run and on the same images, for each stored size:

* numpy backend: dense SIFT in numpy with OpenCV's filters -> PCA -> Fisher
  vectors in numpy, chunks on a local joblib pool of ``--n-jobs`` processes
  (default: all cores);
* torch backend: dense SIFT -> PCA -> Fisher vectors in torch, batched, on
  CUDA if available, else on CPU (labelled ``torch-cpu``, all torch threads).

Settings per size are the pipelines' documented defaults (64 px: bins 2-5 px,
step 3, K = 64, 1x1+2x2; 256 px: bins 4-10 px, step 4, K = 256, 1x1+3x1). The
PCA and GMM are fitted on a few of the benchmark images (short EM): the
encoding cost does not depend on how good they are. Images are smoothed
noise (the cost does not depend on content either). A warm-up pass (which
also starts the process pool) is excluded from each timing.

    python benchmarks/features_throughput.py --n 256 --sizes 64 256
"""

from __future__ import annotations

import argparse
import os
import platform
import time

import numpy as np

from baselines.features.codebook import fit_gmm, fit_pca, sample_training_descriptors
from baselines.features.dense_sift import DenseGrid
from baselines.features.extraction import map_encoder
from baselines.features.sift_encoders import DenseSiftExtractor, FisherEncoder
from harness.api import RunContext, Split

SETTINGS = {  # size -> (bin sizes px, step px, GMM K, pyramid)
    64: ((2, 3, 4, 5), 3, 64, ((1, 1), (2, 2))),
    256: ((4, 6, 8, 10), 4, 256, ((1, 1), (1, 3))),
}


def cpu_model() -> str:
    """The CPU's model name (``lscpu``'s "Model name"), for the figures' header."""
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def smooth_noise(n: int, size: int, seed: int = 0) -> np.ndarray:
    import cv2

    rng = np.random.default_rng(seed)
    out = np.empty((n, size, size, 3), np.uint8)
    for i in range(n):
        noise = rng.normal(128, 60, (size, size, 3)).astype(np.float32)
        # sigma 1 px: contrast well above vl_phow's threshold (a 4 px blur at 256 px would leave
        # every descriptor below it, zeroed, and the PCA with nothing to fit)
        out[i] = np.clip(cv2.GaussianBlur(noise, (0, 0), 1.0), 0, 255).astype(np.uint8)
    return out


def encoder_for(size: int, backend: str, device: str, images: np.ndarray) -> FisherEncoder:
    bins, step, k, pyramid = SETTINGS[size]
    extractor = DenseSiftExtractor(DenseGrid(bins, step), backend, device)
    desc = sample_training_descriptors(images[:32], extractor, n_images=32, per_image=200, seed=0)
    pca = fit_pca(desc, 64, 0)
    gmm = fit_gmm((desc - pca.mean) @ pca.components.T, k, 0, max_iter=3)
    return FisherEncoder(extractor, pca, gmm, pyramid)


def images_per_s(encoder: FisherEncoder, images: np.ndarray, ctx: RunContext, chunk: int) -> float:
    # warm-up: starts the process pool (two chunks per process) and torch kernels
    n_warm = min(len(images), chunk * max(2, 2 * ctx.n_jobs))
    warm = Split("warm", images[:n_warm], np.zeros(n_warm, np.int64), ("x",))
    for _ in map_encoder(encoder, warm, ctx, chunk):
        pass
    split = Split("bench", images, np.zeros(len(images), np.int64), ("x",))
    if encoder.extractor.device.startswith("cuda"):
        import torch

        torch.cuda.synchronize()
    start = time.perf_counter()
    for _ in map_encoder(encoder, split, ctx, chunk):
        pass
    return len(images) / (time.perf_counter() - start)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=256, help="images per size and path")
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 256], choices=sorted(SETTINGS))
    parser.add_argument("--n-jobs", type=int, default=os.cpu_count(), help="CPU path processes")
    parser.add_argument("--chunk", type=int, default=64, help="images per task / torch batch")
    args = parser.parse_args()

    import torch

    device = "cuda" if torch.cuda.is_available() else "cpu"
    torch_label = f"torch-{device}" + (
        f" ({torch.cuda.get_device_name()})" if device == "cuda" else ""
    )
    print(
        f"# host {platform.node()}, {cpu_model()}, {os.cpu_count()} cores, "
        f"torch {torch.__version__}, n={args.n}"
    )
    cpu_ctx = RunContext(quiet=True, n_jobs=args.n_jobs)
    torch_ctx = RunContext(quiet=True, n_jobs=1, device=device)
    print(
        f"{'size':>5} {'K':>4} {'dim':>7} {'numpy img/s':>12} {'torch img/s':>12} {'ratio':>6}  paths"
    )
    for size in args.sizes:
        images = smooth_noise(args.n + args.chunk, size)
        cpu_enc = encoder_for(size, "numpy", "cpu", images)
        torch_enc = encoder_for(size, "torch", device, images)
        cpu = images_per_s(cpu_enc, images[args.chunk :], cpu_ctx, args.chunk)
        tch = images_per_s(torch_enc, images[args.chunk :], torch_ctx, args.chunk)
        print(
            f"{size:>5} {cpu_enc.gmm.n_components:>4} {cpu_enc.dim(size):>7} {cpu:>12.1f} "
            f"{tch:>12.1f} {tch / cpu:>6.2f}  torch: {torch_label}; numpy: {args.n_jobs} procs"
        )


if __name__ == "__main__":
    main()
