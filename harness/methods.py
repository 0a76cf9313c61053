"""A method of a run, resolved once: its class, its instance, its full parameters, its run id.

The runner asks the registry for a method's class and constructs it once per
spec (:func:`resolve_method`); the validation, the pre-flight check, the run
id and the fit all use that one :class:`ResolvedMethod`.
"""

from __future__ import annotations

import difflib
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from harness.api import MethodError, Split, get_params
from harness.config import ConfigError, MethodSpec, RunConfig
from harness.params import ParameterError, check_params
from harness.record import UNHASHED_PARAMS
from harness.registry import BASELINES, import_object

__all__ = [
    "ResolvedMethod",
    "check_scores",
    "config_hash",
    "load_plugins",
    "preflight_check",
    "resolve_method",
    "run_id_for",
    "validate_methods",
]


def config_hash(payload: dict[str, Any]) -> str:
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:12]


@dataclass
class ResolvedMethod:
    """One spec of a run, constructed once: what the validation, the id and the fit share."""

    spec: MethodSpec
    cls: type
    method: Any  # the instance that is fitted
    params: dict[str, Any]  # full parameters (defaults + the suite's), device-resolved
    tag: str | None  # the method's departures from the published model, or None

    @property
    def info(self) -> dict[str, Any]:
        """The record's fields that come from the class."""
        return {
            "year": getattr(self.cls, "year", None),
            "source": getattr(self.cls, "source", None),
            "family": getattr(self.cls, "family", "other"),
            "params": self.params,
            "tag": self.tag or None,
        }


def resolve_method(spec: MethodSpec, device: str) -> ResolvedMethod:
    """Construct ``spec``'s method for ``device``; a :class:`MethodError` names what is wrong."""
    cls = BASELINES.get(spec.name)
    try:
        method = cls(**dict(spec.params))
    except TypeError as exc:
        raise MethodError(f"{spec.name}: bad parameters {dict(spec.params)}: {exc}") from exc
    if hasattr(method, "resolve_profile"):  # device-dependent recipes (AlexNet)
        method.resolve_profile(device)
    tag = method.display_tag() if hasattr(method, "display_tag") else None
    return ResolvedMethod(spec, cls, method, full_params(method, spec), tag)


def full_params(method: object, spec: MethodSpec) -> dict[str, Any]:
    """A constructed method's parameters, defaults included, with the suite's settings on top.

    A method whose recipe depends on the device (AlexNet's ``profile="auto"``)
    gives its resolved values through ``resolved_params()``: the record and
    the run id then say what actually ran.
    """
    if hasattr(method, "resolved_params"):
        return dict(method.resolved_params())
    return {**get_params(method), **dict(spec.params)}


def resolved_params(spec: MethodSpec, device: str = "cpu") -> dict[str, Any]:
    """The method's full parameters on ``device``: its defaults overlaid by the suite's settings.

    Hashing these (not only the overrides) means a changed default is a new run,
    never a stale record reused under the same id; and a CPU-profile run never
    shares an id with a paper-profile run on a GPU.
    """
    try:
        return resolve_method(spec, device).params
    except Exception:  # unknown or broken method: it fails later, with its message
        return dict(spec.params)


def run_id_for(
    subset: str,
    spec: MethodSpec,
    cfg: RunConfig | int,
    manifest_hash: str,
    device: str = "cpu",
    params: dict[str, Any] | None = None,
) -> str:
    """One id per (method, subset, resolved config): the same configuration reuses its record.

    The monitor's draw (fraction and seed) is part of the configuration: it
    decides which images a method fits on.
    """
    if params is None:
        params = resolved_params(spec, device)
    params = {k: v for k, v in params.items() if k not in UNHASHED_PARAMS}
    if isinstance(cfg, int):  # a bare seed: no holdout settings to hash
        payload = {"params": params, "seed": cfg, "manifest": manifest_hash}
    else:
        payload = {
            "params": params,
            "seed": cfg.seed,
            "manifest": manifest_hash,
            "holdout": [cfg.holdout_fraction, cfg.holdout_seed],
            **({"monitor": "val"} if cfg.monitor == "val" else {}),
        }
    digest = config_hash(payload)
    safe_subset = subset.replace("/", "_").replace(":", "_")
    return f"{safe_subset}__{spec.name}__{digest}"


def check_scores(scores: Any, split: Split, who: str) -> np.ndarray:
    """Scores must be a finite (n_images, n_classes) array; say what is wrong."""
    try:
        arr = np.asarray(scores, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise MethodError(
            f"{who}: decision_function returned {type(scores).__name__}, not an array"
        ) from exc
    expected = (len(split), split.n_classes)
    if arr.shape != expected:
        raise MethodError(
            f"{who}: decision_function returned scores of shape {arr.shape}, expected {expected} "
            f"(n_images, n_classes) for split {split.name!r}"
        )
    bad = ~np.isfinite(arr)
    if bad.any():
        rows = np.flatnonzero(bad.any(axis=1))
        raise MethodError(
            f"{who}: decision_function returned {int(bad.sum())} NaN/inf scores "
            f"in {len(rows)} rows (first row {int(rows[0])})"
        )
    return arr


def load_plugins(specs: tuple[str, ...]) -> list[str]:
    """Register ``module:Class`` plugins given on the command line; returns their names."""
    names = []
    for spec in specs:
        cls = import_object(spec)
        name = getattr(cls, "name", None) or spec.rsplit(":", 1)[-1].lower()
        BASELINES.add(name, cls)
        names.append(name)
    return names


def validate_methods(cfg: RunConfig, device: str = "cpu") -> dict[MethodSpec, ResolvedMethod]:
    """Every method of the run exists and takes its parameters; else ConfigError, before work.

    Names, types and ranges are checked against the registry and each
    method's ``__init__`` signature and ``parameter_constraints``
    (:mod:`harness.params`), so a typo never costs a cache build or leaves a
    failed record behind.
    """
    known = BASELINES.names()
    resolved: dict[MethodSpec, ResolvedMethod] = {}
    for spec in cfg.methods:
        if spec.name not in BASELINES:
            close = difflib.get_close_matches(spec.name, known, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"--methods: unknown method {spec.name!r}.{hint} Known methods: "
                f"{', '.join(known)} (plugins: --plugin module:Class)"
            )
        cls = BASELINES.get(spec.name)
        try:
            check_params(cls, spec.row, dict(spec.params))
            resolved[spec] = resolve_method(spec, device)
        except ParameterError as exc:
            raise ConfigError(str(exc)) from None
        except (TypeError, ValueError, MethodError) as exc:
            raise ConfigError(f"--param {spec.row}: {exc}") from None
    return resolved


def preflight_check(
    cfg: RunConfig, methods: dict[MethodSpec, ResolvedMethod], device: str
) -> Callable[[Any], None]:
    """Checks that need the manifest (how many images) but no decoded image yet."""

    def check(manifest: Any) -> None:
        n_train = int((manifest.entries["split"] == "train").sum())
        for spec, resolved in methods.items():
            if hasattr(resolved.method, "preflight"):
                try:
                    resolved.method.preflight(n_train, device, allow_slow_cpu=cfg.allow_slow_cpu)
                except MethodError as exc:
                    raise ConfigError(f"{spec.row}: {exc}") from None

    return check
