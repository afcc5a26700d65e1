"""GreenLLM-v0: hourly allocation of LLM queries to data centres as a Gymnasium environment.

One env per file, the class docstring is the manual (see `GreenLLMEnv`). The per-scenario tables (the cost
model's `cost.HourTables` plus the penalty coefficients) and the penalty rule live here too, shared with the
batched env in `vector.py`; a step is one call of the compiled kernel `kernels.step_batch` (action map, the
cost model's `kernels.hour_element`, penalty), which the batched env runs too.
"""

from __future__ import annotations

import math
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import cost, kernels
from .actions import ACTION_MODES, box_action, map_actions, network
from .generator import make_scenario, scenario_from_traces
from .observation import ObservationLayout, forecast_noise_factors, forecast_values, observation_table
from .scenario import CARBON_TRACE_FILE, Scenario

__all__ = ["CONSTRAINT_MODES", "DEFAULT_PENALTY_FACTOR", "DEFAULT_REWARD_SCALE", "FEASIBILITY_TOL", "GreenLLMEnv",
           "ScenarioTables", "penalty_coefficients", "penalty_usd", "safety_layer", "scenario_tables"]

CONSTRAINT_MODES = ("penalty", "project")
DEFAULT_REWARD_SCALE = 0.1
"""Default reward scale: the default generator's hourly weighted cost is a few $, so rewards are O(1)."""
DEFAULT_PENALTY_FACTOR = 2.0
"""Safety factor on the exchange-rate bound of the penalty coefficients (see `penalty_coefficients`)."""
FEASIBILITY_TOL = 1e-11
"""Violations up to this fraction of a family's total bound are round-off and are not charged. The oracle's
replayed plan and the safety layer's output violate by at most about 6e-15 of it (seeds 0-20); a plan that
uses the whole forgiveness beats the oracle by about 10x this fraction (relative), so the score cannot be
farmed by more than about 1e-10."""

_INFO_KEYS = tuple(n.replace("_usd", "_cost") for n in cost.NUMBERS) + ("penalty",)
"""Step info keys: `cost.NUMBERS` (``*_usd`` read ``*_cost``) then the penalty ($)."""


# ------------------------------------------------------------------------------------------ tables
def penalty_coefficients(coef: cost.Coefficients, weights: Sequence[float],
                         factor: float = DEFAULT_PENALTY_FACTOR) -> np.ndarray:
    """(T, 5) $ per unit of violation, per hour and family of `cost.FAMILIES`.

    Rule ("violating never pays"): bound the weighted cost one share of (i, k) can save by moving from DC j'
    to DC j, ``g = c_hi[j'] - c_lo[j]`` with per-share costs ``c = σd·ρ·D + max/min(g_price, 0)·P_d``
    (grid power charged in full for ``c_hi``, free for ``c_lo``). A unit of violation buys at most
    ``g / (units that one share of the move adds)`` $, so each family's coefficient is ``factor`` times the
    largest such exchange rate:

    - allocation: 0 (the action map always lands on the simplex);
    - resource (per unit): ``max_{n,r} spread_n / resource[n, r]``, spread_n = max_j' c_hi - min_j c_lo;
    - delay (per s): ``max over (n, j, j') with D[n,j] > D[n,j'] of g / (D[n,j] - D[n,j'])``;
    - grid (per kW): ``max_{n,j} spread_n / P_d[n, j]``;
    - water (per L, one value for the whole horizon): ``max over (t, n, j, j') with W[n,j] > W[n,j'] of
      g / (W[n,j] - W[n,j'])``.
    """
    w = np.asarray(weights, np.float64)
    gp = cost.grid_price(coef, w)  # (T, J)
    fkw = cost.facility_kw_per_share(coef)  # (T, N, J)
    a = w[2] * cost.delay_usd_per_share(coef)
    c_hi = a + np.maximum(gp, 0.0)[:, None, :] * fkw
    c_lo = a + np.minimum(gp, 0.0)[:, None, :] * fkw
    f64 = lambda a: np.ascontiguousarray(a, dtype=np.float64)  # noqa: E731
    mu = kernels.exchange_rates(f64(c_hi), f64(c_lo), f64(coef.resource), f64(coef.delay_s), f64(fkw),
                                f64(cost.water_l_per_share(coef)))
    return factor * mu


@dataclass(eq=False)
class ScenarioTables:
    """Everything the hourly step needs about one scenario and weight vector, precomputed at reset.

    ``hour`` holds the cost model's per-hour tables (`cost.HourTables`, one row per hour); ``mu`` and ``tol``
    (T, 5) are the penalty coefficients ($ per unit) and the violations not charged, ``pen`` (T, 10) the two
    side by side (the form `kernels.step_batch` reads).
    """

    scenario: Scenario
    coef: cost.Coefficients
    weights: np.ndarray  # (3,)
    hour: cost.HourTables  # leading axis T
    mu: np.ndarray  # (T, 5) penalty $ per unit violation
    tol: np.ndarray  # (T, 5) violations not charged (round-off)
    key: Any = None

    def __post_init__(self) -> None:
        self.pen = np.ascontiguousarray(np.concatenate([self.mu, self.tol], axis=1))
        self.obs_cache: dict[Any, np.ndarray] = {}


def scenario_tables(scenario: Scenario, weights: Sequence[float],
                    penalty_factor: float = DEFAULT_PENALTY_FACTOR, key: Any = None) -> ScenarioTables:
    """Build `ScenarioTables` (about 1 ms for the default size)."""
    coef = cost.coefficients(scenario)
    w = np.asarray(weights, np.float64)
    tol = np.empty((coef.T, 5))
    tol[:, 0] = 0.0
    tol[:, 1] = FEASIBILITY_TOL * coef.capacity.sum()
    tol[:, 2] = FEASIBILITY_TOL * coef.delay_cap_s.sum()
    tol[:, 3] = FEASIBILITY_TOL * coef.grid_cap_kw.sum(-1)
    tol[:, 4] = FEASIBILITY_TOL * coef.water_budget_l
    return ScenarioTables(scenario=scenario, coef=coef, weights=w, hour=cost.hour_tables(coef, w),
                          mu=penalty_coefficients(coef, w, penalty_factor), tol=tol, key=key)


_CACHE: OrderedDict = OrderedDict()
_CACHE_SIZE = 256


def cached_tables(key: Any, build) -> ScenarioTables:
    """Module-wide LRU cache of `ScenarioTables` (drawn scenarios are pure functions of their key)."""
    hit = _CACHE.get(key)
    if hit is not None:
        _CACHE.move_to_end(key)
        return hit
    tab = build()
    _CACHE[key] = tab
    if len(_CACHE) > _CACHE_SIZE:
        _CACHE.popitem(last=False)
    return tab


def safety_layer(tab: ScenarioTables):
    """The `green_llm_env.safety.SafetyLayer` of a scenario, built once and kept on its tables (about 0.1 s:
    one least-water LP per hour), shared by every env playing that scenario."""
    layer = tab.__dict__.get("_safety")
    if layer is None:
        from .safety import SafetyLayer

        layer = tab.__dict__["_safety"] = SafetyLayer(tab)
    return layer


# ---------------------------------------------------------------------------------------- the step
def penalty_usd(viol: np.ndarray, mu: np.ndarray, tol: np.ndarray) -> np.ndarray:
    """Penalty ($), batch-first: ``Σ_f mu_f · max(viol_f - tol_f, 0)`` over the last axis (violations in the
    order of `cost.FAMILIES`, with the ``mu`` and ``tol`` of each element's hour); `kernels.penalty`, which
    the step runs."""
    viol = np.asarray(viol, np.float64)
    lead = viol.shape[:-1]
    v = np.ascontiguousarray(viol).reshape(-1, 5)
    pen = np.ascontiguousarray(np.concatenate(np.broadcast_arrays(np.asarray(mu, np.float64),
                                                                  np.asarray(tol, np.float64)), axis=-1))
    pen = np.ascontiguousarray(np.broadcast_to(pen, lead + (10,))).reshape(-1, 10)
    out = np.empty(v.shape[0])
    kernels.penalty_batch(v, pen, out)
    return out.reshape(lead)


# ------------------------------------------------------------------------------------------ the env
_GENERATOR_SIZES = {"I": 9, "J": 9, "K": 5, "T": 24, "R": 3}
_TRACE_DAYS = 366  # 2024 is a leap year


MAX_FORECAST_NOISE = 10.0
"""Largest ``forecast_noise`` (σ of the lognormal forecast error; the hybrid env uses 0.1)."""


def _check_int(name: str, value: Any, low: int) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} must be an integer >= {low}; got {value!r}")
    return int(value)


def _check_float(name: str, value: Any, low: float, strict: bool) -> float:
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(v) or v < low or (strict and v == low):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} {low}; got {value!r}")
    return v


def _freeze(d: dict[str, Any]) -> tuple:
    return tuple(sorted((k, tuple(np.asarray(v).reshape(-1).tolist()) if isinstance(v, np.ndarray) else v)
                        for k, v in d.items()))


class GreenLLMEnv(gym.Env[np.ndarray, np.ndarray]):
    """
    ## Description

    Geo-distributed LLM inference (the Green-LLM letter, read as in ``MODEL.md``): every hour t of a day,
    the demand λ[i, k] of I user areas for K query types must be split over J data centres (DCs). Serving it
    draws IT power, facility power (× PUE), grid power (facility power not covered by on-site renewables),
    water and compute resources, and causes delay. The agent pays energy (grid price), carbon (carbon price
    × intensity) and delay costs, and must respect per-DC resource capacities, per-(i, k) average-delay caps,
    grid import caps and a water budget Z over the whole day (the one constraint that couples hours).
    The cost model is `green_llm_env.cost`. Played as actions, the plan of the full-horizon LP oracle
    (`baselines.solve`) earns Σ ``info["cost_weighted"]`` = its objective with zero penalty, so an episode is
    scored by its gap to it: ``(Σ(cost_weighted + penalty) - oracle.objective) / oracle.objective``.

    ## Action Space

    ``Box(-1, 1, (I*K*J,), float32)``, read as ``a[i, k, j]`` (row-major). Each (i, k) row is mapped to shares
    ``x[i, k, :]`` on the simplex (x >= 0, Σ_j x = 1) by `green_llm_env.actions`:

    - ``action_mode="project"`` (default): the exact Euclidean projection onto the simplex. A point already on
      the simplex maps to itself, so an allocation ``x`` (I, K, J) with rows summing to 1 may be passed as
      ``x.reshape(-1)`` (float64 is kept; it is not rounded to float32) and is applied exactly.
    - ``action_mode="softmax"``: ``softmax(a / temperature)`` per row.

    The action may also be given with shape (I, K, J). Entries outside the Box are clipped to [-1, 1] before
    the map (points on the simplex are inside it, so an allocation is still applied exactly; unclipped, an
    entry of about 1e16 would round a projected row to all zeros, serving nothing for free). NaN/inf, a complex
    dtype or any other shape raises ``ValueError``. ``info["projection_distance"]`` is the Euclidean distance
    between the (clipped) action and the applied shares.

    ## Observation Space

    ``Box(low, high, (D,), float32)`` with ``D = I*K + 4*J + 4 + H*(3*J + I*K)`` (85 by default: I=J=9,
    K=5, H=0); every part is scaled to O(1) by a fixed divisor and clipped to the box
    (`green_llm_env.observation`; ``env.unwrapped.layout.split(obs)`` returns the named parts):

    | slice | size | content (unit / divisor) |
    |---|---|---|
    | ``demand`` | I*K | this hour's demand λ[i, k] (queries / 1000) |
    | ``price`` | J | grid price ($/kWh / 0.2) |
    | ``renewable`` | J | renewable output (kW / 100) |
    | ``carbon`` | J | carbon intensity (kg/kWh / 0.5) |
    | ``carbon_price`` | J | carbon price ($/kg / 0.05) |
    | ``water_left`` | 1 | remaining water budget / Z, in [0, 1] |
    | ``hour_sin``, ``hour_cos`` | 2 | local hour of day on the unit circle |
    | ``time_left`` | 1 | (T - t) / T |
    | ``forecast_price``, ``forecast_renewable``, ``forecast_carbon`` | H*J each | slots t+1..t+H |
    | ``forecast_demand`` | H*I*K | slots t+1..t+H |

    The forecast parts exist only with ``forecast_hours = H > 0``; rows past the horizon are 0; with
    ``forecast_noise = σ`` each forecast value is multiplied by a mean-one lognormal factor ``exp(σz - σ²/2)``
    drawn per episode from ``self.np_random``. ``env.unwrapped.forecast(hours)`` returns the same numbers
    in model units for slots t..t+hours-1 (the current slot exact).

    ## Rewards

    ``reward = -reward_scale * (cost_weighted + penalty)`` for the hour, where
    ``cost_weighted = σe·C1 + σc·C2 + σd·C3`` ($, from `cost.evaluate`: grid power is the cheapest feasible
    choice, surplus renewables are curtailed). ``penalty`` ($) is 0 for a feasible hour; otherwise
    ``Σ_f μ_f[t]·max(v_f - tol_f, 0)`` over the families of `cost.FAMILIES` with violations ``v_f`` (resource
    units, s, kW, L; water = litres used beyond the budget left, so every litre past Z is charged once).
    The coefficients μ are derived from the scenario by `penalty_coefficients`: ``penalty_factor``
    (default 2) times the largest $ that one unit of violation can buy by moving a share of one (i, k) between
    two DCs (a local exchange-rate bound), so that violating never pays. This is a bound on local moves, not
    a proof about every plan; at factor 1 it exceeded the oracle's LP dual values by 50x or more on the
    seeds checked, and tests check that random and heuristic policies never beat the oracle. ``tol_f`` =
    1e-11 × the family's total bound (`FEASIBILITY_TOL`) forgives round-off (the oracle's plan pays exactly 0).
    With ``constraint_mode="project"`` a safety layer (`green_llm_env.safety`, a small HiGHS QP, a few ms)
    first moves the shares to the nearest allocation that meets every constraint of the hour, with the water
    row capped at what is left minus the least water the later hours need; the penalty is then 0 unless less
    than the hour's least need is left (then the hour's least-water allocation is played and the excess is
    charged).

    ``info`` per step: ``cost_weighted``, ``energy_cost``, ``carbon_cost``, ``delay_cost``, ``total_cost`` ($),
    ``emissions_kg``, ``water_l``, ``grid_kwh``, ``penalty`` ($), ``violations`` (family -> amount),
    ``projection_distance``, ``t`` (the slot just played), ``water_left_l``; on the last step also
    ``episode_totals`` (the sums of the numbers above and of the violations, and ``scenario_seed``).

    ## Starting State

    ``reset`` draws a scenario: by default a new day per episode, ``make_scenario(n, **generator_kwargs)`` with
    ``n`` drawn from ``self.np_random`` (or `scenario_from_traces` on a random 2024 day when ``traces`` is
    set); ``scenario_pool=P`` draws n from {0..P-1} instead (scenarios are cached, so resets are cheap).
    ``scenario=`` pins one scenario for every episode; ``options={"scenario": s}`` plays ``s`` in this
    episode; ``options={"scenario_seed": n}`` plays exactly ``make_scenario(n, **generator_kwargs)``.
    The water budget is full and t = 0.

    ## Episode End

    Termination after the T-th hour (t = T; the fraction of time left is in the observation). Registered
    with ``max_episode_steps=24`` (the default horizon); pass ``max_episode_steps=T`` to ``gymnasium.make``
    when the scenarios have another T.

    ## Arguments

    | argument | default | meaning |
    |---|---|---|
    | ``scenario`` | None | a `Scenario` to play in every episode (None: draw one per episode) |
    | ``weights`` | (1/3, 1/3, 1/3) | (σe, σc, σd) >= 0 summing to 1 |
    | ``forecast_hours`` | 0 | H hours of forecasts in the observation (0..T) |
    | ``forecast_noise`` | 0.0 | σ of the multiplicative lognormal forecast noise |
    | ``action_mode`` | "project" | "project" or "softmax" |
    | ``temperature`` | 1.0 | softmax temperature (> 0) |
    | ``constraint_mode`` | "penalty" | "penalty" or "project" (safety layer) |
    | ``reward_scale`` | 0.1 | multiplies -(cost_weighted + penalty) |
    | ``generator_kwargs`` | None | keyword arguments of `make_scenario` (sizes, psi_*, water_fraction, ...) |
    | ``traces`` | None | folder (or file) of the 2024 hourly carbon traces: real carbon intensity |
    | ``scenario_pool`` | None | draw scenario seeds from {0..P-1} (cached) instead of fresh ones |
    | ``penalty_factor`` | 2.0 | safety factor of the penalty coefficients (>= 1 keeps "never pays") |
    | ``render_mode`` | None | "ansi" (text table of the hour) or "rgb_array" (bars per DC), headless |

    Errors name the argument and the value. Natively batched version: `green_llm_env.vector.GreenLLMVectorEnv`
    (``gymnasium.make_vec("green_llm_env:GreenLLM-v0", num_envs=N, vectorization_mode="vector_entry_point")``);
    SB3 adapter: `green_llm_env.vector.SB3VecEnv`.

    ## Speed

    A step is one call of a compiled kernel (`green_llm_env.kernels.step_batch`, with one element: action
    map, cost model, penalty) on tables precomputed per scenario (`ScenarioTables`, cached), plus building
    the observation and ``info``: 17-25 µs per step wrapped by ``gymnasium.make`` (40,000-60,000 steps/s)
    on the 2-core development machine (``benchmarks/bench_env.py``). The kernels compile on first use and
    are cached on disk (about 40 s once per machine; `green_llm_env.kernels.warm_up`). Drawing a fresh
    scenario costs about 2.6 ms per reset (`make_scenario` and the scenario's tables), i.e. about 110 µs per
    step of a 24-step episode: for throughput use ``scenario_pool`` (or ``scenario=``), and the batched env
    for many envs.

    ## Version History

    * v0: initial version. GreenLLM-v1 (`green_llm_env.env_v1.GreenLLMEnvV1`) is the fully observed
      successor: a Markov observation, a feasibility guard by default, penalty rates from the LP's duals and
      termination at the scenario's horizon. v0 stays as it is (the letter's state alone: the observation
      hides PUE, water intensity, capacities, delays and caps, which the generator redraws every episode),
      so that published numbers stay valid.
    """

    metadata = {"render_modes": ["ansi", "rgb_array"], "render_fps": 4}
    constraint_modes: tuple[str, ...] = CONSTRAINT_MODES

    def __init__(self, scenario: Scenario | None = None, weights: Sequence[float] = cost.DEFAULT_WEIGHTS,
                 forecast_hours: int = 0, forecast_noise: float = 0.0, action_mode: str = "project",
                 temperature: float = 1.0, constraint_mode: str = "penalty",
                 reward_scale: float = DEFAULT_REWARD_SCALE, generator_kwargs: dict[str, Any] | None = None,
                 traces: str | Path | None = None, render_mode: str | None = None, scenario_pool: int | None = None,
                 penalty_factor: float = DEFAULT_PENALTY_FACTOR) -> None:
        self.weights = cost.check_weights(weights, "weights")
        self.forecast_hours = _check_int("forecast_hours", forecast_hours, 0)
        self.forecast_noise = _check_float("forecast_noise", forecast_noise, 0.0, strict=False)
        if self.forecast_noise > MAX_FORECAST_NOISE:  # a lognormal factor exp(σ·z) overflows beyond
            raise ValueError(f"forecast_noise must be in [0, {MAX_FORECAST_NOISE:g}] (the σ of a lognormal forecast "
                             f"error); got {forecast_noise!r}")
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}; got {action_mode!r}")
        self.action_mode = action_mode
        self.temperature = _check_float("temperature", temperature, 0.0, strict=True)
        if constraint_mode not in self.constraint_modes:
            raise ValueError(f"constraint_mode must be one of {self.constraint_modes}; got {constraint_mode!r}")
        self.constraint_mode = constraint_mode
        self.reward_scale = _check_float("reward_scale", reward_scale, 0.0, strict=True)
        if not 1e-12 <= self.reward_scale <= 1e12:
            raise ValueError(f"reward_scale must be in [1e-12, 1e12] (rewards stay finite); got {reward_scale!r}")
        self.penalty_factor = _check_float("penalty_factor", penalty_factor, 0.0, strict=False)
        if self.penalty_factor > 1e6:
            raise ValueError(f"penalty_factor must be <= 1e6 (penalties stay finite); got {penalty_factor!r}")
        if constraint_mode == "penalty" and self.penalty_factor < 1.0:  # below the duals a violation pays
            raise ValueError(f"penalty_factor must be >= 1 with constraint_mode='penalty' (below 1 a violation "
                             f"costs less than the constraint's dual, so plans can beat the oracle); "
                             f"got {penalty_factor!r}")
        if render_mode is not None and render_mode not in self.metadata["render_modes"]:
            raise ValueError(f"render_mode must be None or one of {self.metadata['render_modes']}; "
                             f"got {render_mode!r}")
        self.render_mode = render_mode
        self.scenario_pool = None if scenario_pool is None else _check_int("scenario_pool", scenario_pool, 1)
        if generator_kwargs is not None and not isinstance(generator_kwargs, dict):
            raise ValueError(f"generator_kwargs must be a dict or None; got {generator_kwargs!r}")
        self.generator_kwargs = dict(generator_kwargs or {})
        for bad in ("seed", "theta", "start"):
            if bad in self.generator_kwargs:
                raise ValueError(f"generator_kwargs may not set {bad!r} (the env draws it); "
                                 f"got {bad}={self.generator_kwargs[bad]!r}")
        try:  # validates the generator arguments, and gives the sizes
            probe = make_scenario(0, **self.generator_kwargs)
        except TypeError as exc:
            raise ValueError(f"generator_kwargs: {exc} (got {self.generator_kwargs!r})") from None
        except ValueError as exc:
            raise ValueError(f"generator_kwargs {self.generator_kwargs!r}: {exc}") from None
        self._gen_key = _freeze(self.generator_kwargs)
        self.traces = None
        if traces is not None:
            path = Path(traces)
            if not (path.is_file() or (path / CARBON_TRACE_FILE).is_file()):
                raise ValueError(f"traces must be a folder holding {CARBON_TRACE_FILE} or that file; got {traces!r}")
            if probe.J > 9:
                raise ValueError(f"traces cover 9 DCs; generator_kwargs has J={probe.J}")
            self.traces = str(path)
        if scenario is not None and not isinstance(scenario, Scenario):
            raise ValueError(f"scenario must be a green_llm_env.Scenario or None; got {type(scenario).__name__}")
        self._pinned = scenario
        sizes = scenario if scenario is not None else probe
        self._sizes = sizes  # a scenario of this env's sizes (the pinned one, or the generator's seed 0)
        if self.forecast_hours > sizes.T:  # rows past the horizon are 0; a huge H would only fill memory
            raise ValueError(f"forecast_hours must be an integer in 0..T = {sizes.T}; got {self.forecast_hours}")
        self.I, self.J, self.K = sizes.I, sizes.J, sizes.K
        self.layout = ObservationLayout(self.I, self.K, self.J, self.forecast_hours)
        self._wi = self.layout.water_index
        low, high = self.layout.bounds()
        self.observation_space = spaces.Box(low, high, dtype=np.float32)
        self.action_space = spaces.Box(-1.0, 1.0, (self.I * self.K * self.J,), dtype=np.float32)
        self._N = self.I * self.K
        self._A = self._N * self.J
        self._flat_shape = (self._A,)
        self._cube_shape = (self.I, self.K, self.J)
        self._step_shape = (1, self._N, self.J)
        self._net = network(self.J)
        self._map_mode = kernels.MAP_SOFTMAX if action_mode == "softmax" else kernels.MAP_PROJECT
        self._row = np.zeros(1, np.int64)
        self._left = np.zeros(1)
        self._nums = np.zeros((1, kernels.N_NUMBERS + 1))
        self._viol = np.zeros((1, kernels.N_FAMILIES))
        self._dist = np.zeros(1)
        self._tab: ScenarioTables | None = None
        self._safety = None
        self.scenario_seed: int | None = None
        self.t = 0
        self.water_left_l = 0.0
        self._last: dict[str, Any] | None = None
        self._x: np.ndarray | None = None

    # ------------------------------------------------------------------ properties of the episode
    @property
    def scenario(self) -> Scenario:
        """The scenario of the current episode (after `reset`)."""
        self._need_reset()
        return self._tab.scenario

    @property
    def coef(self) -> cost.Coefficients:
        """`cost.Coefficients` of the current scenario."""
        self._need_reset()
        return self._tab.coef

    @property
    def allocation(self) -> np.ndarray | None:
        """(I, K, J) shares applied at the last step (None before the first step)."""
        return None if self._x is None else self._x.reshape(self._cube_shape)

    @property
    def tables(self) -> ScenarioTables:
        self._need_reset()
        return self._tab

    @property
    def horizon(self) -> int:
        """T of the current scenario."""
        self._need_reset()
        return self._tab.coef.T

    def _need_reset(self) -> None:
        if self._tab is None:
            raise RuntimeError("call reset() before using the environment")

    # ----------------------------------------------------------------------------------- reset
    _table_tag: tuple = ()  # subclasses whose tables differ (penalty rates) add a tag to the cache keys

    def _build_tables(self, s: Scenario, key: Any = None) -> ScenarioTables:
        """`ScenarioTables` of scenario ``s`` for this env's weights and penalty factor."""
        return scenario_tables(s, self.weights, self.penalty_factor, key)

    def _tables_for(self, key: Any, build) -> ScenarioTables:
        return cached_tables((key, tuple(self.weights.tolist()), self.penalty_factor) + self._table_tag,
                             lambda: self._build_tables(build(), key))

    def _object_tables(self, s: Scenario) -> ScenarioTables:
        """Tables of a given Scenario object, cached by identity (the cache holds the object)."""
        key = (("object", id(s)), tuple(self.weights.tolist()), self.penalty_factor) + self._table_tag
        tab = _CACHE.get(key)
        if tab is None or tab.scenario is not s:
            _CACHE.pop(key, None)
            tab = cached_tables(key, lambda: self._build_tables(s))
        return tab

    def _draw(self, options: dict[str, Any]) -> ScenarioTables:
        if "scenario" in options:
            s = options["scenario"]
            if not isinstance(s, Scenario):
                raise ValueError(f"options['scenario'] must be a green_llm_env.Scenario; got {type(s).__name__}")
            if (s.I, s.K, s.J) != (self.I, self.K, self.J):
                raise ValueError(f"options['scenario'] has (I, K, J) = {(s.I, s.K, s.J)}; this env's spaces "
                                 f"need {(self.I, self.K, self.J)}")
            self.scenario_seed = None
            return self._object_tables(s)
        if "scenario_seed" in options:
            n = _check_int("options['scenario_seed']", options["scenario_seed"], 0)
            self.scenario_seed = n
            return self._tables_for(("seed", n, self._gen_key),
                                    lambda: make_scenario(n, **self.generator_kwargs))
        if self._pinned is not None:
            self.scenario_seed = None
            return self._object_tables(self._pinned)
        rng = self.np_random
        n = int(rng.integers(self.scenario_pool if self.scenario_pool else 2 ** 31 - 1))
        self.scenario_seed = n
        if self.traces is None:
            return self._tables_for(("seed", n, self._gen_key), lambda: make_scenario(n, **self.generator_kwargs))
        T = int(self.generator_kwargs.get("T", 24))
        hour = int(self.generator_kwargs.get("start_hour", 0))
        day = int(rng.integers(_TRACE_DAYS - (hour + T + 23) // 24))
        start = str(np.datetime64("2024-01-01T00", "h") + np.timedelta64(day * 24 + hour, "h"))[:13]
        kw = {k: v for k, v in self.generator_kwargs.items() if k != "start_hour"}
        return self._tables_for(("traces", n, start, self.traces, self._gen_key),
                                lambda: scenario_from_traces(self.traces, start, n, **kw))

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        options = {} if options is None else options
        if not isinstance(options, dict):
            raise ValueError(f"options must be a dict or None; got {options!r}")
        unknown = set(options) - {"scenario", "scenario_seed"}
        if unknown:
            raise ValueError(f"options: unknown key(s) {sorted(unknown)}; known: 'scenario', 'scenario_seed'")
        tab = self._draw(options)
        self._tab = tab
        coef = tab.coef
        self._noise = forecast_noise_factors(self.np_random, coef.T, self.I, self.K, self.J, self.forecast_noise)
        if self._noise is None:
            obs_key = ("obs", self.forecast_hours) + self._table_tag
            cache = tab.obs_cache
            table = cache.get(obs_key)
            if table is None:
                table = cache[obs_key] = self._observation_table(tab, None)
        else:
            table = self._observation_table(tab, self._noise)
        self._obs_table = table
        self._Z = float(coef.water_budget_l)
        self._Zinv = 1.0 / self._Z if self._Z > 0 else 0.0
        self.t = 0
        self._T = coef.T
        self.water_left_l = self._Z
        self._ep = [0.0] * 9
        self._ep_viol = [0.0] * 5
        self._last = None
        self._x = None
        self._safety = self._corrector(tab)
        return self._first_observation(), {"scenario_seed": self.scenario_seed, "water_left_l": self.water_left_l}

    # ------------------------------------------------------------- hooks (GreenLLM-v1 overrides them)
    def _observation_table(self, tab: ScenarioTables, noise: dict[str, np.ndarray] | None) -> np.ndarray:
        """(T + 1, size) float32 observations of the episode's slots, water entries left to `_observe`."""
        s = tab.scenario
        return observation_table(self.layout, tab.coef, s.lam, s.delta, s.start_hour, noise)

    def _corrector(self, tab: ScenarioTables) -> Any:
        """What moves the mapped shares to feasible ones before the cost model (None: the penalty alone);
        an object with ``project(x (N, J), t, water_left_l) -> x``."""
        return safety_layer(tab) if self.constraint_mode == "project" else None

    def _first_observation(self) -> np.ndarray:
        obs = self._obs_table[0].copy()
        obs[self._wi] = 1.0
        return obs

    def _observe(self) -> np.ndarray:
        """The observation of slot ``self.t`` (the table row with the water entries written)."""
        obs = self._obs_table[self.t].copy()
        w = self.water_left_l * self._Zinv
        obs[self._wi] = 1.0 if w > 1.0 else (w if w > 0.0 else 0.0)
        return obs

    # ------------------------------------------------------------------------------------ step
    def _action_array(self, action: Any) -> np.ndarray:
        """``action`` validated (shape, real) and clipped to the Box, as a C-contiguous float32 or float64
        array of shape (1, N, J) (`actions.box_action`)."""
        return box_action(action, (self._flat_shape, self._cube_shape)).reshape(self._step_shape)

    def _non_finite(self, a: np.ndarray) -> ValueError:
        flat = a.reshape(-1)
        bad = int(np.flatnonzero(~np.isfinite(flat))[0])
        return ValueError(f"action contains NaN or inf (first at flat index {bad}: {flat[bad]})")

    def action_to_allocation(self, action: Any) -> tuple[np.ndarray, np.ndarray]:
        """Validate ``action`` and map it to shares; returns (shares (N, J), raw rows (N, J)), float64."""
        a = self._action_array(action)
        return self._allocation_of(a)[0], a[0].astype(np.float64)

    def _allocation_of(self, a: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(shares (N, J), squared distance to the action per row (N,)) of a validated action (1, N, J)."""
        try:
            return map_actions(a[0], self.action_mode, self.temperature)
        except ValueError:
            raise self._non_finite(a) from None

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        tab = self._tab
        if tab is None:
            raise RuntimeError("call reset() before step()")
        t = self.t
        if t >= self._T:
            raise RuntimeError(f"the episode ended at t = {t}; call reset()")
        a = self._action_array(action)
        self._row[0] = t
        self._left[0] = self.water_left_l
        x = np.empty(self._step_shape)
        nums, viol_a, dist = self._nums, self._viol, self._dist
        mode = self._map_mode
        if self._safety is not None:
            x[0], d2 = self._allocation_of(a)
            dist[0] = np.sqrt(d2.sum())
            x[0] = self._safety.project(x[0], t, self.water_left_l)
            mode = kernels.MAP_GIVEN
        bad = kernels.step_batch(tab.hour.flat, self._row, tab.pen, a, self._left, mode, self.temperature,
                                 self._net, tab.coef.R, True, x, nums, viol_a, dist)
        if bad >= 0:
            raise self._non_finite(a)
        x = x[0]
        self._x = x
        vals = nums[0].tolist()
        viol = viol_a[0].tolist()
        self.water_left_l -= vals[6]
        ep = self._ep
        for q in range(9):
            ep[q] += vals[q]
        ev = self._ep_viol
        for q in range(5):
            ev[q] += viol[q]
        self.t = t + 1
        info = dict(zip(_INFO_KEYS, vals))
        info["violations"] = dict(zip(cost.FAMILIES, viol))
        info["projection_distance"] = float(dist[0])
        info["t"] = t
        info["water_left_l"] = self.water_left_l
        terminated = self.t >= self._T
        if terminated:
            totals = dict(zip(_INFO_KEYS, ep))
            totals["violations"] = dict(zip(cost.FAMILIES, ev))
            totals["scenario_seed"] = self.scenario_seed
            info["episode_totals"] = totals
        obs = self._observe()
        if self.render_mode is not None:
            self._last = {"t": t, "x": x, "info": info}
        return obs, -self.reward_scale * (vals[0] + vals[8]), terminated, False, info

    # -------------------------------------------------------------------------------- forecast
    def forecast(self, hours: int) -> dict[str, np.ndarray]:
        """Forecasts of slots t..t+hours-1 (truncated at T): "price" (H, J) $/kWh, "renewable_kw" (H, J),
        "carbon" (H, J) kg/kWh, "demand" (H, I, K) queries; the current slot exact, later slots with the
        episode's noise (the numbers the observation shows)."""
        self._need_reset()
        hours = _check_int("hours", hours, 0)
        return forecast_values(self._tab.coef, self._tab.scenario.lam, min(self.t, self._T), hours, self._noise)

    # ---------------------------------------------------------------------------------- render
    def render(self) -> str | np.ndarray | None:
        if self.render_mode is None:
            gym.logger.warn("render() called without render_mode; pass render_mode='ansi' or 'rgb_array'")
            return None
        self._need_reset()
        if self.render_mode == "ansi":
            return self._render_ansi()
        return self._render_rgb()

    def _hour_view(self) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
        coef = self._tab.coef
        if self._last is None:
            t = min(self.t, self._T - 1)
            return t, np.zeros(coef.J), np.zeros(coef.J), np.zeros((coef.N, coef.J))
        t, x = self._last["t"], self._last["x"]
        _, _, use, _, grid, _, _ = cost.hour_terms(self._tab.hour, x[None], rows=np.array([t]))
        return t, use[0, 0], grid[0], x

    def _render_ansi(self) -> str:
        coef = self._tab.coef
        t, it, grid, x = self._hour_view()
        names = self._tab.scenario.dc_names
        name = self.spec.id if self.spec is not None else type(self).__name__
        lines = [f"{name}  hour {t}/{coef.T}  water left {self.water_left_l:,.1f} L of {self._Z:,.1f} L"]
        lines.append(f"{'DC':<14}{'share':>7}{'IT kW':>9}{'grid kW':>9}{'ren kW':>8}{'$/kWh':>8}{'kg/kWh':>8}")
        share = x.sum(0) / max(coef.N, 1)
        for j in range(coef.J):
            lines.append(f"{str(names[j])[:13]:<14}{share[j]:7.3f}{it[j]:9.1f}{grid[j]:9.1f}"
                         f"{coef.renewable_kw[t, j]:8.1f}{coef.price[t, j]:8.3f}{coef.theta[t, j]:8.3f}")
        if self._last is not None:
            i = self._last["info"]
            lines.append(f"cost_weighted ${i['cost_weighted']:.3f}  penalty ${i['penalty']:.3f}  "
                         f"water {i['water_l']:.1f} L  grid {i['grid_kwh']:.1f} kWh")
        return "\n".join(lines) + "\n"

    def _render_rgb(self) -> np.ndarray:
        """uint8 RGB frame of the hour (`green_llm_env.render.labelled_frame`): per DC, share of demand (blue)
        and grid kW / peak facility kW (red), with the hour, DC names, a legend and the water left."""
        from . import render

        coef = self._tab.coef
        t, it, grid, x = self._hour_view()
        share = x.sum(0) / max(coef.N, 1)
        top = max(float((it * coef.pue).max()), 1e-9)
        footer = f"water left {self.water_left_l:,.0f} L of {self._Z:,.0f} L"
        if self._last is not None:
            i = self._last["info"]
            footer += f"   cost_weighted ${i['cost_weighted']:.2f}   penalty ${i['penalty']:.2f}"
        name = self.spec.id if self.spec is not None else type(self).__name__
        return render.labelled_frame(share, grid / top, self._tab.scenario.dc_names,
                                     f"{name}   hour {t} of {coef.T}", footer)
