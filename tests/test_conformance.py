"""Every registered baseline honours the contract (scikit-learn's check_estimator, in spirit)."""

from __future__ import annotations

import inspect

import numpy as np
import pytest

from harness.api import BaselineBase, FitResult, RunContext, Split, fit_method, handover
from harness.holdout import carve_holdout
from harness.registry import BASELINES

# Small settings so that every method runs in seconds on a CPU; the contract,
# not the accuracy, is under test here.
TINY_PARAMS: dict[str, dict] = {
    "sift-bovw-svm": {"n_words": 16, "codebook_images": 16, "svm_epochs": 2},
    "sift-fv-svm": {"n_components": 4, "pca_dim": 16, "codebook_images": 16, "svm_epochs": 2},
    "hog-svm": {"svm_epochs": 2},
    "lenet5": {"epochs": 1},
    "alexnet": {"stem": "small", "width": 0.25, "init": "kaiming", "epochs": 1, "batch_size": 8},
}
BUILT_INS = ["random", "hog-svm", "sift-bovw-svm", "sift-fv-svm", "lenet5", "alexnet"]


def tiny_split(name: str, n_per_class: int, seed: int) -> Split:
    rng = np.random.default_rng(seed)
    n_classes = 3
    labels = np.repeat(np.arange(n_classes), n_per_class)
    images = rng.integers(0, 256, size=(len(labels), 64, 64, 3), dtype=np.uint8)
    for c in range(n_classes):  # a class signal: a bright band at a class-specific row
        images[labels == c, 10 + 15 * c : 20 + 15 * c] = 250
    return Split(
        name=name, images=images, labels=labels, wnids=("n00000001", "n00000002", "n00000003")
    )


@pytest.mark.parametrize("name", BUILT_INS)
def test_baseline_contract(name: str, tmp_path) -> None:
    cls = BASELINES.get(name)
    assert cls.name == name
    assert isinstance(cls.year, int) and cls.source, "year and source feed the history tables"
    assert getattr(cls, "family", None) in {"cnn", "hand-crafted", "reference"}
    params = TINY_PARAMS.get(name, {})
    method = cls(**params)
    # __init__ stores parameters only: no learned state before fit
    assert not [k for k in vars(method) if k.endswith("_") and not k.startswith("_")]
    got = method.get_params()
    assert set(inspect.signature(cls.__init__).parameters) - {"self"} == set(got)
    assert all(got[k] == v for k, v in params.items())
    # the protocol's own configuration: a held-out monitor carved from train
    train, val = tiny_split("train", 10, 0), tiny_split("val", 3, 1)
    holdout = carve_holdout(train.labels, train.n_classes, fraction=0.2, seed=0)
    ctx = RunContext(cache_dir=tmp_path / "cache", work_dir=tmp_path / "work", quiet=True, seed=0)
    ctx.cache_dir.mkdir()
    ctx.work_dir.mkdir()
    data = handover(train, holdout)
    assert len(data.fit) == 24 and len(data.monitor) == 6
    result = method.fit(data, ctx)
    assert result is None or isinstance(result, FitResult), "fit returns None or a FitResult"
    if isinstance(result, FitResult) and result.refit:
        assert type(method).refit is not BaselineBase.refit, "asks for a refit it cannot do"
        method.refit(train, ctx)
    scores = np.asarray(method.decision_function(val, ctx))
    assert scores.shape == (len(val), val.n_classes)
    assert np.isfinite(scores).all()
    # every variant a method gives is declared, with its reason
    declared = method.declared_variants()
    assert set(method.variant_scores(val, ctx)) <= set(declared)
    assert all(isinstance(r, str) and r for r in declared.values())
    # selections name what they minimised
    assert all(s.criterion.startswith("monitor_") for s in ctx.selections)


def test_fit_method_is_the_runners_sequence(tmp_path) -> None:
    """fit_method: fit, then refit on train exactly when asked."""
    calls = []

    class Asks(BaselineBase):
        family = "other"

        def fit(self, data, ctx):
            calls.append(("fit", len(data.fit), len(data.monitor)))
            return FitResult(refit=True, chosen={"c": 1})

        def refit(self, train, ctx):
            calls.append(("refit", len(train)))

    train = tiny_split("train", 10, 0)
    holdout = carve_holdout(train.labels, train.n_classes, fraction=0.2, seed=0)
    ctx = RunContext(quiet=True)
    assert fit_method(Asks(), handover(train, holdout), train, ctx) == 30
    assert calls == [("fit", 24, 6), ("refit", 30)]
    assert ctx.notes["refit_with"] == {"c": 1}
