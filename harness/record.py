"""The run record's schema: one typed, versioned, validated object per (method, variant) run.

A record is the single source of truth for a result: ``leaderboard.csv``, the
report and the sweep tables are views regenerated from records
(:func:`harness.frame.records_frame`). This module is the schema alone: the
pydantic models (:class:`RunRecord`, frozen, refusing unknown fields), their
validation, the schema-1 upgrade path and :func:`parse_record`. It does no file
I/O (files: :mod:`harness.store`, which writes ``runs/<run_id>.json``
atomically and reads it back through :func:`parse_record`, so a file with a
wrong type, an unknown field or a newer schema is named, never half-read) and
knows no command line (:mod:`harness.commands`).

Units: errors are ILSVRC flat top-k error in percent (0..100, devkit
semantics), times in seconds, memory in MiB, rates in images per second.

Schema versions
---------------
1. The 42-key dict of the first harness (every record in ``results/runs`` until
   schema 2). Read through :func:`upgrade_v1`; never rewritten in place.
2. This module: ``tag`` (the method's departures from the published model) split
   from ``display_name``; ``family`` required; the ``monitor`` a method tuned on,
   its ``training`` facts and ``selection`` choices as sub-objects; ``crop`` and
   ``param_count`` as plain fields; the ``command`` that made the record.
   Later additions (optional, absent in older schema-2 files): ``val_hits``, the
   per-image top-1 / top-5 hits of the scored split (:class:`ValHits`), from
   which :mod:`harness.intervals` bootstraps confidence intervals;
   ``variant_reason``, why a variant row exists (set by the runner);
   ``config_name``, the suite's row key of a method run in several configurations;
   ``resumed`` and ``startup_seconds`` (see the fields).
"""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import math
import re
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, Literal

from pydantic import (
    BaseModel,
    Field,
    ValidationError,
    computed_field,
    field_validator,
    model_validator,
)

from harness.types import Family, Frozen, Selection, TrainingFacts

if TYPE_CHECKING:
    from collections.abc import Sequence

    import numpy as np

__all__ = [
    "SCHEMA_VERSION",
    "Family",
    "MonitorInfo",
    "RecordError",
    "RunRecord",
    "Selection",
    "TrainingFacts",
    "ValHits",
    "first_problem",
    "order_digest",
    "parse_record",
    "upgrade_v1",
]

SCHEMA_VERSION = 2

#: Parameters that change how a run may proceed, not what it computes: they are left
#: out of run ids (harness.runner) and do not split repeats (harness.frame.config_key).
UNHASHED_PARAMS = frozenset({"allow_slow_cpu"})

#: Which images a method chose its hyper-parameters, schedule and stopping point on.
MonitorSplit = Literal["train-holdout", "val", "none"]


class RecordError(ValueError):
    """A record that is not a complete, valid record; the message names the file and field."""


class MonitorInfo(Frozen):
    """The split a method tuned on, and what the runner handed over and observed.

    ``"train-holdout"``: a seeded per-class slice of train (the honest protocol);
    ``"val"``: the scored validation split itself (schema-1 CNN records: their
    error is optimistic); ``"none"``: the method chose nothing on held-out data.
    """

    split: MonitorSplit
    n_images: int | None = Field(default=None, ge=0)  # images in the monitor
    n_fit: int | None = Field(default=None, ge=0)  # training images left for fitting
    fraction: float | None = Field(default=None, ge=0, le=1)  # share of each class held out
    seed: int | None = None  # seed of the draw
    min_per_class: int | None = Field(default=None, ge=0)
    max_per_class: int | None = Field(default=None, ge=0)
    # What the runner handed over and saw (observed, never reported by the method):
    fit_rows_digest: str | None = None  # sha256 of the row numbers of train given as data.fit
    monitor_rows_digest: str | None = None  # ... and of those given as data.monitor
    monitor_rows_read: int | None = Field(default=None, ge=0)  # monitor images the method read
    refit: bool | None = None  # the runner called refit(train) after fit asked for it
    refit_rows: int | None = Field(default=None, ge=0)  # rows of that refit (all of train)
    candidates_tried: int | None = Field(default=None, ge=0)  # candidates of its selections


def order_digest(paths: Sequence[str], labels: Sequence[int]) -> str:
    """A digest of a split's images in row order: relative paths and labels, one per row.

    Two records' per-image hits are paired (image ``i`` of one against image
    ``i`` of the other) only when their digests are equal.
    """
    h = hashlib.sha256()
    paths = list(paths) or [""] * len(labels)  # a split without paths: its labels alone
    for path, label in zip(paths, labels, strict=True):
        h.update(f"{path}\t{int(label)}\n".encode())
    return h.hexdigest()[:24]


class ValHits(Frozen):
    """Per-image hits of the scored (val) split, in row order, packed for the record.

    ``top1`` and ``top5`` are base64 text of ``numpy.packbits`` (big-endian bit
    order) of the boolean hit arrays (image ``i`` is a hit at ``k`` when its
    truth is among its first ``k`` labels): 50,000 images take about 8 kB each.
    ``order_digest`` (:func:`order_digest`) names the images and their order.
    """

    n: int = Field(gt=0)  # images scored
    top1: str  # base64(packbits(top-1 hits))
    top5: str  # base64(packbits(top-5 hits))
    order_digest: str = Field(min_length=1)

    @classmethod
    def from_arrays(
        cls,
        top1: np.ndarray,
        top5: np.ndarray,
        *,
        paths: Sequence[str] = (),
        labels: Sequence[int],
    ) -> ValHits:
        """Pack boolean hit arrays of one split (``paths``/``labels`` in the same row order)."""
        import numpy as np

        top1, top5 = np.asarray(top1, dtype=bool), np.asarray(top5, dtype=bool)
        if top1.shape != top5.shape or top1.ndim != 1 or len(top1) != len(labels):
            raise ValueError(
                f"hits of shapes {top1.shape} and {top5.shape} for {len(labels)} images"
            )

        def pack(hits: np.ndarray) -> str:
            return base64.b64encode(np.packbits(hits).tobytes()).decode("ascii")

        return cls(
            n=len(top1),
            top1=pack(top1),
            top5=pack(top5),
            order_digest=order_digest(paths, labels),
        )

    def hits(self, k: int) -> np.ndarray:
        """The boolean hit array at ``k`` (1 or 5), one entry per image in row order."""
        import numpy as np

        packed = {1: self.top1, 5: self.top5}.get(k)
        if packed is None:
            raise KeyError(f"hits are kept for k = 1 and 5, not {k}")
        raw = np.frombuffer(base64.b64decode(packed), dtype=np.uint8)
        return np.unpackbits(raw, count=self.n).astype(bool)

    def error(self, k: int) -> float:
        """Top-``k`` error in percent of these hits."""
        return float(100.0 * (1.0 - self.hits(k).mean()))

    @model_validator(mode="after")
    def _consistent(self) -> ValHits:
        for k, packed in ((1, self.top1), (5, self.top5)):
            try:
                size = len(base64.b64decode(packed, validate=True))
            except ValueError:
                raise ValueError(f"top{k} is not base64 text") from None
            if size != (self.n + 7) // 8:
                raise ValueError(
                    f"top{k} holds {size} bytes; {self.n} images need {(self.n + 7) // 8}"
                )
        import numpy as np

        if np.any(self.hits(1) & ~self.hits(5)):
            raise ValueError("an image is a top-1 hit but not a top-5 hit")
        return self


Percent = Annotated[float, Field(ge=0, le=100)]  # an error in percent
NonNegative = Annotated[float, Field(ge=0)]  # seconds, MiB, images per second


class RunRecord(Frozen):
    """One run of one method (or one variant of its scores) on one manifest.

    Required: ``run_id``, ``status``, ``method``, ``family``, ``subset``,
    ``manifest_hash``; a record with ``status == "ok"`` also needs both errors,
    one with ``status == "error"`` its ``error`` message. Everything else may
    be unknown (``None`` or empty). ``display_name`` is derived from ``method``,
    ``tag`` and ``variant`` (a stored one is ignored on reading). Non-finite
    floats become ``None`` (JSON has no NaN); values are stored as JSON values
    (tuples as lists, numpy scalars as numbers), so a record read back equals
    the one written. Fields read like a mapping too (``record["top5_err"]``).
    """

    schema_version: int = SCHEMA_VERSION
    run_id: str = Field(min_length=1)  # ``<subset>__<method>__<config hash>[__<variant>]``
    status: Literal["ok", "error"]
    error: str | None = None  # message of the failure; None when ok
    method: str = Field(min_length=1)  # registry name, nothing else
    config_name: str | None = None  # the suite's row key ([methods.lenet5-short]) when not the name
    variant: str | None = None  # a variant of the method's scores ("centre-crop", "ensemble-5")
    variant_reason: str | None = None  # why it exists ("the paper's single-crop figure")
    tag: str | None = None  # departures from the published model ("small stem, width 0.5")
    family: Family
    year: int | None = None  # the era the method represents
    source: str | None = None  # its citation
    params: dict[str, Any] = Field(default_factory=dict)  # the method's full parameters
    subset: str = Field(min_length=1)  # the named subset
    subset_version: int | None = None
    manifest_hash: str = Field(min_length=1)  # identifies the exact images
    layout: str | None = None  # the dataset layout read
    label_space: str | None = None  # "sorted-wnid-index" (never devkit IDs)
    n_classes: int | None = Field(default=None, ge=0)
    n_train: int | None = Field(default=None, ge=0)
    n_val: int | None = Field(default=None, ge=0)
    image_size: int | None = Field(default=None, gt=0)  # stored side of the cached images, px
    crop: int | None = Field(default=None, gt=0)  # side the model sees, px (None: the full image)
    param_count: int | None = Field(default=None, ge=0)  # trainable parameters
    top1_err: Percent | None = None
    top5_err: Percent | None = None
    train_seconds: NonNegative | None = None  # wall time of fit (+ the time before a resume)
    resumed: bool | None = None  # fit went on after an interruption; train_seconds sums both
    startup_seconds: NonNegative | None = None  # one-off start-up before fit's clock (imports)
    eval_seconds: NonNegative | None = None  # wall time of decision_function on val
    train_images_per_s: NonNegative | None = None  # training throughput (images seen / fit time)
    eval_images_per_s: NonNegative | None = None
    peak_rss_mib: NonNegative | None = None  # harness + workers, sampled during fit and eval
    peak_anon_mib: NonNegative | None = None  # the same less file-backed (memory-mapped) pages
    device: str | None = None  # GPU model, or CPU model and cores
    versions: dict[str, str] = Field(default_factory=dict)  # python, harness, libraries
    git_commit: str | None = None
    seed: int | None = None
    date: str | None = None  # ISO 8601 date of the record (UTC)
    cache_dir: str | None = None  # the decoded-image cache the run read
    cache_built_now: bool | None = None
    cache_build_seconds: NonNegative | None = None
    cache_decode_images_per_s: NonNegative | None = None
    cache_n_jobs: int | None = Field(default=None, ge=0)
    bad_images: list[tuple[str, str]] = Field(default_factory=list)  # [path, reason] excluded
    manifest_notes: list[str] = Field(default_factory=list)
    monitor: MonitorInfo = Field(default_factory=lambda: MonitorInfo(split="none"))
    training: TrainingFacts = Field(default_factory=TrainingFacts)  # what the method reported
    selection: list[Selection] = Field(default_factory=list)  # its choices on the monitor
    learning_curve: list[dict[str, Any]] = Field(default_factory=list)  # per-epoch rows
    val_hits: ValHits | None = None  # per-image hits of the scored split (None: older records)
    notes: dict[str, Any] = Field(default_factory=dict)  # method-specific facts
    config: dict[str, Any] = Field(default_factory=dict)  # the full resolved run configuration
    command: str | None = None  # the command line that made the record

    @computed_field  # type: ignore[prop-decorator]
    @property
    def display_name(self) -> str:
        """``method`` (or its suite row key), ``method (tag)`` for a modified model, plus
        ``[variant]``."""
        label = self.config_name or self.method
        name = f"{label} ({self.tag})" if self.tag else label
        return f"{name}[{self.variant}]" if self.variant else name

    @model_validator(mode="before")
    @classmethod
    def _normalise(cls, data: Any) -> Any:
        if not isinstance(data, Mapping):
            return data
        data = _json_values(dict(data))
        version = data.get("schema_version", SCHEMA_VERSION)
        if isinstance(version, int) and not isinstance(version, bool):
            if version > SCHEMA_VERSION:
                raise ValueError(
                    f"schema_version {version} is newer than this harness reads "
                    f"({SCHEMA_VERSION}); upgrade ilsvrc-harness to read it"
                )
            if version == 1:
                data = upgrade_v1(data)
            elif version < 1:
                raise ValueError(f"schema_version {version} does not exist (1..{SCHEMA_VERSION})")
        data.pop("display_name", None)  # derived
        training = data.get("training")
        if isinstance(training, dict):  # the plain columns follow the training facts
            for key in ("param_count", "crop"):
                if data.get(key) is None and training.get(key) is not None:
                    data[key] = training[key]
        return data

    @field_validator("date")
    @classmethod
    def _iso_date(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                datetime.fromisoformat(value)
            except ValueError:
                raise ValueError("not an ISO 8601 date") from None
        return value

    @model_validator(mode="after")
    def _complete(self) -> RunRecord:
        if self.schema_version != SCHEMA_VERSION:
            raise ValueError(f"schema_version must be {SCHEMA_VERSION} once read")
        if self.status == "ok" and (self.top1_err is None or self.top5_err is None):
            raise ValueError("status 'ok' needs top1_err and top5_err")
        if self.status == "error" and not self.error:
            raise ValueError("status 'error' needs the error message")
        hits = self.val_hits
        if hits is not None:
            if self.n_val is not None and hits.n != self.n_val:
                raise ValueError(f"val_hits has {hits.n} images but n_val is {self.n_val}")
            for k, err in ((1, self.top1_err), (5, self.top5_err)):
                # the errors are rounded to 4 decimals when written
                if err is not None and abs(hits.error(k) - err) > 1e-3:
                    raise ValueError(
                        f"val_hits give a top-{k} error of {hits.error(k):.4f}%, "
                        f"the record says {err}%"
                    )
        return self

    # -- reading ------------------------------------------------------------

    @property
    def ok(self) -> bool:
        """A successful run with both errors."""
        return self.status == "ok"

    def to_dict(self) -> dict[str, Any]:
        """The record as JSON values, ``display_name`` included (what the file holds)."""
        return self.model_dump(mode="json")

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2) + "\n"

    def with_changes(self, **changes: Any) -> RunRecord:
        """A validated copy with some fields changed (``model_copy`` skips validation)."""
        data = self.model_dump(mode="json")
        data.pop("display_name")
        return type(self).model_validate({**data, **changes})


# ----------------------------------------------------------------- schema 1


_CROP_NOTE = re.compile(r"(\d+)\s*px crops")


def upgrade_v1(data: dict[str, Any]) -> dict[str, Any]:
    """A schema-1 record dict as a schema-2 dict (the file itself is never rewritten).

    - ``family``: v1's own ``family`` field (v1 writers set it; absent: ``"other"``);
      never guessed from the method's name;
    - ``tag``: parsed off ``display_name`` = ``"method (tag)"`` plus ``"[variant]"``;
      ``variant`` kept;
    - ``crop``: from ``notes["input"]`` (``"cache 64px, 56px crops"``);
      ``param_count``: from ``notes["<method>_parameters"]`` (LeNet-5's note) or
      ``notes["param_count"]``;
    - ``monitor``: ``{"split": "val"}`` for CNN records (v1 CNNs watched the
      validation split they were scored on, e.g. for learning-rate drops),
      ``{"split": "none"}`` for the others;
    - ``training``: ``images_per_s`` from ``train_images_per_s``, ``epochs`` from
      ``notes["epochs_trained"]``, and the crop / parameter count above.
    """
    out = dict(data)
    notes = out.get("notes") if isinstance(out.get("notes"), dict) else {}
    method = str(out.get("method") or "")
    out["schema_version"] = SCHEMA_VERSION
    out.setdefault("family", "other")
    out["tag"] = _tag_from_display_name(str(out.get("display_name") or ""), method, out)
    out.pop("display_name", None)
    crop = _crop_from_note(notes.get("input"))
    params = notes.get(f"{method}_parameters", notes.get("param_count"))
    param_count = params if isinstance(params, int) and not isinstance(params, bool) else None
    out.setdefault("crop", crop)
    out.setdefault("param_count", param_count)
    out.setdefault("monitor", {"split": "val" if out["family"] == "cnn" else "none"})
    epochs = notes.get("epochs_trained")
    training = {
        "images_per_s": out.get("train_images_per_s"),
        "epochs": epochs if isinstance(epochs, int) and not isinstance(epochs, bool) else None,
        "param_count": param_count,
        "crop": crop,
    }
    out.setdefault("training", {k: v for k, v in training.items() if v is not None})
    return out


def _tag_from_display_name(display: str, method: str, data: dict[str, Any]) -> str | None:
    variant = data.get("variant")
    if variant and display.endswith(f"[{variant}]"):
        display = display[: -len(f"[{variant}]")]
    prefix = f"{method} ("
    if method and display.startswith(prefix) and display.endswith(")"):
        return display[len(prefix) : -1] or None
    return None


def _crop_from_note(note: Any) -> int | None:
    match = _CROP_NOTE.search(note) if isinstance(note, str) else None
    return int(match.group(1)) if match else None


# ----------------------------------------------------------------- JSON values


def _json_default(obj: Any) -> Any:
    if hasattr(obj, "item") and getattr(obj, "ndim", 0) == 0:  # numpy scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    if isinstance(obj, BaseModel):
        return obj.model_dump(mode="json")
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return dataclasses.asdict(obj)
    if isinstance(obj, Path):
        return str(obj)
    if isinstance(obj, set | frozenset):
        return sorted(obj, key=repr)
    return repr(obj)


def _clean_floats(obj: Any) -> Any:
    """JSON has no NaN/inf: they become null."""
    if isinstance(obj, float) and not math.isfinite(obj):
        return None
    if isinstance(obj, dict):
        return {k: _clean_floats(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_clean_floats(v) for v in obj]
    return obj


def _json_values(data: dict[str, Any]) -> dict[str, Any]:
    # One JSON round trip: what the model holds is exactly what the file will hold.
    return _clean_floats(json.loads(json.dumps(data, default=_json_default)))


# ----------------------------------------------------------------- parsing


def _short(value: Any, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."


def first_problem(exc: ValidationError) -> str:
    """The first validation error of a record as one line: ``field: what is wrong (got X)``."""
    err = exc.errors(include_url=False)[0]
    where = ".".join(str(p) for p in err["loc"])
    msg = str(err["msg"]).removeprefix("Value error, ")
    more = len(exc.errors()) - 1
    tail = f" (and {more} more)" if more else ""
    if not where:  # a whole-record rule: the message names the field
        return f"{msg}{tail}"
    if err["type"] == "missing":
        return f"field {where}: missing{tail}"
    return f"field {where}: {msg} (got {_short(err.get('input'))}){tail}"


def parse_record(data: Any, source: str | Path = "record") -> RunRecord:
    """Validate a record dict (any schema version this harness reads); RecordError if not."""
    if isinstance(data, RunRecord):
        return data
    if not isinstance(data, Mapping):
        raise RecordError(f"{source}: a record must be a JSON object, not {type(data).__name__}")
    try:
        return RunRecord.model_validate(data)
    except ValidationError as exc:
        raise RecordError(f"{source}: {first_problem(exc)}") from None
