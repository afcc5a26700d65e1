"""`SceneTables`: everything GreenLLM-v2's step reads about S scenarios, as frozen batch-first arrays.

Built once per scenario (no LP on the usual path: `green_llm_env.core.reference`), then copied into the env's
slots. Rows of the hour tables are scenario-major: row ``s*T + t`` is hour t of scenario s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from .. import cost, kernels
from ..scenario import Scenario
from .reference import interior_reference
from .water import WATER_PRICE_FACTOR, price_of_scale, share_cost_rows

__all__ = ["FEASIBILITY_TOL", "SCENE_FIELDS", "SceneTables", "build_tables", "tables_from_scenarios"]

FEASIBILITY_TOL = 1e-11
"""Violations up to this fraction of a family's total bound are round-off and are not charged (as v1)."""

BACKSTOP_FACTOR = 2.0
"""Rate of the hourly families' backstop penalty, in exchange-rate units (`build_tables`)."""


@dataclass(frozen=True, eq=False)
class SceneTables:
    """S scenarios of sizes (T, I, K, J, R) for one weight vector, batch-first (arrays read-only).

    Fields: ``flat`` (S, T, W) the cost model's hour rows (`cost.HourTables`); ``xref`` (S, T, N, J) each
    hour's interior reference allocation, with its ``ref_slack`` (S, T), delay ``ref_delay`` (S, T, N), IT kW
    and resource units per DC ``ref_use`` (S, T, 1+R, J) and facility kW ``ref_fac`` (S, T, J); ``pen``
    (S, T, 10) the penalty's $ per unit and forgiven violation per family (`cost.FAMILIES`); ``lam`` (S, T, N)
    demand (queries); ``delta`` (S, J) carbon price ($/kg); ``water_budget_l`` (S,); ``water_price`` (S,) $/L
    (`green_llm_env.core.water`); ``start_hour`` (S,); ``seed`` (S,) the generator seed (-1: none).
    Treat the arrays as read-only: envs read them in place.
    """

    T: int
    I: int
    K: int
    J: int
    R: int
    weights: tuple[float, float, float]
    flat: np.ndarray
    xref: np.ndarray
    ref_slack: np.ndarray
    ref_delay: np.ndarray
    ref_use: np.ndarray
    ref_fac: np.ndarray
    pen: np.ndarray
    lam: np.ndarray
    delta: np.ndarray
    water_budget_l: np.ndarray
    water_price: np.ndarray
    start_hour: np.ndarray
    seed: np.ndarray

    @property
    def N(self) -> int:
        return self.I * self.K

    def __len__(self) -> int:
        return int(self.flat.shape[0])

    def take(self, index: slice | np.ndarray) -> "SceneTables":
        """Scenarios ``index`` (a slice: views; an index array: copies, in its order, repeats allowed)."""
        return SceneTables(T=self.T, I=self.I, K=self.K, J=self.J, R=self.R, weights=self.weights,
                           **{f: getattr(self, f)[index] for f in SCENE_FIELDS})


SCENE_FIELDS = ("flat", "xref", "ref_slack", "ref_delay", "ref_use", "ref_fac", "pen", "lam", "delta",
                "water_budget_l", "water_price", "start_hour", "seed")
"""The per-scenario arrays of `SceneTables` (leading axis S)."""


def build_tables(flat: np.ndarray, lam: np.ndarray, delta: np.ndarray, water_budget_l: np.ndarray,
                 start_hour: np.ndarray, seed: np.ndarray, sizes: tuple[int, int, int, int, int],
                 weights: Sequence[float], water_price_factor: float = WATER_PRICE_FACTOR,
                 threads: int = 1) -> SceneTables:
    """`SceneTables` from the cost model's hour rows ``flat`` (S, T, W) of S scenarios and their demand ``lam``
    (S, T, N), carbon price ``delta`` (S, J), budgets (S,), start hours (S,) and seeds (S,); ``sizes`` is
    (T, I, K, J, R). Compiled per hour row (``threads`` numba threads), no LP unless an hour's proportional split
    has no slack. The water price is `green_llm_env.core.water.water_price`'s rule."""
    T, I, K, J, R = sizes
    N = I * K
    S = flat.shape[0]
    W = kernels.layout(R, N, J)[-1]
    flat = np.asarray(flat)
    flat = flat if flat.flags.writeable else np.array(flat)  # the compiled step takes writable arrays
    hour = cost.HourTables(np.ascontiguousarray(flat, np.float64).reshape(S * T, W), R, N, J)
    x, slack = interior_reference(hour, threads)
    rows = np.arange(S * T)
    _, _, use, fac, _, delay, _ = cost.hour_terms(hour, x, rows=rows)
    Z = np.array(water_budget_l, np.float64).reshape(S)  # copies: the envs' compiled step takes writable arrays
    share = np.empty((S * T, 5))
    share_cost_rows(hour.flat, R, N, J, share)
    mu_w = price_of_scale(share[:, 0].reshape(S, T).sum(axis=1), Z, water_price_factor)
    # Backstop rates of the hourly families (the repair meets their rows; these charge only what round-off
    # might leave beyond the forgiven amount): the largest $ spread of one share over the least unit it uses.
    pen = np.zeros((S * T, 10))
    with np.errstate(divide="ignore", invalid="ignore"):
        pen[:, 1:4] = np.where(np.isfinite(share[:, 2:5]), BACKSTOP_FACTOR * share[:, 1:2] / share[:, 2:5], 0.0)
    pen[:, 4] = np.repeat(mu_w, T)
    pen[:, 6] = FEASIBILITY_TOL * hour.capacity.reshape(S * T, -1).sum(axis=1)
    pen[:, 7] = FEASIBILITY_TOL * hour.dcap.sum(axis=1)
    pen[:, 8] = FEASIBILITY_TOL * hour.cap.sum(axis=1)
    pen[:, 9] = FEASIBILITY_TOL * np.repeat(Z, T)
    return SceneTables(
        T=T, I=I, K=K, J=J, R=R, weights=tuple(float(w) for w in weights),
        flat=hour.flat.reshape(S, T, W), xref=x.reshape(S, T, N, J), ref_slack=slack.reshape(S, T),
        ref_delay=delay.reshape(S, T, N), ref_use=use.reshape(S, T, R + 1, J), ref_fac=fac.reshape(S, T, J),
        pen=pen.reshape(S, T, 10), lam=np.array(lam, np.float64).reshape(S, T, N),
        delta=np.array(delta, np.float64).reshape(S, J), water_budget_l=Z, water_price=mu_w,
        start_hour=np.array(start_hour, np.int64).reshape(S), seed=np.array(seed, np.int64).reshape(S))


def tables_from_scenarios(scenarios: Sequence[Scenario], weights: Sequence[float],
                          seeds: Sequence[int] | None = None,
                          water_price_factor: float = WATER_PRICE_FACTOR) -> SceneTables:
    """`SceneTables` of `Scenario` objects of one size (the cost model's `cost.coefficients` and
    `cost.hour_tables` of each)."""
    w = np.asarray(weights, np.float64)
    s0 = scenarios[0]
    sizes = (s0.T, s0.I, s0.K, s0.J, s0.R)
    for s in scenarios:
        if (s.T, s.I, s.K, s.J, s.R) != sizes:
            raise ValueError(f"scenarios of one batch must share (T, I, K, J, R) = {sizes}; got "
                             f"{(s.T, s.I, s.K, s.J, s.R)}")
    flat = np.stack([cost.hour_tables(cost.coefficients(s), w).flat for s in scenarios])
    lam = np.stack([np.asarray(s.lam, np.float64).reshape(s.T, -1) for s in scenarios])
    delta = np.stack([np.asarray(s.delta, np.float64) for s in scenarios])
    Z = np.array([float(s.Z) for s in scenarios])
    start = np.array([int(s.start_hour) for s in scenarios])
    seeds_arr = np.full(len(scenarios), -1) if seeds is None else np.asarray(seeds, np.int64)
    return build_tables(flat, lam, delta, Z, start, seeds_arr, sizes, w, water_price_factor)
