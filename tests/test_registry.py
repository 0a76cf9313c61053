"""The registry and the configuration flow (suite file -> overrides -> frozen config)."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from harness.api import FAMILIES, BaselineBase
from harness.config import (
    ConfigError,
    apply_param_overrides,
    load_suite,
    parse_override,
    suite_names,
)
from harness.registry import (
    BASELINES,
    PluginLoadError,
    RegistrationError,
    Registry,
    UnknownNameError,
    check_baseline,
    import_object,
)

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
    with pytest.raises(ConfigError, match="is not a method of this run"):
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


# The baseline contract: a declared family; one object per name.


class _NoFamily(BaselineBase):
    name = "no-family"
    year = 2000


class _BadFamily(BaselineBase):
    name = "bad-family"
    year = 2000
    family = "convnet"


class _Cnn(BaselineBase):
    name = "a-cnn"
    year = 2000
    family = "cnn"


class _CnnChild(_Cnn):  # inherits its family from a base class of its own
    name = "a-cnn-child"


def _baselines() -> Registry[object]:
    return Registry("baseline", check=check_baseline)


def test_a_baseline_without_a_family_is_refused_naming_it_and_the_families() -> None:
    reg = _baselines()
    with pytest.raises(RegistrationError) as info:
        reg.add("no-family", _NoFamily)
    msg = str(info.value)
    assert "'no-family'" in msg and "_NoFamily" in msg and "no family" in msg
    assert all(repr(f) in msg for f in FAMILIES)
    with pytest.raises(RegistrationError, match="family = 'convnet'"):
        reg.register("bad-family")(_BadFamily)
    reg.add("a-cnn", _Cnn)
    reg.add("a-cnn-child", _CnnChild)
    assert reg.names() == ["a-cnn", "a-cnn-child"]
    assert isinstance(RegistrationError("x"), PluginLoadError)  # the CLI reports it, no traceback


def test_a_lazy_baseline_is_checked_when_first_loaded() -> None:
    reg = _baselines()
    reg.add_lazy("late", f"{__name__}:_NoFamily")
    reg.add_lazy("fine", f"{__name__}:_Cnn")
    assert reg.get("fine") is _Cnn
    with pytest.raises(RegistrationError, match="no family"):
        reg.get("late")


def test_every_built_in_declares_a_family() -> None:
    for name in sorted(BUILT_INS):
        check_baseline(name, BASELINES.get(name))


def test_a_name_holds_one_object() -> None:
    reg = _baselines()
    reg.add("a-cnn", _Cnn)
    reg.add("a-cnn", _Cnn)  # the same object again (a module imported twice): fine
    with pytest.raises(RegistrationError) as info:
        reg.add("a-cnn", _CnnChild)
    msg = str(info.value)
    assert "_Cnn" in msg and "_CnnChild" in msg and "'a-cnn'" in msg
    assert reg.get("a-cnn") is _Cnn
    reg.add_lazy("x", "pkg:A")
    reg.add_lazy("x", "pkg:A")
    with pytest.raises(RegistrationError, match="'pkg:A'.*'pkg:B'"):
        reg.add_lazy("x", "pkg:B")


# ----------------------------------------------------------------------------- one name, declared once


def _named_baselines() -> Registry[object]:
    from harness.registry import bind_baseline_name

    return Registry("baseline", check=check_baseline, bind=bind_baseline_name)


def test_the_registry_names_a_class_after_its_entry_point() -> None:
    class Plain(BaselineBase):
        family = "cnn"

    class Child(Plain):
        pass

    reg = _named_baselines()
    reg.add("plain", Plain)
    assert Plain.name == "plain"
    reg.add("plain", Plain)  # the same name again: fine
    reg.add("child", Child)  # a subclass of a registered class gets its own name
    assert (Plain.name, Child.name) == ("plain", "child")
    with pytest.raises(RegistrationError, match="declares name = 'plain'"):
        reg.add("alias", Plain)  # one class, one name


def test_a_class_declaring_another_name_is_refused() -> None:
    class Named(BaselineBase):
        name = "old-name"
        family = "cnn"

    reg = _named_baselines()
    with pytest.raises(RegistrationError, match="declares name = 'old-name'.*delete the class"):
        reg.add("new-name", Named)
    reg.add("old-name", Named)  # a plugin that repeats its entry point's name is accepted
    reg.add_lazy("lazy", f"{__name__}:_LazyCnn")
    assert reg.get("lazy").name == "lazy"


def test_built_ins_declare_their_name_only_as_their_entry_point() -> None:
    import importlib

    from harness.registry import entry_point_name

    for name in sorted(BUILT_INS):
        spec = BASELINES.spec(name)
        cls = BASELINES.get(name)
        assert cls.name == name
        assert "name" not in vars(cls) or spec is None  # set by the registry, not the source
        source = importlib.import_module(cls.__module__).__file__
        text = Path(source).read_text()
        assert f'name = "{name}"' not in text and f'register_baseline("{name}")' not in text
        assert entry_point_name(cls) == name


def test_entry_point_name_answers_for_a_class_built_without_the_registry(monkeypatch) -> None:
    from importlib.metadata import EntryPoint

    import harness.registry as registry

    eps = [EntryPoint("probe-name", f"{__name__}:_Probe", registry.BASELINE_GROUP)]
    monkeypatch.setattr(
        registry, "entry_points", lambda *, group: [e for e in eps if e.group == group]
    )
    registry._entry_point_names.cache_clear()
    try:
        assert registry.entry_point_name(_Probe) == "probe-name"
        assert registry.entry_point_name(_LazyCnn) is None
        assert _Probe.name == "probe-name" and _Probe().name == "probe-name"
        assert _ProbeBase.name == ""  # no entry point, no registry
    finally:
        registry._entry_point_names.cache_clear()


class _ProbeBase:
    """What BaselineBase does with ``name = EntryPointName()``."""

    from harness.registry import EntryPointName

    name = EntryPointName()


class _Probe(_ProbeBase):
    family = "cnn"


class _LazyCnn(BaselineBase):
    family = "cnn"
