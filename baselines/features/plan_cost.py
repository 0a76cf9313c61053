"""``harness plan``'s projection of an encoded-SVM pipeline, stage by stage.

The plan fits each method on a small calibration sample (:mod:`harness.plan`).
For the hand-crafted pipelines a straight line through two such samples is
dominated by costs that do not grow like the run (measured: hog-svm on Tiny
ImageNet-100 projected 3.3x its real time). So the pipeline times its own
stages during the calibration fit (:class:`StageClock`) and projects each by
what it grows with:

* **encoder** (PCA + GMM, k-means vocabulary): the images it is learned on,
  ``min(codebook_images, fit rows)``: bounded, so constant beyond 4,000 images
  at the 256 px settings;
* **quantizer** (product quantisation, ``feature_dtype="pq"``): its sample of
  at most 4,096 fit images;
* **encode**: every fit and monitor image, at one process's rate timed on a
  few calibration images with the run's encoders (where the run learns more
  words than the calibration's capped vocabulary, one of the run's size: the
  method's ``encoder_with_words``), over the pool's workers, plus the worker
  pool's start-up per call from the line through the two calibrations;
* **SVMs**: not scaled at all but counted, job by job, as the run will train
  them (the step calibrations, each group of grid candidates to the longest
  epoch count with the monitor scored at each checkpoint, the refit at the
  longest epoch count: an upper bound), each step timed at its real shape
  (:mod:`baselines.svm_cost`).

The peak memory of the SVMs is the largest job's tensors (16 bytes per
weight, the block buffer); the encoder's the descriptor sample.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from baselines.features.codebook import KMEANS_BATCH, learned_size
from baselines.features.pq import PQ_SAMPLE_IMAGES
from baselines.svm_cost import SvmJob, job_bytes, jobs_seconds, models_together
from harness.api import RunContext

if TYPE_CHECKING:
    from baselines.features.pipeline import EncodedSvmBaseline

__all__ = ["PLAN_IMAGES", "StageClock", "learned_size_ratio", "project_stages", "svm_jobs"]

PLAN_IMAGES = 8  # fit images a calibration keeps to time the run's encoder on
KMEANS_EPOCHS = 3.0  # passes sklearn's MiniBatchKMeans takes before it stops early: measured
# for 4,096 words on 750,000 dense SIFT descriptors at 256 px, 458 steps (2.5 passes of 184)
# on one sample, 574 (3.1 passes) in sift-bovw-svm's run on the 1,000-class copy
STEP_REPEATS = 3  # timed k-means steps
ENCODE_BUDGET_S = 0.3  # seconds of encoding timed per channel (at least the kept images)
POOL_EFFICIENCY = 0.94  # images/s of the worker pool over n_jobs x one process's: measured,
# hog-svm on Tiny ImageNet-100 (1.19 ms an image in one process, 0.64 over 2 workers)

DESCRIPTOR_BYTES = 128 * 4 * 2  # a float32 SIFT descriptor and its PCA'd copy, with room


class StageClock:
    """Seconds and units (images) per named stage, summed over calls."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}
        self.units: dict[str, int] = {}

    @contextmanager
    def __call__(self, stage: str, units: int = 0) -> Iterator[None]:
        t0 = time.perf_counter()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.perf_counter() - t0
            self.units[stage] = self.units.get(stage, 0) + int(units)

    def rounded(self) -> dict[str, float]:
        """Seconds per stage to the hundredth (the run record's note)."""
        return {stage: round(s, 2) for stage, s in self.seconds.items()}


def svm_jobs(
    method: EncodedSvmBaseline,
    dims: list[int],
    n_fit: int,
    n_monitor: int,
    n_classes: int,
    n_refit: int | None = None,
) -> list[SvmJob]:
    """The SVM trainings of a whole run of ``method``, one channel of ``dims`` after another
    (``n_refit``: the refit's rows, all of train; by default ``n_fit + n_monitor``)."""
    selecting = bool(method.select) and n_monitor > 0
    n_refit = n_fit + n_monitor if n_refit is None else n_refit
    jobs, refits = [], []  # fit selects on every channel, then refit trains every channel
    for dim in dims:
        if not selecting:  # one fit on all training rows, its step calibrated first
            jobs.append(SvmJob(n_refit, n_classes, dim, 1, method.svm_epochs, 0, 0, True))
            continue
        regs, epochs, modes = method._grids()
        jobs += [SvmJob(n_fit, n_classes, dim, 1, 0, 0, 0, True) for _ in modes]  # eta0 each
        candidates = len(regs) * len(modes)
        group = models_together(dim, n_classes)
        for start in range(0, candidates, group):
            m = min(group, candidates - start)
            jobs.append(SvmJob(n_fit, n_classes, dim, m, epochs[-1], n_monitor, len(epochs)))
        refits.append(SvmJob(n_refit, n_classes, dim, 1, epochs[-1]))
    return jobs + refits


def learned_size_ratio(method: EncodedSvmBaseline, cal_images: int, full_images: int) -> float:
    """How many times more GMM components / words the run learns than the calibration did.

    Both are capped at one per 20 sampled descriptors (``fit_gmm``, ``fit_vocabulary``),
    so a calibration on a few dozen images can learn far fewer words than the run
    (ILSVRC settings: 450 of sift-bovw-svm's 4,096); the features' dimension, the
    encoding's and the SVMs' costs grow with it. 1 for an encoder without one (HOG).
    """
    size = getattr(method, "n_components", None) or getattr(method, "n_words", None)
    per_image = int(getattr(method, "descriptors_per_image", 0) or 0)
    if not size or not per_image:
        return 1.0
    learned = [learned_size(size, n * per_image) for n in (cal_images, full_images)]
    return learned[1] / learned[0]


def kmeans_seconds(descriptors: int, words: int, dim: int = 128) -> float:
    """The projected seconds of ``fit_vocabulary`` on ``descriptors``: its mini-batch steps
    (:data:`KMEANS_EPOCHS` passes, at most its ``max_iter`` of 100), each timed here at
    the run's shape (a batch of 4,096 against ``words`` centres), plus its k-means++
    initialisation, counted in steps: ``3 x max(batch, words)`` points against each of
    ``words`` centres for ``2 + ln(words)`` candidates, about ``3 (2 + ln words)``
    steps' distances."""
    from sklearn.cluster import MiniBatchKMeans

    batch = KMEANS_BATCH
    words = learned_size(words, descriptors)
    per_epoch = math.ceil(descriptors / batch)
    steps = min(100 * per_epoch, math.ceil(KMEANS_EPOCHS * per_epoch))
    rng = np.random.default_rng(0)
    x = rng.random((max(batch, words), dim), dtype=np.float32)  # sklearn: n >= centres
    centres = rng.random((words, dim), dtype=np.float32)
    km = MiniBatchKMeans(n_clusters=words, init=centres, n_init=1, batch_size=batch)
    km.partial_fit(x)  # set-up and a first step, untimed
    t0 = time.perf_counter()
    for _ in range(STEP_REPEATS):
        km.partial_fit(x)
    step = (time.perf_counter() - t0) / STEP_REPEATS * batch / len(x)
    init = 3 * max(batch, words) / batch * (2 + math.log(words)) * step
    return init + steps * step


def encode_seconds_per_image(
    method: EncodedSvmBaseline, ratio: float, budget_s: float = ENCODE_BUDGET_S
) -> float | None:
    """Seconds one process takes to encode an image through every channel, with the
    run's encoders (``ratio`` times the calibration's words, where the method can
    build one: ``encoder_with_words``): the calibration's kept images encoded here,
    in chunks of 8, until ``budget_s`` has passed. None without kept images or when
    the run's encoder cannot be built. A worker pool's calls on 40 and 120 images
    timed mostly its own overheads: 16 s projected for hog-svm's 32 s on Tiny."""
    from baselines.features.extraction import encode_chunk

    images = getattr(method, "plan_images_", None)
    if images is None or not len(images):
        return None
    grow = getattr(method, "encoder_with_words", None)
    if ratio > 1 and grow is None:
        return None
    total = 0.0
    for channel in method.dims_:
        encoder = method._encoder(channel)
        if ratio > 1 and encoder is method.encoder_:
            encoder = grow(ratio)
        encode_chunk(encoder, images[:1])  # one-off set-up (the grid, kernels) apart
        done, t0 = 0, time.perf_counter()
        while done < len(images) or time.perf_counter() - t0 < budget_s:
            part = images[done % len(images) :][:8]
            encode_chunk(encoder, part)
            done += len(part)
        total += (time.perf_counter() - t0) / done
    return total


def _workers(method: EncodedSvmBaseline, ctx: RunContext) -> float:
    """Images encoded at once: ``n_jobs`` processes (at the measured efficiency), one
    process for a torch backend (its own threads) or on Dask (its workers, unknown)."""
    from baselines.features.extraction import _uses_torch

    if ctx.n_jobs <= 1 or ctx.dask_scheduler or _uses_torch(method.encoder_):
        return 1.0
    return ctx.n_jobs * POOL_EFFICIENCY


def _per_unit(stage: str, clock: StageClock, earlier: StageClock | None) -> tuple[float, float]:
    """(fixed, per unit) of ``stage``: the line through two calibrations' clocks when there
    are two of different sizes (a pool's start-up per call is then fixed), else a pure rate."""
    s2, u2 = clock.seconds.get(stage, 0.0), clock.units.get(stage, 0)
    if earlier is not None and 0 < earlier.units.get(stage, 0) < u2:
        s1, u1 = earlier.seconds[stage], earlier.units[stage]
        slope = max(0.0, (s2 - s1) / (u2 - u1))
        if slope > 0:
            return max(0.0, s2 - slope * u2), slope
    return 0.0, s2 / max(u2, 1)


def project_stages(
    method: EncodedSvmBaseline,
    n_fit: int,
    n_monitor: int,
    n_classes: int,
    ctx: RunContext,
    earlier: EncodedSvmBaseline | None = None,
    n_refit: int | None = None,
) -> dict[str, Any]:
    """Seconds per stage of the whole fit (refit included) and the peak of its host tensors.

    ``method`` has been fitted on a calibration sample, so its clock, its
    channels' dimensions and the images it learned its encoder on are known;
    ``earlier``, fitted on a smaller sample, separates the encoding's fixed
    costs (the worker pool of each call) from its cost per image. The SVM
    steps are timed on ``ctx.device``; on CUDA their tensors are the GPU's,
    not counted in the host peak.
    """
    clock: StageClock = method.stage_clock_
    before = getattr(earlier, "stage_clock_", None)
    stages: dict[str, float] = {}
    cal_images = clock.units.get("encoder", 0)
    book = getattr(method, "codebook_images", None)
    full_images = min(int(book), n_fit) if book else n_fit
    ratio = learned_size_ratio(method, cal_images, full_images)
    vocabulary = getattr(method, "vocabulary_cost_", None)
    if vocabulary is not None:  # k-means: descriptors per image, mini-batch steps at their shape
        sampled = vocabulary["descriptor_seconds"] * full_images / max(cal_images, 1)
        descriptors = full_images * int(method.descriptors_per_image)
        stages["encoder (bounded sample)"] = sampled + kmeans_seconds(descriptors, method.n_words)
    elif "encoder" in clock.seconds:  # descriptors x components per EM pass
        per = clock.seconds["encoder"] / max(cal_images, 1)
        stages["encoder (bounded sample)"] = per * full_images * ratio
    if clock.units.get("quantizer"):
        full = min(PQ_SAMPLE_IMAGES, n_fit)
        stages["quantizer"] = clock.seconds["quantizer"] * full / clock.units["quantizer"]
    encode_per_image = 0.0
    if clock.units.get("encode"):
        fixed, per_image = _per_unit("encode", clock, before)
        images = (n_fit + n_monitor) * len(method.dims_)  # the clock counts every channel's
        single = encode_seconds_per_image(method, ratio)
        if single is None:  # the pool's calls as timed, scaled (by the words too: a bound)
            stages["encode fit + monitor"] = fixed + per_image * images * ratio
        else:  # the run's encoders timed here, over the pool's workers; its start-ups fixed
            encode_per_image = single / _workers(method, ctx)
            stages["encode fit + monitor"] = fixed + encode_per_image * (n_fit + n_monitor)
    dims = [int(d * ratio) for d in method.dims_.values()]
    jobs = svm_jobs(method, dims, n_fit, n_monitor, n_classes, n_refit)
    stages[f"SVMs ({len(jobs)} trainings)"] = jobs_seconds(jobs, max(1, ctx.n_jobs), ctx.device)
    per_image = int(getattr(method, "descriptors_per_image", 0) or 0)
    peaks = [min(int(book or 0), n_fit) * per_image * DESCRIPTOR_BYTES]  # the encoder's sample
    if getattr(method, "feature_dtype", "") == "pq":  # the quantiser's float32 sample
        peaks.append(min(PQ_SAMPLE_IMAGES, n_fit) * max(dims) * 4)
    if not str(ctx.device).startswith("cuda"):
        peaks += [job_bytes(j) for j in jobs]
    grown = "" if ratio == 1 else f"; {ratio:.1f}x the calibration's components (words)"
    return {
        "stages": stages,
        "peak_bytes": max(peaks),
        # scoring encodes each val image too, with the run's (perhaps larger) encoders
        "score_per_image": encode_per_image,
        "basis": (
            "stages timed on the calibration, each scaled by what it grows with; the SVMs "
            "counted step by step and timed at their real shapes (the refit at the longest "
            f"epoch count: an upper bound){grown}"
        ),
    }
