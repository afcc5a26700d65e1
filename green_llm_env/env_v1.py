"""GreenLLM-v1: the fully observed, feasible-by-construction version of GreenLLM-v0 (see `GreenLLMEnvV1`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

import numpy as np
from gymnasium import spaces

from . import cost
from .constraints import build_lp, objective_vector
from .env import DEFAULT_PENALTY_FACTOR, DEFAULT_REWARD_SCALE, GreenLLMEnv, ScenarioTables, safety_layer
from .guard import feasibility_guard, least_water_of
from .highs import pass_lp, silent_highs
from .observation import lognormal_factors
from .observation_v1 import V1Layout, v1_table
from .scenario import Scenario

__all__ = ["CONSTRAINT_MODES_V1", "GreenLLMEnvV1", "dual_penalty_rates"]

CONSTRAINT_MODES_V1 = ("guard", "penalty", "project")
_DUAL_FLOOR = 0.01  # fraction of the oracle's average $ per unit of a family's bound, the least rate charged


def dual_penalty_rates(tab: ScenarioTables, factor: float = DEFAULT_PENALTY_FACTOR) -> np.ndarray:
    """(T, 5) $ per unit of violation from the full-horizon LP's duals (the families of `cost.FAMILIES`).

    Exact-penalty rule: with the optimal multipliers y* of the LP's rows (resources, delay cap, power balance
    for grid, the water budget), any allocation x on the simplex satisfies
    ``cost(x) + Σ_rows y*·max(A x - b, 0) >= the optimum`` (weak duality, the grid's excess over its cap
    being power balance's violation at P_g = P_max), so charging at least y* per unit means no plan beats the
    oracle. The rate of a family is ``factor · max(max_{t, rows} y*, floor)``, one value per family over the
    whole horizon, with ``floor = 0.01 × optimum / (the family's total bound)`` so that a row that does not bind
    at the optimum is still charged. Solves the LP once (about 0.1 s at the default size)."""
    coef, w = tab.coef, tab.weights
    lp = build_lp(coef)
    h = silent_highs()
    h.setOptionValue("time_limit", 60.0)
    pass_lp(h, lp, objective_vector(coef, np.where(w == 0, 1e-6, w)))
    h.run()
    rates = np.array(tab.mu[0])  # fall back on the exchange-rate bound if the LP is not solved
    if h.getModelStatus() != h.getModelStatus().kOptimal:
        return np.broadcast_to(rates, (coef.T, 5)).copy()
    y = np.abs(np.asarray(h.getSolution().row_dual)) * lp.row_scale
    opt = max(float(h.getInfo().objective_function_value), 1e-9)
    fam = lp.families
    bounds = (1.0, coef.capacity.sum() * coef.T, coef.delay_cap_s.sum() * coef.T, coef.grid_cap_kw.sum(),
              max(coef.water_budget_l, 1e-9))
    rows = (None, "resources", "delay_cap", "power_balance", "water_budget")
    out = np.zeros(5)
    for f, (name, bound) in enumerate(zip(rows, bounds)):
        if name is None:
            continue
        out[f] = factor * max(float(y[fam[name]].max()), _DUAL_FLOOR * opt / bound)
    return np.broadcast_to(out, (coef.T, 5)).copy()


class GreenLLMEnvV1(GreenLLMEnv):
    """
    ## Description

    The allocation problem of `green_llm_env.env.GreenLLMEnv` (GreenLLM-v0; same cost model, same scenarios,
    same action space) made learnable: the observation shows every scenario number the current hour's costs
    and constraints depend on, a feasibility guard keeps every hour within every constraint, and the
    episode ends at the scenario's horizon. Played as actions, the oracle's plan (`baselines.solve`) earns Σ
    ``info["cost_weighted"]`` = its objective with zero penalty; an episode is scored by its oracle gap.

    ## Action Space

    As v0: ``Box(-1, 1, (I*K*J,), float32)`` read as ``a[i, k, j]``, each (i, k) row mapped onto the simplex
    (``action_mode="project"``, exact Euclidean projection, the default; or ``"softmax"``).

    ## Observation Space

    ``Box(low, high, (D,), float32)``, ``D = N·J·(R+4) + J·(R+8) + 3N + 7 + H·(4J + N)`` with N = I·K
    (3,076 by default: I=J=9, K=5, R=3, H=0); the parts, their features and scales are listed in
    `green_llm_env.observation_v1` (``options`` per (area-type, DC): delay relative to the cap, resource use
    relative to capacity, facility kW, water and weighted cost per share; ``dcs``: price, carbon, carbon
    price, weighted grid price, renewables, grid cap, PUE, water per kWh, capacity headroom; ``areas``:
    demand, delay cap, delay price; ``globals``: water left, water per remaining hour, the water the guard
    lets this hour use, the hour's least water, hour of day, time left; forecasts as v0 plus water per kWh). ``env.unwrapped.layout.split(obs)``
    names the parts; ``env.unwrapped.layout.structured(obs)`` gives options as rows (N, J, F) for models
    that share weights across options (`green_llm_env.wrappers.StructuredObservation`: a ``Dict`` space).

    ## Rewards

    ``reward = -reward_scale * (cost_weighted + penalty)`` for the hour (as v0). Constraint handling
    (``constraint_mode``):

    - ``"guard"`` (default): `green_llm_env.guard.FeasibilityGuard` blends the mapped shares with the hour's
      least-water allocation just enough to meet every row (per (i, k) for delay caps, one blend for
      resources, grid and water), keeping back the least water the later hours need. No solver per step; a
      feasible allocation (the oracle's hour) passes unchanged; the penalty is 0 unless the budget is below
      the day's least need. A random policy pays no penalty.
    - ``"penalty"``: no correction; violations are charged at rates from the LP's duals
      (`dual_penalty_rates`: ``penalty_factor`` × the largest dual of the family, with a floor), an exact
      penalty: no plan beats the oracle, and the rates stay within a small factor of the costs at stake
      (v0's exchange-rate rates reached 1e3-4e7 times the water dual).
    - ``"project"``: v0's QP safety layer (`green_llm_env.safety`).

    ``info`` as v0, plus ``water_cap_l`` (what the guard let the hour use).

    ## Starting State

    As v0 (a fresh generated day per episode by default; ``scenario``, ``scenario_pool``, ``traces``,
    ``options={"scenario": s}`` or ``{"scenario_seed": n}``).

    ## Episode End

    Termination after the scenario's T-th hour, whatever T is; registered without a ``TimeLimit``
    (``max_episode_steps=None``), so ``truncated`` is always False.

    ## Arguments

    As v0, with ``constraint_mode`` in ("guard", "penalty", "project"), default "guard".

    ## Speed

    A step is v0's compiled kernel plus the guard (two or three calls of the cost kernel); each new scenario
    also solves one least-water LP per hour for the guard (40-70 ms at the default size, cached per
    scenario), and in ``"penalty"`` mode the full-horizon LP for its rates (about 0.1 s). Use
    ``scenario_pool`` where reset throughput matters.

    ## Version History

    * v1: Markov observation (`green_llm_env.observation_v1`), feasibility guard by default, dual-based
      penalty rates, termination at the horizon without a TimeLimit.
    * v0: the letter's state alone (`green_llm_env.env.GreenLLMEnv`), unchanged.
    * Views of v1 with its dynamics unchanged, registered under their own ids: ``GreenLLM-hybrid-v1`` (the
      action is a water price, `green_llm_env.wrappers.WaterPriceLP`), ``GreenLLM-flat-v1`` (a flat,
      fixed-key ``info``, `green_llm_env.wrappers.FlatInfo`) and ``GreenLLM-mo-v1`` (a 3-vector reward,
      `green_llm_env.multi_objective`).
    """

    constraint_modes = CONSTRAINT_MODES_V1

    def __init__(self, scenario: Scenario | None = None, weights: Sequence[float] = cost.DEFAULT_WEIGHTS,
                 forecast_hours: int = 0, forecast_noise: float = 0.0, action_mode: str = "project",
                 temperature: float = 1.0, constraint_mode: str = "guard",
                 reward_scale: float = DEFAULT_REWARD_SCALE, generator_kwargs: dict[str, Any] | None = None,
                 traces: str | Path | None = None, render_mode: str | None = None, scenario_pool: int | None = None,
                 penalty_factor: float = DEFAULT_PENALTY_FACTOR) -> None:
        super().__init__(scenario=scenario, weights=weights, forecast_hours=forecast_hours,
                         forecast_noise=forecast_noise, action_mode=action_mode, temperature=temperature,
                         constraint_mode=constraint_mode, reward_scale=reward_scale,
                         generator_kwargs=generator_kwargs, traces=traces, render_mode=render_mode,
                         scenario_pool=scenario_pool, penalty_factor=penalty_factor)
        R = self._sizes.C.shape[0]
        self.R = R
        self.layout = V1Layout(self.I, self.K, self.J, R, self.forecast_hours)  # type: ignore[assignment]
        low, high = self.layout.bounds()
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self._g = self.layout.globals_start
        self._table_tag = ("v1", constraint_mode == "penalty")
        self.water_cap_l = np.inf

    # ------------------------------------------------------------------------------ hooks
    def _build_tables(self, s: Scenario, key: Any = None) -> ScenarioTables:
        tab = super()._build_tables(s, key)
        if self.constraint_mode == "penalty":
            tab = ScenarioTables(scenario=tab.scenario, coef=tab.coef, weights=tab.weights, hour=tab.hour,
                                 mu=dual_penalty_rates(tab, self.penalty_factor), tol=tab.tol, key=key)
        return tab

    def _observation_table(self, tab: ScenarioTables, noise: dict[str, np.ndarray] | None) -> np.ndarray:
        if noise is not None and "water_l_per_kwh" not in noise:  # drawn after v0's draws (theirs unchanged)
            f = lognormal_factors(self.np_random, (tab.coef.T, tab.coef.T, self.J), self.forecast_noise)
            f[:, 0] = 1.0
            noise["water_l_per_kwh"] = f
        s = tab.scenario
        return v1_table(self.layout, tab.coef, tab.weights, s.lam, s.delta, s.start_hour,
                        least_water_of(tab).least_l, noise)

    def _corrector(self, tab: ScenarioTables) -> Any:
        self._guard = feasibility_guard(tab)  # its least water per hour feeds the observation in every mode
        if self.constraint_mode == "guard":
            return self._guard
        return safety_layer(tab) if self.constraint_mode == "project" else None

    def _first_observation(self) -> np.ndarray:
        return self._observe()

    def _observe(self) -> np.ndarray:
        t, g = self.t, self._g
        obs = self._obs_table[t].copy()
        left = self.water_left_l
        w = left * self._Zinv if self._Z > 0 else 0.0
        obs[g] = 1.0 if w > 1.0 else (w if w > 0.0 else 0.0)
        if t < self._T:
            least = max(float(self._guard.least_l[t]), 1e-9)
            cap = self._guard.water_cap_l(t, left)
            self.water_cap_l = cap
            obs[g + 1] = min(max(left, 0.0) / ((self._T - t) * least) / 10.0, 1000.0)
            obs[g + 2] = min(max(cap, 0.0) / least / 10.0, 1000.0)
        return obs

    def forecast(self, hours: int) -> dict[str, np.ndarray]:
        """As v0's (`GreenLLMEnv.forecast`), plus ``"water_l_per_kwh"`` (H, J): water per facility kWh, the
        numbers of the observation's ``forecast_water``."""
        out = super().forecast(hours)
        t = min(self.t, self._T)
        stop = min(t + max(int(hours), 0), self._T)
        w = np.array(self._tab.coef.water_l_per_kwh[t:stop])
        if self._noise is not None and stop > t:
            w *= self._noise["water_l_per_kwh"][t, :stop - t]
        out["water_l_per_kwh"] = w
        return out

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        cap = self.water_cap_l
        obs, reward, terminated, truncated, info = super().step(action)
        info["water_cap_l"] = cap
        return obs, reward, terminated, truncated, info
