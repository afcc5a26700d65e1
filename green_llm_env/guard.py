"""The feasibility guard of GreenLLM-v1 (``constraint_mode="guard"``, the default there): cheap, no solver per step.

Given shares ``x`` (N, J) on the simplex for hour t with ``water_left_l`` litres left, `FeasibilityGuard.project`
returns shares that meet every row of the hour (MODEL.md section 4, the families of `cost.FAMILIES`):

- the water row is ``W(x) <= water_left_l - reserve``, where the reserve ``Σ_{s > t} least[s]`` is the least
  water the later hours need (`green_llm_env.hourly.least_water`, exact hourly LPs solved once per scenario):
  a later hour is never left without water;
- the reference point is ``x_least[t]``, the hour's least-water allocation, which meets every row.

Two blends, both convex combinations with ``x_least[t]`` (so rows met by both ends stay met):

1. per (i, k) whose average delay is over its cap: ``x[n] <- (1 - s_n)·x[n] + s_n·x_least[t, n]`` with the
   smallest ``s_n`` that meets the cap (delay rows involve one (i, k) each);
2. for the coupling rows (resources per (r, j), facility power per DC within renewables + grid cap, and the
   water row): one ``s``, the smallest that meets them all.

Shares whose violations are within what the penalty forgives (``ScenarioTables.tol``) pass unchanged, so the
oracle's plan replays exactly. If even the least-water allocation does not fit the water left (only when the
budget is below the day's least need), ``x_least[t]`` is played and the env charges the overrun.
One call costs two or three calls of the compiled cost kernel (tens of µs).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from . import cost
from .hourly import LeastWater, least_water

__all__ = ["FeasibilityGuard", "feasibility_guard", "least_water_of"]

_OVER = 1e-12  # relative over-blend, so that the blended rows hold despite round-off


def least_water_of(tab: Any) -> LeastWater:
    """The `LeastWater` of a scenario's `ScenarioTables`, computed once and kept on them (40-70 ms)."""
    hit = tab.__dict__.get("_least_water")
    if hit is None:
        hit = tab.__dict__["_least_water"] = least_water(tab.coef)
    return hit


def feasibility_guard(tab: Any) -> "FeasibilityGuard":
    """The `FeasibilityGuard` of a scenario's `ScenarioTables`, built once and kept on them."""
    hit = tab.__dict__.get("_guard")
    if hit is None:
        hit = tab.__dict__["_guard"] = FeasibilityGuard(tab)
    return hit


class FeasibilityGuard:
    """Keeps each hour's allocation feasible (see the module docstring).

    Args:
        tables: the scenario's `green_llm_env.env.ScenarioTables` (its ``coef``, ``hour`` and ``tol``).
    """

    def __init__(self, tables: Any) -> None:
        self.tables = tables
        coef = tables.coef
        self.coef = coef
        lw = least_water_of(tables)
        self.least_l, self.x_least, self.reserve_l = lw.least_l, lw.x, lw.reserve_l
        T = coef.T
        _, _, use, fac, _, delay, wdc = cost.hour_terms(tables.hour, self.x_least, rows=np.arange(T))
        self._use_s, self._fac_s, self._delay_s, self._water_s = use[:, 1:], fac, delay, wdc.sum(-1)
        self._supply = coef.renewable_kw + coef.grid_cap_kw  # (T, J) facility kW a DC may draw
        self.blended = 0  # calls that changed the shares

    def water_cap_l(self, t: int, water_left_l: float) -> float:
        """Water (L) hour t may use: what is left minus the later hours' least need."""
        return float(water_left_l) - float(self.reserve_l[t + 1])

    def _terms(self, x: np.ndarray, t: int, cap_l: float) -> tuple[np.ndarray, ...]:
        _, viol, use, fac, _, delay, wdc = cost.hour_terms(self.tables.hour, x[None], cap_l, True, np.array([t]))
        return viol[0], use[0, 1:], fac[0], delay[0], float(wdc[0].sum())

    def project(self, x: np.ndarray, t: int, water_left_l: float) -> np.ndarray:
        """Shares ``x`` (N, J) on the simplex -> guarded shares (N, J) for hour ``t``."""
        t = int(t)
        cap_l = self.water_cap_l(t, water_left_l)
        xs = self.x_least[t]
        if cap_l < self._water_s[t]:  # not even the least-water allocation fits: the smallest overrun
            self.blended += 1
            return xs.copy()
        tol = self.tables.tol[t]
        viol, use, fac, delay, water = self._terms(x, t, cap_l)
        if np.all(viol[1:] <= tol[1:]):
            return x
        self.blended += 1
        s_n = _blend_fractions(delay, self._delay_s[t], self.coef.delay_cap_s)
        if s_n.any():  # 1. per (i, k): just enough of x_least to meet its delay cap
            x = x + s_n[:, None] * (xs - x)
            viol, use, fac, delay, water = self._terms(x, t, cap_l)
        # 2. one blend for the rows that couple the (i, k): resources, facility power, water
        s = _blend_fractions(np.concatenate([use.reshape(-1), fac, [water]]),
                             np.concatenate([self._use_s[t].reshape(-1), self._fac_s[t], [self._water_s[t]]]),
                             np.concatenate([self.coef.capacity.reshape(-1), self._supply[t], [cap_l]])).max()
        if s > 0.0:
            x = x + s * (xs - x)
        return x


def _blend_fractions(g: np.ndarray, gs: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Per row ``g <= b``: the least fraction s in [0, 1] of the way to the reference point (row values ``gs``)
    that meets it, ``(g - b) / (g - gs)`` (over-blended by `_OVER` for round-off); 0 where the row holds, 1 where
    no fraction would do."""
    over = g > b
    with np.errstate(divide="ignore", invalid="ignore"):
        s = np.where(over, (g - b) / (g - gs), 0.0)
    return np.clip(np.where(np.isfinite(s), s, 1.0) * (1.0 + _OVER), 0.0, 1.0)
