"""Run configuration: suite file -> CLI overrides -> validated, frozen dataclass.

A *suite* is a TOML file under ``configs/`` naming a subset, the methods and
their per-scale parameters. The resolved configuration is written next to the
results of every run (inside each record, and as ``results/config.json``).

Where the data root comes from, first match wins: ``--data``; the suite's
``data`` key; the environment variable ``HARNESS_DATA``; the user config file
(``$XDG_CONFIG_HOME/ilsvrc-harness/config.toml``, key ``data`` or a table
``[data]`` mapping subset names to roots).
"""

from __future__ import annotations

import json
import os
import tomllib
from dataclasses import asdict, dataclass, field, replace
from importlib import resources
from importlib.resources.abc import Traversable
from pathlib import Path
from typing import Any

__all__ = [
    "ConfigError",
    "MethodSpec",
    "RunConfig",
    "find_suite",
    "load_suite",
    "parse_override",
    "suite_names",
    "default_results",
    "user_data_root",
]

DEMO_DATA = "demo"  # the value of ``data`` that means "generate the demo dataset"


class ConfigError(ValueError):
    """A suite file or an override that cannot be used; the message names it."""


def _frozen(value: Any) -> Any:
    """Lists (TOML arrays, --param values) as tuples, nested ones too."""
    if isinstance(value, list | tuple):
        return tuple(_frozen(v) for v in value)
    return value


@dataclass(frozen=True)
class MethodSpec:
    """One method of a suite: a registry name and its parameters."""

    name: str  # registry key of the baseline
    params: tuple[tuple[str, Any], ...] = ()  # keyword arguments of its __init__
    key: str = ""  # the suite's row key ([methods.<key>]); the name when empty

    def __hash__(self) -> int:
        # A frozen spec is a value, hashable like the rest of the config, even when a
        # parameter is a TOML array (bin_sizes = [4, 6, 8, 10]): hashed as tuples,
        # kept as given.
        return hash((self.name, _frozen(self.params), self.key))

    @property
    def kwargs(self) -> dict[str, Any]:
        return dict(self.params)

    @property
    def row(self) -> str:
        """What ``--param ROW.PARAM=VALUE`` and ``--methods`` address: the row key."""
        return self.key or self.name


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, resolved; written beside the results."""

    suite: str = "demo"  # suite name (or path of the suite file)
    subset: str | None = "demo"  # registered subset name; None: every class the data root holds
    subset_named: bool = False  # the subset was named on the command line (--subset)
    data: str | None = None  # dataset root; "demo" generates the demo dataset
    methods: tuple[MethodSpec, ...] = ()  # methods, run in this order
    seed: int = 0  # seed given to every method
    device: str = "auto"  # auto | cpu | cuda
    results: str = "results"  # folder of records, leaderboard and report
    cache: str = ".harness"  # folder of the decoded-image cache, features, checkpoints
    n_jobs: int = 0  # CPU workers; 0 = all cores
    skip_bad_images: bool = False  # exclude undecodable images instead of stopping
    deterministic: bool = False  # deterministic torch kernels (slower)
    quiet: bool = False  # no progress bars
    fresh: bool = False  # rerun methods whose record already exists
    dask_scheduler: str | None = None  # Dask scheduler: feature extraction and OvR SVMs run there
    classes: int | None = None  # ad-hoc subset: number of classes drawn from the base subset
    train_per_class: int | None = None  # ad-hoc subset: training images per class
    val_per_class: int | None = None  # ad-hoc subset: validation images per class
    subset_seed: int = 0  # ad-hoc subset: seed of the class draw
    size: int | None = None  # stored side length, px (default: the subset's, else the layout's)
    holdout_fraction: float = 0.1  # share of each class's training images held out as the monitor
    holdout_seed: int = 0  # seed of the monitor draw (the same for every method of a run)
    monitor: str = "holdout"  # "holdout" (default) | "val": watch the scored split, as the 2012
    # paper did; its rows say so (monitor = val) and no longer score val "once"
    allow_slow_cpu: bool = False  # run networks whose CPU training time is estimated in days
    ignore_resources: bool = False  # run even when the disk or memory check says it will not fit
    command: str | None = None  # the command line that made this run (for the report)
    plugins: tuple[str, ...] = ()  # extra "module:Class" baselines to register
    extra: tuple[tuple[str, Any], ...] = field(default=())  # free-form suite metadata

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d["methods"] = [
            {"name": m.name, "params": dict(m.params), **({"key": m.key} if m.key else {})}
            for m in self.methods
        ]
        d["extra"] = dict(self.extra)
        if "sweep" in d["extra"]:  # a sweep point: {"classes": C, "train_per_class": M}
            d["sweep"] = d["extra"]["sweep"]
        return d

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2, default=str)

    def with_overrides(self, **kw: Any) -> RunConfig:
        return replace(self, **{k: v for k, v in kw.items() if v is not None})


def _user_suite_dir() -> Path:
    """Suites a user keeps in ``./configs/`` of the folder they run in (searched first)."""
    return Path.cwd() / "configs"


#: The suite ``harness run`` uses with no flags: an install without it is broken.
DEFAULT_SUITE = "demo"


def _builtin_suites() -> dict[str, Any]:
    """The suites that ship inside the package, read through importlib.resources (wheel-safe).

    An install whose package lacks them (a wheel built without its package data,
    a stale build folder) is refused with one line saying so, never taken for an
    install that has no suites: the README's first command needs ``demo``.
    """
    folder = resources.files("harness") / "configs"
    suites = (
        {
            entry.name[: -len(".toml")]: entry
            for entry in folder.iterdir()
            if entry.name.endswith(".toml")
        }
        if folder.is_dir()
        else {}
    )
    if DEFAULT_SUITE not in suites:
        raise ConfigError(
            f"this install of ilsvrc-harness has no built-in suite {DEFAULT_SUITE!r} (looked in "
            f"{folder}): the package was built without its data files; reinstall it "
            "(pip install --force-reinstall --no-cache-dir ilsvrc-harness, or pip install . "
            "from a clean checkout)"
        )
    return suites


def suite_names() -> list[str]:
    names = set(_builtin_suites())
    user = _user_suite_dir()
    if user.is_dir():
        names.update(p.stem for p in user.glob("*.toml"))
    return sorted(names)


def find_suite(name_or_path: str) -> Path | Traversable:
    """The TOML file of a suite: a path, ``./configs/<name>.toml``, or a built-in suite."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        if not p.is_file():
            raise ConfigError(f"suite file {p} does not exist")
        return p
    cand = _user_suite_dir() / f"{name_or_path}.toml"
    if cand.is_file():
        return cand
    builtin = _builtin_suites().get(name_or_path)
    if builtin is not None:
        return builtin
    import difflib

    known = suite_names()
    close = difflib.get_close_matches(name_or_path, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    raise ConfigError(f"unknown suite {name_or_path!r}.{hint} Known suites: {', '.join(known)}")


_TOP_KEYS = {f for f in RunConfig.__dataclass_fields__ if f not in ("methods", "suite", "extra")}


def load_suite(name_or_path: str) -> RunConfig:
    """Read a suite TOML into a RunConfig (before CLI overrides)."""
    path = find_suite(name_or_path)
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from exc
    suite = doc.get("suite", {})
    unknown = set(suite) - _TOP_KEYS - {"name", "description"}
    if unknown:
        raise ConfigError(f"{path}: unknown keys in [suite]: {sorted(unknown)}")
    methods_doc = doc.get("methods", {})
    if not isinstance(methods_doc, dict) or not methods_doc:
        raise ConfigError(f"{path}: needs a [methods.<name>] table for each method")
    methods = []
    for key, params in methods_doc.items():
        if not isinstance(params, dict):
            raise ConfigError(f"{path}: [methods.{key}] must be a table of parameters")
        params = dict(params)
        # Two rows of one method sit under other keys: [methods.alexnet-cpu] method = "alexnet"
        name = params.pop("method", key)
        methods.append(
            MethodSpec(
                name=name, params=tuple(sorted(params.items())), key=key if key != name else ""
            )
        )
    kwargs = {k: v for k, v in suite.items() if k in _TOP_KEYS}
    if "plugins" in kwargs:
        kwargs["plugins"] = tuple(kwargs["plugins"])
    extra = tuple(sorted((k, v) for k, v in suite.items() if k in ("name", "description")))
    return RunConfig(
        suite=suite.get("name", Path(path.name).stem), methods=tuple(methods), extra=extra, **kwargs
    )


def parse_override(text: str) -> tuple[str, str, Any]:
    """``"alexnet.epochs=5"`` -> ("alexnet", "epochs", 5); values parsed as TOML."""
    if "=" not in text or "." not in text.split("=", 1)[0]:
        raise ConfigError(f"--param {text!r}: expected METHOD.PARAM=VALUE, e.g. alexnet.epochs=5")
    lhs, raw = text.split("=", 1)
    method, param = lhs.split(".", 1)
    try:
        value = tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        value = raw  # a bare word is a string
    return method, param, value


def apply_param_overrides(
    methods: tuple[MethodSpec, ...], overrides: list[str]
) -> tuple[MethodSpec, ...]:
    """Apply ``ROW.PARAM=VALUE`` overrides; ROW is a row key or a method name (all its rows)."""
    out = [dict(m.params) for m in methods]
    for text in overrides:
        target, param, value = parse_override(text)
        hit = [i for i, m in enumerate(methods) if target in (m.row, m.name)]
        if not hit:
            rows = ", ".join(dict.fromkeys(m.row for m in methods))
            raise ConfigError(
                f"--param {text!r}: {target!r} is not a method of this run (methods: {rows}); "
                f"add it with --methods"
            )
        for i in hit:
            out[i][param] = value
    return tuple(
        replace(m, params=tuple(sorted(params.items())))
        for m, params in zip(methods, out, strict=True)
    )


#: The subset whose results are committed in ``results/`` (Tiny ImageNet-100, its sweep cells).
COMMITTED_SUBSET = "tiny-imagenet"


def default_results(cfg: RunConfig) -> str:
    """The results folder of a run given no ``--results``.

    ``results/`` holds the committed Tiny ImageNet results; a run on that
    subset (a sweep cell of it included) adds to them. Any other run, the demo
    first, writes into a folder of its own under it (``results/demo/``, ...,
    ignored by git), so the README's first command never touches what is
    committed.
    """
    if cfg.subset == COMMITTED_SUBSET and cfg.data != DEMO_DATA:
        return "results"
    name = cfg.subset or f"{Path(str(cfg.suite)).stem}-adhoc"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in name)
    return str(Path("results") / safe)


def data_folder(data: str) -> Path:
    """``--data``'s folder, or one ConfigError line saying what is wrong with it."""
    root = Path(data).expanduser()
    if not root.is_dir():
        what = "is a file" if root.exists() else "does not exist"
        raise ConfigError(
            f"--data {root}: {what}; pass the folder that holds the dataset "
            f"(train/ and val/, or Tiny ImageNet's wnids.txt)"
        )
    return root


def user_data_root(subset: str) -> str | None:
    """The data root from HARNESS_DATA or the user config file, if any."""
    env = os.environ.get("HARNESS_DATA")
    if env:
        return env
    base = Path(os.environ.get("XDG_CONFIG_HOME", Path.home() / ".config"))
    cfg = base / "ilsvrc-harness" / "config.toml"
    if not cfg.is_file():
        return None
    try:
        doc = tomllib.loads(cfg.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{cfg}: not valid TOML: {exc}") from exc
    data = doc.get("data")
    if isinstance(data, str):
        return data
    if isinstance(data, dict):
        value = data.get(subset)
        return str(value) if value else None
    return None
