"""The price action of GreenLLM-v2 (``action_mode="price"``, ``GreenLLM-price-v2``): J + 1 numbers instead of I·K·J.

An action ``a`` in ``[-1, 1]^(J+1)`` sets a price per DC and a price of water:

- ``p_j = PRICE_SCALE · a_j`` $ per facility kWh at DC j (negative: load is wanted there, e.g. spare renewables);
- ``μ = μ_w · 10^(1.5·a_J)`` $ per litre, on a log scale from ``μ_w / 31.6`` to ``31.6 μ_w`` (``μ_w``: the
  scenario's price of a litre beyond the budget, ``info["water_price"]``). The middle action prices water at
  ``μ_w``, which keeps an untrained policy near the budget: the best constant action found on validation seeds
  priced it at 0.7-1.1 ``μ_w`` (the softmax spreads some load to wet DCs, which an LP at the budget's dual value,
  0.003-0.34 ``μ_w`` on those seeds, would not use).

Each (i, k) row of the hour's shares is a softmax over DCs of the priced per-option cost (the observation's
``options`` features, in model units):

    score[n, j] = cost_usd[n, j] + p_j · facility_kw[n, j] + μ · water_l[n, j]
    x[n, :]     = softmax(-(score[n, :] - min_j score[n, j]) / (τ · mean_j cost_usd[n, j]))

so τ (the env's ``temperature``, default 1) is relative to the option's own cost
and the map is smooth in the action. The shares then go through the env's continuous repair like any other
allocation (hourly rows), and litres beyond the budget are charged at ``μ_w`` as in GreenLLM-v2. With the DC
prices 0 and a small τ every query goes to the DC of least cost plus priced water (which ignores renewables and
capacities). What the best price sequence reaches is measured, not exact: ``benchmarks/price_reach.py``.
"""

from __future__ import annotations

import numpy as np

from ..kernels import field_slices

__all__ = ["PRICE_SCALE", "WATER_DECADES", "option_terms", "price_shares", "price_values"]

PRICE_SCALE = 0.2
"""$ per facility kWh of the action ±1 on a DC's price (about twice the weighted grid price at its highest)."""
WATER_DECADES = (-1.5, 1.5)
"""log10 of the lowest and highest water price of the action, in units of the scenario's μ_w."""


def option_terms(rows: np.ndarray, R: int, N: int, J: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(cost_usd, facility_kw, water_l), each (E, N, J) float64, of sending all of option n to DC j in the hours
    whose flat table rows are ``rows`` (E, W): the observation's ``options`` features in model units."""
    f = field_slices(R, N, J)

    def get(name: str) -> np.ndarray:
        sl, shape = f[name]
        return rows[:, sl].reshape((len(rows),) + shape)

    it = get("QT")[:, 0]  # (E, N) IT kWh of the whole option
    kw = it[:, :, None] * get("pue")[:, None, :]
    water = kw * get("wlpk")[:, None, :]
    cost = kw * get("gp")[:, None, :] + (get("sd") * get("rho"))[:, :, None] * get("DT").transpose(0, 2, 1)
    return cost, kw, water


def price_values(a: np.ndarray, water_price: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(p (E, J) $/kWh, μ (E,) $/L) of price actions ``a`` (E, J+1), clipped to [-1, 1]; ``water_price`` (E,)
    is each env's μ_w."""
    a = np.clip(np.asarray(a, np.float64), -1.0, 1.0)
    lo, hi = WATER_DECADES
    decades = lo + 0.5 * (a[:, -1] + 1.0) * (hi - lo)
    return PRICE_SCALE * a[:, :-1], np.asarray(water_price, np.float64) * 10.0 ** decades


def price_shares(a: np.ndarray, rows: np.ndarray, water_price: np.ndarray, temperature: float, R: int, N: int,
                 J: int) -> np.ndarray:
    """(E, N, J) float64 shares of price actions ``a`` (E, J+1) in the hours of table rows ``rows`` (E, W)."""
    p, mu = price_values(a, water_price)
    cost, kw, water = option_terms(rows, R, N, J)
    score = cost + p[:, None, :] * kw + mu[:, None, None] * water
    scale = temperature * np.maximum(cost.mean(axis=2, keepdims=True), 1e-300)
    z = -(score - score.min(axis=2, keepdims=True)) / scale
    np.exp(z, out=z)
    z /= z.sum(axis=2, keepdims=True)
    return z
