"""The data types of the method contract: splits, the monitor, what a method reports.

Light on purpose (numpy and pydantic only): ``import harness.api`` loads these
and no layout reader, manifest or cache.

* :class:`Split`: decoded uint8 images of one split with their labels.
  :meth:`Split.view` gives a *row view* (:class:`RowView`): rows of the same
  memory map read on demand, so the fit rows and the monitor are never copied
  and a feature cache keyed on the parent's rows encodes nothing twice.
* :class:`Holdout`: which rows of train are fit rows and which the monitor.
* :class:`TrainData`: what ``fit`` receives: the fit rows and the monitor as two
  Splits; no object in it holds their union.
* :class:`FitResult`: what ``fit`` may return: whether it wants a refit on the
  whole training split (``refit(train, ctx)``).
* :class:`TrainingFacts`, :class:`Selection`: what a method reports through
  its context; the record stores these same types.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

import numpy as np
from pydantic import BaseModel, ConfigDict, Field, field_validator

__all__ = [
    "FAMILIES",
    "Family",
    "FitResult",
    "Frozen",
    "Holdout",
    "RowView",
    "Selection",
    "Split",
    "TrainData",
    "TrainingFacts",
]

#: What a method is, for the report's gap (best CNN against best hand-crafted).
Family = Literal["cnn", "hand-crafted", "reference", "other"]
FAMILIES: tuple[str, ...] = get_args(Family)


class RowView:
    """Rows ``rows`` of an ``(N, ...)`` array, read on demand; indexing returns ndarrays.

    ``len``, ``shape``, ``dtype``, ``ndim``, integer/slice/array/mask indexing
    and ``take(rows, axis=0, out=...)`` behave as on the array of those rows;
    nothing is copied until rows are read. ``rows_read`` counts the rows read
    so far: the runner records how many monitor images a method looked at.
    """

    __slots__ = ("_base", "_rows", "rows_read")

    def __init__(self, base: Any, rows: np.ndarray) -> None:
        if isinstance(base, RowView):  # a view of a view: one level, rows composed
            rows = base._rows[np.asarray(rows, dtype=np.int64)]
            base = base._base
        self._base = base
        self._rows = np.asarray(rows, dtype=np.int64)
        self.rows_read = 0
        if len(self._rows) and (self._rows.min() < 0 or self._rows.max() >= len(base)):
            raise IndexError(f"row view: rows outside 0..{len(base) - 1}")

    @property
    def shape(self) -> tuple[int, ...]:
        return (len(self._rows), *self._base.shape[1:])

    @property
    def dtype(self) -> np.dtype:
        return self._base.dtype

    @property
    def ndim(self) -> int:
        return self._base.ndim

    @property
    def size(self) -> int:
        return int(np.prod(self.shape))

    @property
    def nbytes(self) -> int:
        return self.size * self.dtype.itemsize

    def __len__(self) -> int:
        return len(self._rows)

    def _read(self, base_rows: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
        self.rows_read += len(base_rows)
        n = len(base_rows)
        if n and np.all(np.diff(base_rows) == 1):  # one contiguous run: a slice reads it
            block = self._base[int(base_rows[0]) : int(base_rows[0]) + n]
            if out is None:  # a copy, as fancy indexing gives: writable, never the map itself
                return np.array(block)
            out[...] = block
            return out
        if out is None:
            return np.asarray(self._base[base_rows])
        return np.take(self._base, base_rows, axis=0, out=out, mode="clip")

    def __getitem__(self, key: Any) -> Any:
        first, rest = (key[0], key[1:]) if isinstance(key, tuple) else (key, ())
        if isinstance(first, (int, np.integer)):
            self.rows_read += 1
            out = np.asarray(self._base[int(self._rows[first])])
            return out[rest] if rest else out
        if first is Ellipsis:
            first = slice(None)
        index = self._rows[first] if isinstance(first, slice) else self._rows[np.asarray(first)]
        out = self._read(np.atleast_1d(index))
        return out[(slice(None), *rest)] if rest else out

    def take(
        self, indices: Any, axis: int = 0, out: np.ndarray | None = None, mode: str = "raise"
    ) -> np.ndarray:
        """``ndarray.take`` along the rows (``axis=0`` only)."""
        if axis != 0:
            raise ValueError("RowView.take: only axis=0")
        return self._read(self._rows[np.asarray(indices, dtype=np.int64)], out=out)

    def __array__(self, dtype: Any = None, copy: Any = None) -> np.ndarray:
        out = self._read(self._rows)
        return out.astype(dtype, copy=False) if dtype is not None else out

    def __iter__(self) -> Iterator[np.ndarray]:
        for i in range(len(self)):
            yield self[i]

    def __repr__(self) -> str:
        return (
            f"RowView({len(self._rows)} of {len(self._base)} rows, {self.shape[1:]}, {self.dtype})"
        )


@dataclass(frozen=True)
class Split:
    """One split of one subset, as decoded uint8 images.

    ``images`` is an ``(N, S, S, 3)`` uint8 RGB array (a read-only memory map
    of the cache, or a :class:`RowView` of one), ``labels`` an ``(N,)`` int64
    array of class indices into ``wnids`` (sorted-wnid order, the
    torchvision/timm convention; never devkit ILSVRC2012_IDs).

    A row view (:meth:`view`) remembers which rows of which split it shows
    (``parent``, ``parent_len``, ``parent_rows``): a feature cache keys its
    file on the parent's rows, so the fit rows' and the monitor's features are
    rows of one file, and a refit on the whole split encodes nothing again.
    """

    name: str  # "train", "val", "fit", "monitor"
    images: Any  # (N, S, S, 3) uint8, RGB, memory-mapped (ndarray or RowView)
    labels: np.ndarray  # (N,) int64 class indices
    wnids: tuple[str, ...]  # class index -> wnid, sorted
    paths: tuple[str, ...] = ()  # image paths relative to the dataset root, row order
    class_names: tuple[str, ...] = ()  # class index -> human-readable name
    parent: str | None = None  # the split this is a row view of ("train"), or None
    parent_len: int | None = None  # rows of that split
    parent_rows: np.ndarray | None = field(default=None, repr=False)  # its rows shown here

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
        """Yield ``(rows, images, labels)`` in row order; images are arrays of those rows."""
        for start in range(0, len(self), batch_size):
            rows = slice(start, min(start + batch_size, len(self)))
            yield rows, self.images[rows], self.labels[rows]

    def view(self, rows: np.ndarray, name: str | None = None) -> Split:
        """The rows ``rows`` of this split as a Split of their own, without copying an image."""
        rows = np.asarray(rows, dtype=np.int64)
        if self.parent is None:
            parent, parent_len, parent_rows = self.name, len(self), rows
        else:
            parent, parent_len = self.parent, self.parent_len
            parent_rows = np.asarray(self.parent_rows)[rows]
        return Split(
            name=name or self.name,
            images=RowView(self.images, rows),
            labels=np.asarray(self.labels)[rows],
            wnids=self.wnids,
            paths=tuple(self.paths[i] for i in rows) if self.paths else (),
            class_names=self.class_names,
            parent=parent,
            parent_len=parent_len,
            parent_rows=parent_rows,
        )

    def subset(self, index: np.ndarray, name: str | None = None) -> Split:
        """A split of the rows in ``index``, loaded into memory (a plain Split, no parent)."""
        index = np.asarray(index)
        return Split(
            name=name or self.name,
            images=np.ascontiguousarray(self.images[index]),
            labels=np.asarray(self.labels)[index],
            wnids=self.wnids,
            paths=tuple(self.paths[i] for i in index) if self.paths else (),
            class_names=self.class_names,
        )


@dataclass(frozen=True)
class Holdout:
    """Rows of the training split: the part methods fit on, and the monitor they tune on."""

    fit_rows: np.ndarray  # sorted int64 rows of train that are not held out
    monitor_rows: np.ndarray  # sorted int64 rows of train held out (the monitor)
    fraction: float
    seed: int
    min_per_class: int
    max_per_class: int | None
    notes: tuple[str, ...] = field(default=())

    @property
    def n_monitor(self) -> int:
        return len(self.monitor_rows)

    def describe(self) -> dict[str, Any]:
        """What a record says about the draw of the monitor."""
        return {
            "split": "train-holdout",
            "n_images": int(self.n_monitor),
            "n_fit": int(len(self.fit_rows)),
            "fraction": self.fraction,
            "seed": self.seed,
            "min_per_class": self.min_per_class,
            "max_per_class": self.max_per_class,
        }


@dataclass(frozen=True)
class TrainData:
    """What ``fit`` trains on: the fit rows of train, and the monitor (or None).

    ``fit`` holds no monitor image; ``monitor`` is the held-out slice of
    train (or, under ``--monitor val``, the val split, and then ``fit`` is all
    of train). Neither holds their union: the whole training split reaches a
    method only through ``refit(train, ctx)``, which the runner calls when
    ``fit`` returns ``FitResult(refit=True)``.
    """

    fit: Split
    monitor: Split | None = None

    @property
    def n_classes(self) -> int:
        return self.fit.n_classes

    @property
    def wnids(self) -> tuple[str, ...]:
        return self.fit.wnids


@dataclass(frozen=True)
class FitResult:
    """What ``fit`` may return. ``refit=True``: call ``refit(train, ctx)`` on all of train.

    ``chosen`` (optional) are the values chosen on the monitor that the refit
    uses; they go into the record's notes. Returning ``None`` or ``self``
    means no refit.
    """

    refit: bool = False
    chosen: dict[str, Any] = field(default_factory=dict)


class Frozen(BaseModel):
    """A frozen pydantic model whose fields also read like dict keys (``r["top5_err"]``)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    def __getitem__(self, key: str) -> Any:
        cls = type(self)
        if key in cls.model_fields or key in cls.model_computed_fields:
            return getattr(self, key)
        raise KeyError(key)

    def get(self, key: str, default: Any = None) -> Any:
        """A field's value, or ``default`` for a name that is not a field."""
        try:
            return self[key]
        except KeyError:
            return default


class TrainingFacts(Frozen):
    """What a method reports about its training (``ctx.report_training``); the record's ``training``.

    Every field is optional. ``images_seen`` over the whole fit's wall time is
    the throughput the record gives (never a mean of per-epoch rates).
    ``fit_split`` and ``monitor_use`` are set by the runner from what it
    handed over and saw (older records carry the methods' own words).
    """

    epochs: int | None = Field(default=None, ge=0)  # passes over the fit rows trained
    images_seen: int | None = Field(default=None, ge=0)  # training images processed, all epochs
    images_per_s: float | None = Field(default=None, ge=0)  # images_seen / seconds of the fit
    lr_drops: tuple[int, ...] = ()  # 1-based epochs after which the learning rate dropped
    param_count: int | None = Field(default=None, ge=0)  # trainable parameters
    crop: int | None = Field(default=None, gt=0)  # side of the input the model sees, px
    profile: str | None = None  # named recipe ("paper", "cpu")
    fit_split: str | None = None  # "train-fit", "train-fit+refit", "train" (observed)
    monitor_use: str | None = None  # what the monitor decided ("lr-plateau", "selection")
    resumed_from_epoch: int | None = Field(default=None, ge=0)  # epochs restored from a checkpoint
    seconds_before_resume: float | None = Field(default=None, ge=0)  # training time of those

    @field_validator("lr_drops", mode="before")
    @classmethod
    def _ints(cls, value: Any) -> Any:
        return tuple(int(e) for e in value) if value is not None else ()


class Selection(Frozen):
    """A choice made on the monitor: the grid, each candidate's monitor error, the winner.

    ``criterion`` is required: the quantity the method minimised (e.g.
    ``"monitor_top5_err"``), never assumed.
    """

    parameters: tuple[str, ...]  # names of the chosen parameters, e.g. ("reg", "epochs")
    candidates: tuple[dict[str, Any], ...]  # one dict per candidate: its values + errors
    chosen: dict[str, Any]  # the winning values
    criterion: str = Field(min_length=1)  # what was minimised
    refit: bool = True  # refit on the whole training split with the chosen values
