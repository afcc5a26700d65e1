"""Baselines for the GreenLLM envs (v2 the default, v1, v0): the full-horizon LP oracle, and policies scored
against it.

Names are imported lazily, so that ``python -m baselines.oracle`` runs its module only once.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "InfeasibleScenarioError": "oracle", "LPSolver": "oracle", "OracleResult": "oracle", "diagnose": "oracle",
    "solve": "oracle", "solve_lexicographic": "oracle",
    "Policy": "policy", "PolicySpecError": "policy", "available_policies": "policy", "make_policy": "policy",
    "register_policy": "policy", "register_policy_loader": "policy", "spec_label": "policy",
    "OraclePolicy": "oracle_policy", "MPCPolicy": "mpc", "WindowSolver": "mpc", "window": "mpc",
    "MyopicPolicy": "myopic", "HeuristicPolicy": "heuristics", "UniformPolicy": "heuristics",
    "NearestPolicy": "heuristics", "CheapestPolicy": "heuristics", "GreenestPolicy": "heuristics",
    "RenewableFirstPolicy": "heuristics",
}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'baselines' has no attribute {name!r}")
