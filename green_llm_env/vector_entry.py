"""The vector entry points of GreenLLM-v2 and GreenLLM-mo-v2: the batched env of the chosen backend.

``gymnasium.make_vec("green_llm_env:GreenLLM-v2", num_envs=N, vectorization_mode="vector_entry_point")`` calls
`make_vector_env`: `green_llm_env.vector_v2.GreenLLMVectorEnvV2` by default (``backend="numba"``), or
`green_llm_env.vector_torch.GreenLLMTorchVectorEnv` (``backend="torch"``).
"""

from __future__ import annotations

from typing import Any

from gymnasium.vector import VectorEnv

__all__ = ["BACKENDS", "make_mo_vector_env", "make_vector_env"]

BACKENDS = ("numba", "torch")
"""Backends of the batched step: ``"numba"`` (compiled CPU kernels, numpy in and out) or ``"torch"`` (tensors on
``device``; `green_llm_env.vector_torch.GreenLLMTorchVectorEnv`)."""


def make_vector_env(num_envs: int = 1, backend: str = "numba", **kwargs: Any) -> VectorEnv:
    """Vector entry point of ``GreenLLM-v2``: `GreenLLMVectorEnvV2` (``backend="numba"``, the default) or
    `green_llm_env.vector_torch.GreenLLMTorchVectorEnv` (``backend="torch"``, which also takes ``device``,
    ``dtype`` and ``scenario_bank``)."""
    if backend == "numba":
        from .vector_v2 import GreenLLMVectorEnvV2

        return GreenLLMVectorEnvV2(num_envs=num_envs, **kwargs)
    if backend == "torch":
        from .vector_torch import GreenLLMTorchVectorEnv

        return GreenLLMTorchVectorEnv(num_envs=num_envs, **kwargs)
    raise ValueError(f"backend must be one of {BACKENDS}; got {backend!r}")


def make_mo_vector_env(num_envs: int = 1, **kwargs: Any) -> VectorEnv:
    """Vector entry point of ``GreenLLM-mo-v2``: rewards (num_envs, 3) (``backend`` as `make_vector_env`)."""
    return make_vector_env(num_envs=num_envs, reward="vector", **kwargs)
