"""The hourly safety layer of GreenLLM-v0 (``constraint_mode="project"``): a small HiGHS QP.

Given shares ``x0`` (N, J) for hour t, `SafetyLayer.project` returns the nearest allocation (Euclidean) that
meets every constraint of that hour (MODEL.md section 4):

- allocation: Σ_j x[n, j] = 1, 0 <= x <= 1;
- resources: Σ_n resource[t, n, r]·x[n, j] <= C[r, j];
- delay: Σ_j D[t, n, j]·x[n, j] <= Δ[n];
- grid: Σ_n P_d[t, n, j]·x[n, j] - P_w[t, j] <= P_max[t, j] (facility power beyond renewables and the cap);
- water: Σ_{n, j} W[t, n, j]·x[n, j] <= water left - reserve, where the reserve is the least water the
  remaining hours t+1..T-1 need while meeting their own rows (one small LP per hour, at construction), so
  that a later hour is never left without water. A plan that meets the whole-day budget (the oracle's)
  meets this row at every hour, so it passes through unchanged. If (almost) no more than the hour's least
  need is left, or the QP fails numerically, the layer returns the hour's least-water feasible allocation
  (an LP solved at construction); water beyond what is left is then charged by the env as a penalty.

Rows come from `green_llm_env.constraints` (the same rows as the oracle's LP, for hour t: columns x and P_g,
the Hessian on x only); the least water per hour from `green_llm_env.hourly.least_water` (shared with the
feasibility guard of GreenLLM-v1). One QP has N·J + J columns and N + 2J + 1 + R·J + N rows by default;
shares that already meet every row (violations within what the env's penalty forgives) skip it. A QP takes
a few ms to a few tens of ms.
"""

from __future__ import annotations


import highspy
import numpy as np

from . import cost
from .constraints import LinearProgram, hour_lp
from .guard import least_water_of
from .highs import silent_highs

__all__ = ["SafetyLayer"]

_TIME_LIMIT_S = 10.0


class SafetyLayer:
    """Projects hourly allocations onto the feasible set of one scenario (see the module docstring).

    Args:
        tables: the `green_llm_env.env.ScenarioTables` of the scenario (its ``coef``, ``hour`` and ``tol``).
    """

    def __init__(self, tables) -> None:
        self.tables = tables
        coef: cost.Coefficients = tables.coef
        self.coef = coef
        self.N, self.J, self.R, self.T = coef.N, coef.J, coef.R, coef.T
        self._highs = silent_highs()
        self._highs.setOptionValue("time_limit", _TIME_LIMIT_S)
        self.last_status = ""
        lw = least_water_of(tables)
        self._least, self._x_least = lw.least_l, lw.x  # (T,) least water per hour, (T, N, J) its allocation
        self._reserve = lw.reserve_l[1:]  # hours t+1..T-1

    def reserve_l(self, t: int) -> float:
        """Water (L) kept back at hour t for the hours after it."""
        return float(self._reserve[t])

    def _model(self, t: int) -> LinearProgram:
        """The rows of hour t (`constraints.hour_lp`: shared with the hourly LP, read-only)."""
        return hour_lp(self.coef, t)

    def water_cap_l(self, t: int, water_left_l: float) -> float:
        """Water (L) hour t may use: what is left minus the reserve (and a 1e-7 relative margin for solver
        round-off), but never below the hour's least need."""
        cap = water_left_l - self._reserve[t]
        return max(cap - 1e-7 * abs(cap), self._least[t])

    def feasible(self, x: np.ndarray, t: int, water_left_l: float) -> bool:
        """Whether shares ``x`` (N, J) meet every row of hour t, water row ``<= water left - reserve``, within
        what the env's penalty forgives (``tables.tol``)."""
        xf = np.asarray(x, np.float64).reshape(1, self.N, self.J)
        _, viol, *_ = cost.hour_terms(self.tables.hour, xf, water_left_l - self._reserve[t], rows=np.array([t]))
        return bool(xf.min() >= 0.0 and np.all(viol[0, 1:] <= self.tables.tol[t, 1:]))  # rows sum to 1 already

    def project(self, x0: np.ndarray, t: int, water_left_l: float) -> np.ndarray:
        """Nearest feasible shares (N, J) to ``x0`` (N, J) at hour ``t`` with ``water_left_l`` litres left.

        Shares that already meet every row (see `feasible`) are returned unchanged.
        """
        N, J = self.N, self.J
        n = N * J
        x0 = np.asarray(x0, np.float64)
        if self.feasible(x0, t, water_left_l):
            self.last_status = "unchanged"
            return x0
        cap = self.water_cap_l(t, water_left_l)
        if cap <= self._least[t] * (1.0 + 1e-6):  # (almost) no room: the least-water allocation
            self.last_status = "least-water"
            return self._x_least[t].copy()
        lp = self._model(t)
        row_upper = lp.row_upper.copy()
        w = lp.row("water_budget")
        row_upper[w] = cap * lp.row_scale[w]
        h = self._highs
        h.clearModel()
        model = highspy.HighsModel()
        m = model.lp_
        m.num_col_ = lp.num_col
        m.num_row_ = lp.num_row
        m.col_cost_ = np.concatenate([-2.0 * x0.reshape(-1), np.zeros(lp.num_col - n)])
        m.col_lower_ = lp.col_lower
        m.col_upper_ = lp.col_upper
        m.row_lower_ = lp.row_lower
        m.row_upper_ = row_upper
        m.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        m.a_matrix_.start_ = lp.a_start
        m.a_matrix_.index_ = lp.a_index
        m.a_matrix_.value_ = lp.a_value
        hess = highspy.HighsHessian()  # |x - x0|^2 on the x columns; P_g free of cost
        hess.dim_ = lp.num_col
        hess.format_ = highspy.HessianFormat.kTriangular
        hess.start_ = np.concatenate([np.arange(n + 1), np.full(lp.num_col - n, n)]).astype(np.int32)
        hess.index_ = np.arange(n, dtype=np.int32)
        hess.value_ = np.full(n, 2.0)
        model.hessian_ = hess
        h.passModel(model)
        h.run()
        status = h.getModelStatus()
        self.last_status = h.modelStatusToString(status)
        if status != highspy.HighsModelStatus.kOptimal:  # rare numerical failure: fall back, still feasible
            self.last_status = f"least-water (QP: {self.last_status})"
            return self._x_least[t].copy()
        v = np.asarray(h.getSolution().col_value)[:n]
        x = np.clip(v, 0.0, 1.0).reshape(N, J)
        return x / x.sum(axis=1, keepdims=True)
