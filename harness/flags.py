"""The flags of ``harness run`` and ``harness sweep``, and the RunConfig they give.

Shared by the CLI and :func:`harness.experiment.config_from_args`, so a
launcher (``torchrun -m alexnet.train_ddp``) takes exactly ``harness run``'s
flags without importing the CLI.
"""

from __future__ import annotations

import argparse
from dataclasses import replace

from harness.config import (
    ConfigError,
    MethodSpec,
    RunConfig,
    apply_param_overrides,
    data_folder,
    default_results,
    load_suite,
    user_data_root,
)

__all__ = ["add_run_flags", "build_config", "run_parser", "run_seeds"]


def add_run_flags(p: argparse.ArgumentParser, grid: bool = False) -> None:
    p.add_argument("--suite", help="suite name (configs/<name>.toml) or a TOML file; default: demo")
    p.add_argument("--data", help="dataset root (else HARNESS_DATA or the user config)")
    p.add_argument("--subset", help="named subset to run on (overrides the suite's)")
    p.add_argument("--methods", help="comma-separated methods to run (default: the suite's)")
    p.add_argument("--device", choices=["auto", "cpu", "cuda"], help="default: auto")
    p.add_argument(
        "--results",
        help="results folder (default: results/ for the committed Tiny ImageNet subset, "
        "else results/<subset>/, e.g. results/demo/)",
    )
    p.add_argument(
        "--cache", help="cache folder for images, features, checkpoints (default: .harness)"
    )
    p.add_argument(
        "--fresh",
        action="store_true",
        help="rerun methods whose record exists, from scratch (their checkpoints are dropped)",
    )
    p.add_argument("--seed", type=int, help="seed given to every method")
    repeats = p.add_mutually_exclusive_group()
    repeats.add_argument(
        "--seeds",
        type=_seed_list,
        help="run each method once per seed, e.g. 0,1,2 (one record each; the leaderboard "
        "and report show mean ± std over seeds)",
    )
    repeats.add_argument(
        "--repeats",
        type=_positive_int,
        help="run each method N times, with seeds SEED, SEED+1, ... (SEED: --seed or the suite's)",
    )
    p.add_argument("--jobs", type=int, help="CPU workers (default: all cores)")
    if grid:
        p.add_argument(
            "--classes",
            dest="classes_grid",
            default="10,30,100",
            help="class counts, e.g. 10,30,100",
        )
        p.add_argument(
            "--train-per-class",
            dest="train_grid",
            default="50,150,500",
            help="training images per class, e.g. 50,150,500",
        )
        p.set_defaults(classes=None, train_per_class=None)
    else:
        p.add_argument("--classes", type=int, help="ad-hoc subset: number of classes")
        p.add_argument(
            "--train-per-class", type=int, help="ad-hoc subset: training images per class"
        )
    p.add_argument("--val-per-class", type=int, help="ad-hoc subset: validation images per class")
    p.add_argument("--subset-seed", type=int, help="ad-hoc subset: seed of the class draw")
    p.add_argument(
        "--size",
        type=_positive_int,
        help="stored image side, px (default: the subset's; 64 for Tiny ImageNet, else 256)",
    )
    p.add_argument(
        "--holdout-fraction",
        type=_fraction,
        help="share of each class's training images held out as the monitor (default 0.1)",
    )
    p.add_argument("--holdout-seed", type=int, help="seed of the monitor draw (default 0)")
    p.add_argument(
        "--monitor",
        choices=["holdout", "val"],
        help="what methods tune on: the held-out slice of train (default) or, as the 2012 "
        "paper did, the val split (rows say so)",
    )
    p.add_argument(
        "--allow-slow-cpu",
        action="store_true",
        help="train networks whose estimated CPU time is in days (the paper AlexNet on a CPU)",
    )
    p.add_argument(
        "--ignore-resources",
        action="store_true",
        help="run even when the image cache (or a saved plan's projection) needs more disk "
        "than --cache has free, or more memory than the machine has",
    )
    p.add_argument(
        "--skip-bad-images", action="store_true", help="exclude undecodable images (recorded)"
    )
    p.add_argument("--deterministic", action="store_true", help="deterministic kernels (slower)")
    p.add_argument(
        "--dask-scheduler",
        help="Dask scheduler address: feature extraction and the OvR SVMs run there",
    )
    p.add_argument("--plugin", action="append", default=[], help="extra baseline as module:Class")
    p.add_argument(
        "--param",
        action="append",
        default=[],
        help="METHOD.PARAM=VALUE override, e.g. alexnet.epochs=5",
    )
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.add_argument(
        "--no-report", action="store_true", help="do not regenerate the report at the end"
    )


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a number >= 1, got {value}")
    return value


def _seed_list(text: str) -> tuple[int, ...]:
    try:
        seeds = tuple(int(x) for x in text.split(",") if x.strip())
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated whole numbers such as 0,1,2, got {text!r}"
        ) from None
    if not seeds:
        raise argparse.ArgumentTypeError("expected at least one seed")
    return tuple(dict.fromkeys(seeds))  # a seed given twice is one run


def run_seeds(args: argparse.Namespace, cfg: RunConfig) -> tuple[int, ...]:
    """The seeds to run: ``--seeds``, or ``--repeats N`` from the configured seed, else that seed."""
    if getattr(args, "seeds", None):
        if args.seed is not None:
            raise ConfigError("give either --seed or --seeds, not both")
        return tuple(args.seeds)
    return tuple(cfg.seed + i for i in range(getattr(args, "repeats", None) or 1))


def _fraction(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a fraction such as 0.1, got {text!r}") from None
    if not 0.0 <= value < 1.0:
        raise argparse.ArgumentTypeError(f"expected a fraction in [0, 1), got {value}")
    return value


def _choose_suite(args: argparse.Namespace) -> tuple[str, bool]:
    """(suite, whether its subset applies).

    No --suite: the demo when no data root is given; with a data root, the
    suite its layout names (methods and per-scale settings), run on every
    class the root holds (an ad-hoc subset), unless --subset names one.
    """
    if args.suite:
        return args.suite, True
    data = args.data or user_data_root(args.subset or "")
    if not data:
        return "demo", True
    from harness.data import detect_layout
    from harness.data.layouts import get_layout

    layout = get_layout(detect_layout(data_folder(data)))
    return layout.defaults.suite, False


def build_config(args: argparse.Namespace) -> RunConfig:
    """Suite file -> CLI overrides -> frozen RunConfig."""
    suite, subset_applies = _choose_suite(args)
    cfg = load_suite(suite)
    if not subset_applies:
        cfg = replace(cfg, subset=None)
    methods = cfg.methods
    if args.methods:
        wanted = [m.strip() for m in args.methods.split(",") if m.strip()]
        picked: list[MethodSpec] = []
        for name in wanted:
            rows = [m for m in methods if name in (m.row, m.name)]
            picked.extend(rows or [MethodSpec(name)])
        methods = tuple(dict.fromkeys(picked))  # a row asked for twice runs once
    plugins = tuple(cfg.plugins) + tuple(args.plugin)
    if args.plugin and not args.methods:
        from harness.methods import load_plugins

        methods = methods + tuple(MethodSpec(n) for n in load_plugins(tuple(args.plugin)))
    methods = apply_param_overrides(methods, args.param)
    cfg = replace(cfg, methods=methods, plugins=plugins)
    cfg = cfg.with_overrides(
        data=args.data,
        subset=args.subset,
        device=args.device,
        results=args.results,
        cache=args.cache,
        seed=args.seed,
        n_jobs=args.jobs,
        classes=args.classes,
        train_per_class=args.train_per_class,
        val_per_class=args.val_per_class,
        subset_seed=args.subset_seed,
        dask_scheduler=args.dask_scheduler,
        size=args.size,
        holdout_fraction=args.holdout_fraction,
        holdout_seed=args.holdout_seed,
        monitor=args.monitor,
        command=getattr(args, "command_line", None),
    )
    if args.subset:
        cfg = replace(cfg, subset_named=True)
    if not args.results and cfg.results == RunConfig.results:  # neither flag nor suite chose
        cfg = replace(cfg, results=default_results(cfg))
    flags = {
        f: True
        for f in (
            "fresh",
            "skip_bad_images",
            "deterministic",
            "quiet",
            "allow_slow_cpu",
            "ignore_resources",
        )
        if getattr(args, f)
    }
    return replace(cfg, **flags)


def run_parser(prog: str = "harness run") -> argparse.ArgumentParser:
    """A parser of ``harness run``'s flags alone."""
    parser = argparse.ArgumentParser(prog=prog)
    add_run_flags(parser)
    return parser
