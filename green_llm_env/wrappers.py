"""Wrappers that are part of the benchmark (Gymnasium only: no SB3, torch or yaml import).

- `StructuredObservation`: GreenLLM-v1's flat observation as a ``Dict`` with options as rows (N, J, F), per
  DC (J, G), per (area, type) (N, 3) and global parts, for models that share weights across options.
- `WaterPriceLP`: the hybrid agent's environment (registered as ``GreenLLM-hybrid-v1``): the action is the
  hour's water price, the step solves that hour's LP with water priced at it and plays the allocation.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .hourly import HourlyLP

__all__ = ["CURVE_POINTS", "DEFAULT_PRICE_RANGE", "HYBRID_FEATURES", "StructuredObservation", "WaterPriceLP", "make_hybrid_env"]

DEFAULT_PRICE_RANGE = (1e-4, 1.0)
"""$/L at actions -1 and +1 (log scale between): the oracle's water dual spans about 5e-4 to 0.12 $/L."""

CURVE_POINTS = 7
"""Prices (log-spaced over ``price_range``, ends included) at which the hybrid's observation samples the hour's
water-price response."""

HYBRID_FEATURES = ("water_left", "water_per_hour", "water_cap", "least_water", "hour_sin", "hour_cos",
                   "time_left", "log_greedy_per_hour", "log_least_per_hour", "last_action", "even_action",
                   "log_cost_usd", "log_cost_rest_usd") + tuple(
                       f"log_water_at_{q}" for q in range(CURVE_POINTS))
"""The hybrid agent's observation (`WaterPriceLP.features`), computed from GreenLLM-v1's observation of the
hour: v1's seven globals; with ``per_hour`` the water left per remaining hour, ``greedy`` the water of the
hour's greedy allocation (each option to its cheapest DC, from the ``options`` part) and ``least`` the
hour's least water: log(greedy / per_hour), log(least / per_hour); the previous hour's action (0 at the first
hour); the hour's water-price response, log(W(μ_q) / per_hour) at `CURVE_POINTS` prices μ_q (W(μ) the water
of the hour's LP at price μ: the same LP as the step's, on the hour's coefficients), and ``even_action``, the
action whose price would make W equal ``per_hour`` (interpolated in log-log between the samples; ±1.5 past
the ends); the scale of what is at stake: log of the hour's weighted cost ($) at the lowest price, and log of
that times the hours left. Logs are floored at log 1e-6; every feature is 0 after the last hour."""


def _v1(env: gym.Env) -> Any:
    base = env.unwrapped
    if not hasattr(base, "layout") or not hasattr(base.layout, "structured"):
        raise ValueError(f"this wrapper needs GreenLLM-v1 (green_llm_env.env_v1.GreenLLMEnvV1); got "
                         f"{type(base).__name__}")
    return base


class StructuredObservation(gym.ObservationWrapper):
    """GreenLLM-v1's observation as ``Dict(options=(N, J, R+4), dcs=(J, R+8), areas=(N, 3), globals=(6 + H·(3J+N),))``
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

    Observation: `HYBRID_FEATURES` (a Box of 20), computed from the v1 observation alone.
    Reward, termination and ``info`` are the wrapped env's (``info["water_price"]`` added: $/L).
    """

    def __init__(self, env: gym.Env, price_range: tuple[float, float] = DEFAULT_PRICE_RANGE) -> None:
        super().__init__(env)
        base = _v1(env)
        lo, hi = (float(p) for p in price_range)
        if not (0.0 < lo < hi and np.isfinite(hi)):
            raise ValueError(f"price_range must be two prices 0 < lo < hi ($/L); got {price_range!r}")
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
        self._obs_v1: np.ndarray | None = None

    def price(self, action: Any) -> float:
        """$/L of an action in [-1, 1] (clipped to it)."""
        a = float(np.clip(np.asarray(action, np.float64).reshape(-1)[0], -1.0, 1.0))
        return float(np.exp(self._log_lo + 0.5 * (a + 1.0) * self._log_span))

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
        usd = max(sols[0].cost_weighted, 1e-6)
        out[:] = [*g, logs[0], logs[1], self._last, self._even_action(logs[2:]), np.log(usd),
                  np.log(usd * (base.horizon - base.t)), *logs[2:]]
        return out

    def _even_action(self, log_curve: np.ndarray) -> float:
        """The action where the (non-increasing) log-water curve crosses 0, interpolated; ±1.5 past the ends."""
        if log_curve[0] <= 0.0:
            return -1.5
        if log_curve[-1] >= 0.0:
            return 1.5
        q = int(np.argmax(log_curve < 0.0))  # first sample below the even share
        hi, lo = log_curve[q - 1], log_curve[q]
        frac = hi / (hi - lo) if hi > lo else 0.5
        return float(self._curve_actions[q - 1] + frac * (self._curve_actions[q] - self._curve_actions[q - 1]))

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
        self._last = 0.0
        self._obs_v1 = obs
        return self.features(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        price = self.price(action)
        x = self.allocation(action)
        obs, reward, terminated, truncated, info = self.env.step(x.reshape(-1))
        info["water_price"] = price
        self._last = float(np.clip(np.asarray(action, np.float64).reshape(-1)[0], -1.0, 1.0))
        self._obs_v1 = obs
        return self.features(obs), reward, terminated, truncated, info


def make_hybrid_env(price_range: tuple[float, float] = DEFAULT_PRICE_RANGE, **env_kwargs: Any) -> WaterPriceLP:
    """Entry point of ``GreenLLM-hybrid-v1``: `WaterPriceLP` over ``GreenLLMEnvV1(**env_kwargs)``."""
    from .env_v1 import GreenLLMEnvV1

    return WaterPriceLP(GreenLLMEnvV1(**env_kwargs), price_range=price_range)
