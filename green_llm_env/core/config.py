"""`EnvConfig`: the one frozen settings object of a GreenLLM-v2 env, validated once.

An env id is a config: ``GreenLLM-v2`` is ``EnvConfig()``, ``GreenLLM-mo-v2`` is ``EnvConfig(reward="vector")``.
Every error names the argument, the rule and the value.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from .. import cost
from .water import WATER_PRICE_FACTOR

__all__ = ["ACTION_MODES", "DEFAULT_REWARD_SCALE", "EnvConfig", "GENERATORS", "REWARDS"]

ACTION_MODES = ("project", "softmax", "price")
REWARDS = ("scalar", "vector")
GENERATORS = ("batch", "v1")
"""Scenario generators: ``"batch"`` (`green_llm_env.batch_generator`, the v2 default: drawn in batches, each
scenario a pure function of its seed) or ``"v1"`` (`green_llm_env.make_scenario`, v0/v1's scenarios)."""
DEFAULT_REWARD_SCALE = 0.1
"""The default generator's hourly weighted cost is a few $, so rewards are O(1)."""
_GEN_KEYS = ("I", "J", "K", "T", "R", "start_hour", "psi_theta", "psi_pw", "psi_tau", "psi_rho", "demand_scale",
             "water_fraction")


def _number(name: str, value: Any, low: float, strict: bool) -> float:
    if isinstance(value, bool):
        raise ValueError(f"{name} must be a number; got {value!r}")
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be a number; got {value!r}") from None
    if not math.isfinite(v) or v < low or (strict and v == low):
        raise ValueError(f"{name} must be finite and {'>' if strict else '>='} {low:g}; got {value!r}")
    return v


def _integer(name: str, value: Any, low: int, high: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low or (
            high is not None and value > high):
        rule = f">= {low}" if high is None else f"in {low}..{high}"
        raise ValueError(f"{name} must be an integer {rule}; got {value!r}")
    return int(value)


@dataclass(frozen=True)
class EnvConfig:
    """Settings of a GreenLLM-v2 env (see `green_llm_env.env_v2.GreenLLMEnvV2` for their meaning)."""

    weights: tuple[float, float, float] = cost.DEFAULT_WEIGHTS
    action_mode: str = "project"
    temperature: float = 1.0
    reward: str = "scalar"
    reward_scale: float = DEFAULT_REWARD_SCALE
    forecast_hours: int = 0
    generator: str = "batch"
    generator_kwargs: tuple[tuple[str, Any], ...] = ()
    scenario_pool: int | None = None
    traces: str | None = None
    water_price_factor: float = WATER_PRICE_FACTOR
    threads: int = 1

    @classmethod
    def make(cls, *, weights: Sequence[float] = cost.DEFAULT_WEIGHTS, action_mode: str = "project",
             temperature: float = 1.0, reward: str = "scalar", reward_scale: float = DEFAULT_REWARD_SCALE,
             forecast_hours: int = 0, generator: str = "batch", generator_kwargs: Mapping[str, Any] | None = None,
             scenario_pool: int | None = None, traces: str | Path | None = None,
             water_price_factor: float = WATER_PRICE_FACTOR, threads: int | None = 1) -> "EnvConfig":
        """Validate the keyword arguments of the v2 envs into a config (``ValueError`` naming the culprit)."""
        w = tuple(float(v) for v in cost.check_weights(weights))
        if action_mode not in ACTION_MODES:
            raise ValueError(f"action_mode must be one of {ACTION_MODES}; got {action_mode!r}")
        temperature = _number("temperature", temperature, 0.0, True)
        if reward not in REWARDS:
            raise ValueError(f"reward must be one of {REWARDS}; got {reward!r}")
        reward_scale = _number("reward_scale", reward_scale, 0.0, True)
        if not 1e-12 <= reward_scale <= 1e12:
            raise ValueError(f"reward_scale must be in [1e-12, 1e12] (rewards stay finite); got {reward_scale!r}")
        if generator not in GENERATORS:
            raise ValueError(f"generator must be one of {GENERATORS}; got {generator!r}")
        gk = dict(generator_kwargs or {})
        if not isinstance(generator_kwargs, (Mapping, type(None))):
            raise ValueError(f"generator_kwargs must be a dict or None; got {generator_kwargs!r}")
        unknown = sorted(set(gk) - set(_GEN_KEYS))
        if unknown:
            raise ValueError(f"generator_kwargs: unknown key(s) {unknown}; known: {', '.join(_GEN_KEYS)}")
        from ..generator import MAX_SCALE, MAX_SHARES, MAX_SIZES  # range checks: no size or scale hangs a reset

        for k in ("I", "J", "K", "T", "R"):
            if k in gk:
                gk[k] = _integer(f"generator_kwargs['{k}']", gk[k], 1, MAX_SIZES[k])
        shares = gk.get("I", 9) * gk.get("K", 5) * gk.get("J", 9) * gk.get("T", 24)
        if shares > MAX_SHARES:
            raise ValueError(f"generator_kwargs: I·K·J·T must be <= {MAX_SHARES:.0e}; got {shares:.3g}")
        if "start_hour" in gk:
            gk["start_hour"] = _integer("generator_kwargs['start_hour']", gk["start_hour"], 0, 23)
        for k in ("psi_theta", "psi_pw", "psi_tau", "psi_rho", "demand_scale"):
            if k in gk:
                gk[k] = _number(f"generator_kwargs['{k}']", gk[k], 0.0, False)
                if gk[k] > MAX_SCALE:
                    raise ValueError(f"generator_kwargs['{k}'] must be <= {MAX_SCALE:g}; got {gk[k]!r}")
        if gk.get("water_fraction") is not None:
            gk["water_fraction"] = _number("generator_kwargs['water_fraction']", gk["water_fraction"], 0.0, True)
        T = gk.get("T", 24)
        forecast_hours = _integer("forecast_hours", forecast_hours, 0, T)
        if scenario_pool is not None:
            scenario_pool = _integer("scenario_pool", scenario_pool, 1)
        if traces is not None:
            p = Path(traces)
            if not p.is_dir():
                raise ValueError(f"traces must be a folder holding the 2024 carbon traces; got {str(traces)!r}")
            traces = str(p)
            if gk.get("J", 9) > 9:
                raise ValueError(f"traces cover 9 DCs; generator_kwargs['J'] = {gk['J']}")
        water_price_factor = _number("water_price_factor", water_price_factor, 0.0, True)
        if water_price_factor > 1e6:
            raise ValueError(f"water_price_factor must be <= 1e6; got {water_price_factor!r}")
        threads = 1 if threads is None else _integer("threads", threads, 1)
        return cls(weights=w, action_mode=action_mode, temperature=temperature, reward=reward,
                   reward_scale=reward_scale, forecast_hours=forecast_hours, generator=generator,
                   generator_kwargs=tuple(sorted(gk.items())), scenario_pool=scenario_pool, traces=traces,
                   water_price_factor=water_price_factor, threads=threads)

    @property
    def gen_kwargs(self) -> dict[str, Any]:
        """The generator keyword arguments as a dict."""
        return dict(self.generator_kwargs)

    def action_size(self) -> int:
        """Length of one env's action: I·K·J shares, or J + 1 prices in the price mode (`core.prices`)."""
        _, I, K, J, _ = self.sizes()
        return J + 1 if self.action_mode == "price" else I * K * J

    def sizes(self) -> tuple[int, int, int, int, int]:
        """(T, I, K, J, R) of the generated scenarios."""
        g = self.gen_kwargs
        return (g.get("T", 24), g.get("I", 9), g.get("K", 5), g.get("J", 9), g.get("R", 3))
