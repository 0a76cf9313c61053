"""The contract between the harness and the methods it runs.

A method (a *baseline*) is a scikit-learn shaped object: ``__init__`` stores
parameters only; ``fit(data, ctx)`` learns (state in attributes ending in
``_``); ``decision_function(split, ctx)`` returns scores of shape
``(n_images, n_classes)``. A method never computes its own val error and never
writes result files: the harness does both (``harness.protocol``,
``harness.store``).

``fit`` receives a :class:`TrainData`: ``data.fit``, the training rows without
the monitor, and ``data.monitor``, the held-out rows to choose
hyper-parameters, schedules and stopping points on (or None). No object handed
to ``fit`` holds both, and the context holds no data at all, so "fit on what
you are given, choose on the monitor" is honest by construction. A method
that wants to refit on all of train with what it chose returns
``FitResult(refit=True)``; the runner then calls ``refit(train, ctx)`` with the
whole training split and no monitor (scikit-learn's ``GridSearchCV(refit=True)``
pattern). :func:`choose_on_monitor` makes that one call. The runner records
what it handed over (the rows, whether a refit ran, how many monitor images
were read): the record's ``monitor`` block is observed, not self-reported.

Every method gets the same :class:`Split` objects, built from one manifest and
one decoded-image cache, so "the same images" holds by construction.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar, Protocol, runtime_checkable

import numpy as np

from harness.progress import PLAIN_PROGRESS_SECONDS, progress_bar
from harness.registry import EntryPointName
from harness.types import (
    FAMILIES,
    FitResult,
    Holdout,
    RowView,
    Selection,
    Split,
    TrainData,
    TrainingFacts,
)

__all__ = [
    "FAMILIES",
    "PLAIN_PROGRESS_SECONDS",
    "Baseline",
    "BaselineBase",
    "FitResult",
    "Holdout",
    "MethodError",
    "RowView",
    "RunContext",
    "Selection",
    "Split",
    "TrainData",
    "TrainingFacts",
    "choose_on_monitor",
    "fit_method",
    "handover",
    "progress_bar",
]

#: What a method is, for the report's gap (best CNN against best hand-crafted).
#: Every baseline declares one; the registry refuses a class without it.


class MethodError(RuntimeError):
    """A method could not run for a reason it can name (too few images, ...)."""


@dataclass
class RunContext:
    """What the harness gives a method besides the data.

    ``cache_dir`` is scratch space keyed by (method params, manifest hash); a
    method may keep reusable intermediate results there (features,
    vocabularies). ``work_dir`` is this run's own folder (checkpoints); a
    rerun of the same run gets the same folder, which is how resuming works.
    Learning curves go through :meth:`log_epoch`, never straight to disk.

    The context holds no data: the fit rows and the monitor arrive in
    :class:`TrainData`, the whole training split only through ``refit``.
    """

    device: str = "cpu"  # "cpu" or "cuda" (resolved, never "auto")
    seed: int = 0
    cache_dir: Path = field(default_factory=lambda: Path(".harness/cache"))
    work_dir: Path = field(default_factory=lambda: Path(".harness/work"))
    n_jobs: int = 1  # CPU workers a method may use
    dask_scheduler: str | None = None  # address of a Dask scheduler, or None for local
    quiet: bool = False  # no progress bars
    deterministic: bool = False
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
        known = TrainingFacts.model_fields
        unknown = sorted(set(facts) - set(known))
        if unknown:
            raise TypeError(
                f"report_training got unknown fact(s) {unknown}; known: {', '.join(known)}"
            )
        merged = {**self.training.model_dump(exclude_unset=True), **facts}
        self.training = TrainingFacts(**merged)

    def report_selection(self, selection: Selection) -> None:
        """Report a choice made on the monitor (it goes into the record's ``selection``)."""
        self.selections.append(selection)

    def note(self, key: str, value: Any) -> None:
        """A method-specific fact for the record's ``notes`` (e.g. a codebook's size)."""
        self.notes[key] = value


@runtime_checkable
class Baseline(Protocol):
    """The method contract. See the module docstring."""

    name: ClassVar[str]
    year: ClassVar[int]
    family: ClassVar[str]

    def fit(self, data: TrainData, ctx: RunContext) -> FitResult | Any: ...

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray: ...


class BaselineBase:
    """The base class of every method: scikit-learn style parameters and the optional hooks.

    Subclasses set ``year``, ``family`` (one of :data:`FAMILIES`), ``source``
    (a citation) and ``description``; their ``__init__`` keyword arguments are
    the parameters; the name is the method's entry point (the registry sets
    ``name``). They implement ``fit(data, ctx)`` and
    ``decision_function(split, ctx)``; every other hook has a default here:

    * ``refit(train, ctx)``: called on the whole training split, with no monitor
      beside it, when ``fit`` returns ``FitResult(refit=True)``;
    * ``variants``: the extra scored rows a method may give, each declared up
      front with its reason (``{"centre-crop": "the paper's single-crop
      figure"}``), returned by ``variant_scores(split, ctx)``; a variant is a
      row of its method, never ranked as a method of its own;
    * ``display_tag()``: the method's departures from the published model
      (e.g. ``"small stem, width 0.5"``); its rows then read ``<name> (<tag>)``;
    * ``resolve_profile(device)`` / ``resolved_params()``: a recipe that depends
      on the device (AlexNet's ``profile="auto"``) and the values it resolved to;
    * ``preflight(n_train, device, allow_slow_cpu)``: a check before any image
      is decoded (raise :class:`MethodError` to refuse).
    """

    name: ClassVar[str] = EntryPointName()  # type: ignore[assignment]  # the entry point's
    year: ClassVar[int] = 0
    source: ClassVar[str] = ""
    description: ClassVar[str] = ""
    family: ClassVar[str]  # required: one of FAMILIES (the registry refuses a class without it)
    #: variant name -> why the row exists (shown with it); see :meth:`declared_variants`
    variants: ClassVar[dict[str, str]] = {}
    #: modules ``fit`` imports lazily; :meth:`warm_up` imports them before fit's clock
    startup_imports: ClassVar[tuple[str, ...]] = ()

    def warm_up(self, ctx: RunContext) -> None:
        """One-off process start-up (imports, pools, JIT) the runner times apart from fit
        (``startup_seconds``), so the first method of a process is not charged for it."""
        import contextlib
        import importlib

        for module in self.startup_imports:
            with contextlib.suppress(ImportError):  # fit says what is missing, in its words
                importlib.import_module(module)

    def fit(self, data: TrainData, ctx: RunContext) -> FitResult | Any:
        raise NotImplementedError(f"{type(self).__name__} does not implement fit(data, ctx)")

    def refit(self, train: Split, ctx: RunContext) -> None:
        """Refit on all of train with what ``fit`` chose; called only if ``fit`` asked for it."""
        raise MethodError(
            f"{self.name or type(self).__name__}: fit returned FitResult(refit=True) but the "
            "class defines no refit(train, ctx)"
        )

    def decision_function(self, split: Split, ctx: RunContext) -> np.ndarray:
        raise NotImplementedError(
            f"{type(self).__name__} does not implement decision_function(split, ctx)"
        )

    def declared_variants(self) -> dict[str, str]:
        """Variant name -> reason, for these parameters (default: the class's ``variants``)."""
        return dict(self.variants)

    def variant_scores(self, split: Split, ctx: RunContext) -> dict[str, np.ndarray]:
        """Scores of the declared variants (default: none)."""
        return {}

    def display_tag(self) -> str | None:
        """Departures from the published method, named in every row (default: none)."""
        return None

    def resolve_profile(self, device: str) -> None:
        """Settle a device-dependent recipe before anything else is asked (default: nothing)."""

    def resolved_params(self) -> dict[str, Any]:
        """The parameters that actually run (default: :meth:`get_params`)."""
        return self.get_params()

    def preflight(self, n_train: int, device: str, allow_slow_cpu: bool | None = None) -> None:
        """Refuse, with :class:`MethodError`, a run that cannot go well (default: accept)."""

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


def handover(
    train: Split, holdout: Holdout | None = None, monitor: Split | None = None
) -> TrainData:
    """The :class:`TrainData` the runner hands ``fit``, for code that calls a method itself.

    With ``holdout``: its fit rows and its monitor rows of ``train`` as row
    views. Without: all of ``train`` to fit on, and ``monitor`` (e.g. a
    separate split in a test) as given, or none.
    """
    if holdout is not None and holdout.n_monitor:
        if monitor is not None:
            raise ValueError("handover: give a holdout or a monitor split, not both")
        return TrainData(
            fit=train.view(holdout.fit_rows, name="fit"),
            monitor=train.view(holdout.monitor_rows, name="monitor"),
        )
    every = np.arange(len(train))
    shown = (
        monitor.view(np.arange(len(monitor)), name=monitor.name) if monitor is not None else None
    )
    return TrainData(fit=train.view(every, name="fit"), monitor=shown)


def fit_method(method: Any, data: TrainData, train: Split, ctx: RunContext) -> int | None:
    """``fit(data)``, then ``refit(train)`` if fit asked for it: the call sequence of the runner.

    Returns the number of rows of the refit, or None when none ran.
    """
    result = method.fit(data, ctx)
    if isinstance(result, FitResult) and result.refit:
        method.refit(train, ctx)
        if result.chosen:
            ctx.note("refit_with", dict(result.chosen))
        return len(train)
    return None


def choose_on_monitor(
    data: TrainData,
    ctx: RunContext,
    candidates: Sequence[dict[str, Any]],
    train: Callable[[Split, dict[str, Any]], Any],
    score: Callable[[Any, Split], np.ndarray],
    *,
    criterion: str = "monitor_top5_err",
) -> FitResult:
    """Choose among ``candidates`` on ``data.monitor`` and ask for a refit: the honest path in one call.

    Each candidate (a dict of parameter values) is trained with
    ``train(data.fit, candidate)`` and scored with ``score(model,
    data.monitor)``; the one with the lowest ``criterion``
    (``monitor_top5_err`` or ``monitor_top1_err``; ties go to the other error,
    then to the earlier candidate) wins. The grid and every candidate's errors
    go to ``ctx.report_selection``. Returns ``FitResult(refit=True,
    chosen=...)``: the runner then calls the method's ``refit(train, ctx)``,
    which trains the chosen values on the whole training split. Without a
    monitor the first candidate is taken, untried, and the notes say so.
    """
    from harness.protocol import topk_errors  # the protocol module reads label files

    if not candidates:
        raise MethodError("choose_on_monitor: no candidates")
    if criterion not in ("monitor_top5_err", "monitor_top1_err"):
        raise MethodError(f"choose_on_monitor: criterion {criterion!r} is not a monitor error")
    names = tuple(dict.fromkeys(k for c in candidates for k in c))
    if data.monitor is None or len(data.monitor) == 0:
        ctx.note("selection", f"no monitor: the first candidate {dict(candidates[0])} untried")
        return FitResult(refit=True, chosen=dict(candidates[0]))
    other = "monitor_top1_err" if criterion == "monitor_top5_err" else "monitor_top5_err"
    tried: list[dict[str, Any]] = []
    for cand in candidates:
        model = train(data.fit, dict(cand))
        errs = topk_errors(np.asarray(score(model, data.monitor)), data.monitor.labels, (1, 5))
        tried.append(
            {**cand, "monitor_top1_err": round(errs[1], 4), "monitor_top5_err": round(errs[5], 4)}
        )
    best = min(range(len(tried)), key=lambda i: (tried[i][criterion], tried[i][other], i))
    chosen = {k: tried[best][k] for k in names if k in tried[best]}
    ctx.report_selection(
        Selection(
            parameters=names,
            candidates=tuple(tried),
            chosen=chosen,
            criterion=criterion,
            refit=True,
        )
    )
    return FitResult(refit=True, chosen=chosen)


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
