"""GreenLLM-v0, natively batched: all sub-envs step in one call of a compiled kernel.

- `GreenLLMVectorEnv`: a `gymnasium.vector.VectorEnv` (autoreset mode NEXT_STEP, like `SyncVectorEnv`),
  registered as the vector entry point of ``GreenLLM-v0``::

      envs = gymnasium.make_vec("green_llm_env:GreenLLM-v0", num_envs=1024, vectorization_mode="vector_entry_point",
                                scenario_pool=64)

  Sub-env ``i`` reset with ``seed + i`` follows exactly the transitions of ``SyncVectorEnv`` over
  ``gymnasium.make("green_llm_env:GreenLLM-v0", ...)`` with the same seeds (each sub-env keeps its own
  ``GreenLLMEnv`` for the scenario draws; only the step is batched).
- `SB3VecEnv`: a Stable-Baselines3 ``VecEnv`` over the same batched step (SB3 semantics: auto-reset in the
  same step, ``infos[i]["terminal_observation"]``, ``"TimeLimit.truncated"``), so SB3 trains on it directly.

Per-scenario tables (the `cost.HourTables` rows and the penalty's ``(mu, tol)``, and the observation table)
sit in "slots" of stacked arrays, shared by every sub-env playing that scenario; a step is one call of the
compiled kernel `kernels.step_batch` (or `kernels.step_batch_parallel`, over ``threads`` threads) that reads
each sub-env's (slot, hour) row in place: the action map, the cost model's `kernels.hour_element` and the
penalty, element by element, with the very code the single env runs (so the numbers agree bit for bit).
With a ``scenario_pool`` (or a pinned scenario) the slots stop changing after warm-up. On the 2-core
development machine a step of 1024 sub-envs takes about 2.4-4 ms (250,000-430,000 env-steps/s) with a pool;
with a fresh scenario per episode (the default) every reset runs `make_scenario` and the tables (about 2.5
ms), which dominates (about 10,000 env-steps/s). The safety layer (``constraint_mode="project"``) runs one QP
per sub-env and step, in a Python loop.
"""

from __future__ import annotations

import copy
from typing import Any, Sequence

import numba
import numpy as np
from gymnasium.vector import AutoresetMode, VectorEnv
from gymnasium.vector.utils import batch_space

from . import cost, kernels
from .actions import box_action, map_actions, network
from .env import _INFO_KEYS, GreenLLMEnv, ScenarioTables, safety_layer
from .sb3_vec import lazy_class

__all__ = ["GreenLLMVectorEnv", "SB3VecEnv"]  # noqa: F822 (SB3VecEnv is built lazily)

_SLOT_FIELDS = ("flat", "pen", "obs")  # per hour: the cost model's table row, the penalty's (mu, tol), the
# observation (T+1 rows; unused with forecast noise, which makes it per episode)


def _table(tab: ScenarioTables, name: str, obs: np.ndarray) -> np.ndarray:
    return tab.pen if name == "pen" else (obs if name == "obs" else tab.hour.flat)


class GreenLLMVectorEnv(VectorEnv):
    """``num_envs`` copies of `GreenLLMEnv` stepped together; arguments as `GreenLLMEnv` plus:

    Args:
        num_envs: number of sub-envs (>= 1).
        max_episode_steps: truncation after this many steps (``gymnasium.make_vec`` passes the registered
            24); set to the scenarios' T when it differs.
        threads: threads of the step kernel (None: numba's default, one per core; 1: the calling thread only).
            Results do not depend on it, bit for bit. With more than one, the step runs
            `kernels.step_batch_parallel` (numba's ``workqueue`` threading layer, unless another is installed:
            do not step two batched envs from two Python threads at once).
        **env_kwargs: every argument of `GreenLLMEnv` (``render_mode`` must be None).

    ``infos`` follow Gymnasium's vector convention (arrays with ``_key`` masks): the step keys of
    `GreenLLMEnv` (``violations`` as a dict of arrays), and for sub-envs reset in this step
    ``scenario_seed`` (-1 for a pinned scenario) and ``water_left_l``; ``episode_totals`` for sub-envs
    whose episode ended (a dict of arrays).
    """

    metadata = {"render_modes": [], "autoreset_mode": AutoresetMode.NEXT_STEP}

    def __init__(self, num_envs: int = 1, max_episode_steps: int | None = 24, render_mode: str | None = None,
                 threads: int | None = None, **env_kwargs: Any) -> None:
        if isinstance(num_envs, bool) or not isinstance(num_envs, (int, np.integer)) or num_envs < 1:
            raise ValueError(f"num_envs must be an integer >= 1; got {num_envs!r}")
        if max_episode_steps is not None and (not isinstance(max_episode_steps, (int, np.integer))
                                              or max_episode_steps < 1):
            raise ValueError(f"max_episode_steps must be an integer >= 1 or None; got {max_episode_steps!r}")
        if render_mode is not None:
            raise ValueError(f"render_mode must be None for the batched env; got {render_mode!r} "
                             "(render a single GreenLLMEnv instead)")
        if threads is None:
            threads = numba.get_num_threads()
        if isinstance(threads, bool) or not isinstance(threads, (int, np.integer)) or threads < 1:
            raise ValueError(f"threads must be an integer >= 1 or None; got {threads!r}")
        self.threads = int(threads)
        proto = GreenLLMEnv(**env_kwargs)
        self.num_envs = int(num_envs)
        self.max_episode_steps = None if max_episode_steps is None else int(max_episode_steps)
        self.render_mode = None
        self.envs = [proto] + [copy.copy(proto) for _ in range(self.num_envs - 1)]
        self.proto = proto
        self.single_observation_space = proto.observation_space
        self.single_action_space = proto.action_space
        self.observation_space = batch_space(self.single_observation_space, self.num_envs)
        self.action_space = batch_space(self.single_action_space, self.num_envs)
        self.layout = proto.layout
        self.weights = proto.weights
        self.reward_scale = proto.reward_scale
        self.I, self.K, self.J = proto.I, proto.K, proto.J
        self._N = self.I * self.K
        self._A = self._N * self.J
        E = self.num_envs
        self._slot = np.zeros(E, np.int64)
        self._t = np.zeros(E, np.int64)
        self._water = np.zeros(E)
        self._Zinv = np.zeros(E)
        self._T = None
        self._obs_tab: np.ndarray | None = None  # (E, T+1, D) float32, with forecast noise (per episode)
        self._per_env_obs = proto.forecast_noise > 0
        self._ep = np.zeros((E, 9))
        self._ep_viol = np.zeros((E, 5))
        self._seed_of = np.full(E, -1, np.int64)
        self._prev_done = np.zeros(E, bool)
        self._slots: dict[str, np.ndarray] = {}
        self._net = network(self.J)
        self._no_x = np.empty((1, self._N, self.J))  # step_batch's x_out when the shares are not kept
        self._R = 0
        self._slot_tab: list[ScenarioTables | None] = []
        self._slot_refs = np.zeros(0, np.int64)
        self._slot_by_id: dict[int, int] = {}
        self._ready = False

    # ----------------------------------------------------------------------------------- slots
    def _grow(self, tab: ScenarioTables, obs: np.ndarray) -> None:
        old = len(self._slot_tab)
        new = max(4, 2 * old)
        for name in _SLOT_FIELDS:
            a = _table(tab, name, obs)
            arr = np.zeros((new,) + a.shape, a.dtype)
            if old:
                arr[:old] = self._slots[name]
            self._slots[name] = arr
        self._slot_tab += [None] * (new - old)
        self._slot_refs = np.concatenate([self._slot_refs, np.zeros(new - old, np.int64)])

    def _acquire(self, tab: ScenarioTables, obs: np.ndarray) -> int:
        """Slot index holding ``tab`` and its observation table ``obs`` (written into a free slot, growing the
        arrays if needed)."""
        s = self._slot_by_id.get(id(tab))
        if s is not None and self._slot_tab[s] is tab:
            self._slot_refs[s] += 1
            return s
        if self._T is None:
            self._T = tab.coef.T
            self._R = tab.coef.R
        elif tab.coef.T != self._T:
            raise ValueError(f"every sub-env must have the same horizon T; got {tab.coef.T} and {self._T}")
        free = np.flatnonzero(self._slot_refs[:len(self._slot_tab)] == 0)
        if free.size == 0 or (self._slots and self._slots["flat"].shape[1:] != tab.hour.flat.shape):
            if self._slots and self._slots["flat"].shape[1:] != tab.hour.flat.shape:
                raise ValueError("every sub-env must have the same sizes (I, K, J, R, T)")
            self._grow(tab, obs)
            free = np.flatnonzero(self._slot_refs == 0)
        # prefer a slot that never held anything, else the first free one
        s = int(free[0])
        old = self._slot_tab[s]
        if old is not None:
            self._slot_by_id.pop(id(old), None)
        for name in _SLOT_FIELDS:
            self._slots[name][s] = _table(tab, name, obs)
        self._slot_tab[s] = tab
        self._slot_by_id[id(tab)] = s
        self._slot_refs[s] += 1
        return s

    def _reset_envs(self, idx: np.ndarray, seeds: Sequence[int | None], options: dict[str, Any] | None) -> None:
        """Reset sub-envs ``idx`` (each `GreenLLMEnv.reset` draws its scenario), then their batched state."""
        envs = self.envs
        subs = [envs[i] for i in idx.tolist()]
        for sub, seed in zip(subs, seeds):
            sub.reset(seed=seed, options=options)
        if self._ready:
            np.subtract.at(self._slot_refs, self._slot[idx], 1)
        self._slot[idx] = [self._acquire(sub._tab, sub._obs_table) for sub in subs]
        if self._per_env_obs:
            if self._obs_tab is None:
                self._obs_tab = np.zeros((self.num_envs, self._T + 1, self.layout.size), np.float32)
            self._obs_tab[idx] = [sub._obs_table for sub in subs]
        self._t[idx] = 0
        self._water[idx] = [sub.water_left_l for sub in subs]
        self._Zinv[idx] = [sub._Zinv for sub in subs]
        self._ep[idx] = 0.0
        self._ep_viol[idx] = 0.0
        self._seed_of[idx] = [-1 if sub.scenario_seed is None else sub.scenario_seed for sub in subs]

    def _obs(self) -> np.ndarray:
        if self._per_env_obs:
            tab = self._obs_tab
            rows = self._t + tab.shape[1] * np.arange(self.num_envs)
        else:
            tab = self._slots["obs"]
            rows = self._t + tab.shape[1] * self._slot
        obs = np.take(tab.reshape((-1, tab.shape[2])), rows, axis=0)
        w = self._water * self._Zinv
        np.clip(w, 0.0, 1.0, out=w)
        obs[:, self.layout.water_index] = w
        return obs

    # ----------------------------------------------------------------------------------- reset
    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[np.ndarray, dict[str, Any]]:
        E = self.num_envs
        if seed is None:
            seeds = [None] * E
        elif isinstance(seed, (int, np.integer)):
            seeds = [int(seed) + i for i in range(E)]
        else:
            seeds = list(seed)
            if len(seeds) != E:
                raise ValueError(f"seed must be None, an int or {E} seeds; got {len(seeds)} seeds")
        options = dict(options or {})
        mask = options.pop("reset_mask", None)
        if mask is None:
            idx = np.arange(E)
        else:
            mask = np.asarray(mask, bool)
            if mask.shape != (E,):
                raise ValueError(f"options['reset_mask'] must be a bool array of shape ({E},); got {mask.shape}")
            idx = np.flatnonzero(mask)
            if not self._ready and idx.size != E:
                raise ValueError("the first reset must reset every sub-env (reset_mask all True)")
        self._reset_envs(idx, [seeds[i] for i in idx], options or None)
        self._ready = True
        self._prev_done[idx] = False
        reset = np.zeros(E, bool)
        reset[idx] = True
        return self._obs(), self._reset_info(reset)

    def _reset_info(self, reset: np.ndarray) -> dict[str, Any]:
        return {"scenario_seed": np.where(reset, self._seed_of, 0), "_scenario_seed": reset.copy(),
                "water_left_l": np.where(reset, self._water, 0.0), "_water_left_l": reset.copy()}

    # ------------------------------------------------------------------------------------ step
    def _actions_array(self, actions: Any) -> np.ndarray:
        """``actions`` validated (shape, real) and clipped to the Box, as a C-contiguous float32 or float64
        array (E, N, J) (`actions.box_action`)."""
        E = self.num_envs
        a = box_action(actions, ((E, self._A), (E, self.I, self.K, self.J)), "actions")
        return a.reshape(E, self._N, self.J)

    def allocation(self, actions: Any) -> np.ndarray:
        """The shares (num_envs, N, J) that `step` would apply for ``actions`` (before any safety layer)."""
        a = self._actions_array(actions)
        try:
            return map_actions(a, self.proto.action_mode, self.proto.temperature)[0]
        except ValueError:
            raise self._non_finite(a) from None

    @staticmethod
    def _non_finite(a: np.ndarray) -> ValueError:
        bad = np.argwhere(~np.isfinite(a.reshape(a.shape[0], -1)))[0]
        return ValueError(f"actions contain NaN or inf (first at env {bad[0]}, flat index {bad[1]})")

    def step(self, actions: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, Any]]:
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        E = self.num_envs
        a = self._actions_array(actions)
        resetting = self._prev_done
        any_reset = bool(resetting.any())
        if any_reset:  # sub-envs that reset in this step ignore their action (as SyncVectorEnv's do)
            a = a.copy()
            a[resetting] = 0.0
        T = self._T
        t = np.minimum(self._t, T - 1)
        proto = self.proto
        out = np.empty((E, kernels.N_NUMBERS + 1))
        viol = np.empty((E, kernels.N_FAMILIES))
        dist = np.empty(E)
        mode = proto._map_mode
        x = self._no_x
        if proto.constraint_mode == "project":
            try:
                x, d2 = map_actions(a, proto.action_mode, proto.temperature)
            except ValueError:
                raise self._non_finite(a) from None
            dist[:] = np.sqrt(d2.sum(-1))
            for i in np.flatnonzero(~resetting).tolist():
                x[i] = safety_layer(self.envs[i]._tab).project(x[i], int(t[i]), float(self._water[i]))
            mode = kernels.MAP_GIVEN
        sl = self._slots
        flat, pen = sl["flat"], sl["pen"]
        rows = self._slot * T + t  # row of each sub-env's (slot, hour) in the flattened slot tables
        args = (flat.reshape(-1, flat.shape[-1]), rows, pen.reshape(-1, pen.shape[-1]), a, self._water, mode,
                proto.temperature, self._net, self._R, False, x, out, viol, dist)
        if self.threads > 1 and E >= 2 * kernels.CHUNK:
            bad = kernels.step_batch_parallel(self.threads, *args)
        else:
            bad = kernels.step_batch(*args)
        if bad >= 0:
            raise self._non_finite(a)
        active = ~resetting
        if any_reset:  # after the kernel (which read their old tables), so a refused action changes nothing
            self._reset_envs(np.flatnonzero(resetting), [None] * int(resetting.sum()), None)
            out[resetting] = 0.0
            viol[resetting] = 0.0
            dist[resetting] = 0.0
        self._water -= out[:, 6]
        self._ep += out
        self._ep_viol += viol
        self._t += active
        rewards = -self.reward_scale * (out[:, 0] + out[:, 8])
        terminated = active & (self._t >= T)
        if self.max_episode_steps is None:
            truncated = np.zeros(E, bool)
        else:
            truncated = active & (self._t >= self.max_episode_steps)
        done = terminated | truncated
        infos: dict[str, Any] = {}
        for q, key in enumerate(_INFO_KEYS):
            infos[key] = out[:, q]
            infos["_" + key] = active
        vdict: dict[str, Any] = {}
        for q, fam in enumerate(cost.FAMILIES):
            vdict[fam] = viol[:, q]
            vdict["_" + fam] = active
        infos["violations"] = vdict
        infos["_violations"] = active
        infos["projection_distance"] = dist
        infos["_projection_distance"] = active
        infos["t"] = np.where(active, self._t - 1, 0)
        infos["_t"] = active
        infos["water_left_l"] = self._water.copy()
        infos["_water_left_l"] = np.ones(E, bool)
        if any_reset:
            infos["scenario_seed"] = np.where(resetting, self._seed_of, 0)
            infos["_scenario_seed"] = resetting.copy()
        if done.any():
            tot: dict[str, Any] = {}
            for q, key in enumerate(_INFO_KEYS):
                tot[key] = np.where(done, self._ep[:, q], 0.0)
                tot["_" + key] = done
            tv = {}
            for q, fam in enumerate(cost.FAMILIES):
                tv[fam] = np.where(done, self._ep_viol[:, q], 0.0)
                tv["_" + fam] = done
            tot["violations"] = tv
            tot["_violations"] = done
            tot["scenario_seed"] = np.where(done, self._seed_of, 0)
            tot["_scenario_seed"] = done
            infos["episode_totals"] = tot
            infos["_episode_totals"] = done
        self._prev_done = done
        return self._obs(), rewards, terminated, truncated, infos

    # ----------------------------------------------------------------------------------- misc
    def forecast(self, i: int, hours: int) -> dict[str, np.ndarray]:
        """`GreenLLMEnv.forecast` of sub-env ``i`` at its current slot."""
        sub = self.envs[i]
        sub.t = int(self._t[i])
        return sub.forecast(hours)

    @property
    def t(self) -> np.ndarray:
        """(num_envs,) current slot of each sub-env."""
        return self._t.copy()

    @property
    def water_left_l(self) -> np.ndarray:
        """(num_envs,) remaining water budget (L)."""
        return self._water.copy()

    def close_extras(self, **kwargs: Any) -> None:
        self.envs = []


# ------------------------------------------------------------------------------------------- SB3
def _make_sb3_class() -> type:
    from .sb3_vec import batched_vec_env_base

    class SB3VecEnv(batched_vec_env_base()):
        """Stable-Baselines3 ``VecEnv`` over `GreenLLMVectorEnv` (SB3 semantics, auto-reset in the same step).

        ``SB3VecEnv(num_envs=8, scenario_pool=64, weights=...)`` builds the batched env (any `GreenLLMEnv`
        argument); ``SB3VecEnv(venv=GreenLLMVectorEnv(...))`` wraps an existing one. ``infos[i]`` holds
        ``cost_weighted`` and ``penalty`` every step; at the end of an episode also ``terminal_observation``,
        ``TimeLimit.truncated`` (always False: episodes end by termination at the horizon) and
        ``episode_totals``. Wrap with ``VecMonitor`` for SB3's episode statistics. ``seed(s)`` seeds sub-env
        i with ``s + i`` at the next reset. ``get_attr`` reads the sub-envs' `GreenLLMEnv` objects
        (``scenario``, ``coef``, ``weights``, ...; ``t`` and ``water_left_l`` from the batched state).
        """

        def __init__(self, venv: GreenLLMVectorEnv | None = None, num_envs: int = 1, **env_kwargs: Any) -> None:
            if venv is None:
                venv = GreenLLMVectorEnv(num_envs=num_envs, max_episode_steps=None, **env_kwargs)
            elif env_kwargs:
                raise ValueError(f"pass either venv or env kwargs; got both (kwargs {sorted(env_kwargs)})")
            super().__init__(venv)

        def step_wait(self):
            v = self.venv
            obs, rewards, terminated, truncated, infos = v.step(self._actions)
            done = terminated | truncated
            E = self.num_envs
            cw, pen = infos["cost_weighted"].tolist(), infos["penalty"].tolist()
            out_infos = [{"cost_weighted": cw[i], "penalty": pen[i]} for i in range(E)]
            if done.any():
                idx = np.flatnonzero(done)
                tot = infos["episode_totals"]
                for i in idx.tolist():
                    info = out_infos[i]
                    info["terminal_observation"] = obs[i].copy()
                    info["TimeLimit.truncated"] = bool(truncated[i] and not terminated[i])
                    info["episode_totals"] = {
                        **{k: float(tot[k][i]) for k in _INFO_KEYS},
                        "violations": {f: float(tot["violations"][f][i]) for f in cost.FAMILIES},
                        "scenario_seed": int(tot["scenario_seed"][i])}
                v._reset_envs(idx, [None] * idx.size, None)
                v._prev_done[idx] = False
                obs = v._obs()
            return obs, rewards.astype(np.float32), done, out_infos

        def get_attr(self, attr_name: str, indices=None) -> list[Any]:
            """Attributes of the sub-envs (``t`` and ``water_left_l`` come from the batched state)."""
            idx = self._get_indices(indices)
            if attr_name == "t":
                return [int(self.venv._t[i]) for i in idx]
            if attr_name == "water_left_l":
                return [float(self.venv._water[i]) for i in idx]
            return [getattr(self.venv.envs[i], attr_name) for i in idx]

        def set_attr(self, attr_name: str, value: Any, indices=None) -> None:
            for i in self._get_indices(indices):
                setattr(self.venv.envs[i], attr_name, value)

        def env_method(self, method_name: str, *method_args, indices=None, **method_kwargs) -> list[Any]:
            return [getattr(self.venv.envs[i], method_name)(*method_args, **method_kwargs)
                    for i in self._get_indices(indices)]

    SB3VecEnv.__module__ = __name__
    SB3VecEnv.__qualname__ = "SB3VecEnv"
    return SB3VecEnv


__getattr__ = lazy_class(__name__, "SB3VecEnv", _make_sb3_class)
"""``SB3VecEnv`` is built on first access, so importing this module does not import SB3 (and torch)."""
