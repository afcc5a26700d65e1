"""The water price of GreenLLM-v2: the horizon's water budget charged as a penalty per litre beyond it.

The budget Z is the only row that couples hours. GreenLLM-v1 kept it feasible by reserving, at every hour, the
least water the later hours need: 24 exact hourly LPs per scenario (about 50 ms), and a reference point on the
same bound as the oracle (a discontinuous guard). GreenLLM-v2 instead charges every litre used beyond Z at the
scenario's **water price** ``μ_w`` ($/L):

    μ_w = WATER_PRICE_FACTOR · (Σ_{t, (i, k)} min_j cost_usd[t, (i, k), j]) / Z

where ``cost_usd`` is the weighted $ of one share with grid power charged in full (the observation's
``options.cost_usd``): a cost scale of the scenario over its budget, O(T·N·J), no LP. Exactness: the oracle of
GreenLLM-v2 (``baselines.solve(s, weights, water_price=μ_w)``) minimises the same objective, the water row made
elastic at ``μ_w``, so no plan scores below it whatever ``μ_w`` is; where ``μ_w`` is at least the water dual
λ* of the budget (weak duality: ``cost(x) + μ_w·max(W(x) - Z, 0) >= cost(x) + λ*·(W(x) - Z) >= opt`` for every
hourly-feasible x), the elastic row is never used and the oracle's plan and objective are v1's exactly. The
factor is set so that this holds with margin on every scenario measured (`WATER_PRICE_FACTOR`).
"""

from __future__ import annotations

import numba as nb
import numpy as np

from .. import cost
from ..kernels import layout

__all__ = ["WATER_PRICE_FACTOR", "cost_scale_usd", "price_of_scale", "share_cost_rows", "scenario_water_price", "water_price"]

WATER_PRICE_FACTOR = 6.0
"""μ_w · Z in units of the scenario's cost scale. Measured on `make_scenario` seeds 0-199 and 24 trace windows of
2024 (equal weights): the water dual λ* of the budget satisfies λ*·Z <= 2.80 cost scales (median 0.17; at most
47% of μ_w); on the v2 generator's seeds 1000-1099 λ* <= 50% of μ_w. The elastic row stays unused there; a
relative overrun ε of the budget costs 6·ε cost scales."""


@nb.njit(cache=True, nogil=True, error_model="numpy")
def share_cost_rows(flat, R: int, N: int, J: int, out) -> None:
    """Per hour row r of ``flat``, from the weighted $ of one share with grid charged in full
    (``c[n, j] = gp[j]·IT[n]·PUE[j] + σd·ρ[n]·D[n, j]``, the observation's ``options.cost_usd``): ``out[r, 0]`` =
    Σ_n min_j c, ``out[r, 1]`` = max_n (max_j c - min_j c); and the least positive unit one share uses of each
    hourly family: ``out[r, 2]`` resource units, ``out[r, 3]`` delay s, ``out[r, 4]`` facility kW (inf: none)."""
    o_qt, o_d, o_rho, o_dcap, o_j, o_cap, o_sd, _ = layout(R, N, J)
    for r in range(flat.shape[0]):
        tb = flat[r]
        sd = tb[o_sd]
        low_sum = 0.0
        spread = 0.0
        u_res = np.inf
        u_delay = np.inf
        u_fac = np.inf
        for n in range(N):
            lo = np.inf
            hi = -np.inf
            it = tb[o_qt + n]
            a = sd * tb[o_rho + n]
            for q in range(R):
                v = tb[o_qt + (1 + q) * N + n]
                if 1e-12 < v < u_res:
                    u_res = v
            for j in range(J):
                d = tb[o_d + j * N + n]
                f = it * tb[o_j + 7 * J + j]
                c = tb[o_j + 4 * J + j] * f + a * d
                lo = c if c < lo else lo
                hi = c if c > hi else hi
                if 1e-12 < d < u_delay:
                    u_delay = d
                if 1e-12 < f < u_fac:
                    u_fac = f
            low_sum += lo
            spread = max(spread, hi - lo)
        out[r, 0] = low_sum
        out[r, 1] = spread
        out[r, 2] = u_res
        out[r, 3] = u_delay
        out[r, 4] = u_fac


def cost_scale_usd(hour: cost.HourTables, T: int) -> np.ndarray:
    """(S,) Σ over hours and (i, k) of the least weighted $ of one share (grid charged in full), for hour tables
    whose rows are the S·T hours of S scenarios, scenario-major."""
    out = np.empty((hour.flat.shape[0], 5))
    share_cost_rows(hour.flat, hour.R, hour.N, hour.J, out)
    return out[:, 0].reshape(-1, T).sum(axis=1)


def price_of_scale(scale_usd: np.ndarray, water_budget_l: np.ndarray, factor: float = WATER_PRICE_FACTOR
                   ) -> np.ndarray:
    """(S,) μ_w = factor · max(cost scale, 0) / Z ($/L): the rule of the module docstring, written once."""
    Z = np.maximum(np.asarray(water_budget_l, np.float64), 1e-9)
    return factor * np.maximum(np.asarray(scale_usd, np.float64), 0.0) / Z


def water_price(hour: cost.HourTables, T: int, water_budget_l: np.ndarray,
                factor: float = WATER_PRICE_FACTOR) -> np.ndarray:
    """(S,) $ per litre beyond the budget (see the module docstring); ``water_budget_l`` (S,) L."""
    return price_of_scale(cost_scale_usd(hour, T), water_budget_l, factor)


def scenario_water_price(scenario, weights=cost.DEFAULT_WEIGHTS, factor: float = WATER_PRICE_FACTOR) -> float:
    """μ_w ($/L) of one `green_llm_env.Scenario` for ``weights``: what GreenLLM-v2 charges per litre beyond its
    budget (``info["water_price"]``) and what its oracle's elastic row costs."""
    c = cost.coefficients(scenario)
    hour = cost.hour_tables(c, np.asarray(weights, np.float64))
    return float(water_price(hour, c.T, np.array([c.water_budget_l]), factor)[0])
