"""``GreenLLM-hybrid-v2``: GreenLLM-v2 with the hour's water price as the action and an exact hourly LP allocating.

Action: ``Box(-1, 1, (1,))``, a water price ``μ = lo·(hi/lo)^((a+1)/2)`` $/L (``price_range``, log scale). Step:
hour t's LP (`green_llm_env.hourly.HourlyLP`, HiGHS, warm) ``min σe·C1 + σc·C2 + σd·C3 + μ·W`` under the hour's
resource, delay and grid rows; if its water W exceeds what is left of the budget (and μ < μ_w, v2's price of a
litre beyond the budget, what such litres cost), the hour's exact optimum of ``μ·W + (μ_w - μ)·(W - left)⁺``
is played: the solve at μ_w if that still needs more than is left, else the solve at μ with W capped at the
water left. The allocation is played in the wrapped GreenLLM-v2 (which repairs nothing: it meets every hourly
row) and scored as any action.

Observation: `HYBRID_V2_FEATURES` (float32): v2's ``globals`` read by name, the hour's water-price response
``log(W(μ_q) / even)`` at `CURVE_POINTS` prices μ_q of the range (``even`` = water left / hours left), the log
of the hour's cost at the lowest price, the last action, and the day's response: ``log(D(μ_q) / water left)``
with ``D`` the hour's water plus the later hours' water at μ_q, those from the LPs of a forecast of the rest of
the day made at reset (``forecast_noise`` σ: every future demand, price, carbon intensity, renewable power and
water per kWh times a mean-one lognormal factor ``exp(σz - σ²/2)``, as GreenLLM-v1's ``mpc_noisy``; σ = 0 gives
the exact day; the forecast itself is kept as ``forecast_scenario``), with the actions where the hour's and
the day's curves cross their even share (``hour_action``, ``day_action``, interpolated; ±1.5 beyond the range).
Reward, termination and ``info`` are v2's (``info["hour_water_price"]`` added, at reset too: the $/L the LP
used, 0 at reset).

The day's features matter: an MLP cloned on 300 expert episodes predicts the oracle's price (which varies about
250x across scenarios) at hour 0 of validation scenarios 900-949 with an RMS error of 0.29 in action units (a
factor 3.8 in price) from the hour alone, 0.11 (a factor 1.7) with the day's curve at σ = 0.1, 0.07 with the
exact day's curve.

Version History: the observation gained the day's curve (forecast at reset, σ = 0.1) and the two crossing
actions, and an hour that would overrun the budget is priced exactly (capped at the water left when that is
cheaper than paying μ_w for the whole hour; before, the whole hour was re-solved at μ_w, which cost the
oracle's own price up to 2.3% on a validation scenario for a fraction of a litre), before any published number.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

from .core.features import GLOBAL_FEATURES
from .hourly import HourlyLP, check_price_action, check_price_range, even_action
from .observation import lognormal_factors

__all__ = ["CURVE_POINTS", "DEFAULT_FORECAST_NOISE", "DEFAULT_PRICE_RANGE", "HYBRID_V2_FEATURES", "WaterPriceLPV2",
           "make_hybrid_env_v2", "scaled_scenario", "water_curves"]

DEFAULT_PRICE_RANGE = (1e-4, 1.0)
"""$/L of the actions -1 and +1."""
CURVE_POINTS = 7
"""Prices (evenly spaced actions from -1 to 1) at which the observation shows the hour's water."""
DEFAULT_FORECAST_NOISE = 0.1
"""σ of the lognormal error of the day's forecast (GreenLLM-hybrid-v1's and ``mpc_noisy``'s)."""
HYBRID_V2_FEATURES = (tuple(g[0] for g in GLOBAL_FEATURES) + tuple(f"log_water_at_{q}" for q in range(CURVE_POINTS))
                      + ("log_cost", "hour_action", "day_action")
                      + tuple(f"log_day_water_at_{q}" for q in range(CURVE_POINTS)) + ("last_action",))


class WaterPriceLPV2(gym.Env):
    """The hybrid agent's environment on GreenLLM-v2 (see the module docstring): an env of its own that holds a
    GreenLLM-v2 env (``self.env``), so that it is its own ``unwrapped`` (what the env checkers inspect).

    Args:
        env: a GreenLLM-v2 env (``action_mode="project"``).
        price_range: (lo, hi) $/L, 0 < lo < hi.
        forecast_noise: σ >= 0 of the day's forecast (0: exact).
    """

    metadata = {"render_modes": []}

    def __init__(self, env: gym.Env, price_range: tuple[float, float] = DEFAULT_PRICE_RANGE,
                 forecast_noise: float = DEFAULT_FORECAST_NOISE) -> None:
        self.env = env
        base = env.unwrapped
        if not hasattr(base, "core") or not hasattr(base, "layout"):
            raise ValueError(f"WaterPriceLPV2 needs GreenLLM-v2 (green_llm_env.env_v2.GreenLLMEnvV2); got "
                             f"{type(base).__name__}")
        if base.config.action_mode != "project":
            raise ValueError(f"WaterPriceLPV2 plays allocations: it needs action_mode='project'; got "
                             f"{base.config.action_mode!r}")
        lo, hi = check_price_range(price_range)
        if isinstance(forecast_noise, bool) or not np.isfinite(float(forecast_noise)) or float(forecast_noise) < 0:
            raise ValueError(f"forecast_noise must be a finite number >= 0; got {forecast_noise!r}")
        self.forecast_noise = float(forecast_noise)
        self.price_range = (lo, hi)
        self._log_lo, self._log_span = float(np.log(lo)), float(np.log(hi / lo))
        self._curve_actions = np.linspace(-1.0, 1.0, CURVE_POINTS)
        self._curve = [self.price([a]) for a in self._curve_actions]
        self.action_space = spaces.Box(-1.0, 1.0, (1,), dtype=np.float32)
        self.observation_space = spaces.Box(-1000.0, 1000.0, (len(HYBRID_V2_FEATURES),), dtype=np.float32)
        self._lp: HourlyLP | None = None
        self._lp_key: Any = None
        self._last_action = 0.0
        self._future: np.ndarray | None = None
        self.forecast_scenario: Any = None  # the day as forecast at reset (hour 0 exact), the curves' source
        self.forecast_failures = 0  # forecast hours whose LP had no solution (the previous hour's curve is used)

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
        left = max(float(base.water_left_l), 0.0)
        if sol.water_l > left and base.water_price > price:
            # v2 charges the litres beyond the budget at μ_w: the hour's exact optimum of μ·W + (μ_w - μ)·(W - left)⁺
            # is the solve at μ_w if that still needs more than is left, else the solve at μ capped at what is left
            dear = lp.solve(base.t, water_price=base.water_price)
            if dear.water_l >= left:
                return dear.x, float(base.water_price)
            capped = lp.solve(base.t, water_price=price, water_cap_l=left)
            if not capped.relaxed:
                return capped.x, price
            return dear.x, float(base.water_price)
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
        hour_w = np.array([s.water_l for s in sols])
        curve = np.log(np.maximum(hour_w / even, 1e-6))
        day = hour_w + (self._future[base.t + 1:].sum(axis=0) if self._future is not None else 0.0)
        day_curve = np.log(np.maximum(day / max(base.water_left_l, 1e-9), 1e-6))
        at = len(glob)
        out[at:at + CURVE_POINTS] = np.clip(curve, -1000.0, 1000.0)
        at += CURVE_POINTS
        acts = self._curve_actions
        out[at:at + 3] = np.log(max(sols[0].cost_weighted, 1e-6)), even_action(curve, acts), even_action(day_curve, acts)
        out[at + 3:at + 3 + CURVE_POINTS] = np.clip(day_curve, -1000.0, 1000.0)
        out[-1] = self._last_action
        return out

    def _forecast_curves(self) -> np.ndarray:
        """(T, CURVE_POINTS) water (L) of each hour's LP at the curve's prices on the day's forecast made at reset
        (`forecast_noise`; hour 0 exact, it is the hour being played), kept as ``forecast_scenario`` (a Scenario) for
        policies that plan on the same forecast (``baselines.hybrid_rules.ForecastLPPolicy``)."""
        from . import cost

        base = self.env.unwrapped
        sig = self.forecast_noise

        def factors(shape: tuple[int, ...]) -> np.ndarray:
            f = lognormal_factors(self.np_random, shape, sig) if sig > 0 else np.ones(shape)
            f[0] = 1.0
            return f

        seen = scaled_scenario(base.scenario, factors)
        self.forecast_scenario = seen
        out, failures = water_curves(HourlyLP(cost.coefficients(seen), base.weights), self._curve)
        self.forecast_failures += failures
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
        self._future = self._forecast_curves()
        info["hour_water_price"] = np.float64(0.0)
        return self.features(obs), info

    def step(self, action: Any) -> tuple[np.ndarray, float, bool, bool, dict[str, Any]]:
        x, price = self.allocation(action)
        obs, reward, terminated, truncated, info = self.env.step(x.reshape(-1))
        info["hour_water_price"] = np.float64(price)
        self._last_action = float(np.clip(np.asarray(action, np.float64).reshape(-1)[0], -1.0, 1.0))
        return self.features(obs), reward, terminated, truncated, info


def scaled_scenario(scenario: Any, factors: Any) -> Any:
    """``scenario`` with every demand, electricity price, carbon intensity, renewable power and water per kWh
    multiplied by ``factors(shape)`` (an array of that shape), drawn in this fixed order: water per kWh (one factor
    for on-site WUE/PUE and the grid's EWIF), then demand ``lam``, price ``c``, carbon ``theta``, renewables
    ``P_w``. The day's forecast (factors of mean one) and the samples of ``baselines.hybrid_rules``'
    ``sampled_price`` (the forecast divided by fresh factors) are both made here."""
    water = np.asarray(factors(np.shape(scenario.WUE)), np.float64)
    return scenario.replace(
        lam=np.asarray(scenario.lam, np.float64) * factors(np.shape(scenario.lam)),
        c=np.asarray(scenario.c, np.float64) * factors(np.shape(scenario.c)),
        theta=np.asarray(scenario.theta, np.float64) * factors(np.shape(scenario.theta)),
        P_w=np.asarray(scenario.P_w, np.float64) * factors(np.shape(scenario.P_w)),
        WUE=np.asarray(scenario.WUE, np.float64) * water, EWIF=np.asarray(scenario.EWIF, np.float64) * water)


def water_curves(lp: HourlyLP, prices: Any, start: int = 0) -> tuple[np.ndarray, int]:
    """((T, len(prices)) water (L) of hours ``start..T-1``' LPs at each price $/L (rows before ``start`` zero), the
    number of hours whose LP had no solution: such an hour repeats the hour before's curve (zeros at ``start``)."""
    out = np.zeros((lp.coef.T, len(prices)))
    last = np.zeros(len(prices))
    failures = 0
    for t in range(start, lp.coef.T):
        try:
            out[t] = last = [lp.solve(t, water_price=p).water_l for p in prices]
        except RuntimeError:  # a demand beyond what the hour can host
            failures += 1
            out[t] = last
    return out, failures


def make_hybrid_env_v2(price_range: tuple[float, float] = DEFAULT_PRICE_RANGE,
                       forecast_noise: float = DEFAULT_FORECAST_NOISE, **env_kwargs: Any) -> WaterPriceLPV2:
    """Entry point of ``GreenLLM-hybrid-v2``: `WaterPriceLPV2` over ``GreenLLMEnvV2(**env_kwargs)``."""
    from .env_v2 import GreenLLMEnvV2

    return WaterPriceLPV2(GreenLLMEnvV2(**env_kwargs), price_range=price_range, forecast_noise=forecast_noise)
