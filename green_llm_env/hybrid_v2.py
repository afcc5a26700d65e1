"""``GreenLLM-hybrid-v2``: GreenLLM-v2 with the hour's water price as the action and an exact hourly LP allocating.

Action: ``Box(-1, 1, (1,))``, a water price ``μ = lo·(hi/lo)^((a+1)/2)`` $/L (``price_range``, log scale). Step:
hour t's LP (`green_llm_env.hourly.HourlyLP`, HiGHS, warm) ``min σe·C1 + σc·C2 + σd·C3 + μ·W`` under the hour's
resource, delay and grid rows; if its water exceeds what is left of the budget, the hour is solved again at
``max(μ, μ_w)`` (``μ_w`` = v2's price of a litre beyond the budget, what such litres cost). The allocation is
played in the wrapped GreenLLM-v2 (which repairs nothing: it meets every hourly row) and scored as any action.

Observation: `HYBRID_V2_FEATURES` (float32): v2's ``globals`` read by name, the hour's water-price response
``log(W(μ_q) / even)`` at `CURVE_POINTS` prices μ_q of the range (``even`` = water left / hours left), the log
of the hour's cost at the lowest price, and the last action. Reward, termination and ``info`` are v2's
(``info["hour_water_price"]`` added, at reset too: the $/L the LP used, 0 at reset).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .core.features import GLOBAL_FEATURES
from .hourly import HourlyLP, check_price_action, check_price_range

__all__ = ["CURVE_POINTS", "DEFAULT_PRICE_RANGE", "HYBRID_V2_FEATURES", "WaterPriceLPV2", "make_hybrid_env_v2"]

DEFAULT_PRICE_RANGE = (1e-4, 1.0)
"""$/L of the actions -1 and +1."""
CURVE_POINTS = 7
"""Prices (evenly spaced actions from -1 to 1) at which the observation shows the hour's water."""
HYBRID_V2_FEATURES = (tuple(g[0] for g in GLOBAL_FEATURES) + tuple(f"log_water_at_{q}" for q in range(CURVE_POINTS))
                      + ("log_cost", "last_action"))


class WaterPriceLPV2(gym.Env):
    """The hybrid agent's environment on GreenLLM-v2 (see the module docstring): an env of its own that holds a
    GreenLLM-v2 env (``self.env``), so that it is its own ``unwrapped`` (what the env checkers inspect).

    Args:
        env: a GreenLLM-v2 env (``action_mode="project"``).
        price_range: (lo, hi) $/L, 0 < lo < hi.
    """

    metadata = {"render_modes": []}

    def __init__(self, env: gym.Env, price_range: tuple[float, float] = DEFAULT_PRICE_RANGE) -> None:
        self.env = env
        base = env.unwrapped
        if not hasattr(base, "core") or not hasattr(base, "layout"):
            raise ValueError(f"WaterPriceLPV2 needs GreenLLM-v2 (green_llm_env.env_v2.GreenLLMEnvV2); got "
                             f"{type(base).__name__}")
        if base.config.action_mode != "project":
            raise ValueError(f"WaterPriceLPV2 plays allocations: it needs action_mode='project'; got "
                             f"{base.config.action_mode!r}")
        lo, hi = check_price_range(price_range)
        self.price_range = (lo, hi)
        self._log_lo, self._log_span = float(np.log(lo)), float(np.log(hi / lo))
        self._curve = [self.price([a]) for a in np.linspace(-1.0, 1.0, CURVE_POINTS)]
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.observation_space = spaces.Box(-1000.0, 1000.0, (len(HYBRID_V2_FEATURES),), dtype=np.float32)
        self._lp: HourlyLP | None = None
        self._lp_key: Any = None
        self._last_action = 0.0

    def price(self, action: Any) -> float:
        """$/L of an action in [-1, 1] (clipped; a wrong shape, NaN or inf raises ``ValueError``)."""
        a = min(max(check_price_action(action), -1.0), 1.0)
        return float(np.exp(self._log_lo + 0.5 * (a + 1.0) * self._log_span))

    def action_of(self, price: float) -> float:
        """The action of a price ($/L; clipped to ``price_range``): the inverse of `price`."""
        return float(np.clip(2.0 * (np.log(float(price)) - self._log_lo) / self._log_span - 1.0, -1.0, 1.0))

    def _solver(self) -> HourlyLP:
        base = self.env.unwrapped
        key = base.core.keys[0]
        if self._lp is None or self._lp_key != key:
            self._lp = HourlyLP(base.coef, base.weights)
            self._lp_key = key
        return self._lp

    def allocation(self, action: Any) -> tuple[np.ndarray, float]:
        """(the hour's LP allocation (N, J), the $/L it was priced at) for ``action``."""
        base = self.env.unwrapped
        price = self.price(action)
        lp = self._solver()
        sol = lp.solve(base.t, water_price=price)
        if sol.water_l > base.water_left_l and base.water_price > price:
            price = base.water_price
            sol = lp.solve(base.t, water_price=price)
        return sol.x, price

    def features(self, obs: np.ndarray) -> np.ndarray:
        """`HYBRID_V2_FEATURES` of a GreenLLM-v2 observation of hour ``env.t``."""
        base = self.env.unwrapped
        lay = base.layout
        out = np.zeros(len(HYBRID_V2_FEATURES), np.float32)
        glob = [lay.decode(obs, f"globals.{g[0]}") for g in GLOBAL_FEATURES]
        out[:len(glob)] = glob
        if base.t >= base.horizon:
            out[-1] = self._last_action
            return out
        lp = self._solver()
        sols = [lp.solve(base.t, water_price=p) for p in self._curve]
        even = max(base.water_left_l, 1e-9) / (base.horizon - base.t)
        curve = np.log(np.maximum(np.array([s.water_l for s in sols]) / even, 1e-6))
        out[len(glob):len(glob) + CURVE_POINTS] = np.clip(curve, -1000.0, 1000.0)
        out[-2] = np.log(max(sols[0].cost_weighted, 1e-6))
        out[-1] = self._last_action
        return out

    @property
    def base(self) -> Any:
        """The GreenLLM-v2 env played (its ``scenario``, ``coef``, ``t``, ``water_left_l``, ... for policies)."""
        return self.env.unwrapped

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_") or name == "env":
            raise AttributeError(name)
        return getattr(self.env.unwrapped, name)  # scenario, coef, weights, t, water_left_l, horizon, forecast

    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        super().reset(seed=seed)
        obs, info = self.env.reset(seed=seed, options=options)
        self._lp = None  # a fresh solver per episode: warm starts then follow from the seed and actions alone
        self._last_action = 0.0
        info["hour_water_price"] = np.float64(0.0)
        return self.features(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        x, price = self.allocation(action)
        obs, reward, terminated, truncated, info = self.env.step(x.reshape(-1))
        info["hour_water_price"] = np.float64(price)
        self._last_action = float(np.clip(np.asarray(action, np.float64).reshape(-1)[0], -1.0, 1.0))
        return self.features(obs), reward, terminated, truncated, info


def make_hybrid_env_v2(price_range: tuple[float, float] = DEFAULT_PRICE_RANGE, **env_kwargs: Any) -> WaterPriceLPV2:
    """Entry point of ``GreenLLM-hybrid-v2``: `WaterPriceLPV2` over ``GreenLLMEnvV2(**env_kwargs)``."""
    from .env_v2 import GreenLLMEnvV2

    return WaterPriceLPV2(GreenLLMEnvV2(**env_kwargs), price_range=price_range)
