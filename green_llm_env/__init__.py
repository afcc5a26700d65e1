"""green-llm-env: geo-distributed LLM inference allocation (the Green-LLM letter) as an RL benchmark."""

from .scenario import Scenario, ScenarioFileError, scale
from .generator import DEFAULT_WATER_FRACTION, make_scenario, scenario_from_traces
from . import cost

from gymnasium.envs.registration import register as _register, registry as _registry

ENV_ID_V0 = "GreenLLM-v0"
"""The letter's state alone (partially observed; `green_llm_env.env.GreenLLMEnv`), kept for published numbers."""
ENV_ID = "GreenLLM-v1"
"""The default environment (``gymnasium.make("green_llm_env:GreenLLM-v1")``): `green_llm_env.env_v1.GreenLLMEnvV1`."""
HYBRID_ENV_ID = "GreenLLM-hybrid-v1"
"""GreenLLM-v1 behind `green_llm_env.wrappers.WaterPriceLP`: the action is the hour's water price."""

if ENV_ID_V0 not in _registry:
    _register(id=ENV_ID_V0, entry_point="green_llm_env.env:GreenLLMEnv",
              vector_entry_point="green_llm_env.vector:GreenLLMVectorEnv", max_episode_steps=24)
if ENV_ID not in _registry:  # terminates at the scenario's horizon: no TimeLimit
    _register(id=ENV_ID, entry_point="green_llm_env.env_v1:GreenLLMEnvV1", max_episode_steps=None)
if HYBRID_ENV_ID not in _registry:
    _register(id=HYBRID_ENV_ID, entry_point="green_llm_env.wrappers:make_hybrid_env", max_episode_steps=None)

from .env import GreenLLMEnv  # noqa: E402  (after registration; imports gymnasium anyway)

__all__ = ["DEFAULT_WATER_FRACTION", "ENV_ID", "ENV_ID_V0", "HYBRID_ENV_ID", "GreenLLMEnv", "Scenario", "ScenarioFileError", "cost",
           "make_scenario", "scale", "scenario_from_traces"]
__version__ = "0.1.0"
