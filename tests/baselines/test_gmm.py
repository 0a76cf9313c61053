"""The chunked float32 EM (baselines.features.gmm) against the truth and against scikit-learn."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import warnings

import numpy as np
import pytest

from baselines.features.codebook import fit_gmm
from baselines.features.fisher import DiagonalGmm
from baselines.features.gmm import fit_diagonal_gmm, mean_log_likelihood


def mixture(n: int, k: int, d: int, seed: int = 0) -> tuple[np.ndarray, DiagonalGmm]:
    """Rows drawn from a known, well-separated diagonal mixture."""
    rng = np.random.default_rng(seed)
    w = rng.dirichlet(np.full(k, 10.0))
    mu = rng.normal(0.0, 8.0, (k, d))
    var = rng.uniform(0.3, 2.0, (k, d))
    z = rng.choice(k, n, p=w)
    x = mu[z] + rng.standard_normal((n, d)) * np.sqrt(var[z])
    return x.astype(np.float32), DiagonalGmm(w, mu, var)


def matched(fitted: DiagonalGmm, truth: DiagonalGmm) -> np.ndarray:
    """Index of the fitted component matching each true one (Hungarian on mean distance)."""
    from scipy.optimize import linear_sum_assignment

    cost = ((truth.means[:, None] - fitted.means[None]) ** 2).sum(-1)
    rows, cols = linear_sum_assignment(cost)
    return cols[np.argsort(rows)]


def test_recovers_a_known_mixture_and_matches_sklearn() -> None:
    from sklearn.mixture import GaussianMixture

    x, truth = mixture(30_000, 6, 5)
    fit = fit_diagonal_gmm(x, 6, seed=0, chunk=4096)
    assert fit.converged and fit.iterations < 100
    g = fit.gmm
    order = matched(g, truth)
    np.testing.assert_allclose(g.means[order], truth.means, atol=0.08)
    np.testing.assert_allclose(g.variances[order], truth.variances, rtol=0.08)
    np.testing.assert_allclose(g.weights[order], truth.weights, atol=0.01)
    ref = GaussianMixture(6, covariance_type="diag", reg_covar=1e-4, random_state=0).fit(x)
    ours = mean_log_likelihood(x, g)
    assert abs(mean_log_likelihood(x, DiagonalGmm.from_sklearn(ref)) - ref.score(x)) < 1e-4
    assert abs(ours - ref.score(x)) < 2e-3  # the same optimum, per-descriptor nats
    assert abs(ours - fit.log_likelihood) < 1e-3  # the reported LL is that of the returned GMM


def test_chunking_changes_nothing_but_the_memory() -> None:
    x, _ = mixture(12_000, 8, 6, seed=1)
    small = fit_diagonal_gmm(x, 8, seed=3, chunk=500)
    whole = fit_diagonal_gmm(x, 8, seed=3, chunk=len(x))
    assert small.iterations == whole.iterations
    for a, b in zip(
        (small.gmm.weights, small.gmm.means, small.gmm.variances),
        (whole.gmm.weights, whole.gmm.means, whole.gmm.variances),
        strict=True,
    ):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)


def test_peak_memory_does_not_grow_with_n() -> None:
    """In a fresh process: the fit's peak RSS growth is far below one (N, K) float32 matrix."""
    code = textwrap.dedent(
        """
        import resource, numpy as np, torch
        from baselines.features.gmm import fit_diagonal_gmm
        torch.set_num_threads(1)
        x = np.random.default_rng(0).standard_normal((200_000, 16), dtype=np.float32)
        fit_diagonal_gmm(x[:5000], 64, seed=0, max_iter=2, chunk=2048)  # warm the libraries
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        fit_diagonal_gmm(x, 64, seed=0, max_iter=3, chunk=2048)
        print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before)
        """
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    grown_kib = int(out.stdout.split()[-1])
    full_responsibilities_kib = 200_000 * 64 * 4 // 1024  # 50 MiB
    assert grown_kib < full_responsibilities_kib // 4, grown_kib


def test_no_warning_and_convergence_reported_in_facts() -> None:
    x, _ = mixture(5_000, 4, 3, seed=2)
    facts: dict = {}
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gmm = fit_gmm(x, 4, 0, facts=facts)
        capped: dict = {}
        fit_gmm(x, 4, 0, max_iter=1, facts=capped)
    assert caught == []
    assert gmm.n_components == 4 and facts["converged"] is True and facts["iterations"] >= 2
    assert capped["converged"] is False and capped["iterations"] == 1
    assert np.isfinite(facts["log_likelihood"]) and facts["n_descriptors"] == len(x)


def test_descriptor_bound_and_empty_modes() -> None:
    x, _ = mixture(4_000, 3, 2, seed=4)
    fit = fit_diagonal_gmm(x, 3, seed=0, max_descriptors=1_000)
    assert fit.n_descriptors == 1_000
    dup = np.repeat(x[:50], 20, axis=0)  # few distinct rows for many modes
    many = fit_diagonal_gmm(dup, 64, seed=0, max_iter=5)
    assert np.all(np.isfinite(many.gmm.variances)) and np.all(many.gmm.weights > 0)
    assert np.isclose(many.gmm.weights.sum(), 1.0)


@pytest.mark.parametrize("n_rows", [0])
def test_nothing_to_fit_is_an_error(n_rows: int) -> None:
    with pytest.raises((ValueError, RuntimeError)):
        fit_diagonal_gmm(np.zeros((n_rows, 4), np.float32), 2)
