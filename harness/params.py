"""Checking a method's parameters before any work: names, types and ranges.

``--param hog-svm.Cc=1`` or ``--param lenet5.epochs=abc`` used to surface only
after the image cache was built and earlier methods had run, and left a failed
record behind. The runner now checks every method of a run against its
``__init__`` signature first and stops with exit 2, naming the valid choices.

Types come from the defaults (an ``int`` default takes ints, a ``float``
default ints or floats, a ``bool`` default only booleans, a ``str`` default
strings; a ``None`` default anything). Ranges and choices come from the
class's ``parameter_constraints``, declared scikit-learn style::

    parameter_constraints = {"epochs": Interval(int, 1, None), "stem": Options("paper", "small")}

(scikit-learn's own ``_parameter_constraints`` machinery is private API, so
this is the few lines it takes to do the same for our methods.)
"""

from __future__ import annotations

import difflib
import inspect
import numbers
from dataclasses import dataclass
from typing import Any

__all__ = ["Interval", "Options", "ParameterError", "check_params"]


class ParameterError(ValueError):
    """A method parameter that cannot be used; the message says what to type instead."""


@dataclass(frozen=True)
class Interval:
    """A number in ``[low, high]`` (either bound None for open), of ``type`` int or float."""

    type: type
    low: float | None = None
    high: float | None = None

    def check(self, value: Any) -> str | None:
        if self.type is int and (
            isinstance(value, bool) or not isinstance(value, numbers.Integral)
        ):
            return "an integer"
        if self.type is float and (isinstance(value, bool) or not isinstance(value, numbers.Real)):
            return "a number"
        if self.low is not None and value < self.low:
            return self.describe()
        if self.high is not None and value > self.high:
            return self.describe()
        return None

    def describe(self) -> str:
        kind = "an integer" if self.type is int else "a number"
        if self.low is not None and self.high is not None:
            return f"{kind} in [{self.low}, {self.high}]"
        if self.low is not None:
            return f"{kind} >= {self.low}"
        if self.high is not None:
            return f"{kind} <= {self.high}"
        return kind


@dataclass(frozen=True)
class Options:
    """One of a fixed set of values."""

    values: tuple[Any, ...]

    def __init__(self, *values: Any) -> None:
        object.__setattr__(self, "values", tuple(values))

    def check(self, value: Any) -> str | None:
        return None if value in self.values else self.describe()

    def describe(self) -> str:
        return "one of " + ", ".join(repr(v) for v in self.values)


def _type_problem(value: Any, default: Any) -> str | None:
    if default is None or default is inspect.Parameter.empty:
        return None
    if isinstance(default, bool):
        return None if isinstance(value, bool) else "true or false"
    if isinstance(default, numbers.Integral):
        ok = isinstance(value, numbers.Integral) and not isinstance(value, bool)
        return None if ok else "an integer"
    if isinstance(default, numbers.Real):
        ok = isinstance(value, numbers.Real) and not isinstance(value, bool)
        return None if ok else "a number"
    if isinstance(default, str):
        return None if isinstance(value, str) else "a string"
    if isinstance(default, tuple | list):
        return None if isinstance(value, tuple | list) else "a list, e.g. [1, 2]"
    return None


def _toml(value: Any) -> str:
    """A value as it is typed after ``--param M.P=`` (TOML)."""
    import json

    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float) or value is None:
        return json.dumps(value)
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml(v) for v in value) + "]"
    return repr(value)


def signature_params(cls: type) -> dict[str, inspect.Parameter]:
    """The keyword parameters of ``cls.__init__`` (empty for a class without one)."""
    if cls.__init__ is object.__init__:
        return {}
    sig = inspect.signature(cls.__init__)
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {n: p for n, p in sig.parameters.items() if n != "self" and p.kind in kinds}


def check_params(cls: type, name: str, params: dict[str, Any]) -> None:
    """Raise :class:`ParameterError` for the first unknown, mistyped or out-of-range parameter."""
    known = signature_params(cls)
    takes_kwargs = cls.__init__ is not object.__init__ and any(
        p.kind is inspect.Parameter.VAR_KEYWORD
        for p in inspect.signature(cls.__init__).parameters.values()
    )
    constraints: dict[str, Any] = dict(getattr(cls, "parameter_constraints", {}) or {})
    for key, value in params.items():
        if key not in known:
            if takes_kwargs:
                continue
            close = difflib.get_close_matches(key, list(known), n=1)
            hint = f" Did you mean {name}.{close[0]}?" if close else ""
            listed = ", ".join(known) or "(none)"
            raise ParameterError(
                f"--param {name}.{key}: {name} has no parameter {key!r}.{hint} "
                f"Its parameters: {listed}"
            )
        default = known[key].default
        problem = _type_problem(value, default)
        if problem is None and key in constraints:
            problem = constraints[key].check(value)
        if problem:
            example = (
                ""
                if default is inspect.Parameter.empty or default is None
                else f", e.g. {_toml(default)}"
            )
            raise ParameterError(
                f"--param {name}.{key}={_toml(value)}: must be {problem}"
                f"{example + ' (the default)' if example else ''}; values are TOML, "
                f"strings in quotes: --param '{name}.{key}=VALUE'"
            )
