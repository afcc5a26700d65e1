"""green-llm-env: geo-distributed LLM inference allocation (the Green-LLM letter) as an RL benchmark."""

import importlib as _importlib
from typing import Any as _Any

from gymnasium.envs.registration import register as _register, registry as _registry

ENV_ID = "GreenLLM-v0"
"""Gymnasium id of the environment (``gymnasium.make("green_llm_env:GreenLLM-v0")``)."""

if ENV_ID not in _registry:
    _register(id=ENV_ID, entry_point="green_llm_env.env:GreenLLMEnv",
              vector_entry_point="green_llm_env.vector:GreenLLMVectorEnv", max_episode_steps=24)

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


__all__ = ["DEFAULT_WATER_FRACTION", "ENV_ID", "GreenLLMEnv", "Scenario", "ScenarioFileError", "cost",
           "make_scenario", "scale", "scenario_from_traces"]
__version__ = "0.1.0"
