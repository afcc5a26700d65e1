"""GreenLLM-v2: the continuous, natively batched default env (see `GreenLLMEnvV2`, whose docstring is the manual)."""

from __future__ import annotations

from collections import deque
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import cost
from .core.batch import BatchCore
from .core.config import DEFAULT_REWARD_SCALE, EnvConfig
from .core.scenes import ScenarioSource
from .core.water import WATER_PRICE_FACTOR
from .scenario import Scenario

__all__ = ["GreenLLMEnvV2", "OBJECTIVES", "make_config", "make_mo_env"]

PREFETCH = 32
"""Episodes whose scenarios a single env draws ahead (from its own random generator, in the order it would draw
them one by one) so that their tables are built in one batch."""
OBJECTIVES = ("energy", "carbon", "delay")
"""Entries of the reward vector of ``reward="vector"`` (GreenLLM-mo-v2)."""


def make_mo_env(**kwargs: Any) -> "GreenLLMEnvV2":
    """Entry point of ``GreenLLM-mo-v2``: GreenLLM-v2 with ``reward="vector"`` (``reward_space`` on this env)."""
    return GreenLLMEnvV2(reward="vector", **kwargs)


def make_config(scenario: Scenario | None = None, **kwargs: Any) -> tuple[EnvConfig, Scenario | None]:
    """(config, pinned scenario) from the env's keyword arguments; a pinned scenario sets the sizes."""
    gk = dict(kwargs.pop("generator_kwargs", None) or {})
    if scenario is not None:
        if not isinstance(scenario, Scenario):
            raise ValueError(f"scenario must be a green_llm_env.Scenario or None; got {type(scenario).__name__}")
        gk.update(I=scenario.I, J=scenario.J, K=scenario.K, T=scenario.T, R=scenario.R)
    return EnvConfig.make(generator_kwargs=gk, **kwargs), scenario


class GreenLLMEnvV2(gym.Env[np.ndarray, np.ndarray]):
    """
    ## Description

    Geo-distributed LLM inference (the Green-LLM letter, read as in ``MODEL.md``): every hour t, the demand of I
    user areas for K query types is split over J data centres (DCs), paying energy, carbon and delay costs under
    per-DC resource capacities, grid caps, per-(area, type) delay caps and a water budget Z over the horizon.
    Same cost model, scenarios' distributions, action semantics and oracle as GreenLLM-v1; what changes is how
    constraints are handled (a **continuous repair** and a **water price**), the speed (one compiled batch-first
    step shared with the vector env, no LP per scenario) and a flat, fixed-key ``info``. Played as actions, the
    oracle's plan (``baselines.solve(s, weights, water_price=info["water_price"])``) earns its objective
    (float64 or cast to float32), and an episode is scored by its oracle gap.

    ## Action Space

    ``Box(-1, 1, (I*K*J,), float32)`` read as ``a[i, k, j]``; each (i, k) row is mapped onto the simplex
    (``action_mode="project"``: the Euclidean projection, so an allocation maps to itself; or ``"softmax"``).
    Entries outside the Box are clipped; NaN/inf, a complex dtype or another shape raise ``ValueError``.

    ``action_mode="price"`` (``GreenLLM-price-v2``): ``Box(-1, 1, (J+1,), float32)``, a price per DC ($ per
    facility kWh, ``0.2·a_j``) and a water price (log scale from ``μ_w/31.6`` to ``31.6·μ_w``); each (i, k) row is a
    softmax over DCs of the priced per-option cost the observation shows (``options.cost_usd + p_j ·
    facility_kw + μ · water_l``, at the ``temperature`` relative to the option's mean cost): see
    `green_llm_env.core.prices`. A low-dimensional action for RL from scratch; the oracle's plan is not exactly
    reachable in it (the best open-loop price sequence found by ``benchmarks/price_reach.py`` scores about 10%
    on validation seeds; the project, softmax and price modes share everything after the map).

    ## Observation Space

    ``Box(low, high, (D,), float32)``, ``D = N·J·(R+4) + J·(R+8) + 3N + 7 + H·(4J + N)`` (3,076 by default). The
    features are a named table (`green_llm_env.core.features`): ``env.unwrapped.layout.decode(obs,
    "options.cost_usd")`` returns a feature in model units, ``layout.split`` the parts, ``layout.table()`` the
    (part, feature, shape, scale, unit) list. As v1's, with the v1 globals that needed least-water LPs replaced:
    ``water_left``, ``water_over``, ``water_pace``, ``water_price``, hour of day, ``time_left``.

    ## Rewards

    ``reward = -reward_scale * (cost_weighted + penalty)`` for the hour ($ × 0.1 by default). Constraint handling:

    - **Hourly rows (resources, grid cap, delay caps): a continuous repair.** The mapped shares are blended
      toward the hour's interior reference point ``x_ref`` (`green_llm_env.core.reference`: the same split of
      every (i, k) over DCs in proportion to what each DC can take, which keeps 54-63% slack on every resource
      and power row and >= 29% on every delay cap of generated scenarios): first each (i, k) over its delay
      cap, just enough to meet it, then one blend just enough for every DC row. Rule: ``s = max over violated
      rows of (g - b) / (g - g_ref)``, so ``s <= excess / (excess + slack)``: an allocation within a relative ε
      of a feasible one moves by O(ε) and scores within O(ε) of it; a feasible allocation passes unchanged.
      ``info["repair_distance"]`` says how far the repair moved the shares.
    - **The horizon's water budget: a price.** Litres beyond Z are charged at the scenario's water price
      ``info["water_price"]`` ($/L, `green_llm_env.core.water`: 6 × the scenario's cost scale / Z, above the
      budget's dual value on every scenario measured). v2's oracle minimises the same objective (an elastic
      water row at that price), so no plan beats it; where the price is above the dual, as measured, the
      oracle's plan and objective are v1's.
    - What round-off might leave of an hourly violation beyond 1e-11 of the family's bound is charged at a
      backstop rate (never observed after the repair).

    ``info`` (flat, the same keys at reset and every step, numpy scalars): `green_llm_env.core.batch.INFO_KEYS`
    (the hour's numbers, ``penalty``, ``violation_<family>``, ``projection_distance``, ``repair_distance``, ``t``,
    ``water_left_l``, ``water_price``, ``scenario_seed``, ``episode_cost_weighted``, ``episode_penalty``).
    With ``reward="vector"`` (GreenLLM-mo-v2) the reward is the 3-vector ``-reward_scale * ((energy, carbon,
    delay) cost + penalty / Σw)`` and ``reward_space`` is set on this env, so ``weights · r`` is the scalar
    reward.

    ## Starting State

    A fresh scenario per episode by default: seed n drawn from ``self.np_random``, scenario from the v2 batch
    generator (`green_llm_env.batch_generator`: MODEL.md section 8's distributions, a pure function of n, drawn
    in batches by the vector env); ``generator="v1"`` uses `green_llm_env.make_scenario` (v1's scenarios);
    ``scenario_pool=P`` draws n from {0..P-1}; ``traces=DIR`` uses 2024 carbon traces on a random day;
    ``scenario=`` pins one scenario; ``options={"scenario": s}`` or ``{"scenario_seed": n}`` choose one episode's.

    ## Episode End

    Termination after the scenario's T-th hour (no TimeLimit; ``truncated`` is always False).

    ## Arguments

    | argument | default | meaning |
    |---|---|---|
    | ``scenario`` | None | a `Scenario` every episode plays (its sizes set the spaces) |
    | ``weights`` | (1/3, 1/3, 1/3) | (σe, σc, σd) >= 0 summing to 1 |
    | ``forecast_hours`` | 0 | H in 0..T: exact forecasts of slots t+1..t+H in the observation |
    | ``action_mode`` | "project" | "project", "softmax" or "price" (J + 1 prices; `green_llm_env.core.prices`) |
    | ``temperature`` | 1.0 | > 0, softmax temperature (the price mode's: relative to each option's mean cost) |
    | ``reward`` | "scalar" | "scalar" or "vector" (energy, carbon, delay) |
    | ``reward_scale`` | 0.1 | > 0 |
    | ``generator`` | "batch" | "batch" (v2's generator) or "v1" (`make_scenario`) |
    | ``generator_kwargs`` | {} | sizes I, J, K, T, R (>= 1), start_hour (0..23), psi_theta, psi_pw, psi_tau, psi_rho, demand_scale (>= 0), water_fraction (> 0 or None) |
    | ``scenario_pool`` | None | P >= 1: seeds from {0..P-1} (cached tables) |
    | ``traces`` | None | folder of the 2024 carbon traces (J <= 9) |
    | ``water_price_factor`` | 6.0 | > 0, μ_w·Z in cost scales (`green_llm_env.core.water`) |
    | ``render_mode`` | None | "ansi" or "rgb_array" |

    ## Speed

    A step is one call of the compiled step (action map, repair, cost model, penalty) and one of the compiled
    observation; a new scenario costs the batch generator and the tables (no LP). ``benchmarks/bench_env.py``
    prints the figures beside CartPole-v1.

    ## Batched, and in torch

    ``gym.make_vec("green_llm_env:GreenLLM-v2", num_envs=N, vectorization_mode="vector_entry_point")`` steps N
    envs in one compiled call (numpy in and out; equal to ``SyncVectorEnv`` bit for bit). With
    ``backend="torch"`` (and ``device``: ``"cpu"``, ``"cuda"``, ...; ``dtype``: ``"float64"`` or ``"float32"``;
    ``scenario_bank``: None or B >= 1 scenarios held on the device) the same step runs as a torch program on the
    device, taking and returning tensors (`green_llm_env.vector_torch.GreenLLMTorchVectorEnv`): the same
    transitions for the same seeds (float64 to 1e-9 relative), no change to any number of this env.

    ## Version History

    * v2: continuous repair toward an interior reference point (v1's guard jumped at the optimum: the oracle's
      plan cast to float32 scored 4-16%), the water budget as an exact price (no least-water LPs), one compiled
      batch-first core under the single and vector envs (``gym.make_vec(..., vectorization_mode=
      "vector_entry_point")``), a named feature table, flat fixed-key info, the v2 batch generator.
      ``GreenLLM-mo-v2`` (vector reward, ``reward_space`` on the base env) and ``GreenLLM-hybrid-v2`` (the
      hour's water price as the action) are configs/views of it. ``GreenLLM-price-v2`` (added later, no v2
      number changed): ``action_mode="price"``, J + 1 prices instead of I·K·J shares (numba backend only).
    * v1: Markov observation, feasibility guard (`green_llm_env.env_v1.GreenLLMEnvV1`), unchanged.
    * v0: the letter's state alone (`green_llm_env.env.GreenLLMEnv`), unchanged.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}

    def __init__(self, scenario: Scenario | None = None, weights: Sequence[float] = cost.DEFAULT_WEIGHTS,
                 forecast_hours: int = 0, action_mode: str = "project", temperature: float = 1.0,
                 reward: str = "scalar", reward_scale: float = DEFAULT_REWARD_SCALE, generator: str = "batch",
                 generator_kwargs: dict[str, Any] | None = None, scenario_pool: int | None = None,
                 traces: str | Path | None = None, water_price_factor: float = WATER_PRICE_FACTOR,
                 render_mode: str | None = None) -> None:
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}; got "
                             f"{render_mode!r}")
        self.config, pinned = make_config(
            scenario, weights=weights, forecast_hours=forecast_hours, action_mode=action_mode,
            temperature=temperature, reward=reward, reward_scale=reward_scale, generator=generator,
            generator_kwargs=generator_kwargs, scenario_pool=scenario_pool, traces=traces,
            water_price_factor=water_price_factor)
        self.render_mode = render_mode
        self.source = ScenarioSource(self.config, pinned)
        T, I, K, J, R = self.config.sizes()
        self.core = BatchCore(self.config, 1, (T, I, K, J, R))
        self.layout = self.core.layout
        self.I, self.K, self.J, self.R = I, K, J, R
        low, high = self.layout.bounds()
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (self.core.action_dim,), dtype=np.float32)
        if self.config.reward == "vector":
            self.reward_space = spaces.Box(-np.inf, np.inf, (len(OBJECTIVES),), dtype=np.float32)
            self.reward_dim = len(OBJECTIVES)
        self._ready = False
        self._last_info: dict[str, Any] | None = None  # the info of the last step (None before the first)
        self._queue: deque = deque()

    # ---------------------------------------------------------------- the episode, for policies
    @property
    def weights(self) -> np.ndarray:
        return np.array(self.config.weights)

    @property
    def reward_scale(self) -> float:
        return self.config.reward_scale

    @property
    def scenario(self) -> Scenario:
        """The current episode's `Scenario` (built on first access for generated ones)."""
        self._need_reset()
        return self.source.scenario(self.core.keys[0])

    @property
    def coef(self) -> cost.Coefficients:
        return cost.coefficients(self.scenario)

    @property
    def t(self) -> int:
        """The slot about to be played."""
        return int(self.core.t[0])

    @property
    def water_left_l(self) -> float:
        return float(self.core.water[0])

    @property
    def water_price(self) -> float:
        """$ per litre beyond the budget in this episode."""
        return float(self.core.scene("price_w", 0))

    @property
    def horizon(self) -> int:
        return self.core.T

    @property
    def scenario_seed(self) -> int | None:
        s = int(self.core.seed[0])
        return None if s < 0 else s

    @property
    def allocation(self) -> np.ndarray | None:
        """(I, K, J) shares applied at the last step (after the repair; None before the first step)."""
        return None if self._last_info is None else self.core.x[0].reshape(self.I, self.K, self.J).copy()

    def _need_reset(self) -> None:
        if not self._ready:
            raise RuntimeError("call reset() before using the environment")

    def forecast(self, hours: int) -> dict[str, np.ndarray]:
        """Exact values of slots t..t+hours-1 (truncated at T): "price" (H, J) $/kWh, "renewable_kw", "carbon"
        (kg/kWh), "water_l_per_kwh" (H, J), "demand" (H, I, K) queries."""
        self._need_reset()
        if isinstance(hours, bool) or not isinstance(hours, (int, np.integer)) or hours < 0:
            raise ValueError(f"hours must be an integer >= 0; got {hours!r}")
        c = self.coef
        t = min(self.t, c.T)
        stop = min(t + int(hours), c.T)
        lam = np.asarray(self.scenario.lam, np.float64)
        return {"price": np.array(c.price[t:stop]), "renewable_kw": np.array(c.renewable_kw[t:stop]),
                "carbon": np.array(c.theta[t:stop]), "water_l_per_kwh": np.array(c.water_l_per_kwh[t:stop]),
                "demand": lam[t:stop].copy()}

    # ------------------------------------------------------------------------------ gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        self.source.check_options(options)
        if seed is not None:
            self._queue.clear()
        if options or self.source.pinned is not None:
            key = self.source.draw(self.np_random, options)
        else:  # the next PREFETCH episodes' scenarios drawn now, their tables built in one batch (same draws)
            if not self._queue:
                self._queue.extend(self.source.draw(self.np_random, None) for _ in range(PREFETCH))
                self.source.prepare(list(self._queue))
            key = self._queue.popleft()
        tables, which = self.source.tables([key])
        idx = np.zeros(1, np.int64)
        self.core.load(idx, tables, which, [key])
        self._ready = True
        self._last_info = None
        return self.core.observe()[0], self.core.reset_info_one()

    def step(self, action: Any) -> tuple[np.ndarray, Any, bool, bool, dict[str, Any]]:
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        core = self.core
        obs = core.step(core.actions(action))[0]
        info = self._last_info = core.info_one()
        return obs, core.reward_one(), bool(core.t[0] >= core.T), False, info

    # ---------------------------------------------------------------------------- render
    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        self._need_reset()
        c = self.coef
        last = self._last_info
        t = int(last["t"]) if last is not None else min(self.t, c.T - 1)
        x = self.core.x[0] if last is not None else np.zeros((c.N, c.J))
        _, _, use, _, grid, _, _ = cost.hour_terms(cost.hour_tables(c, self.weights), x[None], rows=np.array([t]))
        share = x.sum(0) / max(c.N, 1)
        names = self.scenario.dc_names
        Z = float(self.core.scene("budget", 0))
        title = f"{self.spec.id if self.spec else 'GreenLLM-v2'}  hour {t}/{c.T}"
        if self.render_mode == "ansi":
            lines = [f"{title}  water left {self.water_left_l:,.1f} L of {Z:,.1f} L",
                     f"{'DC':<14}{'share':>7}{'IT kW':>9}{'grid kW':>9}{'ren kW':>8}{'$/kWh':>8}{'kg/kWh':>8}"]
            for j in range(c.J):
                lines.append(f"{str(names[j])[:13]:<14}{share[j]:7.3f}{use[0, 0, j]:9.1f}{grid[0, j]:9.1f}"
                             f"{c.renewable_kw[t, j]:8.1f}{c.price[t, j]:8.3f}{c.theta[t, j]:8.3f}")
            if last is not None:
                lines.append(f"cost_weighted ${last['cost_weighted']:.3f}  penalty ${last['penalty']:.3f}  "
                             f"repair {last['repair_distance']:.2e}  water {last['water_l']:.1f} L")
            return "\n".join(lines) + "\n"
        from . import render

        top = max(float((use[0, 0] * c.pue).max()), 1e-9)
        return render.labelled_frame(share, grid[0] / top, names, title,
                                     f"water left {self.water_left_l:,.0f} L of {Z:,.0f} L")

