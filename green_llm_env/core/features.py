"""The GreenLLM-v2 observation as a named table: every feature has a part, a name, a scale and a unit.

One flat float32 vector, parts in this order (N = I*K options of (area, type), J DCs, R resource types,
H = ``forecast_hours``). A stored value is ``model value / scale``, clipped to the part's bounds (±1000 unless
stated). Consumers read features by name (`FeatureLayout.decode`), never by position.

| part | shape | features (unit; scale) |
|---|---|---|
| ``options`` | (N, J, R+4) | per share of (i, k) sent to DC j this hour: ``delay_rel`` delay / the (i, k) cap (1; 1), ``resource_rel_r`` units / C[r, j] (1; 1), ``facility_kw`` (kW; 10), ``water_l`` (L; 10), ``cost_usd`` weighted $ with grid power charged in full, σe·c + σc·δ·θ times facility kW plus σd·ρ·delay ($; 1) |
| ``dcs`` | (J, R+8) | ``price`` ($/kWh; 0.2), ``carbon`` (kg/kWh; 0.5), ``carbon_price`` ($/kg; 0.05), ``grid_price`` weighted ($/kWh; 0.1), ``renewable`` (kW; 100), ``grid_cap`` (kW; 5000), ``pue`` (1; 1), ``water_per_kwh`` (L per facility kWh; 1), ``headroom_r`` C[r, j] / the hour's total need of r (1; 1, clipped to [0, 10]) |
| ``areas`` | (N, 3) | ``demand`` (queries; 1000), ``delay_cap`` (s; 20), ``rho`` ($/s; 0.1) |
| ``globals`` | (7,) | ``water_left`` budget left / Z in [0, 1]; ``water_over`` litres beyond the budget / Z in [0, 1000]; ``water_pace`` (left / Z) / (hours left / T) in [0, 1000]; ``water_price`` the $ charged per litre beyond the budget ($/L; 1); ``hour_sin``, ``hour_cos`` local hour of day; ``time_left`` (T - t) / T |
| ``forecast_price``, ``forecast_renewable``, ``forecast_carbon``, ``forecast_water`` | (H, J) | slots t+1..t+H, exact (scales as ``dcs``); 0 past the horizon |
| ``forecast_demand`` | (H, N) | slots t+1..t+H (queries; 1000) |

The compiled observation kernel (`green_llm_env.core.kernels.observe`) writes the parts in this order and
reads the scales from `FeatureLayout.scales`, so a scale is set in one place. After the last step (t = T)
the hourly parts are 0.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

__all__ = ["AREA_FEATURES", "BOUND", "DC_FEATURES_FIXED", "FORECASTS", "FeatureLayout", "GLOBAL_FEATURES", "Part",
           "option_features", "dc_features"]

BOUND = 1000.0
"""Every stored value is clipped to [-BOUND, BOUND] (tighter where a part says so)."""

AREA_FEATURES = (("demand", 1000.0, "queries"), ("delay_cap", 20.0, "s"), ("rho", 0.1, "$/s"))
DC_FEATURES_FIXED = (("price", 0.2, "$/kWh"), ("carbon", 0.5, "kg/kWh"), ("carbon_price", 0.05, "$/kg"),
                     ("grid_price", 0.1, "$/kWh"), ("renewable", 100.0, "kW"), ("grid_cap", 5000.0, "kW"),
                     ("pue", 1.0, "1"), ("water_per_kwh", 1.0, "L/kWh"))
GLOBAL_FEATURES = (("water_left", 1.0, "1", 0.0, 1.0), ("water_over", 1.0, "1", 0.0, BOUND),
                   ("water_pace", 1.0, "1", 0.0, BOUND), ("water_price", 1.0, "$/L", 0.0, BOUND),
                   ("hour_sin", 1.0, "1", -1.0, 1.0), ("hour_cos", 1.0, "1", -1.0, 1.0),
                   ("time_left", 1.0, "1", 0.0, 1.0))
FORECASTS = (("forecast_price", "price"), ("forecast_renewable", "renewable"), ("forecast_carbon", "carbon"),
             ("forecast_water", "water_per_kwh"), ("forecast_demand", "demand"))
"""Forecast parts and the feature whose scale they share."""


def option_features(R: int) -> tuple[tuple[str, float, str], ...]:
    """(name, scale, unit) of the per-option features (R + 4)."""
    return ((("delay_rel", 1.0, "1"),) + tuple((f"resource_rel_{r}", 1.0, "1") for r in range(R))
            + (("facility_kw", 10.0, "kW"), ("water_l", 10.0, "L"), ("cost_usd", 1.0, "$")))


def dc_features(R: int) -> tuple[tuple[str, float, str], ...]:
    """(name, scale, unit) of the per-DC features (R + 8)."""
    return DC_FEATURES_FIXED + tuple((f"headroom_{r}", 1.0, "1") for r in range(R))


@dataclass(frozen=True)
class Part:
    """One part of the observation: ``shape`` = leading axes + (number of features,)."""

    name: str
    start: int
    shape: tuple[int, ...]
    features: tuple[str, ...]
    scales: tuple[float, ...]
    units: tuple[str, ...]

    @property
    def size(self) -> int:
        return math.prod(self.shape)


@dataclass(frozen=True)
class FeatureLayout:
    """Where every named feature of the v2 observation sits (see the module docstring)."""

    I: int
    K: int
    J: int
    R: int
    forecast_hours: int = 0
    parts: dict[str, Part] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        N, J, R, H = self.I * self.K, self.J, self.R, self.forecast_hours
        dc = dc_features(R)
        spec: list[tuple[str, tuple[int, ...], tuple]] = [
            ("options", (N, J), option_features(R)), ("dcs", (J,), dc), ("areas", (N,), AREA_FEATURES),
            ("globals", (), tuple(g[:3] for g in GLOBAL_FEATURES))]
        if H > 0:
            scale_of = {name: (name, s, u) for name, s, u in dc + AREA_FEATURES}
            for part, feat in FORECASTS:
                lead = (H, N) if feat == "demand" else (H, J)
                spec.append((part, lead, (scale_of[feat],)))
        parts, at = {}, 0
        for name, lead, feats in spec:
            shape = lead + (len(feats),)
            parts[name] = Part(name, at, shape, tuple(f[0] for f in feats), tuple(float(f[1]) for f in feats),
                               tuple(f[2] for f in feats))
            at += parts[name].size
        object.__setattr__(self, "parts", parts)

    @property
    def size(self) -> int:
        """Length of the flat observation."""
        last = list(self.parts.values())[-1]
        return last.start + last.size

    def offsets(self) -> np.ndarray:
        """int64 start of each part, in the order the kernel writes them (options, dcs, areas, globals, then the
        forecasts if any)."""
        return np.array([p.start for p in self.parts.values()], np.int64)

    def scales(self, part: str) -> np.ndarray:
        """float64 scales of a part's features (what the kernel divides by)."""
        return np.array(self.parts[part].scales, np.float64)

    def bounds(self) -> tuple[np.ndarray, np.ndarray]:
        """(low, high) float32 arrays of the observation space."""
        low = np.full(self.size, -BOUND, np.float32)
        high = np.full(self.size, BOUND, np.float32)
        g = self.parts["globals"].start
        low[g:g + len(GLOBAL_FEATURES)] = [f[3] for f in GLOBAL_FEATURES]
        high[g:g + len(GLOBAL_FEATURES)] = [f[4] for f in GLOBAL_FEATURES]
        return low, high

    def split(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """Each part of ``obs`` (..., size) in its natural shape (..., *part.shape), still scaled."""
        obs = np.asarray(obs)
        lead = obs.shape[:-1]
        return {p.name: obs[..., p.start:p.start + p.size].reshape(lead + p.shape) for p in self.parts.values()}

    def decode(self, obs: np.ndarray, name: str) -> np.ndarray:
        """One feature in model units: ``name`` is ``"part.feature"`` (e.g. ``"options.cost_usd"`` -> (..., N,
        J) $, ``"globals.water_left"`` -> (...,)) or a whole part (``"forecast_price"`` -> (..., H, J) $/kWh,
        ``"options"`` -> (..., N, J, R+4) with each feature unscaled)."""
        part_name, _, feat = name.partition(".")
        if part_name not in self.parts:
            raise KeyError(f"no observation part {part_name!r}; parts: {', '.join(self.parts)}")
        part = self.parts[part_name]
        obs = np.asarray(obs)
        lead = obs.shape[:-1]
        values = obs[..., part.start:part.start + part.size].reshape(lead + part.shape).astype(np.float64)
        if not feat:
            return values * np.array(part.scales)
        if feat not in part.features:
            raise KeyError(f"part {part_name!r} has no feature {feat!r}; features: {', '.join(part.features)}")
        q = part.features.index(feat)
        return values[..., q] * part.scales[q]

    def structured(self, obs: np.ndarray) -> dict[str, np.ndarray]:
        """``options`` (..., N, J, R+4), ``dcs`` (..., J, R+8), ``areas`` (..., N, 3) and ``globals`` (..., 7 +
        forecasts, flattened): the rows a weight-sharing model reads."""
        parts = self.split(obs)
        lead = np.asarray(obs).shape[:-1]
        rest = [parts["globals"]] + [parts[k].reshape(lead + (-1,)) for k in parts if k.startswith("forecast_")]
        return {"options": parts["options"], "dcs": parts["dcs"], "areas": parts["areas"],
                "globals": np.concatenate(rest, axis=-1)}

    def table(self) -> list[tuple[str, str, tuple[int, ...], float, str]]:
        """(part, feature, shape of the part without the feature axis, scale, unit) for every feature."""
        return [(p.name, f, p.shape[:-1], s, u) for p in self.parts.values()
                for f, s, u in zip(p.features, p.scales, p.units)]
