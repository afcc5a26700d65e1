"""The LP of one hour (HiGHS, warm re-solves) and what it gives the environment: each hour's least water.

`HourlyLP` solves, for one scenario and weight vector, the LP of a single slot t over the rows of
`green_llm_env.constraints` (allocation, power balance, grid load, resources, delay cap, and the water row
bounded by a cap), with water priced at ``water_price`` $/L on top of the weighted cost::

    min  σe·C1 + σc·C2 + σd·C3 + water_price · W     s.t. the hour's rows,  W <= water_cap_l

One HiGHS instance per object; each solve starts from the previous optimal basis (every hour's LP has the
same shape), so successive hours and successive prices re-solve in a few simplex iterations.

`least_water` runs it with the objective "water" for every hour: ``least[t]``, the least water (L) any
allocation meeting hour t's other rows needs, and that allocation. The environment's feasibility guard
keeps ``Σ_{s > t} least[s]`` in reserve at hour t, so no later hour is ever left without water; any plan that
meets the whole-day budget (the oracle's) meets that reserve at every hour.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, replace
from typing import Any, Sequence

import highspy
import numpy as np

from . import cost
from .constraints import LinearProgram, hour_lp
from .highs import PRIMAL_FEASIBILITY_TOL, pass_lp, silent_highs

__all__ = ["LEAST_WATER_MARGIN", "PRICE_LIMITS", "HourSolution", "HourlyLP", "HourlyTimeLimitError", "LeastWater",
           "check_price_action", "check_price_range", "even_action", "least_water"]

_OPTIMAL = highspy.HighsModelStatus.kOptimal
_TIME_LIMIT = highspy.HighsModelStatus.kTimeLimit
_NO_SOLUTION = (highspy.HighsModelStatus.kInfeasible, highspy.HighsModelStatus.kUnboundedOrInfeasible,
                highspy.HighsModelStatus.kUnbounded)


class HourlyTimeLimitError(RuntimeError):
    """An hour's LP ran out of its time limit (``time_limit_s`` per solve): a slow solve, not an infeasible hour."""


PRICE_LIMITS = (1e-12, 1e6)
"""Least and largest water price ($/L) a hybrid env's ``price_range`` may span (and at most 1e12 from end to
end): beyond them the hour's LP has cost coefficients HiGHS cannot scale (1e300 $/L made reset hang)."""


def check_price_range(price_range: Any) -> tuple[float, float]:
    """``price_range`` as (lo, hi) $/L, or ``ValueError`` naming the rule: two finite prices
    ``PRICE_LIMITS[0] <= lo < hi <= PRICE_LIMITS[1]`` with ``hi / lo <= 1e12``."""
    rule = (f"price_range must be two prices {PRICE_LIMITS[0]:g} <= lo < hi <= {PRICE_LIMITS[1]:g} $/L with "
            f"hi/lo <= 1e12")
    try:
        lo, hi = (float(p) for p in price_range)
        if any(isinstance(p, (bool, np.bool_)) for p in price_range):
            raise TypeError
    except (TypeError, ValueError):
        raise ValueError(f"{rule}; got {price_range!r}") from None
    if not (PRICE_LIMITS[0] <= lo < hi <= PRICE_LIMITS[1]) or hi / lo > 1e12:
        raise ValueError(f"{rule}; got {price_range!r}")
    return lo, hi


def check_price_action(action: Any) -> float:
    """The one number of a hybrid env's action (the hour's water price, in [-1, 1] before clipping), or
    ``ValueError`` before anything solves: one real, finite number (an allocation, NaN, inf, a complex number
    or text are refused)."""
    try:
        arr = np.asarray(action)
    except Exception:  # noqa: BLE001 - a ragged or odd object
        raise ValueError(f"action must be one finite number (the hour's water price); got {action!r}") from None
    if arr.dtype.kind not in "biuf" or arr.size != 1:
        shown = f"shape {arr.shape}, dtype {arr.dtype}" if arr.dtype.kind in "biufc" else repr(action)[:80]
        raise ValueError(f"action must be one finite number (the hour's water price, shape (1,)); got {shown}")
    a = float(arr.reshape(-1)[0])
    if not np.isfinite(a):
        raise ValueError(f"action must be one finite number (the hour's water price); got {a}")
    return a


@dataclass
class HourSolution:
    """One hour's LP solution: shares ``x`` (N, J) on the simplex, its water (L), weighted cost ($, from the LP's
    objective without the water price), and whether the water cap had to be dropped (``relaxed``: no
    allocation fits the cap; ``x`` is then the hour's least-water allocation)."""

    x: np.ndarray
    water_l: float
    cost_weighted: float
    relaxed: bool
    iterations: int
    grid_kw: np.ndarray | None = None  # (J,) the LP's grid power P_g of the hour, kW


class HourlyLP:
    """The LP of one hour of one scenario (see the module docstring).

    Args:
        coef: `cost.Coefficients` of the scenario.
        weights: (σe, σc, σd); a zero weight is raised to ``tie_break`` inside the LP (as `baselines.solve`).
        time_limit_s: HiGHS time limit per solve (s); running out raises `HourlyTimeLimitError` (never reported as
            an infeasible hour).
    """

    def __init__(self, coef: cost.Coefficients, weights: Sequence[float] = cost.DEFAULT_WEIGHTS,
                 tie_break: float = 1e-6, time_limit_s: float = 10.0) -> None:
        w = cost.check_weights(weights)
        self.coef = coef
        self.weights = w
        x_cost, grid_cost = cost.objective_coefficients(coef, np.where(w == 0, tie_break, w))
        self._x_cost = np.broadcast_to(x_cost, (coef.T, coef.N, coef.J))
        self._grid_cost = grid_cost
        self._wl = cost.water_l_per_share(coef)  # (T, N, J)
        limit = float(time_limit_s) if not isinstance(time_limit_s, bool) else float("nan")
        if not (np.isfinite(limit) and limit > 0):
            raise ValueError(f"time_limit_s must be a finite number of seconds > 0; got {time_limit_s!r}")
        self.time_limit_s = limit
        self._options = {"solver": "simplex", "time_limit": limit,
                         "primal_feasibility_tolerance": PRIMAL_FEASIBILITY_TOL}
        self.highs = self._new_highs()
        self._basis: highspy.HighsBasis | None = None
        self._loaded = -1  # the hour whose LP HiGHS holds
        self._cols = np.arange(coef.N * coef.J + coef.J, dtype=np.int32)
        self.solves = 0

    def _new_highs(self) -> highspy.Highs:
        h = silent_highs()
        for name, value in self._options.items():
            h.setOptionValue(name, value)
        return h

    def sibling(self) -> "HourlyLP":
        """A new `HourlyLP` of the same scenario and weights sharing this one's cost tables (read-only), with its
        own HiGHS instance (one per hour keeps each hour's basis across re-solves)."""
        twin = copy.copy(self)
        twin.highs = self._new_highs()
        twin._basis, twin._loaded, twin.solves = None, -1, 0
        return twin

    def start_from(self, other: "HourlyLP") -> None:
        """Start this object's next new hour from ``other``'s last optimal basis (every hour's LP has the same
        shape), unless it holds a basis of its own."""
        if self._basis is None:
            self._basis = other._basis

    def lp(self, t: int) -> LinearProgram:
        """The rows of hour t (`constraints.hour_lp`: shared, read-only)."""
        return hour_lp(self.coef, t)

    def _tightened(self, t: int, margin: float) -> LinearProgram:
        """Hour t's rows with positive upper bounds (and the grid caps) shrunk by ``margin`` (a new object)."""
        lp = self.lp(t)
        up = np.where(lp.row_upper > 0, lp.row_upper * (1.0 - margin), lp.row_upper)
        cols = lp.col_upper.copy()
        cols[lp.n_x:] *= 1.0 - margin
        self._loaded = -1  # other bounds than the cached LP's: pass it whole
        return replace(lp, row_upper=up, col_upper=cols)

    @staticmethod
    def _water_bounded(lp: LinearProgram, water_cap_l: float) -> LinearProgram:
        """``lp`` with its water row bounded by ``water_cap_l`` litres (inf: free), on a copy of the bounds."""
        up = lp.row_upper.copy()
        row = lp.row("water_budget")
        up[row] = float(water_cap_l) * lp.row_scale[row] if np.isfinite(water_cap_l) else np.inf
        return replace(lp, row_upper=up)

    def _run(self, t: int, lp: LinearProgram, col_cost: np.ndarray) -> highspy.HighsModelStatus:
        """Solve hour t's LP with ``col_cost``: a new hour is passed whole (started from the previous hour's
        basis); the hour already loaded only changes its costs and water bound (HiGHS keeps its basis)."""
        h = self.highs
        if self._loaded == t:
            h.changeColsCost(lp.num_col, self._cols[:lp.num_col], col_cost)
            w = lp.row("water_budget")
            h.changeRowBounds(w, -np.inf, lp.row_upper[w])
        else:
            pass_lp(h, lp, col_cost)
            if self._basis is not None:
                h.setBasis(self._basis)
            self._loaded = t
        # HiGHS's time limit is read on a clock that runs over the life of the instance: give each solve its own
        h.setOptionValue("time_limit", h.getRunTime() + self.time_limit_s)
        h.run()
        self.solves += 1
        status = h.getModelStatus()
        if status == _TIME_LIMIT:
            self._basis = None
            self._loaded = -1
            raise HourlyTimeLimitError(f"hour {t}: the LP ran out of its time limit (time_limit_s="
                                       f"{self.time_limit_s:g} s per solve); not an infeasible hour: raise "
                                       "time_limit_s or use a smaller scenario")
        return status

    def solve(self, t: int, water_price: float = 0.0, water_cap_l: float = np.inf,
              objective: str = "cost", margin: float = 0.0) -> HourSolution:
        """Solve hour ``t`` (see the module docstring); ``objective="water"`` minimises water alone.

        ``margin`` > 0 tightens every positive upper bound but the water row's (capacities, delay caps,
        renewables, grid caps) by that fraction, so that the answer meets the true rows despite the solver's
        feasibility tolerance."""
        t = int(t)
        if not 0 <= t < self.coef.T:
            raise ValueError(f"t must be in [0, {self.coef.T}); got {t}")
        lp = self.lp(t)
        n_x = lp.n_x
        wl = self._wl[t].reshape(-1)
        if objective == "water":
            col_cost = np.concatenate([wl, np.zeros(lp.num_col - n_x)])
        elif objective == "cost":
            col_cost = np.concatenate([self._x_cost[t].reshape(-1) + float(water_price) * wl,
                                       self._grid_cost[t].reshape(-1)])
        else:
            raise ValueError(f"objective must be 'cost' or 'water'; got {objective!r}")
        if margin > 0.0:
            lp = self._tightened(t, margin)
        status = self._run(t, self._water_bounded(lp, water_cap_l), col_cost)
        if status not in (_OPTIMAL, *_NO_SOLUTION) and self._loaded == t and self._basis is not None:
            # a warm start can end without an optimum on a feasible hour (HiGHS "Unknown", seen once in 300
            # GreenLLM-hybrid-v2 episodes): solve it again cold before calling the hour infeasible
            self.highs, self._basis, self._loaded = self._new_highs(), None, -1
            status = self._run(t, self._water_bounded(lp, water_cap_l), col_cost)
        relaxed = False
        if status != _OPTIMAL and np.isfinite(water_cap_l):
            # No allocation fits the cap: the hour's least-water allocation (the smallest overrun).
            status = self._run(t, self._water_bounded(lp, np.inf), np.concatenate([wl, np.zeros(lp.num_col - n_x)]))
            relaxed = True
        if margin > 0.0:
            self._loaded = -1  # HiGHS holds the tightened bounds: the next solve passes the hour again
        if status != _OPTIMAL:
            self._basis = None
            self._loaded = -1
            raise RuntimeError(f"hour {t}: no allocation meets the hour's resource, delay and grid rows "
                               f"(HiGHS: {self.highs.modelStatusToString(status)})")
        self._basis = self.highs.getBasis()
        v = np.asarray(self.highs.getSolution().col_value)
        x = np.clip(v[:n_x], 0.0, 1.0).reshape(self.coef.N, self.coef.J)
        x /= x.sum(axis=1, keepdims=True)
        return HourSolution(x=x, water_l=float(wl @ x.reshape(-1)),
                            cost_weighted=float(self._x_cost[t].reshape(-1) @ x.reshape(-1)
                                                + self._grid_cost[t] @ v[n_x:]),
                            relaxed=relaxed, iterations=int(self.highs.getInfo().simplex_iteration_count),
                            grid_kw=v[n_x:].copy())


LEAST_WATER_MARGIN = 1e-9
"""An hour whose least-water allocation misses a row by more than 1e-13 of the family's bound (the solver's
tolerance) is solved again with capacities, delay caps and grid caps shrunk by this fraction, so that it is
feasible (its water then at most this fraction above the exact minimum)."""


@dataclass(frozen=True, eq=False)
class LeastWater:
    """Each hour's least water ``least_l`` (T,) L and its allocation ``x`` (T, N, J); ``reserve_l`` (T+1,):
    ``reserve_l[t] = Σ_{s >= t} least_l[s]`` (``reserve_l[T] = 0``)."""

    least_l: np.ndarray
    x: np.ndarray
    reserve_l: np.ndarray


def least_water(coef: cost.Coefficients) -> LeastWater:
    """`LeastWater` of a scenario: one warm hourly LP per hour (about 1-3 ms each at the default size), each
    allocation checked against its rows by the cost kernel.

    Raises ``RuntimeError`` if some hour has no allocation meeting its resource, delay and grid rows."""
    lp = HourlyLP(coef)
    sols = [lp.solve(t, objective="water") for t in range(coef.T)]
    # Simplex vertices meet their rows to about 1e-17 of each family's bound; an hour that does not (solver
    # tolerance) is solved again with its bounds shrunk by LEAST_WATER_MARGIN, so that it is feasible.
    _, viol, *_ = cost.hour_terms(cost.hour_tables(coef), np.stack([s.x for s in sols]), None, True,
                                  np.arange(coef.T))
    bound = np.stack([coef.capacity.sum() * np.ones(coef.T), np.full(coef.T, coef.delay_cap_s.sum()),
                      coef.grid_cap_kw.sum(axis=1)], axis=1)
    for t in np.flatnonzero((viol[:, 1:4] > 1e-13 * bound).any(axis=1)):
        sols[t] = lp.solve(int(t), objective="water", margin=LEAST_WATER_MARGIN)
    least = np.array([s.water_l for s in sols])
    x = np.stack([s.x for s in sols])
    reserve = np.concatenate([np.cumsum(least[::-1])[::-1], [0.0]])
    for a in (least, x, reserve):
        a.setflags(write=False)
    return LeastWater(least_l=least, x=x, reserve_l=reserve)


def even_action(log_curve: np.ndarray, actions: np.ndarray) -> float:
    """The action where a non-increasing curve ``log(W(μ(a)) / even share)`` sampled at ``actions`` crosses 0,
    interpolated linearly; -1.5 or 1.5 when the whole curve is on one side (the hybrid agents' feature)."""
    if log_curve[0] <= 0.0:
        return -1.5
    if log_curve[-1] >= 0.0:
        return 1.5
    q = int(np.argmax(log_curve < 0.0))  # first sample below the even share
    hi, lo = log_curve[q - 1], log_curve[q]
    frac = hi / (hi - lo) if hi > lo else 0.5
    return float(actions[q - 1] + frac * (actions[q] - actions[q - 1]))
