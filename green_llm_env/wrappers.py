"""Wrappers that are part of the benchmark (Gymnasium only: no SB3, torch or yaml import).

- `StructuredObservation`: GreenLLM-v1's flat observation as a ``Dict`` with options as rows (N, J, F), per
  DC (J, G), per (area, type) (N, 3) and global parts, for models that share weights across options.
- `FlatInfo`: the step info as one flat dict of floats with the same keys on every reset and step (registered
  as ``GreenLLM-flat-v1``), for vector and TensorDict tools that stack infos (TorchRL's ``GymEnv(...,
  num_envs=N)`` and ``ParallelEnv``).
- `WaterPriceLP`: the hybrid agent's environment (registered as ``GreenLLM-hybrid-v1``): the action is the
  hour's water price, the step solves that hour's LP with water priced at it and plays the allocation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from . import cost
from .hourly import HourlyLP, check_price_action, check_price_range, even_action

__all__ = ["FLAT_INFO_KEYS", "FlatInfo", "make_flat_env", "CURVE_POINTS", "DEFAULT_PRICE_RANGE", "HYBRID_FEATURES", "HYBRID_FORECAST", "StructuredObservation", "WaterPriceLP", "make_hybrid_env"]

DEFAULT_PRICE_RANGE = (1e-4, 1.0)
"""$/L at actions -1 and +1 (log scale between): the oracle's water dual spans about 5e-4 to 0.12 $/L."""

CURVE_POINTS = 7
"""Prices (log-spaced over ``price_range``, ends included) at which the hybrid's observation samples the hour's
water-price response."""

HYBRID_FEATURES = ("water_left", "water_per_hour", "water_cap", "least_water", "hour_sin", "hour_cos",
                   "time_left", "log_greedy_per_hour", "log_least_per_hour", "last_action", "even_action",
                   "day_action", "log_cost_usd", "log_cost_rest_usd") + tuple(
                       f"log_water_at_{q}" for q in range(CURVE_POINTS)) + tuple(
                       f"log_day_water_at_{q}" for q in range(CURVE_POINTS))
"""The hybrid agent's observation (`WaterPriceLP.features`), computed from GreenLLM-v1's observation of the
hour: v1's seven globals; with ``per_hour`` the water left per remaining hour, ``greedy`` the water of the
hour's greedy allocation (each option to its cheapest DC, from the ``options`` part) and ``least`` the
hour's least water: log(greedy / per_hour), log(least / per_hour); the previous hour's action (0 at the first
hour); the hour's water-price response, log(W(μ_q) / per_hour) at `CURVE_POINTS` prices μ_q (W(μ) the water
of the hour's LP at price μ: the same LP as the step's, on the hour's coefficients), and ``even_action``, the
action whose price would make W equal ``per_hour`` (interpolated in log-log between the samples; ±1.5 past
the ends); the scale of what is at stake: log of the hour's weighted cost ($) at the lowest price, and log of
that times the hours left. With forecasts in the observation (``forecast_hours = H > 0``) also the rest of
the day's response: ``log_day_water_at_q`` = log(D(μ_q) / water left), D(μ) = W(μ) plus the water of the
next H hours' LPs at price μ, built at the episode's start from the forecasts the observation shows then
(price, renewables, carbon, demand, water per kWh; grid caps and β held at their slot-0 values), and
``day_action``, the action whose price makes D equal the water left (without forecasts D(μ) = W(μ) times the
hours left, and day_action = even_action). Logs are floored at log 1e-6; every feature is 0 after the last
hour."""


FLAT_INFO_KEYS = tuple(n.replace("_usd", "_cost") for n in cost.NUMBERS) + ("penalty",) + tuple(
    f"violation_{f}" for f in cost.FAMILIES) + ("projection_distance", "t", "water_left_l", "water_cap_l",
                                                  "scenario_seed", "episode_done")
"""`FlatInfo`'s keys: the hour's numbers ($, kg, L, kWh; 0 after a reset), ``violation_<family>`` (the nested
``violations`` of the env's info), the slot, water left and cap (L), the scenario seed (-1: a given scenario)
and ``episode_done`` (1.0 on the step that ends the episode; the episode totals are left out)."""


class FlatInfo(gym.Wrapper):
    """GreenLLM's ``info`` flattened to `FLAT_INFO_KEYS` (floats), the same keys after reset and step.

    The env's own info nests ``violations`` (and ``episode_totals`` on the last step) and its reset info
    holds two keys only; tools that stack infos into tensors want one fixed flat schema. Observation,
    action and reward are unchanged."""

    def _flat(self, info: dict[str, Any], done: bool = False) -> dict[str, float]:
        base = self.env.unwrapped
        out = {key: 0.0 for key in FLAT_INFO_KEYS}
        for key in FLAT_INFO_KEYS:
            if key in info and not isinstance(info[key], dict):
                out[key] = float(info[key])
        for family, value in (info.get("violations") or {}).items():
            out[f"violation_{family}"] = float(value)
        out["t"] = float(getattr(base, "t", out["t"]))
        out["water_left_l"] = float(getattr(base, "water_left_l", out["water_left_l"]))
        cap = float(getattr(base, "water_cap_l", np.inf))
        out["water_cap_l"] = cap if np.isfinite(cap) else out["water_left_l"]
        seed = getattr(base, "scenario_seed", None)
        out["scenario_seed"] = -1.0 if seed is None else float(seed)
        out["episode_done"] = float(done)
        return out

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, float]]:
        obs, info = self.env.reset(**kwargs)
        return obs, self._flat(info)

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, float]]:
        obs, reward, terminated, truncated, info = self.env.step(action)
        return obs, reward, terminated, truncated, self._flat(info, terminated or truncated)


def make_flat_env(**env_kwargs: Any) -> FlatInfo:
    """Entry point of ``GreenLLM-flat-v1``: `FlatInfo` over ``GreenLLMEnvV1(**env_kwargs)``."""
    from .env_v1 import GreenLLMEnvV1

    return FlatInfo(GreenLLMEnvV1(**env_kwargs))


def _v1(env: gym.Env) -> Any:
    base = env.unwrapped
    if not hasattr(base, "layout") or not hasattr(base.layout, "structured"):
        raise ValueError(f"this wrapper needs GreenLLM-v1 (green_llm_env.env_v1.GreenLLMEnvV1); got "
                         f"{type(base).__name__}")
    return base


class StructuredObservation(gym.ObservationWrapper):
    """GreenLLM-v1's observation as ``Dict(options=(N, J, R+4), dcs=(J, R+8), areas=(N, 3), globals=(7 + H·(4J+N),))``
    (`green_llm_env.observation_v1.V1Layout.structured`; the same numbers as the flat Box)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        self.layout = _v1(env).layout
        low, high = env.observation_space.low, env.observation_space.high
        lo, hi = self.layout.structured(low), self.layout.structured(high)
        self.observation_space = spaces.Dict({k: spaces.Box(lo[k], hi[k], dtype=np.float32) for k in lo})

    def observation(self, observation: np.ndarray) -> dict[str, np.ndarray]:
        return {k: np.ascontiguousarray(v) for k, v in self.layout.structured(observation).items()}


class WaterPriceLP(gym.Wrapper):
    """The hybrid agent's environment: a learned water price, an exact hourly LP (``GreenLLM-hybrid-v1``).

    Action: ``Box(-1, 1, (1,))``, the hour's water price ``μ = lo·(hi/lo)^((a+1)/2)`` $/L (``price_range``,
    log scale). Step: solve hour t's LP (`green_llm_env.hourly.HourlyLP`, HiGHS, warm from the previous hour)
    ``min σe·C1 + σc·C2 + σd·C3 + μ·W`` under the hour's rows with water capped at what the env's guard lets the
    hour use (what is left minus the later hours' least need, ``env.water_cap_l``), and play its allocation in
    the wrapped GreenLLM-v1 (which checks and scores it as any other action). The LP reads slot t's
    coefficients only: the numbers GreenLLM-v1's observation shows for the hour; the whole-day water dual of
    the oracle is the price that would reproduce the oracle.

    Observation: `HYBRID_FEATURES` (a Box of 28), computed from the v1 observation alone.
    Reward, termination and ``info`` are the wrapped env's (``info["water_price"]`` added: $/L).
    """

    def __init__(self, env: gym.Env, price_range: tuple[float, float] = DEFAULT_PRICE_RANGE) -> None:
        super().__init__(env)
        base = _v1(env)
        lo, hi = check_price_range(price_range)
        if base.action_mode != "project":
            raise ValueError(f"WaterPriceLP plays allocations: it needs action_mode='project'; got "
                             f"{base.action_mode!r}")
        self.price_range = (lo, hi)
        self._log_lo, self._log_span = np.log(lo), np.log(hi / lo)
        self._curve_actions = np.linspace(-1.0, 1.0, CURVE_POINTS)
        self._curve_prices = [self.price([a]) for a in self._curve_actions]
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.observation_space = spaces.Box(-50.0, 1000.0, (len(HYBRID_FEATURES),), dtype=np.float32)
        self._lp: HourlyLP | None = None
        self._lp_coef: Any = None
        self._last = 0.0
        self._future: np.ndarray | None = None
        self.forecast_failures = 0  # forecast hours whose LP had no solution (their curve is scaled)

    def price(self, action: Any) -> float:
        """$/L of an action in [-1, 1] (clipped to it; a wrong shape, NaN or inf raises ``ValueError``)."""
        a = float(np.clip(check_price_action(action), -1.0, 1.0))
        return float(np.exp(self._log_lo + 0.5 * (a + 1.0) * self._log_span))

    def action_of(self, price: float) -> float:
        """The action in [-1, 1] of a price ($/L; clipped to ``price_range``): the inverse of `price`."""
        a = 2.0 * (np.log(float(price)) - self._log_lo) / self._log_span - 1.0
        return float(np.clip(a, -1.0, 1.0))

    def features(self, obs_v1: np.ndarray) -> np.ndarray:
        """`HYBRID_FEATURES` from a GreenLLM-v1 observation of hour ``env.t`` (float32)."""
        base = self.env.unwrapped
        layout = base.layout
        parts = layout.split(obs_v1)
        g = parts["globals"].astype(np.float64)
        out = np.zeros(len(HYBRID_FEATURES), np.float32)
        if base.t >= base.horizon:
            return out
        opt = parts["options"]
        R = layout.R
        cheapest = np.argmin(opt[..., R + 3], axis=1)  # cost_usd
        greedy = 10.0 * float(np.take_along_axis(opt[..., R + 2], cheapest[:, None], axis=1).sum())  # water_l
        least = 100.0 * g[3]
        per_hour = max(10.0 * g[1] * least, 1e-12)
        lp = self._solver()
        sols = [lp.solve(base.t, water_price=p, water_cap_l=base.water_cap_l) for p in self._curve_prices]
        curve = np.array([sol.water_l for sol in sols])
        logs = np.log(np.maximum(np.concatenate([[greedy, least], curve]) / per_hour, 1e-6))
        hours_left = base.horizon - base.t
        if self._future is None:
            day = curve * hours_left
        else:
            day = curve + self._future[base.t + 1:].sum(axis=0)
        day_logs = np.log(np.maximum(day / max(base.water_left_l, 1e-12), 1e-6))
        usd = max(sols[0].cost_weighted, 1e-6)
        acts = self._curve_actions
        out[:] = [*g, logs[0], logs[1], self._last, even_action(logs[2:], acts), even_action(day_logs, acts),
                  np.log(usd), np.log(usd * hours_left), *logs[2:], *day_logs]
        return out

    def _forecast_curves(self) -> np.ndarray | None:
        """(T, CURVE_POINTS) water (L) of hours 1..H's LPs at the curve's prices, from the forecasts of slot 0
        (rows 0 and beyond H are 0); None without forecasts."""
        base = self.env.unwrapped
        H = min(int(base.forecast_hours), base.horizon - 1)
        if H <= 0:
            return None
        s = base.scenario
        fc = base.forecast(H + 1)  # slots 0..H as the observation shows them (slot 0 exact)
        T = s.T
        hold = lambda a, f=None: np.concatenate([f if f is not None else a[:1].repeat(H + 1, 0),  # noqa: E731
                                                 a[:1].repeat(T - H - 1, 0)])
        wue = hold(s.WUE, np.concatenate([s.WUE[:1], np.zeros((H, s.J))]))  # rows 1..H: all water as EWIF
        ewif = hold(s.EWIF, np.concatenate([s.EWIF[:1], fc["water_l_per_kwh"][1:]]))
        seen = s.replace(lam=hold(s.lam, fc["demand"]), c=hold(s.c, fc["price"]), theta=hold(s.theta, fc["carbon"]),
                         P_w=hold(s.P_w, fc["renewable_kw"]), WUE=wue, EWIF=ewif,
                         P_max=hold(s.P_max), beta=hold(s.beta))
        coef = cost.coefficients(seen)
        lp = HourlyLP(coef, base.weights)
        out = np.zeros((T, CURVE_POINTS))
        energy = coef.it_kw.sum(axis=1)  # (T,) forecast IT kW
        last = np.array([lp.solve(0, water_price=p).water_l for p in self._curve_prices])  # slot 0: exact
        last_energy = energy[0]
        for t in range(1, H + 1):
            try:
                out[t] = [lp.solve(t, water_price=p).water_l for p in self._curve_prices]
                last, last_energy = out[t].copy(), energy[t]
            except RuntimeError:  # forecast demand beyond what the hour can host: scale the last solved hour
                self.forecast_failures += 1
                out[t] = last * energy[t] / max(last_energy, 1e-12)
        return out

    def _solver(self) -> HourlyLP:
        base = self.env.unwrapped
        if self._lp is None or self._lp_coef is not base.coef:
            self._lp = HourlyLP(base.coef, base.weights)
            self._lp_coef = base.coef
        return self._lp

    def allocation(self, action: Any) -> np.ndarray:
        """The hour's LP allocation (N, J) at the price of ``action`` (see the class docstring)."""
        base = self.env.unwrapped
        sol = self._solver().solve(base.t, water_price=self.price(action), water_cap_l=base.water_cap_l)
        return sol.x

    def reset(self, **kwargs: Any) -> tuple[np.ndarray, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        self._future = self._forecast_curves()
        self._last = 0.0
        return self.features(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        price = self.price(action)
        x = self.allocation(action)
        obs, reward, terminated, truncated, info = self.env.step(x.reshape(-1))
        info["water_price"] = price
        self._last = float(np.clip(np.asarray(action, np.float64).reshape(-1)[0], -1.0, 1.0))
        return self.features(obs), reward, terminated, truncated, info


HYBRID_FORECAST = {"forecast_hours": 23, "forecast_noise": 0.1}
"""GreenLLM-v1 settings of ``GreenLLM-hybrid-v1``: 23 hours of noisy forecasts (σ = 0.1), the information of the
``mpc_noisy`` baseline."""


def make_hybrid_env(price_range: tuple[float, float] = DEFAULT_PRICE_RANGE, **env_kwargs: Any) -> WaterPriceLP:
    """Entry point of ``GreenLLM-hybrid-v1``: `WaterPriceLP` over ``GreenLLMEnvV1(**env_kwargs)``, with
    `HYBRID_FORECAST` unless ``env_kwargs`` set them."""
    from .env_v1 import GreenLLMEnvV1

    return WaterPriceLP(GreenLLMEnvV1(**{**HYBRID_FORECAST, **env_kwargs}), price_range=price_range)
