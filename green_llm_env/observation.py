"""Observation layout of GreenLLM-v0: named slices, fixed O(1) scaling, forecasts with seeded noise.

The observation is one flat float32 vector. Its parts, in order (sizes for I areas, K types, J DCs and
``forecast_hours = H``), each divided by a fixed scale so that typical values are O(1):

| name | size | content | scale |
|---|---|---|---|
| ``demand`` | I*K | this hour's demand λ[i, k] (queries/slot), (i, k) row-major | / 1000 |
| ``price`` | J | grid price c[j] ($/kWh) | / 0.2 |
| ``renewable`` | J | on-site renewable output P_w[j] (kW) | / 100 |
| ``carbon`` | J | grid carbon intensity θ[j] (kg/kWh) | / 0.5 |
| ``carbon_price`` | J | carbon price δ[j] ($/kg) | / 0.05 |
| ``water_left`` | 1 | remaining water budget / Z, clipped to [0, 1] | 1 |
| ``hour_sin``, ``hour_cos`` | 1 + 1 | sin, cos of 2π·(local hour of day)/24 | 1 |
| ``time_left`` | 1 | (T - t) / T, the fraction of the horizon left | 1 |
| ``forecast_price`` | H*J | price of slots t+1..t+H, (h, j) row-major | / 0.2 |
| ``forecast_renewable`` | H*J | renewables of slots t+1..t+H | / 100 |
| ``forecast_carbon`` | H*J | carbon intensity of slots t+1..t+H | / 0.5 |
| ``forecast_demand`` | H*I*K | demand of slots t+1..t+H, (h, i, k) row-major | / 1000 |

Forecast rows beyond the horizon are 0. With ``forecast_noise = σ > 0`` every forecast value of a slot
``h >= 1`` hours ahead is multiplied by its own factor ``exp(σ·z - σ²/2)`` (z standard normal, mean-one
lognormal), drawn once per episode from the env's generator; the current slot is exact. After the last step
(t = T) the hourly parts are 0. Every entry is clipped to the bounds in `ObservationLayout.bounds`.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .cost import Coefficients

__all__ = ["FORECAST_KEYS", "NamedParts", "ObservationLayout", "SCALES", "forecast_noise_factors", "forecast_values",
           "lognormal_factors", "observation_table", "split"]

SCALES = {"demand": 1000.0, "price": 0.2, "renewable": 100.0, "carbon": 0.5, "carbon_price": 0.05}
"""Divisors that bring each raw feature (queries/slot, $/kWh, kW, kg/kWh, $/kg) to O(1)."""

FORECAST_KEYS = ("price", "renewable_kw", "carbon", "demand")
"""Keys of a forecast dict (`GreenLLMEnv.forecast`): (H, J) $/kWh, (H, J) kW, (H, J) kg/kWh, (H, I, K)."""

_BOUND = 1000.0  # |scaled feature| cap; prices may be negative (real-time markets)


class NamedParts:
    """Named slices of a flat vector (mixin of the observation layouts): ``slices`` and ``shapes`` by name."""

    slices: dict[str, slice]
    shapes: dict[str, tuple[int, ...]]

    def _set_parts(self, parts: list[tuple[str, tuple[int, ...]]]) -> None:
        slices, shapes, at = {}, {}, 0
        for name, shape in parts:
            n = int(np.prod(shape))
            slices[name] = slice(at, at + n)
            shapes[name] = shape
            at += n
        object.__setattr__(self, "slices", slices)
        object.__setattr__(self, "shapes", shapes)

    @property
    def size(self) -> int:
        """Length of the flat observation."""
        return max(s.stop for s in self.slices.values())

    def split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Named parts of ``obs`` (shape ``(..., size)``), each reshaped to ``(...,) + shape`` (views)."""
        obs = np.asarray(obs)
        if obs.shape[-1] != self.size:
            raise ValueError(f"obs must have last axis {self.size}; got shape {obs.shape}")
        lead = obs.shape[:-1]
        return {name: obs[..., sl].reshape(lead + self.shapes[name]) for name, sl in self.slices.items()}


@dataclass(frozen=True)
class ObservationLayout(NamedParts):
    """Where each named part sits in the flat observation, and its natural shape."""

    I: int
    K: int
    J: int
    forecast_hours: int = 0
    slices: dict[str, slice] = field(init=False)
    shapes: dict[str, tuple[int, ...]] = field(init=False)

    def __post_init__(self) -> None:
        I, K, J, H = self.I, self.K, self.J, self.forecast_hours
        parts = [("demand", (I, K)), ("price", (J,)), ("renewable", (J,)), ("carbon", (J,)),
                 ("carbon_price", (J,)), ("water_left", (1,)), ("hour_sin", (1,)), ("hour_cos", (1,)),
                 ("time_left", (1,))]
        if H > 0:
            parts += [("forecast_price", (H, J)), ("forecast_renewable", (H, J)), ("forecast_carbon", (H, J)),
                      ("forecast_demand", (H, I, K))]
        self._set_parts(parts)

    @property
    def water_index(self) -> int:
        """Index of ``water_left`` (the one entry that depends on the actions taken)."""
        return self.slices["water_left"].start

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) float32 arrays of the observation space."""
        low = np.zeros(self.size, np.float32)
        high = np.full(self.size, _BOUND, np.float32)
        for name in ("price", "forecast_price"):
            if name in self.slices:
                low[self.slices[name]] = -_BOUND
        for name in ("water_left", "time_left"):
            high[self.slices[name]] = 1.0
        for name in ("hour_sin", "hour_cos"):
            low[self.slices[name]] = -1.0
            high[self.slices[name]] = 1.0
        return low, high


def split(obs: np.ndarray, I: int, K: int, J: int, forecast_hours: int = 0) -> dict[str, np.ndarray]:
    """Shortcut for ``ObservationLayout(I, K, J, forecast_hours).split(obs)``."""
    return ObservationLayout(I, K, J, forecast_hours).split(obs)


def lognormal_factors(rng: np.random.Generator, shape: tuple[int, ...], sigma: float) -> np.ndarray:
    """Mean-one lognormal forecast-error factors ``exp(σz - σ²/2)`` of ``shape`` (one ``standard_normal`` draw
    of that shape from ``rng``): the one formula of v0/v1's forecasts, v1's water forecast and the hybrid-v2 day
    forecast."""
    return np.exp(sigma * rng.standard_normal(shape) - 0.5 * sigma * sigma)


def forecast_noise_factors(rng: np.random.Generator, T: int, I: int, K: int, J: int,
                           sigma: float) -> dict[str, np.ndarray] | None:
    """Mean-one lognormal factors ``(T, T, ...)`` indexed [slot seen from, lead h], lead 0 exact; None if σ=0.

    Draw order (fixed, for reproducibility): price, renewable_kw, carbon (each (T, T, J)), demand (T, T, I, K).
    """
    if sigma <= 0.0:
        return None
    out = {}
    for key, tail in (("price", (J,)), ("renewable_kw", (J,)), ("carbon", (J,)), ("demand", (I, K))):
        f = lognormal_factors(rng, (T, T) + tail, sigma)
        f[:, 0] = 1.0
        out[key] = f
    return out


def forecast_values(coef: Coefficients, demand: np.ndarray, t: int, hours: int,
                    noise: dict[str, np.ndarray] | None) -> dict[str, np.ndarray]:
    """Forecast of slots t..t+hours-1 (truncated at T) as seen from slot t, in model units (see `FORECAST_KEYS`).

    ``demand`` is the scenario's λ (T, I, K); ``noise`` from `forecast_noise_factors` (None: exact); the
    factor of slot s is ``noise[key][t, s - t]`` (lead 0, the current slot, is exact).
    """
    stop = min(t + max(hours, 0), coef.T)
    n = max(stop - t, 0)
    out = {"price": coef.price[t:stop].copy(), "renewable_kw": coef.renewable_kw[t:stop].copy(),
           "carbon": coef.theta[t:stop].copy(), "demand": demand[t:stop].copy()}
    if noise is not None and n > 0:
        for key in FORECAST_KEYS:
            out[key] *= noise[key][t, :n]
    return out


def _ahead(base: np.ndarray, H: int, factors: np.ndarray | None) -> np.ndarray:
    """(T, H, ...) values of slots t+1..t+H seen from each slot t (0 beyond the horizon)."""
    T = base.shape[0]
    ext = np.concatenate([base, np.zeros((1,) + base.shape[1:])])
    idx = np.minimum(np.arange(T)[:, None] + np.arange(1, H + 1)[None, :], T)  # (T, H)
    vals = ext[idx]
    if factors is not None:
        lead = np.arange(1, H + 1)
        f = np.ones((T, H) + base.shape[1:])
        ok = lead < factors.shape[1]
        f[:, ok] = factors[:, lead[ok]]
        vals = vals * f
    return vals


def observation_table(layout: ObservationLayout, coef: Coefficients, demand: np.ndarray, delta: np.ndarray,
                      start_hour: int, noise: dict[str, np.ndarray] | None) -> np.ndarray:
    """(T + 1, size) float32: the observation at each slot t = 0..T with ``water_left`` set to 0.

    The caller writes the water fraction into `ObservationLayout.water_index` at each step.
    """
    T, I, K, J, H = coef.T, layout.I, layout.K, layout.J, layout.forecast_hours
    tab = np.zeros((T + 1, layout.size), np.float64)
    sl = layout.slices
    tab[:T, sl["demand"]] = demand.reshape(T, I * K) / SCALES["demand"]
    tab[:T, sl["price"]] = coef.price / SCALES["price"]
    tab[:T, sl["renewable"]] = coef.renewable_kw / SCALES["renewable"]
    tab[:T, sl["carbon"]] = coef.theta / SCALES["carbon"]
    tab[:T, sl["carbon_price"]] = np.broadcast_to(delta, (T, J)) / SCALES["carbon_price"]
    hour = 2.0 * np.pi * ((start_hour + np.arange(T + 1)) % 24) / 24.0
    tab[:, sl["hour_sin"].start] = np.sin(hour)
    tab[:, sl["hour_cos"].start] = np.cos(hour)
    tab[:, sl["time_left"].start] = (T - np.arange(T + 1)) / T
    if H > 0:
        for key, name, base, scale in (("price", "forecast_price", coef.price, "price"),
                                       ("renewable_kw", "forecast_renewable", coef.renewable_kw, "renewable"),
                                       ("carbon", "forecast_carbon", coef.theta, "carbon"),
                                       ("demand", "forecast_demand", demand, "demand")):
            vals = _ahead(np.asarray(base, np.float64), H, None if noise is None else noise[key])
            tab[:T, sl[name]] = vals.reshape(T, -1) / SCALES[scale]
    low, high = layout.bounds()
    return np.clip(tab, low, high).astype(np.float32)
