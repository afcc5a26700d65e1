"""Observation of GreenLLM-v1: everything the current hour's costs and constraints depend on, scaled to O(1).

One flat float32 vector, in this order (sizes for I areas, K types, N = I*K, J DCs, R resource types and
``forecast_hours = H``); every value is divided by the fixed scale shown and clipped to ±1000:

| part | shape | features (unit / scale) |
|---|---|---|
| ``options`` | (N, J, R + 4) | per share of (i, k) sent to DC j this hour: ``delay_rel`` delay / the (i, k) delay cap; ``resource_rel_r`` resource units / C[r, j] (R of them); ``facility_kw`` facility kW (/ 10); ``water_l`` litres (/ 10); ``cost_usd`` weighted $ if the grid supplied all of it, σe·c + σc·δ·θ times facility kW plus σd·ρ·delay ($ / 1) |
| ``dcs`` | (J, R + 8) | ``price`` $/kWh (/ 0.2); ``carbon`` kg/kWh (/ 0.5); ``carbon_price`` $/kg (/ 0.05); ``grid_price`` weighted $/kWh (/ 0.1); ``renewable`` kW (/ 100); ``grid_cap`` kW (/ 5000); ``pue``; ``water_per_kwh`` litres per facility kWh (WUE/PUE + EWIF); ``headroom_r`` C[r, j] / the hour's total need of resource r, clipped to [0, 10] (R of them) |
| ``areas`` | (N, 3) | ``demand`` queries (/ 1000); ``delay_cap`` s (/ 20); ``rho`` $/s (/ 0.1) |
| ``globals`` | (7,) | ``water_left`` left / Z in [0, 1]; ``water_per_hour`` left / (hours left × this hour's least water) / 10; ``water_cap`` what the guard lets this hour use (left minus the later hours' least need) / this hour's least water / 10, >= 0; ``least_water`` this hour's least water (L / 100); ``hour_sin``, ``hour_cos`` local hour of day; ``time_left`` (T - t) / T |
| ``forecast_price``, ``forecast_renewable``, ``forecast_carbon`` | (H, J) each | as GreenLLM-v0 (slots t+1..t+H) |
| ``forecast_demand`` | (H, N) | as GreenLLM-v0 |
| ``forecast_water`` | (H, J) | water per facility kWh (WUE/PUE + EWIF, L/kWh) of slots t+1..t+H, with the same noise rule |

``options`` / ``dcs`` / ``areas`` are known at the start of the hour (the scenario's coefficients of slot t);
``globals`` depend on the water used so far. "This hour's least water" is the least water of any allocation
meeting the hour's resource, delay and grid rows (`green_llm_env.hourly.least_water`); ``water_cap`` also
uses the later hours' least need (the reserve the env's feasibility guard keeps back), which is part of the
hour's constraint set under the guard. After the last step (t = T) the hourly parts are 0.

`V1Layout.split` names every part; `V1Layout.structured` gives the options as rows, (N, J, F), for models that
share weights across options (the `green_llm_env.wrappers.StructuredObservation` Dict view).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import cost
from .observation import SCALES, NamedParts, _ahead

__all__ = ["AREA_FEATURES", "GLOBAL_FEATURES", "V1Layout", "dc_features", "option_features", "v1_table"]

AREA_FEATURES = ("demand", "delay_cap", "rho")
GLOBAL_FEATURES = ("water_left", "water_per_hour", "water_cap", "least_water", "hour_sin", "hour_cos", "time_left")
_G = len(GLOBAL_FEATURES)
_BOUND = 1000.0


def option_features(R: int) -> tuple[str, ...]:
    """Names of the per-option features (F = R + 4)."""
    return ("delay_rel",) + tuple(f"resource_rel_{r}" for r in range(R)) + ("facility_kw", "water_l", "cost_usd")


def dc_features(R: int) -> tuple[str, ...]:
    """Names of the per-DC features (G = R + 8)."""
    return ("price", "carbon", "carbon_price", "grid_price", "renewable", "grid_cap", "pue",
            "water_per_kwh") + tuple(f"headroom_{r}" for r in range(R))


@dataclass(frozen=True)
class V1Layout(NamedParts):
    """Where each named part of the v1 observation sits, and its natural shape."""

    I: int
    K: int
    J: int
    R: int
    forecast_hours: int = 0
    slices: dict[str, slice] = field(init=False)
    shapes: dict[str, tuple[int, ...]] = field(init=False)

    def __post_init__(self) -> None:
        N, J, R, H = self.I * self.K, self.J, self.R, self.forecast_hours
        parts = [("options", (N, J, R + 4)), ("dcs", (J, R + 8)), ("areas", (N, 3)), ("globals", (_G,))]
        if H > 0:
            parts += [("forecast_price", (H, J)), ("forecast_renewable", (H, J)), ("forecast_carbon", (H, J)),
                      ("forecast_demand", (H, N)), ("forecast_water", (H, J))]
        self._set_parts(parts)

    @property
    def globals_start(self) -> int:
        return self.slices["globals"].start

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) float32 arrays of the observation space."""
        low = np.full(self.size, -_BOUND, np.float32)
        high = np.full(self.size, _BOUND, np.float32)
        g = self.globals_start
        low[g:g + _G] = (0.0, 0.0, 0.0, 0.0, -1.0, -1.0, 0.0)
        high[g:g + _G] = (1.0, _BOUND, _BOUND, _BOUND, 1.0, 1.0, 1.0)
        return low, high

    def structured(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """The structured view: ``options`` (..., N, J, R+4), ``dcs`` (..., J, R+8), ``areas`` (..., N, 3) and
        ``globals`` (..., 7 + forecasts): the global vector followed by the forecast parts, flattened."""
        parts = self.split(obs)
        lead = np.asarray(obs).shape[:-1]
        rest = [parts["globals"]] + [parts[k].reshape(lead + (-1,)) for k in parts if k.startswith("forecast_")]
        return {"options": parts["options"], "dcs": parts["dcs"], "areas": parts["areas"],
                "globals": np.concatenate(rest, axis=-1)}

    def structured_shapes(self) -> dict[str, tuple[int, ...]]:
        """Shapes of `structured`'s parts for one observation."""
        n_glob = _G + sum(int(np.prod(s)) for k, s in self.shapes.items() if k.startswith("forecast_"))
        return {"options": self.shapes["options"], "dcs": self.shapes["dcs"], "areas": self.shapes["areas"],
                "globals": (n_glob,)}


def v1_table(layout: V1Layout, coef: cost.Coefficients, weights: np.ndarray, demand: np.ndarray,
             delta: np.ndarray, start_hour: int, least_l: np.ndarray,
             noise: dict[str, np.ndarray] | None) -> np.ndarray:
    """(T + 1, size) float32: the observation of each slot t = 0..T with the water-dependent globals at 0
    (the env writes ``water_left``, ``water_per_hour`` and ``water_cap`` at each step); ``least_l`` (T,) is
    each hour's least water (L)."""
    T, N, J, R, H = coef.T, coef.N, coef.J, coef.R, layout.forecast_hours
    tab = np.zeros((T + 1, layout.size), np.float64)
    sl = layout.slices
    fkw = cost.facility_kw_per_share(coef)  # (T, N, J)
    gp = cost.grid_price(coef, weights)  # (T, J)
    opt = np.empty((T, N, J, R + 4))
    opt[..., 0] = coef.delay_s / coef.delay_cap_s[None, :, None]
    opt[..., 1:1 + R] = coef.resource[:, :, None, :] / coef.capacity.T[None, None]
    opt[..., R + 1] = fkw / 10.0
    opt[..., R + 2] = cost.water_l_per_share(coef) / 10.0
    opt[..., R + 3] = gp[:, None, :] * fkw + weights[2] * cost.delay_usd_per_share(coef)
    tab[:T, sl["options"]] = opt.reshape(T, -1)
    need = coef.resource.sum(axis=1)  # (T, R) units if one DC took the whole hour
    with np.errstate(divide="ignore", invalid="ignore"):
        head = np.where(need[:, :, None] > 0, coef.capacity[None] / need[:, :, None], 10.0)  # (T, R, J)
    dcs = np.concatenate([
        np.stack([coef.price / SCALES["price"], coef.theta / SCALES["carbon"],
                  np.broadcast_to(delta, (T, J)) / SCALES["carbon_price"],
                  gp / 0.1, coef.renewable_kw / SCALES["renewable"], coef.grid_cap_kw / 5000.0,
                  np.broadcast_to(coef.pue, (T, J)), coef.water_l_per_kwh], axis=-1),
        np.clip(np.swapaxes(head, 1, 2), 0.0, 10.0)], axis=-1)  # (T, J, 8 + R)
    tab[:T, sl["dcs"]] = dcs.reshape(T, -1)
    areas = np.stack([demand.reshape(T, N) / SCALES["demand"], np.broadcast_to(coef.delay_cap_s / 20.0, (T, N)),
                      np.broadcast_to(coef.rho / 0.1, (T, N))], axis=-1)
    tab[:T, sl["areas"]] = areas.reshape(T, -1)
    g = layout.globals_start
    hour = 2.0 * np.pi * ((start_hour + np.arange(T + 1)) % 24) / 24.0
    tab[:T, g + 3] = least_l / 100.0
    tab[:, g + 4] = np.sin(hour)
    tab[:, g + 5] = np.cos(hour)
    tab[:, g + 6] = (T - np.arange(T + 1)) / T
    if H > 0:
        for key, name, base, scale in (("price", "forecast_price", coef.price, "price"),
                                       ("renewable_kw", "forecast_renewable", coef.renewable_kw, "renewable"),
                                       ("carbon", "forecast_carbon", coef.theta, "carbon"),
                                       ("demand", "forecast_demand", demand.reshape(T, N), "demand"),
                                       ("water_l_per_kwh", "forecast_water", coef.water_l_per_kwh, None)):
            factors = None if noise is None else noise[key].reshape(noise[key].shape[:2] + base.shape[1:])
            vals = _ahead(np.asarray(base, np.float64), H, factors)
            tab[:T, sl[name]] = vals.reshape(T, -1) / (SCALES[scale] if scale else 1.0)
    low, high = layout.bounds()
    return np.clip(tab, low, high).astype(np.float32)
