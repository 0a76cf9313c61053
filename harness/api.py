"""The contracts between the harness and the methods it runs.

A method (a *baseline*) is a scikit-learn shaped object: ``__init__`` stores
parameters only, ``fit(train, ctx)`` learns (state in attributes ending in
``_``) and returns ``self``, ``decision_function(split, ctx)`` returns scores
of shape ``(n_images, n_classes)``. A method never computes its own error and
never writes result files: the harness does both (``harness.protocol``,
``harness.results``).

The harness hands every method the same :class:`Split` objects, built from one
manifest and one decoded-image cache, so "the same images" holds by
construction.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from harness.data.holdout import Holdout

__all__ = [
    "FAMILIES",
    "Baseline",
    "BaselineBase",
    "Holdout",
    "MethodError",
    "RunContext",
    "Selection",
    "Split",
    "TrainingFacts",
]

#: What a method is, for the report's gap (best CNN against best hand-crafted).
#: Every baseline declares one; the registry refuses a class without it.
from harness.types import FAMILIES  # noqa: E402


class MethodError(RuntimeError):
    """A method could not run for a reason it can name (too few images, ...)."""


@dataclass(frozen=True)
class Split:
    """One split of one subset, as decoded uint8 images.

    ``images`` is an ``(N, S, S, 3)`` uint8 RGB array (a read-only memory map
    of the cache), ``labels`` an ``(N,)`` int64 array of class indices into
    ``wnids`` (sorted-wnid order, the torchvision/timm convention; never devkit
    ILSVRC2012_IDs).
    """

    name: str  # "train" or "val"
    images: np.ndarray  # (N, S, S, 3) uint8, RGB, memory-mapped
    labels: np.ndarray  # (N,) int64 class indices
    wnids: tuple[str, ...]  # class index -> wnid, sorted
    paths: tuple[str, ...] = ()  # image paths relative to the dataset root, row order
    class_names: tuple[str, ...] = ()  # class index -> human-readable name

    def __post_init__(self) -> None:
        if self.images.ndim != 4 or self.images.shape[-1] != 3:
            raise ValueError(
                f"Split {self.name!r}: images must be (N, S, S, 3), got {self.images.shape}"
            )
        if self.images.dtype != np.uint8:
            raise ValueError(f"Split {self.name!r}: images must be uint8, got {self.images.dtype}")
        if len(self.labels) != len(self.images):
            raise ValueError(
                f"Split {self.name!r}: {len(self.images)} images but {len(self.labels)} labels"
            )

    def __len__(self) -> int:
        return len(self.labels)

    @property
    def n_classes(self) -> int:
        return len(self.wnids)

    @property
    def size(self) -> int:
        """Stored side length S of the square images."""
        return int(self.images.shape[1])

    def batches(self, batch_size: int) -> Iterator[tuple[slice, np.ndarray, np.ndarray]]:
        """Yield ``(rows, images, labels)`` in row order; images are array views."""
        for start in range(0, len(self), batch_size):
            rows = slice(start, min(start + batch_size, len(self)))
            yield rows, self.images[rows], self.labels[rows]

    def subset(self, index: np.ndarray, name: str | None = None) -> Split:
        """A split of the rows in ``index`` (loads those rows into memory)."""
        index = np.asarray(index)
        return Split(
            name=name or self.name,
            images=np.ascontiguousarray(self.images[index]),
            labels=self.labels[index],
            wnids=self.wnids,
            paths=tuple(self.paths[i] for i in index) if self.paths else (),
            class_names=self.class_names,
        )


def _no_progress(iterable: Any = None, **_: Any) -> Any:
    return iterable


#: Seconds between two plain progress lines when stderr is not a terminal.
PLAIN_PROGRESS_SECONDS = 30.0


def progress_bar(iterable: Any = None, *, quiet: bool = False, **kwargs: Any) -> Any:
    """tqdm on a terminal; on a log file (``harness run > log 2>&1``) one short line every
    :data:`PLAIN_PROGRESS_SECONDS` through tqdm's own ``mininterval``, with no carriage
    returns (``ascii`` bar, fixed width), so a log stays readable; nothing when quiet."""
    import sys

    if quiet and iterable is not None:
        return _no_progress(iterable, **kwargs)
    from tqdm.auto import tqdm

    if quiet:  # a manual bar (``total=``, used as a context manager): a disabled one
        return tqdm(iterable, disable=True, **kwargs)
    if sys.stderr.isatty():
        return tqdm(iterable, dynamic_ncols=True, leave=False, **kwargs)
    return tqdm(
        iterable,
        file=_LineWriter(sys.stderr),
        mininterval=PLAIN_PROGRESS_SECONDS,
        maxinterval=PLAIN_PROGRESS_SECONDS * 4,
        ncols=80,
        ascii=True,
        leave=True,
        **kwargs,
    )


class _LineWriter:
    """A file for tqdm that turns its carriage-return refreshes into whole lines."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        text = text.replace("\r", "").strip()
        if text:
            self.stream.write(text + "\n")
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


@dataclass(frozen=True)
class TrainingFacts:
    """What a method reports about its training, through :meth:`RunContext.report_training`.

    Every field is optional; the runner puts them into the record's ``training``
    object. ``images_seen`` over the whole fit's wall time is the throughput
    the record gives (never a mean of per-epoch rates).
    """

    epochs: int | None = None  # passes over the fit rows actually trained
    images_seen: int | None = None  # training images processed, all epochs together
    images_per_s: float | None = None  # images_seen / seconds of the whole fit
    lr_drops: tuple[int, ...] = ()  # 1-based epochs after which the learning rate dropped
    param_count: int | None = None  # trainable parameters
    crop: int | None = None  # side of the input the model sees (e.g. 224 of a 256 cache)
    profile: str | None = None  # named recipe in use (e.g. "paper", "cpu")
    fit_split: str | None = None  # "train" (all) or "train-fit" (train minus the monitor)
    monitor_use: str | None = None  # what the monitor decided: "lr-plateau", "selection", ...
    resumed_from_epoch: int | None = None  # epochs restored from a checkpoint
    seconds_before_resume: float | None = None  # training seconds of those epochs


@dataclass(frozen=True)
class Selection:
    """A choice made on the monitor: the grid, each candidate's monitor error, the winner."""

    parameters: tuple[str, ...]  # names of the chosen parameters, e.g. ("reg", "epochs")
    candidates: tuple[dict[str, Any], ...]  # one dict per candidate: its values + errors
    chosen: dict[str, Any]  # the winning values
    criterion: str = "monitor_top5_err"  # what was minimised
    refit: bool = True  # refit on the whole training split with the chosen values


@dataclass
class RunContext:
    """What the harness gives a method besides the data.

    ``cache_dir`` is scratch space keyed by (method params, manifest hash); a
    method may keep reusable intermediate results there (features,
    vocabularies). ``work_dir`` is this run's own folder (checkpoints); a
    rerun of the same run gets the same folder, which is how resuming works.
    Learning curves go through :meth:`log_epoch`, never straight to disk.
    """

    device: str = "cpu"  # "cpu" or "cuda" (resolved, never "auto")
    seed: int = 0
    cache_dir: Path = field(default_factory=lambda: Path(".harness/cache"))
    work_dir: Path = field(default_factory=lambda: Path(".harness/work"))
    n_jobs: int = 1  # CPU workers a method may use
    dask_scheduler: str | None = None  # address of a Dask scheduler, or None for local
    quiet: bool = False  # no progress bars
    deterministic: bool = False
    # The monitor: rows of the *training* split held out for choosing
    # hyper-parameters, schedules and stopping points (harness.data.holdout).
    # ``holdout.fit_rows`` / ``holdout.monitor_rows`` index the train split given
    # to ``fit``; ``monitor`` is those held-out images as a Split (name
    # "monitor"). A method never sees the val split before it is scored.
    monitor: Split | None = None
    holdout: Holdout | None = None
    manifest_hash: str = ""
    logger: logging.Logger = field(default_factory=lambda: logging.getLogger("harness.method"))
    epoch_log: list[dict[str, Any]] = field(default_factory=list)
    notes: dict[str, Any] = field(default_factory=dict)  # method-specific extras (see note())
    training: TrainingFacts = field(default_factory=TrainingFacts)
    selections: list[Selection] = field(default_factory=list)

    def progress(self, iterable: Any = None, **kwargs: Any) -> Any:
        """A tqdm progress bar on a terminal; plain periodic log lines otherwise; none when quiet."""
        return progress_bar(iterable, quiet=self.quiet, **kwargs)

    def log_epoch(self, **metrics: Any) -> None:
        """Record one row of a learning curve (epoch, train_loss, monitor_top1_err, ...)."""
        self.epoch_log.append(dict(metrics))

    def report_training(self, **facts: Any) -> None:
        """Report training facts (fields of :class:`TrainingFacts`); later calls update earlier."""
        known = TrainingFacts.__dataclass_fields__
        unknown = sorted(set(facts) - set(known))
        if unknown:
            raise TypeError(
                f"report_training got unknown fact(s) {unknown}; known: {', '.join(known)}"
            )
        if "lr_drops" in facts:
            facts["lr_drops"] = tuple(int(e) for e in facts["lr_drops"])
        self.training = replace(self.training, **facts)

    def report_selection(self, selection: Selection) -> None:
        """Report a choice made on the monitor (it goes into the record's ``selection``)."""
        self.selections.append(selection)

    def note(self, key: str, value: Any) -> None:
        """A method-specific fact for the record's ``notes`` (e.g. a codebook's size)."""
        self.notes[key] = value

    def fit_and_monitor(self, train: Split) -> tuple[np.ndarray, np.ndarray]:
        """(fit rows, monitor rows) of ``train``; all rows and none without a holdout."""
        if self.holdout is None:
            return np.arange(len(train), dtype=np.int64), np.zeros(0, dtype=np.int64)
        return self.holdout.fit_rows, self.holdout.monitor_rows


@runtime_checkable
class Baseline(Protocol):
    """The method contract. See the module docstring."""

    name: ClassVar[str]
    year: ClassVar[int]

    def fit(self, train: Split, ctx: RunContext) -> Baseline: ...

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray: ...


class BaselineBase:
    """Optional base class giving scikit-learn style ``get_params``.

    Subclasses set ``name``, ``year``, ``source`` (a citation) and
    ``description``; their ``__init__`` keyword arguments are the parameters.
    A method may also define ``variant_scores(split, ctx) -> dict[str, array]``
    for extra rows (e.g. ``"centre-crop"``, ``"ensemble-5"``); each variant is
    recorded as its own result ``<name>[<variant>]``. And it may define
    ``display_tag() -> str | None`` naming its departures from the published
    method (e.g. ``"small stem, width 0.5"``); its rows are then shown as
    ``<name> (<tag>)`` everywhere, so a modified model never passes for the
    original.
    """

    name: ClassVar[str] = ""
    year: ClassVar[int] = 0
    source: ClassVar[str] = ""
    description: ClassVar[str] = ""
    family: ClassVar[str]  # required: one of FAMILIES (the registry refuses a class without it)

    def get_params(self) -> dict[str, Any]:
        if type(self).__init__ is object.__init__:
            return {}
        sig = inspect.signature(type(self).__init__)
        kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
        return {
            p.name: getattr(self, p.name, p.default)
            for p in sig.parameters.values()
            if p.name != "self" and p.kind in kinds
        }

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.get_params().items())
        return f"{type(self).__name__}({args})"


def get_params(method: object) -> dict[str, Any]:
    """Parameters of any baseline: ``get_params()`` if it has one, else its public attributes."""
    if hasattr(method, "get_params"):
        return dict(method.get_params())  # type: ignore[attr-defined]
    return {
        k: v
        for k, v in vars(method).items()
        if not k.startswith("_") and not k.endswith("_") and not callable(v)
    }


ScoreFn = Callable[[Split, RunContext], np.ndarray]
