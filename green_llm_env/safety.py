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

Rows come from `green_llm_env.cost` (no other cost formula here); each row is scaled by its largest
coefficient. One QP has N·J columns and N + R·J + N + J + 1 rows (405 x 127 by default); shares that
already meet every row (within 1e-6 on the scaled rows) skip it. A QP takes a few ms to a few tens of ms.
"""

from __future__ import annotations


import highspy
import numpy as np

from . import cost
from .highs import silent_highs

__all__ = ["SafetyLayer"]

_TIME_LIMIT_S = 10.0


class SafetyLayer:
    """Projects hourly allocations onto the feasible set of one scenario (see the module docstring).

    Args:
        tables: the `green_llm_env.env.ScenarioTables` of the scenario (only its ``coef`` is used).
    """

    def __init__(self, tables) -> None:
        self.tables = tables
        coef: cost.Coefficients = tables.coef
        self.coef = coef
        self.N, self.J, self.R, self.T = coef.N, coef.J, coef.R, coef.T
        self._fkw = cost.facility_kw_per_share(coef)  # (T, N, J)
        self._wl = cost.water_l_per_share(coef)  # (T, N, J)
        self._highs = silent_highs()
        self._highs.setOptionValue("time_limit", _TIME_LIMIT_S)
        self._models: dict[int, tuple] = {}
        self.last_status = ""
        self._x_least = np.zeros((self.T, self.N, self.J))
        self._least = np.array([self._least_water(t) for t in range(self.T)])  # (T,) least water per hour
        self._reserve = np.concatenate([np.cumsum(self._least[::-1])[::-1][1:], [0.0]])  # hours t+1..T-1

    def reserve_l(self, t: int) -> float:
        """Water (L) kept back at hour t for the hours after it."""
        return float(self._reserve[t])

    def _model(self, t: int) -> tuple:
        """Column-wise constraint matrix of hour t (cached): rows allocation, resources, delay, grid, water."""
        hit = self._models.get(t)
        if hit is not None:
            return hit
        N, J, R = self.N, self.J, self.R
        coef = self.coef
        n_idx = np.arange(N)[:, None]
        j_idx = np.arange(J)[None, :]
        r0, r1, r2, r3, r4 = 0, N, N + R * J, 2 * N + R * J, 2 * N + R * J + J
        num_row = r4 + 1
        res = coef.resource[t]  # (N, R)
        per = 4 + R
        rows = np.empty((N, J, per), np.int64)
        vals = np.empty((N, J, per))
        rows[..., 0] = r0 + n_idx
        vals[..., 0] = 1.0
        rows[..., 1:1 + R] = r1 + np.arange(R)[None, None, :] * J + j_idx[..., None]
        vals[..., 1:1 + R] = res[:, None, :]
        rows[..., 1 + R] = r2 + n_idx
        vals[..., 1 + R] = coef.delay_s[t]
        rows[..., 2 + R] = r3 + j_idx
        vals[..., 2 + R] = self._fkw[t]
        rows[..., 3 + R] = r4
        vals[..., 3 + R] = self._wl[t]
        # row scaling: inverse of each row's largest coefficient
        scale = np.ones(num_row)
        flat_rows, flat_vals = rows.reshape(-1), vals.reshape(-1)
        big = np.zeros(num_row)
        np.maximum.at(big, flat_rows, np.abs(flat_vals))
        scale[big > 0] = 1.0 / big[big > 0]
        index = flat_rows.astype(np.int32)
        value = flat_vals * scale[index]
        keep = value != 0.0
        col_of = np.repeat(np.arange(N * J), per)
        counts = np.bincount(col_of[keep], minlength=N * J)
        start = np.zeros(N * J + 1, np.int32)
        np.cumsum(counts, out=start[1:])
        lower = np.full(num_row, -np.inf)
        upper = np.empty(num_row)
        lower[r0:r1] = 1.0
        upper[r0:r1] = 1.0
        upper[r1:r2] = coef.capacity.reshape(-1)
        upper[r2:r3] = coef.delay_cap_s
        upper[r3:r4] = coef.renewable_kw[t] + coef.grid_cap_kw[t]
        hit = (start, index[keep], value[keep], lower * scale, upper * scale, scale, r4, col_of[keep])
        self._models[t] = hit
        return hit

    def _least_water(self, t: int) -> float:
        """Least water (L) of hour t over allocations meeting the hour's other rows (an LP)."""
        n = self.N * self.J
        start, index, value, lower, upper, scale, r4, _ = self._model(t)
        h = self._highs
        h.clearModel()
        upper = upper.copy()
        upper[r4] = np.inf
        h.passModel(n, lower.size, index.size, 1, 1, 0.0, self._wl[t].reshape(-1), np.zeros(n), np.ones(n),
                    lower, upper, start, index, value, np.zeros(n, np.int32))
        h.run()
        if h.getModelStatus() != highspy.HighsModelStatus.kOptimal:
            raise RuntimeError(f"safety layer: hour {t} has no allocation meeting its resource, delay and grid "
                               f"limits (HiGHS: {h.modelStatusToString(h.getModelStatus())})")
        v = np.clip(np.asarray(h.getSolution().col_value), 0.0, 1.0).reshape(self.N, self.J)
        self._x_least[t] = v / v.sum(axis=1, keepdims=True)
        return float(h.getInfo().objective_function_value)

    def water_cap_l(self, t: int, water_left_l: float) -> float:
        """Water (L) hour t may use: what is left minus the reserve (and a 1e-7 relative margin for solver
        round-off), but never below the hour's least need."""
        cap = water_left_l - self._reserve[t]
        return max(cap - 1e-7 * abs(cap), self._least[t])

    def feasible(self, x: np.ndarray, t: int, water_left_l: float, rtol: float = 1e-6) -> bool:
        """Whether shares ``x`` (N, J) meet every row of hour t, water row ``<= water left - reserve``
        (scaled rows, tolerance ``rtol``·max(1, |bound|), solver round-off)."""
        start, index, value, lower, upper, scale, r4, col_of = self._model(t)
        xf = np.asarray(x, np.float64).reshape(-1)
        if xf.min() < 0.0:
            return False
        act = np.bincount(index, weights=value * xf[col_of], minlength=lower.size)
        up = upper.copy()
        up[r4] = max(water_left_l - self._reserve[t], 0.0) * scale[r4]
        lo = lower
        return bool(np.all(act <= up + rtol * np.maximum(1.0, np.abs(up)))
                    and np.all(act >= lo - rtol * np.maximum(1.0, np.abs(lo))))

    def project(self, x0: np.ndarray, t: int, water_left_l: float) -> np.ndarray:
        """Nearest feasible shares (N, J) to ``x0`` (N, J) at hour ``t`` with ``water_left_l`` litres left.

        Shares that already meet every row (within 1e-9 on the scaled rows) are returned unchanged.
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
        start, index, value, lower, upper, scale, r4, _ = self._model(t)
        upper = upper.copy()
        upper[r4] = cap * scale[r4]
        h = self._highs
        h.clearModel()
        lp = highspy.HighsLp()
        lp.num_col_ = n
        lp.num_row_ = lower.size
        lp.col_cost_ = -2.0 * x0.reshape(-1)
        lp.col_lower_ = np.zeros(n)
        lp.col_upper_ = np.ones(n)
        lp.row_lower_ = lower
        lp.row_upper_ = upper
        lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
        lp.a_matrix_.start_ = start
        lp.a_matrix_.index_ = index
        lp.a_matrix_.value_ = value
        model = highspy.HighsModel()
        model.lp_ = lp
        hess = highspy.HighsHessian()
        hess.dim_ = n
        hess.format_ = highspy.HessianFormat.kTriangular
        hess.start_ = np.arange(n + 1, dtype=np.int32)
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
        v = np.asarray(h.getSolution().col_value)
        x = np.clip(v, 0.0, 1.0).reshape(N, J)
        return x / x.sum(axis=1, keepdims=True)
