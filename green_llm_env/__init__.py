"""green-llm-env: geo-distributed LLM inference allocation (the Green-LLM letter) as an RL benchmark."""

from .scenario import Scenario, ScenarioFileError, scale
from .generator import DEFAULT_WATER_FRACTION, make_scenario, scenario_from_traces
from . import cost

from gymnasium.envs.registration import register as _register, registry as _registry

ENV_ID = "GreenLLM-v0"
"""Gymnasium id of the environment (``gymnasium.make("green_llm_env:GreenLLM-v0")``)."""

if ENV_ID not in _registry:
    _register(id=ENV_ID, entry_point="green_llm_env.env:GreenLLMEnv",
              vector_entry_point="green_llm_env.vector:GreenLLMVectorEnv", max_episode_steps=24)

from .env import GreenLLMEnv  # noqa: E402  (after registration; imports gymnasium anyway)

__all__ = ["DEFAULT_WATER_FRACTION", "ENV_ID", "GreenLLMEnv", "Scenario", "ScenarioFileError", "cost",
           "make_scenario", "scale", "scenario_from_traces"]
__version__ = "0.1.0"
