"""Model-predictive control: re-plan a window of H hours with the LP every slot, apply the first slot.

At slot t the policy solves the LP of `baselines.lp` over the window ``[t, min(t+H, T))`` (a windowed
scenario, `window`) and plays the window's first slot. Two information settings:

- ``forecast="perfect"`` (spec ``mpc``): the window's demand, prices, carbon and renewables are the
  scenario's true values.
- ``forecast="env"`` (spec ``mpc_noisy``): they are ``env.forecast(...)``, the environment's seeded noisy
  forecasts; the policy asks for ``forecast_noise = noise`` (default 0.1) through its ``env_kwargs``.
  Parameters the forecast does not cover (delay, water intensity, capacities, grid caps) are known exactly.

Water budget carried over the remaining horizon: the window's budget is the water left
(``env.water_left_l``) when the window reaches the horizon's end, and otherwise the water left scaled by
the window's share of the remaining IT energy demand (``share = sum_window e·λ / sum_{t..T-1} e·λ``),
capped so that the slots after the window keep the least water they need (``least[s]``: the water of slot
s's least-water allocation, `baselines.heuristics.least_water_l`)::

    allowance = max(min(water_left * share, water_left - sum(least[t1:]) - margin), least[t])
    allowance = max(water_left - margin, least[t])                 # window reaching the horizon's end

All of these are read from the same forecast over the remaining horizon (noisy for ``mpc_noisy``). With
perfect forecasts ``margin = 0``; with noisy ones it keeps water back for the later slots' forecast error,
``margin = water_margin · σ · ||least[t+1:]||_2 / sqrt(I·K)`` (σ = the env's ``forecast_noise``; see
`MPCPolicy`), which shrinks to 0 at the last slot: the generator's budgets can be within a few % of the
least water a day needs, and the environment's water penalty is steep.

Speed: one HiGHS instance per policy; each re-solve is warm-started from the previous basis shifted by
one slot. With perfect forecasts and a window reaching the horizon's end the previous plan's tail is still
optimal (the LP's principle of optimality: the applied slot is the planned one and the water budget is the
water left), so it is replayed without re-solving; with ``H >= T`` one LP per episode is solved, and the
episode's cost equals the oracle's.

If a window's LP is infeasible under its water allowance, the window's least-water plan is played (the
smallest overrun, charged by the environment); if even that is infeasible (noisy demand above capacity),
the slot falls back to the remaining plan or to the `baselines.heuristics` "nearest" allocation.
"""

from __future__ import annotations

import time
from typing import Any, Sequence

import highspy
import numpy as np

from green_llm_env import cost
from green_llm_env.scenario import Scenario

from .lp import ROW_FAMILIES, build_lp, objective_vector, pass_lp
from .policy import to_action  # noqa: F401 (re-exported: baselines.mpc.to_action)
from green_llm_env.highs import PRIMAL_FEASIBILITY_TOL, silent_highs

__all__ = ["TIME_FIELDS", "MPCPolicy", "WindowSolver", "WindowInfeasible", "window", "forecast_overrides",
           "hours_left_dual", "to_action"]

TIME_FIELDS = ("lam", "c", "theta", "P_w", "P_max", "WUE", "EWIF", "beta")
"""Scenario fields with a leading time axis (sliced by `window`)."""

_FORECAST_FIELDS = {"demand": "lam", "price": "c", "carbon": "theta", "renewable_kw": "P_w"}


def window(scenario: Scenario, t0: int, t1: int, Z: float, **overrides: np.ndarray) -> Scenario:
    """The scenario restricted to slots ``t0 .. t1-1`` with water budget ``Z`` (L, may be ``inf``).

    ``overrides`` replace time fields (already windowed, leading axis ``t1 - t0``), e.g. forecasts.
    Validated like every Scenario (forecasts included), except that ``Z`` may be infinite; slot 0 of the
    result is slot ``t0`` of ``scenario``.
    """
    if not 0 <= t0 < t1 <= scenario.T:
        raise ValueError(f"window needs 0 <= t0 < t1 <= T = {scenario.T}; got t0 = {t0}, t1 = {t1}")
    changes: dict[str, Any] = {f: getattr(scenario, f)[t0:t1] for f in TIME_FIELDS}
    for key, value in overrides.items():
        if key not in TIME_FIELDS:
            raise ValueError(f"window override {key!r} is not a time field {TIME_FIELDS}")
        value = np.asarray(value, dtype=np.float64)
        if value.shape != changes[key].shape:
            raise ValueError(f"window override {key} must have shape {changes[key].shape}; got {value.shape}")
        changes[key] = value
    return scenario.replace(**changes, Z=float(Z), start_hour=(int(scenario.start_hour) + t0) % 24,
                            infinite_Z=True)


def forecast_overrides(forecast: dict[str, np.ndarray], n: int | None = None) -> dict[str, np.ndarray]:
    """Map ``env.forecast(...)`` keys to scenario fields (``demand`` -> ``lam``, ``price`` -> ``c``,
    ``carbon`` -> ``theta``, ``renewable_kw`` -> ``P_w``), keeping the first ``n`` slots."""
    out = {}
    for key, field in _FORECAST_FIELDS.items():
        if key in forecast:
            arr = np.asarray(forecast[key], dtype=np.float64)
            out[field] = arr if n is None else arr[:n]
    return out


def hours_left_dual(base: Any, forecast: Scenario | None = None) -> float | None:
    """The water dual ($/L) of the LP of the hours left of ``base``'s episode (a GreenLLM env after reset: its
    ``scenario``, ``t``, ``horizon``, ``water_left_l``, ``weights``) with the water left as budget: v2's LP
    (litres beyond it at ``base.water_price``, the water left floored at 0) where the env has that price, else a
    hard budget. Hour ``t`` is exact; the later hours are ``forecast``'s (a Scenario of the same day) when given.
    None when that LP has no solution (a forecast the hours cannot host, or too little water on v1)."""
    from .oracle import solve
    from .result import InfeasibleScenarioError
    from .rollout import env_water_price

    price = env_water_price(base)
    left = float(base.water_left_l) if price is None else max(float(base.water_left_l), 0.0)
    t, real = int(base.t), base.scenario
    hours = {} if forecast is None else {
        f: np.concatenate([getattr(real, f)[t:t + 1], getattr(forecast, f)[t + 1:]]) for f in TIME_FIELDS}
    try:
        day = window(real, t, int(base.horizon), left, **hours)
        return float(solve(day, base.weights, water_price=price).water_dual)
    except (InfeasibleScenarioError, ValueError):
        return None


class WindowInfeasible(RuntimeError):
    """The window's LP has no feasible point even with the water row relaxed."""


def _family_blocks(coef_T: int, N: int, J: int, R: int) -> tuple[list[int], list[int | None]]:
    """Per-slot block sizes of the LP's columns (x, P_g) and rows (families, in order; None = not per slot)."""
    cols = [N * J, J]
    rows: list[int | None] = []
    for fam in ROW_FAMILIES:
        rows.append({"allocation": N, "power_balance": J, "grid_load": J, "water_budget": None,
                     "resources": R * J, "delay_cap": N}[fam])
    return cols, rows


def _shift_status(old: list, blocks: Sequence[int | None], h_old: int, h_new: int, shift: int) -> list:
    """Shift slot-major status blocks (a list): new slot q takes old slot min(q + shift, h_old - 1)."""
    out: list = []
    pos = 0
    src = np.minimum(np.arange(h_new) + shift, h_old - 1).tolist()
    for b in blocks:
        if b is None:
            out.extend(old[pos:pos + 1])
            pos += 1
            continue
        for q in src:
            out.extend(old[pos + q * b:pos + (q + 1) * b])
        pos += h_old * b
    return out


class WindowSolver:
    """One HiGHS instance solving the LPs of successive windows; each solve warm-starts from the previous
    basis shifted by ``shift`` slots (accepted by HiGHS only when it is a valid basis; else a cold start)."""

    def __init__(self, weights: Sequence[float] = cost.DEFAULT_WEIGHTS, tie_break: float = 1e-6) -> None:
        w = cost.check_weights(weights)
        self.weights = w
        self.solve_weights = np.where(w == 0, tie_break, w)
        self.highs = silent_highs()
        self.highs.setOptionValue("solver", "simplex")
        self.highs.setOptionValue("primal_feasibility_tolerance", PRIMAL_FEASIBILITY_TOL)
        self._basis: tuple[list, list, int, tuple[int, int, int]] | None = None
        self.solves = 0
        self.warm = 0
        self.solve_s = 0.0

    @classmethod
    def reuse(cls, solver: "WindowSolver | None", weights: Sequence[float], tie_break: float = 1e-6
              ) -> "WindowSolver":
        """``solver`` itself (its HiGHS instance kept, basis forgotten) if it has these weights, else a new one."""
        w = cost.check_weights(weights)
        if solver is not None and np.array_equal(solver.weights, w) and np.array_equal(
                solver.solve_weights, np.where(w == 0, tie_break, w)):
            solver.forget()
            solver.solves = solver.warm = 0
            solver.solve_s = 0.0
            return solver
        return cls(w, tie_break)

    def forget(self) -> None:
        """Drop the stored basis (next solve starts cold)."""
        self._basis = None

    def solve(self, scenario: Scenario, shift: int = 1) -> tuple[np.ndarray, bool]:
        """Solve the window LP of ``scenario`` (its water budget ``Z`` is the window's allowance).

        Returns ``(plan (H, I, K, J), water_relaxed)``; ``water_relaxed`` means no plan met the allowance and
        ``plan`` is the window's least-water plan instead. Raises `WindowInfeasible` if even that fails.
        """
        t_start = time.perf_counter()
        coef = cost.coefficients(scenario)
        lp = build_lp(coef)
        c = objective_vector(coef, self.solve_weights)
        h = self.highs
        pass_lp(h, lp, c)
        dims = (coef.N, coef.J, coef.R)
        if self._basis is not None and self._basis[3] == dims:
            col_st, row_st, h_old, _ = self._basis
            col_blocks, row_blocks = _family_blocks(coef.T, *dims)
            new_col = _shift_status(col_st, col_blocks, h_old, coef.T, shift)
            new_row = _shift_status(row_st, row_blocks, h_old, coef.T, shift)
            basis = highspy.HighsBasis()
            basis.col_status = new_col
            basis.row_status = new_row
            basis.valid = True
            if h.setBasis(basis) == highspy.HighsStatus.kOk:
                self.warm += 1
        relaxed = False
        h.run()
        status = h.getModelStatus()
        if status != highspy.HighsModelStatus.kOptimal and np.isfinite(coef.water_budget_l):
            # No plan fits the allowance: take the window's least-water plan (the smallest overrun).
            row = lp.families["water_budget"].start
            h.changeRowBounds(row, -np.inf, np.inf)
            water = np.concatenate([cost.water_l_per_share(coef).reshape(-1), np.zeros(lp.num_col - lp.n_x)])
            h.changeColsCost(lp.num_col, np.arange(lp.num_col, dtype=np.int32), water)
            relaxed = True
            h.run()
            status = h.getModelStatus()
        self.solves += 1
        self.solve_s += time.perf_counter() - t_start
        if status != highspy.HighsModelStatus.kOptimal:
            self._basis = None
            raise WindowInfeasible(f"window LP not solved: {h.modelStatusToString(status)}")
        b = h.getBasis()
        self._basis = (list(b.col_status), list(b.row_status), coef.T, dims)
        v = np.asarray(h.getSolution().col_value)
        return v[:lp.n_x].reshape(coef.T, coef.I, coef.K, coef.J), relaxed


class MPCPolicy:
    """Receding-horizon LP over H hours (see the module docstring).

    Args:
        name: label in results.
        horizon: window length H in hours (>= 1); ``H >= T`` plans to the horizon's end every slot.
        forecast: ``"perfect"`` (true scenario values) or ``"env"`` (``env.forecast``, noisy).
        noise: the ``forecast_noise`` requested from the environment when ``forecast="env"``.
        water_margin: with ``forecast="env"``, water kept back for forecast error (L):
            ``water_margin · σ · ||least[t+1:]||_2 / sqrt(I·K)``, σ = the env's forecast noise, ``least`` the
            forecast least water per slot (the noise is independent per slot and (i, k), so the error of the
            later slots' water need averages over I·K demands and adds in quadrature over slots).
        tie_break: weight given to a zero objective weight inside the LP (as `baselines.solve`).
    """

    def __init__(self, name: str = "mpc", horizon: int = 24, forecast: str = "perfect", noise: float = 0.1,
                 water_margin: float = 2.0, tie_break: float = 1e-6) -> None:
        if int(horizon) != horizon or horizon < 1:
            raise ValueError(f"MPCPolicy horizon must be an integer >= 1; got {horizon}")
        if forecast not in ("perfect", "env"):
            raise ValueError(f"MPCPolicy forecast must be 'perfect' or 'env'; got {forecast!r}")
        if not (np.isfinite(noise) and noise >= 0):
            raise ValueError(f"MPCPolicy noise must be finite and >= 0; got {noise}")
        self.name = name
        self.horizon = int(horizon)
        self.forecast = forecast
        self.kind = "mpc" if forecast == "perfect" else "mpc_noisy"
        self.env_kwargs: dict[str, Any] = {"forecast_noise": float(noise)} if forecast == "env" else {}
        if not (np.isfinite(water_margin) and water_margin >= 0):
            raise ValueError(f"MPCPolicy water_margin must be finite and >= 0; got {water_margin}")
        self.water_margin = float(water_margin)
        self.noise = float(noise)
        self.tie_break = tie_break
        self.solver: WindowSolver | None = None

    def reset(self, env: Any) -> None:
        self.scenario: Scenario = env.scenario
        self.T = self.scenario.T
        self.solver = WindowSolver.reuse(self.solver, env.weights, self.tie_break)
        self._plan: np.ndarray | None = None
        self._plan_t0 = 0
        self._plan_end = 0
        self._true = self._profile(self.scenario) if self.forecast == "perfect" else None
        self.fallbacks = 0
        self.relaxed = 0

    @staticmethod
    def _profile(scenario: Scenario) -> tuple[np.ndarray, np.ndarray]:
        """(IT energy kWh, least water L) per slot of ``scenario``."""
        from .heuristics import least_water_l

        return cost.coefficients(scenario).it_kw.sum(axis=1), least_water_l(scenario)

    def _window_inputs(self, env: Any, t: int, t1: int) -> tuple[dict[str, np.ndarray], float]:
        water_left = max(float(env.water_left_l), 0.0)
        margin = 0.0
        if self.forecast == "perfect":
            overrides: dict[str, np.ndarray] = {}
            energy, least = (a[t:] for a in self._true)
        else:
            rest = forecast_overrides(env.forecast(self.T - t))
            overrides = {k: v[:t1 - t] for k, v in rest.items()}
            energy, least = self._profile(window(self.scenario, t, self.T, self.scenario.Z, **rest))
            sigma = float(getattr(env, "forecast_noise", self.noise))
            # For the later slots' forecast error: independent noise per (slot, i, k) averages out over the
            # I*K demands of a slot and adds in quadrature over slots.
            spread = float(np.linalg.norm(least[1:])) / np.sqrt(self.scenario.I * self.scenario.K)
            margin = self.water_margin * sigma * spread
        n = t1 - t
        if t1 >= self.T:
            allowance = water_left - margin
        else:
            total = float(energy.sum())
            share = water_left * (float(energy[:n].sum()) / total if total > 0 else n / (self.T - t))
            allowance = min(share, water_left - float(least[n:].sum()) - margin)
        return overrides, max(allowance, float(least[:1].sum()), 0.0)

    def act(self, obs: Any, env: Any) -> np.ndarray:
        t = int(env.t)
        T = self.T
        reuse = (self.forecast == "perfect" and self._plan is not None and self._plan_end >= T
                 and self._plan_t0 <= t < self._plan_end)
        if not reuse:
            t1 = min(t + self.horizon, T)
            overrides, allowance = self._window_inputs(env, t, t1)
            try:
                plan, relaxed = self.solver.solve(window(self.scenario, t, t1, allowance, **overrides),
                                                  shift=t - self._plan_t0 if self._plan is not None else 0)
                self.relaxed += int(relaxed)
                self._plan, self._plan_t0, self._plan_end = plan, t, t1
            except WindowInfeasible:
                self.fallbacks += 1
                if self._plan is None or not self._plan_t0 <= t < self._plan_end:
                    from .heuristics import nearest_plan

                    self._plan, self._plan_t0, self._plan_end = nearest_plan(self.scenario)[t:t + 1], t, t + 1
        return to_action(self._plan[t - self._plan_t0])
