"""The part of a Stable-Baselines3 ``VecEnv`` adapter that GreenLLM's batched envs share (v0's
`green_llm_env.vector.SB3VecEnv`, v2's `green_llm_env.vector_v2.SB3VecEnvV2`): seeding and options at reset, the
async step's bookkeeping, closing. Built on first use, so that importing the envs does not import SB3 (and torch).
"""

from __future__ import annotations

import functools
from typing import Any, Callable

__all__ = ["batched_vec_env_base", "lazy_class"]


def lazy_class(module: str, name: str, build: Callable[[], type]) -> Callable[[str], Any]:
    """A module ``__getattr__`` that builds the class ``name`` with ``build()`` on first access (once), so that
    importing ``module`` does not import SB3 (and torch)."""

    def __getattr__(attr: str) -> Any:
        if attr == name:
            return _built(module, name, build)
        raise AttributeError(f"module {module!r} has no attribute {attr!r}")

    return __getattr__


@functools.lru_cache(maxsize=None)
def _built(module: str, name: str, build: Callable[[], type]) -> type:
    return build()


@functools.lru_cache(maxsize=None)
def batched_vec_env_base() -> type:
    """A ``VecEnv`` subclass over a Gymnasium vector env ``venv`` (``num_envs``, single spaces, ``reset(seed=list,
    options=...)``); subclasses add ``step_wait`` and the attribute access."""
    from stable_baselines3.common.vec_env.base_vec_env import VecEnv

    class BatchedVecEnv(VecEnv):
        def __init__(self, venv: Any) -> None:
            self.venv = venv
            super().__init__(venv.num_envs, venv.single_observation_space, venv.single_action_space)
            self._actions: Any = None

        def reset(self) -> Any:
            seeds = [None if s is None else int(s) for s in self._seeds]
            opts = self._options[0] if self._options and all(o == self._options[0] for o in self._options) else {}
            obs, _ = self.venv.reset(seed=seeds, options=opts or None)
            self._reset_seeds()
            self._reset_options()
            return obs

        def step_async(self, actions: Any) -> None:
            self._actions = actions

        def close(self) -> None:
            self.venv.close()

        def env_is_wrapped(self, wrapper_class: Any, indices: Any = None) -> list[bool]:
            return [False for _ in self._get_indices(indices)]

    return BatchedVecEnv
