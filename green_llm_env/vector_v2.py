"""GreenLLM-v2, natively batched: every sub-env steps in one call of the compiled core.

- `GreenLLMVectorEnvV2`: a `gymnasium.vector.VectorEnv` (autoreset mode NEXT_STEP, as `SyncVectorEnv`), what the
  vector entry point of ``GreenLLM-v2`` (`green_llm_env.vector_entry.make_vector_env`) builds by default::

      envs = gymnasium.make_vec("green_llm_env:GreenLLM-v2", num_envs=1024, vectorization_mode="vector_entry_point")

  Sub-env i reset with ``seed + i`` follows exactly the transitions of ``SyncVectorEnv`` over
  ``gymnasium.make("green_llm_env:GreenLLM-v2")`` with the same seeds (same random draws per sub-env, the same
  compiled step per element; tested bit for bit). New scenarios of all sub-envs that reset together are drawn
  in one call of the batch generator.
- `SB3VecEnvV2`: a Stable-Baselines3 ``VecEnv`` over it (auto-reset in the same step, ``terminal_observation``),
  through public methods only.
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from gymnasium.utils import seeding
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space
from gymnasium import spaces

from .core.batch import INFO_KEYS, BatchCore
from .core.features import FeatureLayout
from .core.scenes import ScenarioSource
from .env_v2 import OBJECTIVES, make_config
from .sb3_vec import lazy_class
from .scenario import Scenario

__all__ = ["GreenLLMVectorEnvV2", "SB3VecEnvV2"]  # noqa: F822 (SB3VecEnvV2 is built lazily)


class GreenLLMVectorEnvV2(VectorEnv):
    """``num_envs`` GreenLLM-v2 envs stepped together; arguments as `green_llm_env.env_v2.GreenLLMEnvV2` plus:

    Args:
        num_envs: number of sub-envs (>= 1).
        threads: threads of the compiled step (1: the calling thread; results are the same bit for bit).

    ``infos`` follow Gymnasium's vector convention: every key of `green_llm_env.core.batch.INFO_KEYS` as an
    array (num_envs,) with its ``_key`` mask (all True: the keys are fixed).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, scenario: Scenario | None = None, threads: int | None = 1,
                 render_mode: str | None = None, max_episode_steps: int | None = None, **env_kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1; got {num_envs!r}")
        if render_mode is not None:
            raise ValueError(f"render_mode must be None for the batched env; got {render_mode!r}")
        if max_episode_steps is not None:
            raise ValueError(f"max_episode_steps must be None: GreenLLM-v2 ends at the scenario's horizon; got "
                             f"{max_episode_steps!r}")
        self.config, pinned = make_config(scenario, threads=threads, **env_kwargs)
        self.source = ScenarioSource(self.config, pinned)
        T, I, K, J, R = self.config.sizes()
        self.num_envs = int(num_envs)
        self.layout = FeatureLayout(I, K, J, R, self.config.forecast_hours)
        self.core = self._make_core((T, I, K, J, R))
        low, high = self.layout.bounds()
        self.single_observation_space = spaces.Box(low, high, dtype=np.float32)
        self.single_action_space = spaces.Box(-1.0, 1.0, (self.config.action_size(),), dtype=np.float32)
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        if self.config.reward == "vector":
            self.reward_space = spaces.Box(-np.inf, np.inf, (len(OBJECTIVES),), dtype=np.float32)
        self.render_mode = None
        E = self.num_envs
        self._rngs: list[np.random.Generator | None] = [None] * E
        self._prev_done = np.zeros(E, bool)
        self._ready = False

    def _make_core(self, sizes: tuple[int, int, int, int, int]) -> Any:
        """The batch the envs step: the compiled (numba) `BatchCore`."""
        return BatchCore(self.config, self.num_envs, sizes)

    # ------------------------------------------------------------------------------- resets
    def _rng(self, i: int, seed: int | None) -> np.random.Generator:
        if seed is not None or self._rngs[i] is None:
            self._rngs[i] = seeding.np_random(seed)[0]
        return self._rngs[i]

    def _load(self, idx: np.ndarray, seeds: Sequence[int | None], options: dict[str, Any] | None) -> None:
        keys = [self.source.draw(self._rng(int(i), s), options) for i, s in zip(idx.tolist(), seeds)]
        tables, which = self.source.tables(keys)
        self.core.load(idx, tables, which, keys)

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        seeds = self._seed_list(seed)
        self.source.check_options(options)
        idx = np.arange(self.num_envs)
        self._load(idx, seeds, options)
        self._prev_done[:] = False
        self._ready = True
        return self.core.observe(), masked(self.core.reset_info(idx))

    def _seed_list(self, seed: int | Sequence[int | None] | None) -> list[int | None]:
        """Each sub-env's seed of a reset (``seed + i`` for an int), checked."""
        E = self.num_envs
        if seed is None:
            return [None] * E
        if isinstance(seed, (int, np.integer)) and not isinstance(seed, bool):
            return [int(seed) + i for i in range(E)]
        seeds = list(seed)
        if len(seeds) != E:
            raise ValueError(f"seed must be None, an int or {E} values; got {len(seeds)} values")
        return seeds

    def reset_envs(self, idx: Sequence[int]) -> np.ndarray:
        """Start a new episode now in sub-envs ``idx`` (their own random streams, no options); returns their
        observations (len(idx), D). What `SB3VecEnvV2` calls for SB3's same-step auto-reset."""
        idx = np.asarray(idx, np.int64)
        self._load(idx, [None] * idx.size, None)
        self._prev_done[idx] = False
        return self.core.observe(idx)

    # --------------------------------------------------------------------------------- step
    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        a = self.core.actions(actions, "actions")
        resetting = self._prev_done.copy()
        any_reset = bool(resetting.any())
        core = self.core
        if any_reset:  # they ignore their action (as SyncVectorEnv's do): step them on a dummy hour, then reset
            a = a.copy()
            a[resetting] = 0.0
            core.t[resetting] = 0
        obs = core.step(a)
        reward, terminated, info = core.rewards(), core.t >= core.T, core.info()
        if any_reset:
            idx = np.flatnonzero(resetting)
            self._load(idx, [None] * idx.size, None)
            reward[resetting] = 0.0
            terminated = terminated & ~resetting
            fresh = core.reset_info(idx)
            for k in INFO_KEYS:
                info[k][idx] = fresh[k]
            obs[idx] = core.observe(idx)
        self._prev_done = terminated.copy()
        return obs, reward, terminated, np.zeros(self.num_envs, bool), masked(info)

    # ---------------------------------------------------------------------------- for policies
    def scenario(self, i: int) -> Scenario:
        """Sub-env i's current `Scenario`."""
        return self.source.scenario(self.core.keys[int(i)])

    @property
    def t(self) -> np.ndarray:
        """(num_envs,) the slot each sub-env plays next."""
        return self.core.t.copy()

    @property
    def water_left_l(self) -> np.ndarray:
        return self.core.water.copy()


def masked(info: dict[str, Any], mask: Any = None) -> dict[str, Any]:
    """Gymnasium's vector info: every key beside its ``_key`` mask (all True: the keys are fixed); ``mask`` the
    one mask array (or tensor) to use for every key, else a new ``np.ones`` per key."""
    out: dict[str, Any] = {}
    for k, v in info.items():
        out[k] = v
        out["_" + k] = np.ones(v.shape[0], bool) if mask is None else mask
    return out


# ------------------------------------------------------------------------------------------- SB3
def _make_sb3_class() -> type:
    from .sb3_vec import batched_vec_env_base

    class SB3VecEnvV2(batched_vec_env_base()):
        """Stable-Baselines3 ``VecEnv`` over `GreenLLMVectorEnvV2` (SB3 semantics: auto-reset in the same step).

        ``SB3VecEnvV2(num_envs=8, **env_kwargs)`` builds the batched env; ``SB3VecEnvV2(venv=...)`` wraps one.
        ``infos[i]`` holds every key of `green_llm_env.core.batch.INFO_KEYS` as a float; at the end of an
        episode also ``terminal_observation`` and ``TimeLimit.truncated`` (False). Wrap with ``VecMonitor`` for
        SB3's episode statistics. ``seed(s)`` seeds sub-env i with ``s + i`` at the next reset.
        """

        def __init__(self, venv: GreenLLMVectorEnvV2 | None = None, num_envs: int = 1, **env_kwargs: Any) -> None:
            if venv is None:
                venv = GreenLLMVectorEnvV2(num_envs=num_envs, **env_kwargs)
            elif env_kwargs:
                raise ValueError(f"pass either venv or env kwargs; got both (kwargs {sorted(env_kwargs)})")
            super().__init__(venv)

        def step_wait(self):
            obs, rewards, terminated, truncated, infos = self.venv.step(self._actions)
            done = terminated | truncated
            cols = {k: infos[k].tolist() for k in INFO_KEYS}
            out_infos = [{k: cols[k][i] for k in INFO_KEYS} for i in range(self.num_envs)]
            if done.any():
                idx = np.flatnonzero(done)
                for i in idx.tolist():
                    out_infos[i]["terminal_observation"] = obs[i].copy()
                    out_infos[i]["TimeLimit.truncated"] = False
                obs = obs.copy()
                obs[idx] = self.venv.reset_envs(idx)
            return obs, rewards.astype(np.float32), done, out_infos

        def get_attr(self, attr_name: str, indices=None) -> list[Any]:
            """``t``, ``water_left_l`` and ``scenario`` per sub-env; any other attribute of the batched env."""
            idx = self._get_indices(indices)
            if attr_name in ("t", "water_left_l"):
                vals = getattr(self.venv, attr_name)
                return [vals[i].item() for i in idx]
            if attr_name == "scenario":
                return [self.venv.scenario(i) for i in idx]
            return [getattr(self.venv, attr_name) for _ in idx]

        def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
            raise AttributeError(f"SB3VecEnvV2 sub-envs share one batched env; cannot set {attr_name!r} per env")

        def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
            return [getattr(self.venv, method_name)(*method_args, **method_kwargs) for _ in self._get_indices(indices)]

    SB3VecEnvV2.__module__ = __name__
    SB3VecEnvV2.__qualname__ = "SB3VecEnvV2"
    return SB3VecEnvV2


__getattr__ = lazy_class(__name__, "SB3VecEnvV2", _make_sb3_class)
"""``SB3VecEnvV2`` is built on first access, so importing this module does not import SB3 (and torch)."""
