"""GreenLLM-v1 as a multi-objective env (MO-Gymnasium's API): the reward is a 3-vector (energy, carbon, delay).

Registered as ``GreenLLM-mo-v1``. Each step's reward vector is
``r = -reward_scale * (energy_cost, carbon_cost, delay_cost) - reward_scale * penalty / sum(w)`` ($ scaled as
v1's reward), so that for v1's weights ``w`` (``env.weights``) ``w · r`` equals GreenLLM-v1's scalar reward
``-reward_scale * (cost_weighted + penalty)`` (the penalty is spread over the three objectives in proportion
to nothing but their count, which keeps the identity for every ``w``). ``reward_space`` is the Box of the
vector, as MO-Gymnasium's wrappers (``mo_gymnasium.wrappers.LinearReward``) expect; mo-gymnasium itself is
not needed. Observation, action, dynamics and ``info`` are v1's (``info["vector_reward"]`` added).
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
from gymnasium import spaces

__all__ = ["OBJECTIVES", "MultiObjectiveReward", "make_mo_env"]

OBJECTIVES = ("energy", "carbon", "delay")
"""The reward vector's entries, in order."""


class MultiObjectiveReward(gym.Wrapper):
    """Vector reward (`OBJECTIVES`) over GreenLLM-v1 (see the module docstring)."""

    def __init__(self, env: gym.Env) -> None:
        super().__init__(env)
        base = env.unwrapped
        if not hasattr(base, "weights") or not hasattr(base, "reward_scale"):
            raise ValueError(f"MultiObjectiveReward needs a GreenLLM env; got {type(base).__name__}")
        self.reward_space = spaces.Box(-np.inf, 0.0, (len(OBJECTIVES),), dtype=np.float32)
        self.reward_dim = len(OBJECTIVES)

    def vector_reward(self, info: dict[str, Any]) -> np.ndarray:
        """The step's reward vector (float64) from v1's step info."""
        base = self.env.unwrapped
        scale = float(base.reward_scale)
        spread = float(info["penalty"]) / float(np.sum(base.weights))
        parts = np.array([info["energy_cost"], info["carbon_cost"], info["delay_cost"]], np.float64)
        return -scale * (parts + spread)

    def step(self, action: Any) -> tuple[Any, np.ndarray, bool, bool, dict[str, Any]]:
        obs, _, terminated, truncated, info = self.env.step(action)
        vec = self.vector_reward(info)
        info["vector_reward"] = vec
        return obs, vec.astype(np.float32), terminated, truncated, info


def make_mo_env(**env_kwargs: Any) -> MultiObjectiveReward:
    """Entry point of ``GreenLLM-mo-v1``: `MultiObjectiveReward` over ``GreenLLMEnvV1(**env_kwargs)``."""
    from .env_v1 import GreenLLMEnvV1

    return MultiObjectiveReward(GreenLLMEnvV1(**env_kwargs))
