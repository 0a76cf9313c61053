"""The shared shape of the hand-crafted baselines: encoder -> cached features -> OvR linear SVMs.

``fit``: check every class has enough images, learn the encoder on training
images (PCA / GMM / vocabulary; nothing for HOG), encode the train split into
the feature cache, train the SVMs streaming over it. ``decision_function``:
encode the split (cached too) and score it. Subclasses only say how to learn
their encoder.

Devices: with ``ctx.device == "cuda"`` a SIFT pipeline's ``backend="auto"``
becomes the torch/kornia path on the GPU and the SVM trains and scores there;
on CPU ``"auto"`` is the OpenCV path. ``backend="torch"`` forces the torch
path (on CPU too, which is how it is tested without a GPU).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from baselines.features.cache import array_digest, cached_features
from baselines.features.extraction import map_encoder
from baselines.linear import OvrHingeSgd, check_class_counts
from harness.api import BaselineBase, MethodError, RunContext, Split


class EncodedSvmBaseline(BaselineBase):
    """Base class: subclasses implement :meth:`learn_encoder` and set SVM params in ``__init__``."""

    family = "hand-crafted"  # report grouping: hand-designed features + linear SVM

    # subclasses' __init__ store these
    svm_reg: float
    svm_epochs: int
    svm_lr: float
    chunk_size: int
    min_images_per_class: int

    def learn_encoder(self, train: Split, ctx: RunContext) -> Any:
        raise NotImplementedError

    def encoder_params(self, encoder: Any) -> dict[str, Any]:
        """What identifies the encoder's output, for the feature-cache key."""
        arrays = [v for v in vars(encoder).values() if isinstance(v, np.ndarray)]
        for v in vars(encoder).values():
            arrays += [a for a in getattr(v, "__dict__", {}).values() if isinstance(a, np.ndarray)]
        params = {
            "encoder": type(encoder).__name__,
            "learned": array_digest(*arrays) if arrays else "",
        }
        if hasattr(encoder, "cache_params"):
            params.update(encoder.cache_params())
        if hasattr(encoder, "extractor"):
            params.update(encoder.extractor.cache_params())
        if hasattr(encoder, "pyramid"):
            params["pyramid"] = [list(level) for level in encoder.pyramid]
        return params

    def features(self, split: Split, ctx: RunContext) -> np.ndarray:
        """The cached ``(len(split), dim)`` float16 features of ``split``."""
        encoder = self.encoder_
        return cached_features(
            split,
            ctx,
            self.encoder_params(encoder),
            encoder.dim(split.size),
            lambda: map_encoder(
                encoder, split, ctx, self.chunk_size, desc=f"{self.name} {split.name}"
            ),
            label=self.name,
        )

    def fit(self, train: Split, ctx: RunContext) -> EncodedSvmBaseline:
        from threadpoolctl import threadpool_limits

        # BLAS threads = the cores granted (ctx.n_jobs): oversubscribed BLAS
        # thread pools spin and run many times slower on a shared machine
        with threadpool_limits(max(1, ctx.n_jobs)):
            return self._fit(train, ctx)

    def _fit(self, train: Split, ctx: RunContext) -> EncodedSvmBaseline:
        check_class_counts(train.labels, train.wnids, self.min_images_per_class)
        ctx.logger.info("%s: learning the encoder on %d training images", self.name, len(train))
        self.encoder_ = self.learn_encoder(train, ctx)
        ctx.logger.info("%s: encoding the train split", self.name)
        feats = self.features(train, ctx)
        ctx.logger.info(
            "%s: training %d OvR SVMs on %s features", self.name, train.n_classes, feats.shape
        )
        self.n_features_ = int(feats.shape[1])
        ctx.notes[f"{self.name}_feature_dim"] = self.n_features_
        self.svm_ = OvrHingeSgd(
            reg=self.svm_reg,
            epochs=self.svm_epochs,
            lr=self.svm_lr,
            seed=ctx.seed,
            device=ctx.device,
            n_threads=max(1, ctx.n_jobs),
        ).fit(feats, train.labels, train.n_classes, progress=ctx.progress, log_epoch=ctx.log_epoch)
        return self

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        from threadpoolctl import threadpool_limits

        with threadpool_limits(max(1, ctx.n_jobs)):
            return self._decision_function(split, ctx)

    def _decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        if self.encoder_.dim(split.size) != self.n_features_:
            raise MethodError(
                f"{self.name}: split {split.name!r} has {split.size} px images, whose features have "
                f"{self.encoder_.dim(split.size)} dims; the SVMs were trained on {self.n_features_}"
            )
        return self.svm_.decision_function(self.features(split, ctx))


def resolve_backend(backend: str, device: str) -> str:
    """``"auto"`` -> torch on CUDA, OpenCV on CPU; anything else is taken as given."""
    if backend == "auto":
        return "torch" if device.startswith("cuda") else "opencv"
    return backend
