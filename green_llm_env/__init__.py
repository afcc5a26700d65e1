"""green-llm-env: geo-distributed LLM inference allocation (the Green-LLM letter) as an RL benchmark."""

import importlib as _importlib
from typing import Any as _Any

from gymnasium.envs.registration import register as _register, registry as _registry

ENV_ID_V0 = "GreenLLM-v0"
"""The letter's state alone (partially observed; `green_llm_env.env.GreenLLMEnv`), kept for published numbers."""
ENV_ID_V1 = "GreenLLM-v1"
"""Markov observation and feasibility guard (`green_llm_env.env_v1.GreenLLMEnvV1`), kept for published numbers."""
ENV_ID = "GreenLLM-v2"
"""The default environment (``gymnasium.make("green_llm_env:GreenLLM-v2")``): `green_llm_env.env_v2.GreenLLMEnvV2`."""
HYBRID_ENV_ID_V2 = "GreenLLM-hybrid-v2"
"""GreenLLM-v2 behind `green_llm_env.hybrid_v2.WaterPriceLPV2`: the action is the hour's water price."""
PRICE_ENV_ID_V2 = "GreenLLM-price-v2"
"""GreenLLM-v2 with ``action_mode="price"``: J + 1 prices (per DC and for water) instead of I·K·J shares."""
MO_ENV_ID_V2 = "GreenLLM-mo-v2"
"""GreenLLM-v2 with a 3-vector reward (energy, carbon, delay) and ``reward_space`` on the base env."""
HYBRID_ENV_ID = "GreenLLM-hybrid-v1"
"""GreenLLM-v1 behind `green_llm_env.wrappers.WaterPriceLP`: the action is the hour's water price."""
FLAT_ENV_ID = "GreenLLM-flat-v1"
"""GreenLLM-v1 with a flat, fixed-key ``info`` (`green_llm_env.wrappers.FlatInfo`): TorchRL's vector envs."""
MO_ENV_ID = "GreenLLM-mo-v1"
"""GreenLLM-v1 with a 3-vector reward (energy, carbon, delay): `green_llm_env.multi_objective`."""

if ENV_ID_V0 not in _registry:
    _register(id=ENV_ID_V0, entry_point="green_llm_env.env:GreenLLMEnv",
              vector_entry_point="green_llm_env.vector:GreenLLMVectorEnv", max_episode_steps=24)
if ENV_ID_V1 not in _registry:  # terminates at the scenario's horizon: no TimeLimit
    _register(id=ENV_ID_V1, entry_point="green_llm_env.env_v1:GreenLLMEnvV1", max_episode_steps=None)
if ENV_ID not in _registry:
    _register(id=ENV_ID, entry_point="green_llm_env.env_v2:GreenLLMEnvV2",
              vector_entry_point="green_llm_env.vector_entry:make_vector_env", max_episode_steps=None)
if HYBRID_ENV_ID_V2 not in _registry:
    _register(id=HYBRID_ENV_ID_V2, entry_point="green_llm_env.hybrid_v2:make_hybrid_env_v2", max_episode_steps=None)
if PRICE_ENV_ID_V2 not in _registry:
    _register(id=PRICE_ENV_ID_V2, entry_point="green_llm_env.env_v2:GreenLLMEnvV2",
              vector_entry_point="green_llm_env.vector_entry:make_vector_env", kwargs={"action_mode": "price"},
              max_episode_steps=None)
if MO_ENV_ID_V2 not in _registry:
    _register(id=MO_ENV_ID_V2, entry_point="green_llm_env.env_v2:make_mo_env",
              vector_entry_point="green_llm_env.vector_entry:make_mo_vector_env", max_episode_steps=None,
              disable_env_checker=True)  # a vector reward, as MO-Gymnasium registers its envs
if HYBRID_ENV_ID not in _registry:
    _register(id=HYBRID_ENV_ID, entry_point="green_llm_env.wrappers:make_hybrid_env", max_episode_steps=None)
if FLAT_ENV_ID not in _registry:
    _register(id=FLAT_ENV_ID, entry_point="green_llm_env.wrappers:make_flat_env", max_episode_steps=None)
if MO_ENV_ID not in _registry:
    _register(id=MO_ENV_ID, entry_point="green_llm_env.multi_objective:make_mo_env", max_episode_steps=None,
              disable_env_checker=True)  # a vector reward, as MO-Gymnasium registers its envs

# Everything else is imported on first use, so that ``python -m green_llm_env.scenario`` runs its module once
# (an eager import here would make runpy warn that the module is already in sys.modules).
_LAZY = {"Scenario": "scenario", "ScenarioFileError": "scenario", "scale": "scenario",
         "DEFAULT_WATER_FRACTION": "generator", "make_scenario": "generator", "scenario_from_traces": "generator",
         "GreenLLMEnv": "env", "cost": None}


def __getattr__(name: str) -> _Any:
    if name in _LAZY:
        module = _importlib.import_module(f".{_LAZY[name] or name}", __name__)
        return module if _LAZY[name] is None else getattr(module, name)
    raise AttributeError(f"module 'green_llm_env' has no attribute {name!r}")


__all__ = ["DEFAULT_WATER_FRACTION", "ENV_ID", "ENV_ID_V0", "ENV_ID_V1", "HYBRID_ENV_ID_V2", "MO_ENV_ID_V2", "FLAT_ENV_ID", "HYBRID_ENV_ID", "MO_ENV_ID", "GreenLLMEnv", "Scenario", "ScenarioFileError", "cost",
           "make_scenario", "scale", "scenario_from_traces"]
__version__ = "0.1.0"
