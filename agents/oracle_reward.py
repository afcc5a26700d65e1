"""A training-only reward for fine-tuning a near-oracle agent: the hour's cost minus the oracle's, in % of the day.

The env's reward (``-0.1 × (cost_weighted + penalty)``) spreads over 10x across scenarios and hours, so
an improvement of a tenth of a percent of the day, what a cloned hybrid agent has left to gain, drowns in it.
`OracleGapReward` subtracts, hour by hour, the cost of the oracle's plan in that hour (a baseline that depends on
the scenario and the hour only, not on the actions: the policy gradient's expectation is unchanged) and divides
by the oracle's objective: an episode's return is then ``-scale ×`` its oracle gap in %. It needs the oracle per
training episode (one LP, the price of a reset of ``GreenLLM-hybrid-v2``); it is an ``env_wrapper`` of the
training env only (RL Zoo's key; ``train.py`` then uses per-env wrappers, ``--vec dummy``), evaluation scores the
env's own costs.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np

__all__ = ["OracleGapReward", "oracle_hourly_costs"]


def oracle_hourly_costs(base: Any) -> tuple[np.ndarray, float]:
    """(the oracle's weighted cost of each hour (T,) $, its objective $) for the episode of ``base`` (a GreenLLM
    env or hybrid env after reset; on v2 the oracle of ``water_price``, its overrun charged to the last hour)."""
    from baselines.rollout import env_water_price, oracle_result
    from green_llm_env import cost

    price = env_water_price(base)
    res = oracle_result(base.scenario, base.weights, water_price=price)
    coef = cost.coefficients(base.scenario) if getattr(base, "coef", None) is None else base.coef
    w = np.asarray(base.weights, np.float64)
    x_cost, grid_cost = cost.objective_coefficients(coef, np.where(w == 0, 1e-6, w))
    plan = res.plan.reshape(coef.T, coef.N, coef.J)
    hourly = (np.broadcast_to(x_cost, plan.shape) * plan).sum(axis=(1, 2)) + (grid_cost * res.grid_kw).sum(axis=1)
    hourly[-1] += float(res.water_price or 0.0) * float(res.water_overrun_l)
    return hourly, float(res.objective)


class OracleGapReward(gym.Wrapper):
    """Reward ``-scale × 100 × (cost_weighted + penalty - oracle's cost of the hour) / oracle objective`` (see the
    module docstring); observation, termination and ``info`` unchanged (``info["env_reward"]``: the env's).

    Args:
        env: a GreenLLM env (v1 or v2) or a hybrid env over one.
        scale: multiplies the reward (1: an episode's return is minus its oracle gap in %).
    """

    def __init__(self, env: gym.Env, scale: float = 1.0) -> None:
        super().__init__(env)
        if isinstance(scale, bool) or not np.isfinite(float(scale)) or float(scale) <= 0:
            raise ValueError(f"scale must be a finite number > 0; got {scale!r}")
        self.scale = float(scale)
        self._hourly: np.ndarray | None = None
        self._norm = 0.0

    def reset(self, **kwargs: Any) -> tuple[Any, dict[str, Any]]:
        obs, info = self.env.reset(**kwargs)
        hourly, objective = oracle_hourly_costs(self.env.unwrapped)
        self._hourly, self._norm = hourly, self.scale * 100.0 / max(abs(objective), 1e-12)
        return obs, info

    def step(self, action: Any) -> tuple[Any, float, bool, bool, dict[str, Any]]:
        t = int(self.env.unwrapped.t)
        obs, reward, terminated, truncated, info = self.env.step(action)
        info["env_reward"] = reward
        spent = float(info["cost_weighted"]) + float(info["penalty"])
        return obs, -(spent - float(self._hourly[t])) * self._norm, terminated, truncated, info
