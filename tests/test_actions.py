"""Action -> allocation maps: the simplex projection (exact, idempotent, optimal) and softmax."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from green_llm_env.actions import (map_actions, project_simplex, softmax, sorting_network,
                                   to_allocation)


def reference_projection(a: np.ndarray) -> np.ndarray:
    """Duchi et al. (2008), Figure 1, row by row: the textbook algorithm."""
    out = np.empty_like(a)
    for r, v in enumerate(a.reshape(-1, a.shape[-1])):
        u = np.sort(v)[::-1]
        css = np.cumsum(u)
        k = np.arange(1, v.size + 1)
        rho = int(np.nonzero(u - (css - 1.0) / k > 0)[0][-1]) + 1
        out.reshape(-1, a.shape[-1])[r] = np.maximum(v - (css[rho - 1] - 1.0) / rho, 0.0)
    return out


@pytest.mark.parametrize("shape", [(1,), (2,), (9,), (45, 9), (3, 9, 5, 9), (4096, 9), (300, 7), (2500, 13)])
@pytest.mark.parametrize("spread", [1.0, 1e-3, 50.0])
def test_projection_lands_on_simplex_and_matches_reference(shape, spread):
    a = np.random.default_rng(sum(shape)).normal(0.0, spread, shape)
    x = project_simplex(a)
    assert x.shape == a.shape and x.dtype == np.float64
    assert x.min() >= 0.0
    np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-12)
    np.testing.assert_allclose(x, reference_projection(a), atol=1e-12)


@pytest.mark.parametrize("rows", [45, 4096])  # one partial block of the kernel, many blocks
def test_projection_is_idempotent_and_fixes_simplex_points(rows):
    rng = np.random.default_rng(rows)
    a = rng.uniform(-1, 1, (rows, 9))
    x = project_simplex(a)
    np.testing.assert_allclose(project_simplex(x), x, rtol=0, atol=1e-15)
    y = rng.dirichlet(np.full(9, 0.3), rows)  # interior and near-sparse points
    y[::7] = np.eye(9)[rng.integers(9, size=y[::7].shape[0])]  # vertices
    np.testing.assert_allclose(project_simplex(y), y, rtol=0, atol=2e-16 * 9)


def test_projection_is_the_nearest_point():
    """Optimality of the Euclidean projection: (a - x)·(e_j - x) <= 0 for every vertex e_j."""
    rng = np.random.default_rng(3)
    a = rng.uniform(-1, 1, (500, 9)) * rng.uniform(0.01, 10, (500, 1))
    x = project_simplex(a)
    r = a - x
    for j in range(9):
        e = np.zeros(9)
        e[j] = 1.0
        assert np.all(np.einsum("mj,mj->m", r, e - x) <= 1e-12)


@pytest.mark.parametrize("n", range(1, 13))
def test_sorting_networks_sort_every_zero_one_input(n):
    """The 0-1 principle: a comparator network sorts every input iff it sorts every 0/1 input."""
    X = np.array(list(itertools.product([0.0, 1.0], repeat=n))).reshape(-1, n)
    cols = [X[:, i].copy() for i in range(n)]
    for i, j in sorting_network(n):
        assert 0 <= i < j < n
        lo, hi = np.minimum(cols[i], cols[j]), np.maximum(cols[i], cols[j])
        cols[i], cols[j] = lo, hi
    np.testing.assert_array_equal(np.stack(cols, -1), np.sort(X, -1))


@pytest.mark.parametrize("E", [2, 64])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_map_actions_on_a_batch_returns_shares_and_squared_distances(E, dtype):
    a = np.random.default_rng(E).uniform(-1, 1, (E, 45, 9)).astype(dtype)
    x, d2 = map_actions(a)
    assert x.shape == a.shape and x.dtype == np.float64 and d2.shape == (E, 45)
    np.testing.assert_array_equal(x, project_simplex(a.astype(np.float64)))
    np.testing.assert_allclose(d2, ((x - a.astype(np.float64)) ** 2).sum(-1), rtol=1e-12)


def test_map_rows_blocks_dtypes_and_non_finite_input():
    """The kernel works in blocks of rows (kernels._BLOCK); a batch of 2 full blocks and a partial one, with
    constant rows, rows already on the simplex and float32 input, matches the textbook projection; NaN or
    inf anywhere is refused."""
    from green_llm_env import kernels

    M = 2 * kernels._BLOCK + 17
    a = np.random.default_rng(3).uniform(-1, 1, (M, 9))
    a[0] = 0.0
    a[1] = 1.0 / 9
    a[-5:] = np.random.default_rng(4).dirichlet(np.ones(9), 5)
    x, d2 = map_actions(a)
    np.testing.assert_allclose(x, reference_projection(a), atol=1e-12)
    np.testing.assert_allclose(x[-5:], a[-5:], atol=1e-15)  # simplex points are fixed
    np.testing.assert_allclose(d2, ((x - a) ** 2).sum(-1), rtol=1e-12, atol=1e-30)
    x32, _ = map_actions(a.astype(np.float32))
    np.testing.assert_array_equal(x32, project_simplex(a.astype(np.float32).astype(np.float64)))
    for bad in (np.nan, np.inf, -np.inf):
        b = a.copy()
        b[M - 1, 3] = bad
        with pytest.raises(ValueError, match="NaN or inf"):
            map_actions(b)


def test_single_dc_and_two_dcs():
    np.testing.assert_array_equal(project_simplex(np.array([[-3.0], [0.2]])), [[1.0], [1.0]])
    np.testing.assert_allclose(project_simplex(np.array([[0.9, 0.5], [2.0, -2.0]])), [[0.7, 0.3], [1.0, 0.0]])


def test_softmax_rows_and_temperature():
    a = np.random.default_rng(1).uniform(-1, 1, (45, 9))
    for temp in (0.05, 1.0, 20.0):
        x = softmax(a, temp)
        assert np.all(x > 0)
        np.testing.assert_allclose(x.sum(-1), 1.0, atol=1e-12)
    # lower temperature concentrates on the row maximum; huge inputs do not overflow
    assert softmax(a, 0.05).max(-1).mean() > softmax(a, 20.0).max(-1).mean()
    big = softmax(np.array([[1e300, 0.0, -1e300]]), 1.0)
    np.testing.assert_allclose(big, [[1.0, 0.0, 0.0]])


def test_to_allocation_modes():
    a = np.random.default_rng(2).uniform(-1, 1, (9, 5, 9))
    np.testing.assert_array_equal(to_allocation(a, "project"), project_simplex(a))
    np.testing.assert_array_equal(to_allocation(a, "softmax", 0.5), softmax(a, 0.5))
    with pytest.raises(ValueError, match="mode.*'argmax'"):
        to_allocation(a, "argmax")
