"""Stable-Baselines3 / sb3-contrib agents for the GreenLLM envs (GreenLLM-v2 the default; v1, v0 and the hybrids).

- ``agents.registry``: ``ALGOS`` (ppo, a2c, sac, td3, ddpg, tqc, recurrentppo), ``resolve_device``,
  ``RunLayout`` (RL Zoo's run folder layout).
- ``agents.hyperparams``: ``hyperparams/<algo>.yml`` loading (RL Zoo format).
- ``agents.settings``: ``AgentSettings``, a run's agent-side options and warm start (one name, one default,
  validated once), read the same way from train.py flags, the YAML and a run's config.yml.
- ``agents.callbacks``: oracle-gap evaluation on validation seeds, checkpoints, clean stop on SIGINT/SIGTERM.
- ``agents.policy``: ``TrainedPolicy``, a trained run as a baselines ``Policy``; the agent-side options a
  run may use (``obs_features: dc``, ``shield: water``, ``residual: <policy>``, ``action_groups: j|kj``) as
  Gymnasium and SB3 VecEnv wrappers of one chain (``AGENT_CHAIN``: ``wrap_env``, ``wrap_vec_env``), which
  ``TrainedPolicy.act`` runs step by step too: applied identically in training and evaluation.
- ``agents.equivariant``: ``EquivariantPolicy``, the permutation-equivariant allocation policy for
  GreenLLM-v1 (the same weights for any I, J, K; no solver inside).
- ``agents.imitation``: the warm start by behaviour cloning (``oracle_price``, ``oracle_plan``) and DAgger.
- ``agents.device_ppo``: PPO whose rollouts and updates stay on one torch device, over GreenLLM-v2's torch
  backend (``train.py --env-backend torch``).

Importing ``agents`` is light (no torch): it registers a loader with ``baselines.policy`` so that the spec
``ppo=logs/ppo/GreenLLM-v2_1`` (or ``sac=...``, any algorithm name as prefix) resolves to a
``TrainedPolicy``; SB3 is imported only when such a spec is loaded. Other names are imported lazily.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {
    "ALGOS": "registry", "ON_POLICY": "registry", "RunLayout": "registry", "get_algo": "registry",
    "resolve_device": "registry",
    "load_hyperparams": "hyperparams", "split_hyperparams": "hyperparams",
    "AgentSettings": "settings", "read_agent_settings": "settings",
    "TrainedPolicy": "policy", "load_trained_policy": "policy", "wrap_env": "policy", "wrap_vec_env": "policy",
    "OracleGapEvalCallback": "callbacks", "SignalGuard": "callbacks", "evaluate_oracle_gap": "callbacks",
    "EquivariantPolicy": "equivariant",
}
ALGO_NAMES = ("a2c", "ddpg", "ppo", "recurrentppo", "sac", "td3", "tqc")
"""Names of the algorithms (the keys of ``agents.registry.ALGOS``), without importing SB3."""
__all__ = sorted(_EXPORTS) + ["ALGO_NAMES"]


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    raise AttributeError(f"module 'agents' has no attribute {name!r}")


def _load_policy(path: str, name: str | None = None, **kwargs: Any) -> Any:
    """The baselines policy loader: a run folder or model zip -> ``TrainedPolicy`` (imports SB3 now)."""
    from .policy import load_trained_policy

    return load_trained_policy(path, name=name, **kwargs)


def _register_loaders() -> None:
    try:
        from baselines.policy import register_policy_loader
    except ImportError:  # baselines without a policy registry: nothing to hook into
        return
    for algo in ALGO_NAMES:
        register_policy_loader(algo, _load_policy)


_register_loaders()
