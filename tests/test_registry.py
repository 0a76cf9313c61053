"""The registry and the configuration flow (suite file -> overrides -> frozen config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.config import (
    ConfigError,
    apply_param_overrides,
    load_suite,
    parse_override,
    suite_names,
)
from harness.registry import BASELINES, PluginLoadError, Registry, UnknownNameError, import_object

BUILT_INS = {"random", "hog-svm", "sift-bovw-svm", "sift-fv-svm", "lenet5", "alexnet"}


def test_built_ins_come_from_entry_points_without_importing_them() -> None:
    assert set(BASELINES.names()) >= BUILT_INS
    assert BASELINES.spec("alexnet") in (None, "alexnet.baseline:AlexNetBaseline")


def test_unknown_name_names_the_closest_match_and_the_known_ones() -> None:
    with pytest.raises(UnknownNameError) as info:
        BASELINES.get("alexnett")
    msg = str(info.value)
    assert "did you mean 'alexnet'?" in msg
    assert "hog-svm" in msg


def test_decorator_and_lazy_entries() -> None:
    reg: Registry[object] = Registry("thing")

    @reg.register("a")
    class A:
        pass

    reg.add_lazy("path", "pathlib:Path")
    assert reg.names() == ["a", "path"]
    assert reg.get("a") is A
    assert reg.get("path") is Path


def test_a_broken_lazy_entry_fails_with_a_clear_message() -> None:
    reg: Registry[object] = Registry("thing")
    reg.add_lazy("broken", "no_such_module_xyz:Thing")
    with pytest.raises(PluginLoadError, match="cannot import module 'no_such_module_xyz'"):
        reg.get("broken")
    with pytest.raises(PluginLoadError, match="has no attribute 'Nope'"):
        import_object("pathlib:Nope")
    with pytest.raises(PluginLoadError, match="not of the form"):
        import_object("pathlib.Path")


def test_every_suite_loads_and_names_registered_methods() -> None:
    names = suite_names()
    assert {"demo", "tiny-imagenet", "ilsvrc2012-100", "ilsvrc2012"} <= set(names)
    for name in names:
        cfg = load_suite(name)
        assert cfg.methods, name
        for m in cfg.methods:
            assert m.name in BASELINES, f"suite {name}: unknown method {m.name}"


def test_config_is_frozen_and_overrides_are_parsed_as_toml() -> None:
    cfg = load_suite("demo")
    with pytest.raises(dataclasses.FrozenInstanceError):
        cfg.seed = 3  # type: ignore[misc]
    assert parse_override("alexnet.epochs=5") == ("alexnet", "epochs", 5)
    assert parse_override("hog-svm.C=0.5") == ("hog-svm", "C", 0.5)
    assert parse_override("lenet5.rgb=true") == ("lenet5", "rgb", True)
    assert parse_override("alexnet.stem=small") == ("alexnet", "stem", "small")
    methods = apply_param_overrides(cfg.methods, ["random.foo=1"])
    assert dict(next(m for m in methods if m.name == "random").params) == {"foo": 1}
    with pytest.raises(ConfigError, match="not in this run"):
        apply_param_overrides(cfg.methods, ["nope.x=1"])
    with pytest.raises(ConfigError, match="METHOD.PARAM=VALUE"):
        parse_override("epochs=5")


def test_a_bad_suite_file_is_named(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[suite]\nsubset = 'demo'\nbogus = 1\n[methods.random]\n")
    with pytest.raises(ConfigError, match="unknown keys in \\[suite\\]: \\['bogus'\\]"):
        load_suite(str(bad))
    with pytest.raises(ConfigError, match="unknown suite 'dem0'.*Did you mean 'demo'"):
        load_suite("dem0")
