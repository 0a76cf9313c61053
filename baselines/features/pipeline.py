"""The shared shape of the hand-crafted baselines: encoders -> cached features -> OvR linear SVMs.

``fit(data, ctx)`` (``data.fit``: train without the monitor; ``data.monitor``):

1. check every class has enough images;
2. learn the encoder on the fit rows (PCA / GMM / vocabulary; nothing for HOG);
3. encode the fit rows into the feature cache, and the monitor's rows when
   selecting (rows of one file per parent split: nothing is encoded twice);
4. choose the SVM's regulariser lambda, its number of epochs and its class
   weighting on the monitor (below), and return ``FitResult(refit=True)``.

``refit(train, ctx)``: the runner calls it with the whole training split; the
SVMs are trained on all of its rows with the chosen values (the features are
already cached). ``decision_function``: encode the split (cached too) and
score it. A method with several feature *channels* (the Fisher vectors' SIFT
and colour) trains SVMs per channel and averages their scores (late fusion,
as XRCE 2011).

Selection, per channel: the SVM step is calibrated once per class weighting
on the fit rows; then every (lambda, weighting) of ``svm_grid`` x
``svm_class_weight_grid`` is trained on the fit rows in one streaming run
(the models share each block read and each matrix product) and scored on
the monitor after each epoch count of ``svm_epoch_grid`` (the averaged-SGD
model after e epochs *is* an e-epoch fit: the step schedule does not depend
on the run's length). The candidate with the lowest monitor top-5 error
wins; ties go to the lower top-1 error, then to the stronger regulariser
(larger lambda, then fewer epochs), then to the weighting listed first. The
grid, every candidate's monitor errors and the choice go to
``ctx.report_selection``; the notes say which was chosen and whether lambda
sat at an end of the grid. The refit reuses the calibrated step. Without a
monitor or with ``select=False`` the refit trains once with ``svm_reg``,
``svm_epochs`` and ``svm_class_weight``, and the notes say so.

Cost, measured on Tiny ImageNet-100 Fisher vectors (40,960 dims, 100
classes, 2 CPU cores): calibration 6.5 s, the 4-lambda grid to 8 epochs on
the 45,000 fit rows 183 s, the 8-epoch refit on 50,000 rows 74 s: the whole
SVM stage is 3.6x one fit, and less than the former momentum-SGD solver's
single 15-epoch fit (316 s).

On a cluster (``ctx.dask_scheduler``): the grid's candidates and the refit
train in blocks of classes as Dask tasks reading the cached feature file
(:mod:`baselines.ovr_blocks`); the candidates, the criterion and the choice
are the local path's.

Devices: with ``ctx.device == "cuda"`` a SIFT pipeline's ``backend="auto"``
becomes the torch path on the GPU and the SVM trains and scores there; on
CPU ``"auto"`` is the numpy/OpenCV path. ``backend="torch"`` forces the torch
path (on CPU too, which is how it is tested without a GPU).
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any, ClassVar

import numpy as np

from baselines.features.cache import array_digest, cached_features
from baselines.features.extraction import map_encoder
from baselines.features.plan_cost import PLAN_IMAGES, StageClock, project_stages
from baselines.features.pq import PQ_SAMPLE_IMAGES, learn_quantizer, pq_features
from baselines.features.selection import select_channel
from baselines.linear import OvrHingeSgd, check_class_counts
from baselines.ovr_blocks import train_final
from harness.api import (
    BaselineBase,
    FitResult,
    MethodError,
    RunContext,
    Split,
    TrainData,
)
from harness.params import Interval, Options
from harness.protocol import topk_errors

MAIN = "main"  # the channel every pipeline has; others (e.g. "colour") are extra


CLASS_WEIGHT_NAMES = ("balanced", "none")  # OvrHingeSgd's class_weight, as TOML can write it


class EncodedSvmBaseline(BaselineBase):
    """Base class: subclasses implement :meth:`learn_encoder` and set SVM params in ``__init__``.

    A subclass with more feature channels also implements
    :meth:`learn_extra_encoders`; each channel gets its own SVMs.
    """

    family = "hand-crafted"  # report grouping: hand-designed features + linear SVM
    # imported by the SVMs and the descriptors inside fit: a start-up cost, timed apart
    startup_imports: ClassVar[tuple[str, ...]] = ("torch", "cv2")
    # checked by the runner before any work (the grids are checked at the start of fit)
    parameter_constraints: ClassVar[dict[str, Any]] = {
        "svm_reg": Interval(float, 1e-12, None),
        "svm_epochs": Interval(int, 1, None),
        "svm_class_weight": Options(*CLASS_WEIGHT_NAMES),
        "chunk_size": Interval(int, 1, None),
        "min_images_per_class": Interval(int, 1, None),
    }

    # subclasses' __init__ store these
    svm_reg: float
    svm_epochs: int
    svm_class_weight: str
    svm_grid: tuple[float, ...]
    svm_epoch_grid: tuple[int, ...]
    svm_class_weight_grid: tuple[str, ...]
    select: bool
    chunk_size: int
    min_images_per_class: int

    def learn_encoder(self, train: Split, ctx: RunContext) -> Any:
        raise NotImplementedError

    def learn_extra_encoders(self, train: Split, ctx: RunContext) -> dict[str, Any]:
        """Encoders of further channels, by name (none by default)."""
        return {}

    def encoder_params(self, encoder: Any) -> dict[str, Any]:
        """What identifies the encoder's output, for the feature-cache key."""
        arrays = [v for v in vars(encoder).values() if isinstance(v, np.ndarray)]
        for v in vars(encoder).values():
            arrays += [a for a in getattr(v, "__dict__", {}).values() if isinstance(a, np.ndarray)]
        params = {
            "encoder": type(encoder).__name__,
            "learned": array_digest(*arrays) if arrays else "",
        }
        if dataclasses.is_dataclass(encoder):  # its settings (e.g. HOG colour / gamma)
            params["settings"] = {
                f.name: getattr(encoder, f.name)
                for f in dataclasses.fields(encoder)
                if not isinstance(getattr(encoder, f.name), np.ndarray)
            }
        if hasattr(encoder, "cache_params"):
            params.update(encoder.cache_params())
        if hasattr(encoder, "extractor"):
            params.update(encoder.extractor.cache_params())
        if hasattr(encoder, "pyramid"):
            params["pyramid"] = [list(level) for level in encoder.pyramid]
        return params

    def _encoder(self, channel: str) -> Any:
        return self.encoder_ if channel == MAIN else self.extra_encoders_[channel]

    feature_dtype: str = "float16"  # cache storage; sift-fv-svm exposes it as a parameter

    def features(
        self, split: Split, ctx: RunContext, channel: str = MAIN, scored: bool = False
    ) -> Any:
        """The cached ``(len(split), dim)`` features of ``split`` for one channel.

        Stored as ``feature_dtype`` (float16 by default: half the bytes of
        float32; the SVMs widen each block to float32). Under ``"pq"`` the rows
        the SVMs train on are product-quantised codes (:class:`~baselines.features.pq.PQFeatures`,
        decoded block by block), and the rows that are scored (``scored=True``:
        the monitor, val) are stored float16, never compressed.
        """
        encoder = self._encoder(channel)
        label = self.name if channel == MAIN else f"{self.name}-{channel}"

        def encode(todo: Split) -> Any:
            return map_encoder(encoder, todo, ctx, self.chunk_size, desc=f"{label} {todo.name}")

        params, dim = self.encoder_params(encoder), encoder.dim(split.size)
        if self.feature_dtype == "pq" and not scored:  # codes, decoded as the SVMs read them
            quantizer = self.quantizers_[channel]
            return pq_features(split, ctx, params, dim, encode, quantizer, label)
        # scored vectors (monitor, val) are not compressed (asymmetric, as Sanchez & Perronnin)
        dtype = "float16" if self.feature_dtype == "pq" else self.feature_dtype
        return cached_features(split, ctx, params, dim, encode, label=label, dtype=dtype)

    def fit(self, data: TrainData, ctx: RunContext) -> FitResult:
        from threadpoolctl import threadpool_limits

        # BLAS threads = the cores granted (ctx.n_jobs): oversubscribed BLAS
        # thread pools spin and run many times slower on a shared machine
        with threadpool_limits(max(1, ctx.n_jobs)):
            return self._fit(data, ctx)

    def refit(self, train: Split, ctx: RunContext) -> None:
        """Train each channel's SVMs on all of train with the values chosen in ``fit``."""
        from threadpoolctl import threadpool_limits

        start = time.perf_counter()
        with threadpool_limits(max(1, ctx.n_jobs)):
            self.svms_ = {}
            for channel, chosen in self.chosen_.items():
                feats = self.features(train, ctx, channel)  # the fit and monitor rows: cached
                svm = self._svm(
                    ctx, chosen["reg"], chosen["epochs"], chosen["eta0"], chosen["class_weight"]
                )
                train_final(  # svm.fit; in blocks of classes on Dask with a scheduler
                    svm,
                    feats,
                    train.labels,
                    train.n_classes,
                    ctx,
                    self._logger(ctx, channel, "refit"),
                )
                if chosen["eta0"] is None:  # no selection: the fixed values, as trained
                    ctx.note(
                        f"{self.name}_{channel}_svm",
                        {
                            "reg": svm.reg,
                            "epochs": svm.epochs,
                            "class_weight": svm.class_weight,
                            "eta0": svm.eta0_,
                        },
                    )
                self.svms_[channel] = svm
            self.svm_ = self.svms_[MAIN]
        ctx.note(f"{self.name}_refit_seconds", round(time.perf_counter() - start, 2))

    def _fit(self, data: TrainData, ctx: RunContext) -> FitResult:
        fit, monitor = data.fit, data.monitor
        check_class_counts(fit.labels, fit.wnids, self.min_images_per_class)
        selecting = bool(self.select) and monitor is not None and len(monitor) > 0
        if selecting:
            self._grids()  # a bad grid fails now, not after the features are built
        if self.svm_class_weight not in CLASS_WEIGHT_NAMES:
            raise MethodError(
                f"{self.name}: svm_class_weight takes {list(CLASS_WEIGHT_NAMES)}, "
                f"got {self.svm_class_weight!r}"
            )
        if self.select and not selecting:
            ctx.note(
                f"{self.name}_svm_selection",
                "no monitor given, so no selection: "
                f"fixed svm_reg={self.svm_reg}, "
                f"svm_epochs={self.svm_epochs}, svm_class_weight={self.svm_class_weight}",
            )
        ctx.logger.info("%s: learning the encoder on %d training images", self.name, len(fit))
        clock = self.stage_clock_ = StageClock()  # for harness plan (plan_cost)
        self.plan_images_ = np.array(fit.images[:PLAN_IMAGES])  # plan_cost times these
        book = getattr(self, "codebook_images", None)
        with clock("encoder", min(int(book), len(fit)) if book else len(fit)):
            self.encoder_ = self.learn_encoder(fit, ctx)
            self.extra_encoders_ = self.learn_extra_encoders(fit, ctx)
        with clock(
            "quantizer", min(PQ_SAMPLE_IMAGES, len(fit)) if self.feature_dtype == "pq" else 0
        ):
            self.quantizers_ = self._quantizers(fit, ctx)
        self.chosen_: dict[str, dict[str, Any]] = {}
        self.dims_: dict[str, int] = {}
        monitor_scores: dict[str, np.ndarray] = {}
        for channel in [MAIN, *self.extra_encoders_]:
            ctx.logger.info("%s: encoding the fit rows (%s)", self.name, channel)
            with clock("encode", len(fit)):
                feats = self.features(fit, ctx, channel)
            dim = self.dims_[channel] = int(feats.shape[1])
            if channel == MAIN:
                self.n_features_ = dim
                ctx.note(f"{self.name}_feature_dim", dim)
                ctx.note(
                    f"{self.name}_feature_storage",
                    {
                        "dtype": self.feature_dtype,
                        "bytes_per_image": dim // self.quantizers_[MAIN].sub_dim
                        if self.feature_dtype == "pq"
                        else dim * np.dtype(self.feature_dtype).itemsize,
                    },
                )
            else:
                ctx.note(f"{self.name}_{channel}_feature_dim", dim)
            if selecting:
                with clock("encode", len(monitor)):
                    mon_feats = self.features(monitor, ctx, channel, scored=True)
                ctx.logger.info(
                    "%s: training %d OvR SVMs on %s features (%s), chosen on the monitor",
                    self.name,
                    fit.n_classes,
                    feats.shape,
                    channel,
                )
                with clock("SVM selection"):
                    chosen, scores = select_channel(
                        self, channel, feats, fit, mon_feats, monitor, ctx
                    )
                self.chosen_[channel] = chosen
                monitor_scores[channel] = scores
            else:
                self.chosen_[channel] = {
                    "reg": self.svm_reg,
                    "epochs": self.svm_epochs,
                    "class_weight": self.svm_class_weight,
                    "eta0": None,
                }
        if len(monitor_scores) > 1:
            # the fused score of the channels' chosen candidates (trained on the fit rows)
            fused = np.mean([monitor_scores[c] for c in self.chosen_], axis=0)
            errs = topk_errors(fused, monitor.labels, (1, 5))
            ctx.note(
                f"{self.name}_fused_monitor_err",
                {"monitor_top1_err": round(errs[1], 4), "monitor_top5_err": round(errs[5], 4)},
            )
        ctx.note(f"{self.name}_stage_seconds", clock.rounded())  # beside harness plan's stages
        ctx.report_training(
            epochs=int(self.chosen_[MAIN]["epochs"]),
            monitor_use="selection" if selecting else None,
        )
        return FitResult(refit=True)

    def _quantizers(self, fit: Split, ctx: RunContext) -> dict[str, Any]:
        """Each channel's product quantiser under ``feature_dtype="pq"`` (none otherwise)."""
        if self.feature_dtype != "pq":
            return {}
        return {
            channel: learn_quantizer(
                self._encoder(channel),
                fit,
                ctx,
                self.encoder_params(self._encoder(channel)),
                chunk_size=self.chunk_size,
                label=self.name if channel == MAIN else f"{self.name}-{channel}",
            )
            for channel in [MAIN, *self.extra_encoders_]
        }

    def plan_stages(
        self,
        n_fit: int,
        n_monitor: int,
        n_classes: int,
        ctx: RunContext,
        earlier: Any = None,
        n_refit: int | None = None,
    ) -> dict[str, Any]:
        """``harness plan``'s hook: this calibration fit's stages projected to a whole run
        (:func:`baselines.features.plan_cost.project_stages`; ``earlier``: the same method
        fitted on the smaller calibration sample; ``n_refit``: the refit's rows)."""
        return project_stages(self, n_fit, n_monitor, n_classes, ctx, earlier, n_refit)

    def _grids(self) -> tuple[list[float], list[int], list[str]]:
        """Lambdas and epoch counts (sorted) and class weightings (in order) to try.

        A :class:`MethodError` if a grid is unusable, so it fails before any work.
        """
        try:
            regs = sorted({float(r) for r in _as_list(self.svm_grid)})
            epochs = sorted({int(e) for e in _as_list(self.svm_epoch_grid)})
            modes = list(dict.fromkeys(str(m) for m in _as_list(self.svm_class_weight_grid)))
        except (TypeError, ValueError) as exc:
            raise MethodError(f"{self.name}: svm_grid / svm_epoch_grid: {exc}") from exc
        if not regs or not epochs or min(regs) <= 0 or min(epochs) < 1:
            raise MethodError(
                f"{self.name}: svm_grid needs positive lambdas and svm_epoch_grid epochs >= 1, "
                f"got {self.svm_grid!r} and {self.svm_epoch_grid!r}"
            )
        if not modes or set(modes) - set(CLASS_WEIGHT_NAMES):
            raise MethodError(
                f"{self.name}: svm_class_weight_grid takes {list(CLASS_WEIGHT_NAMES)}, "
                f"got {self.svm_class_weight_grid!r}"
            )
        return regs, epochs, modes

    def _svm(
        self,
        ctx: RunContext,
        reg: float,
        epochs: int,
        eta0: float | None = None,
        class_weight: str | None = None,
    ) -> OvrHingeSgd:
        return OvrHingeSgd(
            reg=float(reg),
            epochs=int(epochs),
            eta0=eta0,
            class_weight=class_weight or self.svm_class_weight,
            seed=ctx.seed,
            device=ctx.device,
            n_threads=max(1, ctx.n_jobs),
        )

    @staticmethod
    def _logger(ctx: RunContext, channel: str, phase: str) -> Any:
        def log(**row: Any) -> None:
            ctx.log_epoch(phase=phase, channel=channel, **row)

        return log

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
        scores = [
            self.svms_[channel].decision_function(self.features(split, ctx, channel, scored=True))
            for channel in self.svms_
        ]
        return scores[0] if len(scores) == 1 else np.mean(scores, axis=0, dtype=np.float32)


def _as_list(values: Any) -> list[Any]:
    """A grid from Python (tuple) or TOML (list), or a single number."""
    return list(values) if isinstance(values, (list, tuple)) else [values]


def resolve_backend(backend: str, device: str) -> str:
    """``"auto"`` -> torch on CUDA, numpy/OpenCV on CPU; anything else is taken as given."""
    if backend == "auto":
        return "torch" if device.startswith("cuda") else "opencv"
    return backend
