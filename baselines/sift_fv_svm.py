"""Dense SIFT Fisher vectors + one-vs-rest linear SVMs (the 2011-2012 ILSVRC systems).

Recipe (Perronnin, Sanchez & Mensink ECCV 2010; Sanchez & Perronnin CVPR 2011;
VLFeat conventions, see HISTORY.md): dense multi-scale SIFT on a grid -> PCA
to 64 dims -> diagonal GMM -> improved Fisher vector (mean and variance
gradients, signed square root, L2) per spatial-pyramid cell -> OvR linear SVMs
trained by SGD.

Scale-dependent defaults (set per suite in configs/*.toml):

=================  ===============================  ================================
parameter          64 px (Tiny ImageNet, default)   256 px (ILSVRC-2012 subsets)
=================  ===============================  ================================
bin_sizes          (2, 3, 4, 5) px                  (4, 6, 8, 10) px (vl_phow)
step               3 px                             4 px
pca_dim            64                               64
n_components       64                               256 (the ILSVRC systems)
pyramid            1x1 + 2x2 (40,960 dims)          1x1 + 3x1 (131,072 dims)
=================  ===============================  ================================

At 64 px, vl_phow's 4-10 px bins would make most descriptors cover the whole
image, so the bins are scaled down to 2-5 px; and with ~1,200 descriptors per
image a 256-component GMM leaves most components nearly empty, so K is 64.
The PCA and GMM are learned on ``descriptors_per_image`` random descriptors
from each of ``codebook_images`` random training images (seed ``ctx.seed``).
The GMM is fitted by float32 EM in torch on ``ctx.device``
(:mod:`baselines.features.gmm`): k-means initialised on a subsample, variance
floor 1e-4, chunked E-step (memory bounded by the chunk), VLFeat's stopping
rule (relative log-likelihood change < 1e-5, at most 100 iterations), at most
10^6 descriptors; the notes (``sift_fv_<channel>_gmm_fit``) say how many
iterations it ran, its final mean log-likelihood and whether it converged.
On 10^6 x 64 descriptors with K = 256 it takes under a minute on one CPU core
(scikit-learn's GaussianMixture: 33 minutes, 9.2 GiB, not converged).

Storage (``feature_dtype``): the Fisher vectors are cached as float16 by
default (half the bytes of float32: 2 x 131,072 = 262,144 bytes per image and
channel at 256 px; the notes give ``bytes_per_image``), and the SVMs widen
each block to float32; ``"float32"`` stores them at full precision (another
cache key). On generated FV-like data the SVM scores from float16 features
differ from float32's by 0.8% of their spread on average, top-1 agreeing on
99.5% of images (``tests/baselines/test_fv_storage.py``). ``"pq"`` stores
them product-quantised as Sanchez & Perronnin 2011 did (:mod:`baselines.features.pq`:
sub-vectors of 8 dims, 256 centroids learned on 4,096 fit images, 1 byte per
8 dims: 16,384 bytes per image and channel at 256 px, 1/16 of float16), the
rows decoded block by block as the SVMs read them; with a Dask scheduler the
SVMs on PQ codes run in the driver process.

Colour (``colour=True``; off by default in the class, on in the suites): a
second Fisher vector on local colour statistics, as XRCE's 2010-2011 entries
and Perronnin, Sanchez & Mensink 2010: the mean and standard deviation of R,
G and B in the 4 x 4 sub-regions of each patch (96 dims,
:mod:`baselines.features.colour`), patches on the same dense grid as the
SIFT (side 4x the bin size), PCA to ``pca_dim`` (at most 96), its own GMM of
``n_components`` and the same pyramid, learned on the same sampled images.
Each channel gets its own SVMs, with lambda and epochs chosen on the monitor
for each channel on its own; the two sets of scores are averaged (late
fusion, XRCE 2011). The record notes the fused monitor error of the chosen
candidates.

SVMs: one-vs-rest, averaged SGD (:mod:`baselines.linear`); lambda and the
number of epochs chosen per run on the monitor from ``svm_grid`` x
``svm_epoch_grid``, then refitted on all of train
(:mod:`baselines.features.pipeline`); nothing is chosen on val. On Tiny
ImageNet-100 (SIFT channel) the monitor's top-5 error is flat from lambda
3e-6 to 1e-4 (42.7-42.8% after 8 epochs) and rises above (43.4% at 3e-4);
``svm_reg`` = 3e-5, the monitor's choice there, is what trains without a
monitor or with ``select=False``. Class weighting: balanced (Perronnin et al.
2012); unweighted SVMs had 2-3 points lower monitor top-1 but 0.3-0.6 points
higher top-5 error there (4 epochs), so the default grid keeps balanced only;
``svm_class_weight_grid=["balanced", "none"]`` tries both at twice the cost.
The colour channel (same grid) chose lambda 3e-5 and 8 epochs too: monitor
60.5 / 31.3% top-1 / top-5 alone, SIFT 70.4 / 42.7%, the late fusion 54.7 /
25.7% (measured on features of the former OpenCV descriptor).
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from baselines.features.cache import cached_arrays, split_fingerprint
from baselines.features.codebook import fit_gmm, fit_pca, sample_training_descriptors
from baselines.features.colour import ColourFisherEncoder, ColourStatsExtractor
from baselines.features.dense_sift import DenseGrid
from baselines.features.fisher import DiagonalGmm
from baselines.features.pipeline import EncodedSvmBaseline, resolve_backend
from baselines.features.pq import STORAGE
from baselines.features.sift_encoders import DenseSiftExtractor, FisherEncoder, Pca
from baselines.features.spatial_pyramid import parse_pyramid
from harness.api import RunContext, Split
from harness.params import Options

GMM_FIT = "torch-em-f32-chunked-kmeans-init-v1"  # baselines.features.gmm; names it in cache keys
SVM_GRID = (1e-5, 3e-5, 1e-4, 3e-4)  # lambda; C = 1 / (lambda N)
SVM_EPOCH_GRID = (2, 4, 8)  # averaged-SGD epochs scored in one run per lambda
SVM_CLASS_WEIGHT_GRID = ("balanced",)  # one-vs-rest positives re-weighted or not


class SiftFvSvm(EncodedSvmBaseline):
    """Dense SIFT -> PCA -> GMM -> improved Fisher vectors with a spatial pyramid -> OvR SVMs."""

    year = 2011
    parameter_constraints: ClassVar[dict[str, Any]] = {
        **EncodedSvmBaseline.parameter_constraints,
        "feature_dtype": Options(*STORAGE),
    }
    source = (
        "Sanchez & Perronnin, High-dimensional signature compression for large-scale image "
        "classification, CVPR 2011; Perronnin, Sanchez & Mensink, Improving the Fisher kernel "
        "for large-scale image classification, ECCV 2010"
    )
    description = (
        "dense SIFT (+ colour statistics, late fusion), PCA-64, diagonal GMM, improved Fisher "
        "vectors + spatial pyramid, OvR linear SVMs (averaged SGD, lambda chosen on the monitor)"
    )

    def __init__(
        self,
        bin_sizes: tuple[int, ...] = (2, 3, 4, 5),  # dense SIFT bin widths, px (64 px images)
        step: int = 3,  # dense grid step, px
        pca_dim: int = 64,  # SIFT dims kept by PCA (papers: 64-80)
        n_components: int = 64,  # GMM components K (256 at 256 px)
        pyramid: tuple[tuple[int, int], ...] = ((1, 1), (2, 2)),  # (cols, rows) per level
        codebook_images: int = 1000,  # training images sampled for PCA + GMM
        descriptors_per_image: int = 64,  # descriptors kept per sampled image
        backend: str = "auto",  # "auto" (the faster one) | "numpy" | "torch"; same descriptors
        colour: bool = False,  # add the colour-statistics Fisher vector, late-fused (XRCE)
        select: bool = True,  # choose the SVM settings on the monitor, then refit on all train
        svm_grid: tuple[float, ...] = SVM_GRID,  # lambdas tried on the monitor
        svm_epoch_grid: tuple[int, ...] = SVM_EPOCH_GRID,  # epochs at which each is scored
        svm_class_weight_grid: tuple[str, ...] = SVM_CLASS_WEIGHT_GRID,  # "balanced", "none"
        svm_reg: float = 3e-5,  # lambda without selection (no monitor or select=False)
        svm_epochs: int = 8,  # SGD passes without selection
        svm_class_weight: str = "balanced",  # class weighting without selection
        chunk_size: int = 256,  # images per extraction task
        min_images_per_class: int = 2,  # fewer -> MethodError naming the class
        feature_dtype: str = "float16",  # cached FV storage: "float16" | "float32" | "pq" (1/16)
    ) -> None:
        self.bin_sizes = bin_sizes
        self.step = step
        self.pca_dim = pca_dim
        self.n_components = n_components
        self.pyramid = pyramid
        self.codebook_images = codebook_images
        self.descriptors_per_image = descriptors_per_image
        self.backend = backend
        self.colour = colour
        self.select = select
        self.svm_grid = svm_grid
        self.svm_epoch_grid = svm_epoch_grid
        self.svm_class_weight_grid = svm_class_weight_grid
        self.svm_reg = svm_reg
        self.svm_epochs = svm_epochs
        self.svm_class_weight = svm_class_weight
        self.chunk_size = chunk_size
        self.min_images_per_class = min_images_per_class
        self.feature_dtype = feature_dtype

    def _pca_gmm(
        self, train: Split, ctx: RunContext, extractor: Any, kind: str, cache_name: str
    ) -> dict[str, np.ndarray]:
        """PCA + diagonal GMM on descriptors sampled from train (cached): SIFT and colour alike."""
        key = {
            "data": split_fingerprint(train, ctx.manifest_hash, rows=True),
            "n": len(train),
            kind: extractor.cache_params(),
            "pca_dim": self.pca_dim,
            "k": self.n_components,
            "images": self.codebook_images,
            "per_image": self.descriptors_per_image,
            "seed": ctx.seed,
            "gmm": GMM_FIT,  # the EM that fitted it (a new EM: new codebook)
        }
        device = ctx.device if str(ctx.device).startswith("cuda") else "cpu"

        def build() -> dict[str, Any]:
            desc = sample_training_descriptors(
                train.images,
                extractor,
                n_images=self.codebook_images,
                per_image=self.descriptors_per_image,
                seed=ctx.seed,
            )
            ctx.logger.info("sift-fv %s: %d descriptors; fitting PCA and GMM", kind, len(desc))
            pca = fit_pca(desc, self.pca_dim, ctx.seed)
            facts: dict[str, Any] = {}
            gmm = fit_gmm(
                (desc - pca.mean) @ pca.components.T,
                self.n_components,
                ctx.seed,
                device=device,
                facts=facts,
            )
            return {
                "pca_mean": pca.mean,
                "pca_components": pca.components,
                "weights": gmm.weights,
                "means": gmm.means,
                "variances": gmm.variances,
                "n_descriptors": desc.shape[:1],
                "gmm_iterations": np.asarray([facts["iterations"]]),
                "gmm_log_likelihood": np.asarray([facts["log_likelihood"]]),
                "gmm_converged": np.asarray([facts["converged"]]),
                "gmm_rows": np.asarray([facts["n_descriptors"]]),
            }

        arrays = cached_arrays(ctx, cache_name, key, build)
        ctx.note(
            f"sift_fv_{kind}_gmm_fit",
            {
                "em": GMM_FIT,
                "iterations": int(arrays["gmm_iterations"][0]),
                "mean_log_likelihood": float(arrays["gmm_log_likelihood"][0]),
                "converged": bool(arrays["gmm_converged"][0]),
                "rows": int(arrays["gmm_rows"][0]),
            },
        )
        return arrays

    def learn_extra_encoders(self, train: Split, ctx: RunContext) -> dict[str, Any]:
        if not self.colour:
            return {}
        device = ctx.device if resolve_backend(self.backend, ctx.device) == "torch" else "cpu"
        extractor = ColourStatsExtractor(
            DenseGrid(tuple(int(b) for b in self.bin_sizes), int(self.step)), device
        )
        arrays = self._pca_gmm(train, ctx, extractor, "colour", "sift-fv-colour-codebook")
        ctx.note("sift_fv_colour_gmm_components", len(arrays["weights"]))
        return {
            "colour": ColourFisherEncoder(
                extractor=extractor,
                pca_mean=arrays["pca_mean"],
                pca_components=arrays["pca_components"],
                gmm=DiagonalGmm(arrays["weights"], arrays["means"], arrays["variances"]),
                pyramid=parse_pyramid(self.pyramid),
            )
        }

    def learn_encoder(self, train: Split, ctx: RunContext) -> Any:
        device = ctx.device if resolve_backend(self.backend, ctx.device) == "torch" else "cpu"
        extractor = DenseSiftExtractor(
            DenseGrid(tuple(int(b) for b in self.bin_sizes), int(self.step)),
            resolve_backend(self.backend, ctx.device),
            device,
        )
        arrays = self._pca_gmm(train, ctx, extractor, "sift", "sift-fv-codebook")
        ctx.note("sift_fv_codebook_descriptors", int(arrays["n_descriptors"][0]))
        ctx.note("sift_fv_gmm_components", len(arrays["weights"]))  # < n_components if capped
        return FisherEncoder(
            extractor=extractor,
            pca=Pca(arrays["pca_mean"], arrays["pca_components"]),
            gmm=DiagonalGmm(arrays["weights"], arrays["means"], arrays["variances"]),
            pyramid=parse_pyramid(self.pyramid),
        )
