"""One registry class for baselines and subsets.

Entries are either objects, registered by decorator, or lazy ``"module:attr"``
strings imported on first use. Baselines also come from the entry-point group
``harness.baselines`` (built-ins are declared there too, in pyproject.toml), so
the harness never imports a concrete method by name. An unknown name fails
with the list of known names and the closest match.

A built-in or plugin baseline's name is written once, as its entry point's
name (or the decorator's, or ``--plugin``'s): the registry sets the class's
``name`` from it when the class is registered or first loaded, and refuses a
class that declares a different ``name`` itself. :func:`entry_point_name`
finds that name for a class that was imported without the registry (a test
constructing it directly); :class:`EntryPointName` is the class attribute that
answers with it.

A registry refuses a second, different object under a name it holds, naming
both. The baseline registry also checks the contract when a class is
registered or first loaded: it must declare its ``family`` (one of
``harness.api.FAMILIES``) itself or through a base class of its own;
``BaselineBase``'s placeholder does not count, so no family is ever guessed.
"""

from __future__ import annotations

import difflib
import functools
import importlib
from collections.abc import Callable, Iterator
from importlib.metadata import entry_points
from typing import Any, Generic, TypeVar

from harness.types import FAMILIES

T = TypeVar("T")

BASELINE_GROUP = "harness.baselines"


class UnknownNameError(KeyError):
    """A registry lookup for a name that is not registered."""

    def __str__(self) -> str:  # KeyError quotes its message; we want it plain
        return str(self.args[0])


class PluginLoadError(ImportError):
    """A lazy entry could not be imported."""


class RegistrationError(PluginLoadError):
    """An entry refused: a duplicate name, or a baseline that breaks the contract."""


def _describe(obj: Any) -> str:
    """``module.Class`` of a registered object (its repr when it has no name)."""
    name = getattr(obj, "__qualname__", None) or getattr(obj, "__name__", None)
    module = getattr(obj, "__module__", None)
    return f"{module}.{name}" if name and module else repr(obj)


def check_baseline(name: str, cls: Any) -> None:
    """Refuse a baseline class without a declared ``family`` in ``harness.types.FAMILIES``."""
    family = getattr(cls, "family", None)
    mro = getattr(cls, "__mro__", (type(cls),))
    # BaselineBase only annotates ``family``: a value in a class's dict is a declaration
    declared = any("family" in vars(k) for k in mro)
    if not declared or family not in FAMILIES:
        got = f"family = {family!r}" if declared else "no family"
        raise RegistrationError(
            f"baseline {name!r} ({_describe(cls)}) has {got}; declare the class attribute "
            f"family, one of: {', '.join(repr(f) for f in FAMILIES)}"
        )


def import_object(spec: str) -> Any:
    """Import ``"package.module:attr"`` (``attr`` may be dotted)."""
    if ":" not in spec:
        raise PluginLoadError(f"{spec!r} is not of the form 'module:attr'")
    module_name, attr = spec.split(":", 1)
    try:
        obj: Any = importlib.import_module(module_name)
    except Exception as exc:  # a plugin's import may fail in any way
        raise PluginLoadError(
            f"cannot import module {module_name!r} for {spec!r}: {exc!r}"
        ) from exc
    for part in attr.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise PluginLoadError(f"module {module_name!r} has no attribute {attr!r}") from exc
    return obj


class Registry(Generic[T]):
    """Name -> object, with lazy "module:attr" entries and entry-point discovery."""

    def __init__(
        self,
        kind: str,
        entry_point_group: str | None = None,
        check: Callable[[str, Any], None] | None = None,
        bind: Callable[[str, Any], None] | None = None,
    ) -> None:
        self.kind = kind
        self.entry_point_group = entry_point_group
        self.check = check  # raises for an object that may not be registered
        self.bind = bind  # tells an accepted object the name it is registered under
        self._objects: dict[str, T] = {}
        self._lazy: dict[str, str] = {}
        self._discovered = False

    def register(self, name: str) -> Callable[[T], T]:
        """Decorator: ``@BASELINES.register("hog-svm")``."""

        def decorate(obj: T) -> T:
            self.add(name, obj)
            return obj

        return decorate

    def add(self, name: str, obj: T) -> None:
        """Register ``obj`` under ``name``; a different object already there is refused."""
        held = self._objects.get(name)
        if held is not None and held is not obj and held != obj:
            raise RegistrationError(
                f"{self.kind} name {name!r} is taken by {_describe(held)}; cannot register "
                f"{_describe(obj)} under it too (choose another name)"
            )
        self._accept(name, obj)
        self._lazy.pop(name, None)

    def _accept(self, name: str, obj: T) -> None:
        if self.check is not None:
            self.check(name, obj)
        if self.bind is not None:
            self.bind(name, obj)
        self._objects[name] = obj

    def add_lazy(self, name: str, spec: str) -> None:
        """Register ``"module:attr"``, imported only when ``get(name)`` is called."""
        held = self._lazy.get(name)
        if held is not None and held != spec:
            raise RegistrationError(
                f"{self.kind} name {name!r} is taken by {held!r}; cannot register {spec!r} "
                "under it too (two plugins declare the same entry-point name)"
            )
        if name not in self._objects:
            self._lazy[name] = spec

    def _discover(self) -> None:
        if self._discovered or self.entry_point_group is None:
            return
        self._discovered = True
        for ep in entry_points(group=self.entry_point_group):
            self.add_lazy(ep.name, ep.value)

    def names(self) -> list[str]:
        self._discover()
        return sorted(set(self._objects) | set(self._lazy))

    def __contains__(self, name: object) -> bool:
        self._discover()
        return name in self._objects or name in self._lazy

    def __iter__(self) -> Iterator[str]:
        return iter(self.names())

    def spec(self, name: str) -> str | None:
        """The lazy "module:attr" string of an entry not yet imported."""
        self._discover()
        return self._lazy.get(name)

    def get(self, name: str) -> T:
        self._discover()
        if name in self._objects:
            return self._objects[name]
        if name in self._lazy:
            obj = import_object(self._lazy[name])
            # importing may have registered it by decorator already (checked then)
            if name not in self._objects:
                self._accept(name, obj)
            self._lazy.pop(name, None)
            return self._objects[name]
        known = self.names()
        close = difflib.get_close_matches(name, known, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise UnknownNameError(
            f"unknown {self.kind} {name!r}{hint} Known {self.kind}s: {', '.join(known) or '(none)'}"
        )


def bind_baseline_name(name: str, cls: Any) -> None:
    """Set ``cls.name`` to the name it is registered under; refuse a different own ``name``."""
    declared = vars(cls).get("name") if isinstance(cls, type) else getattr(cls, "name", None)
    if isinstance(declared, str) and declared and declared != name:
        raise RegistrationError(
            f"baseline {name!r} ({_describe(cls)}) declares name = {declared!r}; a baseline's "
            f"name is the one it is registered under: delete the class attribute (or register "
            f"it as {declared!r})"
        )
    cls.name = name


def entry_point_name(cls: Any, group: str = BASELINE_GROUP) -> str | None:
    """The name ``group``'s entry points give ``cls`` (by ``module:qualname``), if any."""
    spec = f"{getattr(cls, '__module__', '')}:{getattr(cls, '__qualname__', '')}"
    return _entry_point_names(group).get(spec)


@functools.cache
def _entry_point_names(group: str) -> dict[str, str]:
    return {ep.value: ep.name for ep in entry_points(group=group)}


class EntryPointName:
    """A class attribute: the entry-point name of the class it is read from ("" when it has none).

    For ``BaselineBase.name``, so that a built-in constructed without the registry
    (a test) still knows its name; a class the registry loaded has ``name`` set
    on itself, which takes precedence.
    """

    def __get__(self, obj: Any, owner: type | None = None) -> str:
        return entry_point_name(owner if owner is not None else type(obj)) or ""


#: Every baseline the harness can run; populated from entry points and decorators.
BASELINES: Registry[Any] = Registry(
    "baseline", BASELINE_GROUP, check=check_baseline, bind=bind_baseline_name
)


def register_baseline(name: str) -> Callable[[T], T]:
    """Class decorator registering a baseline under ``name`` (for code without an entry point)."""
    return BASELINES.register(name)
