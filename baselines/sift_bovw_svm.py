"""Dense SIFT bag of visual words + spatial pyramid + chi2 map + linear SVMs (the 2010 era).

Recipe (Lazebnik et al. 2006; Vedaldi & Zisserman's homogeneous kernel maps,
VLFeat ``phow_caltech101``): dense multi-scale SIFT -> k-means vocabulary
(sklearn MiniBatchKMeans) -> hard-assignment histograms on a 1x1 + 2x2 + 4x4
pyramid (Lazebnik level weights, L1) -> explicit chi-squared feature map
(``sklearn.kernel_approximation.AdditiveChi2Sampler``, 3 samples per
dimension) -> OvR linear SVMs trained by SGD. The map is applied while
encoding, so the feature cache holds the mapped vectors.

Scale-dependent defaults (set per suite in configs/*.toml): at 64 px bins
(2, 3, 4, 5) px, step 3, 512 words (10,752-dim histograms, 32,256 after the
map; ~1,200 descriptors per image do not fill a larger vocabulary's pyramid
cells, and VLFeat's phow_caltech101 uses 600); at 256 px bins (4, 6, 8, 10),
step 4, 4,096 words as the ILSVRC-2010 BoVW entries (Lazebnik et al. used
200-400 words with their pyramid). The vocabulary is learned on
``descriptors_per_image`` random descriptors from each of ``codebook_images``
random training images (no labels: the monitor's images may be among them).

SVMs: lambda and the number of averaged-SGD epochs are chosen per run on the
monitor (``svm_grid`` x ``svm_epoch_grid``, :mod:`baselines.features.pipeline`)
and refitted on all of train; nothing is chosen on val. On Tiny
ImageNet-100 the monitor's top-5 error is flat over lambda 1e-5 to 3e-4
(50.4-51.0%) and worse at 1e-3 (52.3%); the grid spans the flat part and
``svm_reg`` = 1e-4, the monitor's choice there, is what trains without a
monitor or with ``select=False``. Class weighting: balanced, as the Fisher
vectors (see :mod:`baselines.sift_fv_svm`); ``svm_class_weight_grid`` can add
"none".
"""

from __future__ import annotations

import dataclasses
import time
from dataclasses import dataclass
from typing import Any

import numpy as np

from baselines.features.bovw import pyramid_level_weights
from baselines.features.cache import cached_arrays, split_fingerprint
from baselines.features.codebook import fit_vocabulary, sample_training_descriptors
from baselines.features.dense_sift import DenseGrid
from baselines.features.pipeline import EncodedSvmBaseline, resolve_backend
from baselines.features.sift_encoders import BovwEncoder, DenseSiftExtractor
from baselines.features.spatial_pyramid import level_of_cell, parse_pyramid
from harness.api import RunContext, Split


@dataclass(frozen=True)
class Chi2MappedBovw:
    """A BoVW encoder followed by sklearn's additive chi2 feature map."""

    bovw: BovwEncoder
    sample_steps: int = 2  # AdditiveChi2Sampler: 2*steps-1 outputs per histogram bin

    @property
    def extractor(self) -> DenseSiftExtractor:
        return self.bovw.extractor

    @property
    def pyramid(self) -> Any:
        return self.bovw.pyramid

    def cache_params(self) -> dict[str, Any]:
        return {
            "chi2_sample_steps": self.sample_steps,
            "vocab": len(self.bovw.vocabulary),
        }

    def dim(self, size: int) -> int:
        return self.bovw.dim(size) * (2 * self.sample_steps - 1)

    def encode(self, images: np.ndarray) -> np.ndarray:
        from sklearn.kernel_approximation import AdditiveChi2Sampler

        hist = self.bovw.encode(images)
        mapped = AdditiveChi2Sampler(sample_steps=self.sample_steps).fit_transform(hist)
        return np.asarray(mapped, dtype=np.float32)


SVM_GRID = (1e-5, 3e-5, 1e-4, 3e-4)  # lambda; C = 1 / (lambda N)
SVM_EPOCH_GRID = (2, 4, 8)  # averaged-SGD epochs scored in one run per lambda
SVM_CLASS_WEIGHT_GRID = ("balanced",)  # one-vs-rest positives re-weighted or not


class SiftBovwSvm(EncodedSvmBaseline):
    """Dense SIFT -> k-means words -> spatial-pyramid histograms -> chi2 map -> OvR SVMs."""

    year = 2010
    source = (
        "Lazebnik, Schmid & Ponce, Beyond bags of features: spatial pyramid matching, CVPR 2006; "
        "Vedaldi & Zisserman, Efficient additive kernels via explicit feature maps, CVPR 2010"
    )
    description = "dense SIFT, k-means vocabulary, 1x1+2x2+4x4 pyramid histograms, chi2 map, OvR linear SVMs (SGD)"

    def __init__(
        self,
        bin_sizes: tuple[int, ...] = (2, 3, 4, 5),  # dense SIFT bin widths, px (64 px images)
        step: int = 3,  # dense grid step, px
        n_words: int = 512,  # k-means vocabulary size (4096 at 256 px)
        pyramid: tuple[tuple[int, int], ...] = ((1, 1), (2, 2), (4, 4)),  # (cols, rows) per level
        chi2_sample_steps: int = 2,  # AdditiveChi2Sampler sample_steps
        codebook_images: int = 1000,  # training images sampled for k-means
        descriptors_per_image: int = 100,  # descriptors kept per sampled image
        backend: str = "auto",  # "auto" (the faster one) | "numpy" | "torch"; same descriptors
        select: bool = True,  # choose the SVM settings on the monitor, then refit on all train
        svm_grid: tuple[float, ...] = SVM_GRID,  # lambdas tried on the monitor
        svm_epoch_grid: tuple[int, ...] = SVM_EPOCH_GRID,  # epochs at which each is scored
        svm_class_weight_grid: tuple[str, ...] = SVM_CLASS_WEIGHT_GRID,  # "balanced", "none"
        svm_reg: float = 1e-4,  # lambda without selection (no monitor or select=False)
        svm_epochs: int = 8,  # SGD passes without selection
        svm_class_weight: str = "balanced",  # class weighting without selection
        chunk_size: int = 256,  # images per extraction task
        min_images_per_class: int = 2,  # fewer -> MethodError naming the class
    ) -> None:
        self.bin_sizes = bin_sizes
        self.step = step
        self.n_words = n_words
        self.pyramid = pyramid
        self.chi2_sample_steps = chi2_sample_steps
        self.codebook_images = codebook_images
        self.descriptors_per_image = descriptors_per_image
        self.backend = backend
        self.select = select
        self.svm_grid = svm_grid
        self.svm_epoch_grid = svm_epoch_grid
        self.svm_class_weight_grid = svm_class_weight_grid
        self.svm_reg = svm_reg
        self.svm_epochs = svm_epochs
        self.svm_class_weight = svm_class_weight
        self.chunk_size = chunk_size
        self.min_images_per_class = min_images_per_class

    def encoder_with_words(self, factor: float) -> Chi2MappedBovw:
        """The fitted encoder with ``factor`` times as many words (the learned ones repeated,
        jittered): what a run that learns the full vocabulary encodes with, for
        ``harness plan`` to time (:mod:`baselines.features.plan_cost`)."""
        vocab = self.encoder_.bovw.vocabulary
        rng = np.random.default_rng(0)
        n = max(len(vocab), round(len(vocab) * factor))
        jitter = rng.normal(0.0, 1e-3, (n, vocab.shape[1])).astype(np.float32)
        words = vocab[rng.integers(0, len(vocab), n)] + jitter
        bovw = dataclasses.replace(self.encoder_.bovw, vocabulary=words)
        return dataclasses.replace(self.encoder_, bovw=bovw)

    def learn_encoder(self, train: Split, ctx: RunContext) -> Any:
        backend = resolve_backend(self.backend, ctx.device)
        extractor = DenseSiftExtractor(
            DenseGrid(tuple(int(b) for b in self.bin_sizes), int(self.step)),
            backend,
            ctx.device if backend == "torch" else "cpu",
        )
        key = {
            "data": split_fingerprint(train, ctx.manifest_hash, rows=True),
            "n": len(train),
            "sift": extractor.cache_params(),
            "words": self.n_words,
            "images": self.codebook_images,
            "per_image": self.descriptors_per_image,
            "seed": ctx.seed,
        }

        def build() -> dict[str, Any]:
            start = time.perf_counter()
            desc = sample_training_descriptors(
                train.images,
                extractor,
                n_images=self.codebook_images,
                per_image=self.descriptors_per_image,
                seed=ctx.seed,
            )
            sampled = time.perf_counter() - start
            ctx.logger.info("sift-bovw: k-means on %d descriptors", len(desc))
            facts: dict[str, Any] = {}
            vocabulary = fit_vocabulary(desc, self.n_words, ctx.seed, facts)
            return {
                "vocabulary": vocabulary,
                "n_descriptors": desc.shape[:1],
                # seconds sampling descriptors, k-means steps taken / allowed, k-means seconds
                "cost": np.array([sampled, facts["steps"], facts["max_steps"], facts["seconds"]]),
            }

        arrays = cached_arrays(ctx, "sift-bovw-vocabulary", key, build)
        ctx.note("sift_bovw_codebook_descriptors", int(arrays["n_descriptors"][0]))
        ctx.note("sift_bovw_words", len(arrays["vocabulary"]))  # < n_words if capped
        if "cost" in arrays:  # vocabularies cached before this have none
            sampled, steps, max_steps, seconds = (float(v) for v in arrays["cost"])
            self.vocabulary_cost_ = {
                "descriptor_seconds": round(sampled, 2),
                "kmeans_steps": int(steps),
                "kmeans_max_steps": int(max_steps),
                "kmeans_seconds": round(seconds, 2),
            }
            ctx.note("sift_bovw_vocabulary_cost", self.vocabulary_cost_)
        pyramid = parse_pyramid(self.pyramid)
        cell_weights = pyramid_level_weights(pyramid)[level_of_cell(pyramid)]
        bovw = BovwEncoder(extractor, arrays["vocabulary"], pyramid, cell_weights)
        return Chi2MappedBovw(bovw, self.chi2_sample_steps)
