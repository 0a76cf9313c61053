"""SVM selection on the monitor (a held-out slice of train), then a refit on every training row."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from baselines.features import cache
from baselines.features.selection import candidate_key
from baselines.linear import OvrHingeSgd
from harness.api import MethodError, RunContext, Split, TrainData, fit_method, handover
from harness.holdout import Holdout, carve_holdout
from harness.params import ParameterError, check_params
from harness.registry import BASELINES

N_CLASSES, SIZE = 4, 32
WNIDS = tuple(f"n{c:08d}" for c in range(N_CLASSES))
FAST = {  # small codebooks, as in test_handcrafted.py
    "hog-svm": {},
    "sift-fv-svm": {
        "n_components": 4,
        "pca_dim": 16,
        "codebook_images": 40,
        "descriptors_per_image": 30,
    },
}
GRID = {
    "svm_grid": (1e-3, 1e-2, 1e-1),
    "svm_epoch_grid": (2, 4),
    "svm_class_weight_grid": ("balanced", "none"),
}


def oriented_texture_split(name: str, per_class: int, seed: int) -> Split:
    """Class c = gratings at orientation c*45 degrees plus noise (as test_handcrafted.py)."""
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[:SIZE, :SIZE]
    images, labels = [], []
    for c in range(N_CLASSES):
        angle = np.pi * c / N_CLASSES
        for _ in range(per_class):
            phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(0.6, 1.0)
            wave = np.sin(freq * (np.cos(angle) * xx + np.sin(angle) * yy) + phase)
            img = 128 + 80 * wave[..., None] + rng.normal(0, 20, (SIZE, SIZE, 3))
            images.append(np.clip(img, 0, 255).astype(np.uint8))
            labels.append(c)
    return Split(name, np.stack(images), np.array(labels), WNIDS)


@pytest.fixture(scope="module")
def train() -> Split:
    return oriented_texture_split("train", 20, 0)  # 20 per class: 2 per class held out


#: As the runner's contexts (a manifest hash keys the feature files), so the fit rows, the
#: monitor and the refit share train's feature file; see test_features_cache.py for the
#: hand-built context without one.
MANIFEST = "manifest-of-these-tests"


def holdout_context(train: Split, tmp_path: Path) -> tuple[RunContext, Holdout, TrainData]:
    """A context as the runner builds one, the holdout, and what fit is handed (row views)."""
    holdout = carve_holdout(train.labels, train.n_classes, seed=0)
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0, manifest_hash=MANIFEST)
    return ctx, holdout, handover(train, holdout=holdout)


class FitSpy:
    """Records what every SVM training run of OvrHingeSgd was given (rows None: all rows)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.calls: list[tuple[int, np.ndarray | None, list[tuple[float, str]]]] = []
        self.given: list[tuple[np.ndarray, np.ndarray]] = []  # (features, labels) of each run
        original = OvrHingeSgd.fit_grid

        def spy(model, features, labels, n_classes, regs, **kw):
            modes = kw.get("class_weights") or [model.class_weight] * len(regs)
            self.calls.append((len(features), kw.get("rows"), list(zip(regs, modes, strict=True))))
            self.given.append((np.asarray(features).copy(), np.asarray(labels).copy()))
            return original(model, features, labels, n_classes, regs, **kw)

        monkeypatch.setattr(OvrHingeSgd, "fit_grid", spy)


def test_selection_reports_the_grid_and_refits_on_all_training_rows(
    train: Split, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    ctx, holdout, data = holdout_context(train, tmp_path)
    spy = FitSpy(monkeypatch)
    method = BASELINES.get("hog-svm")(**FAST["hog-svm"], **GRID)
    assert fit_method(method, data, train, ctx) == len(train)  # fit asked for the refit

    (selection,) = ctx.selections
    assert selection.parameters == ("svm_reg", "svm_epochs", "svm_class_weight")
    assert selection.criterion == "monitor_top5_err" and selection.refit
    names = selection.parameters
    grid = {tuple(c[n] for n in names) for c in selection.candidates}
    assert len(grid) == len(selection.candidates) == 3 * 2 * 2
    assert grid == {
        (r, e, w)
        for r in GRID["svm_grid"]
        for e in GRID["svm_epoch_grid"]
        for w in GRID["svm_class_weight_grid"]
    }
    for cand in selection.candidates:
        assert 0 <= cand["monitor_top1_err"] <= 100 and 0 <= cand["monitor_top5_err"] <= 100
    best = min(selection.candidates, key=candidate_key)
    assert selection.chosen == {n: best[n] for n in names}

    # one joint run of the whole grid on the fit rows, then the refit on every row of train
    (n, rows, models), refit = spy.calls[0], spy.calls[-1]
    assert len(spy.calls) == 2
    assert n == len(holdout.fit_rows) and rows is None and len(models) == 3 * 2
    assert set(models) == {(reg, weight) for reg, _epochs, weight in grid}
    train_feats = np.asarray(method.features(train, ctx))  # cached: nothing encoded again
    (grid_feats, grid_labels), (refit_feats, refit_labels) = spy.given[0], spy.given[-1]
    np.testing.assert_array_equal(grid_feats, train_feats[holdout.fit_rows])  # no monitor row
    np.testing.assert_array_equal(grid_labels, train.labels[holdout.fit_rows])
    assert refit[0] == len(train) and refit[1] is None
    np.testing.assert_array_equal(refit_feats, train_feats)
    np.testing.assert_array_equal(refit_labels, train.labels)
    assert refit[2] == [(best["svm_reg"], best["svm_class_weight"])]
    assert method.svm_.reg == best["svm_reg"] and method.svm_.epochs == best["svm_epochs"]

    facts = ctx.notes["hog-svm_main_svm"]
    assert facts["n_fit"] + facts["n_monitor"] == len(train)  # the refit's rows: all of train
    assert facts["n_monitor"] == len(holdout.monitor_rows) > 0
    assert facts["class_weight"] == best["svm_class_weight"]
    # fit_split is the runner's to set from what it handed over, not the method's
    assert ctx.training.fit_split is None and ctx.training.monitor_use == "selection"
    assert ctx.training.epochs == best["svm_epochs"]
    phases = {row["phase"] for row in ctx.epoch_log}
    assert phases == {"select", "refit"}


def test_without_a_holdout_the_fixed_values_train_once_and_the_record_says_so(
    train: Split, tmp_path: Path
) -> None:
    ctx = RunContext(cache_dir=tmp_path, quiet=True, seed=0)  # built by hand: no monitor
    method = BASELINES.get("hog-svm")(**FAST["hog-svm"], **GRID, svm_reg=0.05, svm_epochs=3)
    assert fit_method(method, handover(train), train, ctx) == len(train)  # trained in refit
    assert ctx.selections == []
    assert "no selection" in ctx.notes["hog-svm_svm_selection"]
    assert method.svm_.reg == 0.05 and method.svm_.epochs == 3
    assert ctx.training.monitor_use is None


def test_select_false_fixes_lambda_even_with_a_monitor(train: Split, tmp_path: Path) -> None:
    ctx, _, data = holdout_context(train, tmp_path)
    method = BASELINES.get("hog-svm")(**FAST["hog-svm"], select=False, svm_reg=0.02, svm_epochs=2)
    fit_method(method, data, train, ctx)
    assert ctx.selections == [] and "hog-svm_svm_selection" not in ctx.notes
    assert method.svm_.reg == 0.02 and method.svm_.epochs == 2


def test_fit_encodes_only_train_once_and_learns_only_from_what_it_is_handed(
    train: Split, tmp_path: Path
) -> None:
    """The fit rows and the monitor are rows of train's one feature file (encoded once, the
    refit encodes nothing new), and what is learnt depends only on the rows handed over: the
    same rows as in-memory copies (no parent, files of their own) give the same model."""
    scores = []
    for name in ("views", "copies"):
        ctx, holdout, data = holdout_context(train, tmp_path / name)
        if name == "copies":
            data = TrainData(
                fit=train.subset(holdout.fit_rows, name="fit"),
                monitor=train.subset(holdout.monitor_rows, name="monitor"),
            )
        before = cache.BUILD_COUNT["n"]
        method = BASELINES.get("sift-fv-svm")(**FAST["sift-fv-svm"], **GRID)
        fit_method(method, data, train, ctx)
        feature_dirs = sorted(
            p.name.split("-")[3] for p in (tmp_path / name / "features").iterdir()
        )
        if name == "views":
            assert feature_dirs == ["train"]  # nothing but train's rows was encoded
            assert cache.BUILD_COUNT["n"] == before + 2  # the fit rows, then the monitor's
        else:
            assert feature_dirs == ["fit", "monitor", "train"]
        scores.append(method.decision_function(train.subset(np.arange(12)), ctx))
    np.testing.assert_array_equal(scores[0], scores[1])


def test_bad_svm_settings_fail_before_any_work(train: Split, tmp_path: Path) -> None:
    cls = BASELINES.get("hog-svm")
    check_params(cls, "hog-svm", {"svm_grid": [1e-3, 1e-2], "svm_class_weight": "balanced"})
    for bad in ({"svm_reg": 0.0}, {"svm_epochs": 0}, {"svm_class_weight": "auto"}):
        with pytest.raises(ParameterError):
            check_params(cls, "hog-svm", bad)
    ctx, _, data = holdout_context(train, tmp_path)
    with pytest.raises(MethodError, match="svm_class_weight_grid"):
        cls(svm_class_weight_grid=("balanced", "auto")).fit(data, ctx)
    assert not (tmp_path / "features").exists()  # failed before encoding anything
