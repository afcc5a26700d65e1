"""`BatchCore`: the state of E GreenLLM-v2 envs and the one step they share (E = 1 for the single env).

Env e reads slot ``slot[e]`` of stacked per-scenario arrays (its scenario's hour rows, reference points, penalty
rows, demand, budget and water price): the tables as built when every env starts at once, its own copy
otherwise. A step is one call of `green_llm_env.core.kernels.advance` over all envs (action map, repair, cost
model, penalty, bookkeeping and the next observation). The info schema is flat and fixed (`INFO_KEYS`): the
same keys at reset and after every step, numpy scalars (float64, ``t`` and ``scenario_seed`` int64).
"""

from __future__ import annotations

from typing import Any, Hashable

import numpy as np

from .. import cost, kernels
from ..actions import box_action
from ..sorting import network
from . import kernels as core_kernels
from . import prices
from .config import EnvConfig
from .features import BOUND, FeatureLayout
from .tables import SceneTables

__all__ = ["BatchCore", "INFO_KEYS", "check_finite", "step_info", "step_rewards"]

_FLOATS = (np.dtype(np.float32), np.dtype(np.float64))

_NUMBER_KEYS = tuple(n.replace("_usd", "_cost") for n in cost.NUMBERS) + ("penalty",)
INFO_KEYS = (_NUMBER_KEYS + tuple(f"violation_{f}" for f in cost.FAMILIES)
             + ("projection_distance", "repair_distance", "t", "water_left_l", "water_price", "scenario_seed",
                "episode_cost_weighted", "episode_penalty"))
"""The info keys of every v2 step and reset, in order: the hour's numbers ($, kg, L, kWh; `cost.NUMBERS` with
``*_usd`` read ``*_cost``) and ``penalty`` ($), the violations left after the repair per family
(`cost.FAMILIES`; water = litres beyond the budget), ``projection_distance`` (action to simplex),
``repair_distance`` (what the repair moved the shares, Euclidean), ``t`` (the hour just played, -1 at reset),
``water_left_l`` (L, negative once the budget is exceeded), ``water_price`` ($/L beyond the budget),
``scenario_seed`` (-1 for a given scenario) and the episode's running ``episode_cost_weighted`` and
``episode_penalty`` ($; their sum is what the oracle gap compares)."""
_VIOLATION_KEYS = tuple(f"violation_{f}" for f in cost.FAMILIES)
_ZERO_INFO = {k: (np.int64(-1) if k == "t" else np.int64(0) if k == "scenario_seed" else np.float64(0.0))
              for k in INFO_KEYS}
"""The info of an env just reset, before its per-episode values (``t`` = -1: no hour played yet)."""
_ROW_KEYS = _NUMBER_KEYS + _VIOLATION_KEYS + ("projection_distance", "repair_distance")
"""The info keys held in a row of the core's step buffer, in its column order."""


def step_rewards(nums: Any, reward_scale: float, vector: bool, weight_sum: float) -> Any:
    """Rewards of E envs from their step numbers ``nums`` (E, 9) (`cost.NUMBERS` then the penalty $), numpy or
    torch alike: ``-reward_scale·(cost_weighted + penalty)`` (E,), or with ``vector`` ``-reward_scale·(energy,
    carbon, delay + penalty / Σ weights)`` (E, 3)."""
    if vector:
        return -reward_scale * (nums[:, 1:4] + (nums[:, 8] / weight_sum)[:, None])
    return -reward_scale * (nums[:, 0] + nums[:, 8])


def step_info(nums: Any, viol: Any, dist: Any, moved: Any) -> dict[str, Any]:
    """The step part of the info (numpy or torch, columns as views): the numbers and penalty of ``nums``
    (E, 9), the violations ``viol`` (E, 5) and the distances (E,), under their `INFO_KEYS` names."""
    info = {key: nums[:, q] for q, key in enumerate(_NUMBER_KEYS)}
    info.update({key: viol[:, q] for q, key in enumerate(_VIOLATION_KEYS)})
    info["projection_distance"] = dist
    info["repair_distance"] = moved
    return info


def check_finite(a: np.ndarray, name: str = "action") -> None:
    """``ValueError`` naming the first NaN or inf entry of ``a`` (already clipped to the Box, so its sum is
    finite unless one is there)."""
    if not np.isfinite(a.sum()):
        flat = a.reshape(-1)
        q = int(np.flatnonzero(~np.isfinite(flat))[0])
        raise ValueError(f"{name} contains NaN or inf (first at flat index {q}: {flat[q]})")


class BatchCore:
    """E envs of one `EnvConfig` and scenario size (see the module docstring).

    Args:
        config: the envs' settings.
        num_envs: E >= 1.
        sizes: (T, I, K, J, R) of the scenarios.
    """

    def __init__(self, config: EnvConfig, num_envs: int, sizes: tuple[int, int, int, int, int]) -> None:
        self.config = config
        self.num_envs = E = int(num_envs)
        T, I, K, J, R = sizes
        self.T, self.I, self.K, self.J, self.R = T, I, K, J, R
        self.N = N = I * K
        W = kernels.layout(R, N, J)[-1]
        self.layout = FeatureLayout(I, K, J, R, config.forecast_hours)
        lay = self.layout
        offs = np.zeros(9, np.int64)
        offs[:len(lay.parts)] = lay.offsets()
        self._offs = offs
        fc = [lay.scales(p)[0] for p in ("forecast_price", "forecast_renewable", "forecast_carbon",
                                          "forecast_water", "forecast_demand") if p in lay.parts]
        self._scales = (lay.scales("options"), lay.scales("dcs"), lay.scales("areas"), lay.scales("globals"),
                        np.array(fc if fc else [1.0] * 5, np.float64))
        self.flat = np.zeros((E * T, W))
        self.xref = np.zeros((E * T, N, J))
        self.ref_delay = np.zeros((E * T, N))
        self.ref_use = np.zeros((E * T, R + 1, J))
        self.ref_fac = np.zeros((E * T, J))
        self.pen = np.zeros((E * T, 10))
        self.lam = np.zeros((E * T, N))
        self.delta = np.zeros((E, J))
        self.budget = np.ones(E)
        self.price_w = np.zeros(E)
        self.start = np.zeros(E, np.int64)
        self.slot = np.arange(E, dtype=np.int64)
        self.t = np.zeros(E, np.int64)
        self.water = np.zeros(E)
        self.seed = np.full(E, -1, np.int64)
        self.keys: list[Hashable | None] = [None] * E
        self.ep = np.zeros((E, 2))
        self.net = network(J)
        self.mode = kernels.MAP_SOFTMAX if config.action_mode == "softmax" else kernels.MAP_PROJECT
        self.price_mode = config.action_mode == "price"  # the kernel then projects the price map's shares
        self.action_dim = config.action_size()
        self.x = np.zeros((E, N, J))  # shares applied at the last step
        self._rows = np.zeros(E, np.int64)
        self._D = self.layout.size
        self._vector = config.reward == "vector"
        self._wsum = float(sum(config.weights))
        self._buf = np.zeros((E, len(_ROW_KEYS)))  # the last step's numbers, violations, distances per env
        b = self._buf
        self._outs = (b[:, :kernels.N_NUMBERS + 1], b[:, 9:9 + kernels.N_FAMILIES], b[:, 14], b[:, 15])
        self._owned = True  # slot e holds env e's scenario (False: envs read a batch of tables in place)
        self._bind()

    # ------------------------------------------------------------------------------- reset
    _TABLES = ("flat", "xref", "ref_delay", "ref_use", "ref_fac", "pen", "lam")
    _PER_SCENE = (("delta", "delta"), ("budget", "water_budget_l"), ("price_w", "water_price"),
                  ("start", "start_hour"))

    def load(self, idx: np.ndarray, tables: SceneTables, which: np.ndarray, keys: list[Hashable]) -> None:
        """Start a new episode in envs ``idx`` on scenarios ``which`` of ``tables`` (``keys`` name them).

        When every env starts at once (the first reset, or envs of one horizon ending together), the envs read
        the tables where they are (``slot[e] = which[e]``, no copy); otherwise each env's scenario is copied into
        its own slot."""
        T = self.T
        if tables.T != T or (tables.I, tables.K, tables.J, tables.R) != (self.I, self.K, self.J, self.R):
            raise ValueError(f"a scenario of (T, I, K, J, R) = {(tables.T, tables.I, tables.K, tables.J, tables.R)} "
                             f"does not fit envs built for {(T, self.I, self.K, self.J, self.R)}")
        idx = np.asarray(idx, np.int64)
        which = np.asarray(which, np.int64)
        if idx.size == self.num_envs and np.array_equal(idx, np.arange(self.num_envs)):
            S = len(tables)
            for name in self._TABLES:
                src = getattr(tables, name)
                setattr(self, name, src.reshape((S * T,) + src.shape[2:]))
            for mine, theirs in self._PER_SCENE:
                setattr(self, mine, getattr(tables, theirs))
            self.slot[:] = which
            self._owned = False
        else:
            self._own()
            if idx.size <= 8:  # a few envs: slices (cheap)
                for i, w in zip(idx.tolist(), which.tolist()):
                    for name in self._TABLES:
                        getattr(self, name)[i * T:(i + 1) * T] = getattr(tables, name)[w]
            else:
                rows = (idx[:, None] * T + np.arange(T)).reshape(-1)
                for name in self._TABLES:
                    src = getattr(tables, name)[which]
                    getattr(self, name)[rows] = src.reshape((-1,) + src.shape[2:])
            for mine, theirs in self._PER_SCENE:
                getattr(self, mine)[idx] = getattr(tables, theirs)[which]
        self._bind()
        self.seed[idx] = tables.seed[which]
        self.t[idx] = 0
        self.water[idx] = tables.water_budget_l[which]
        self.ep[idx] = 0.0
        self.x[idx] = 0.0
        for i, k in zip(idx.tolist(), keys):
            self.keys[i] = k

    def scene(self, name: str, e: int) -> float:
        """Env e's value of a per-scenario number: ``"budget"`` (L), ``"price_w"`` ($/L) or ``"start"`` (hour)."""
        return getattr(self, name)[self.slot[e]].item()

    def _own(self) -> None:
        """Give every env its own slot (slot e = env e), copying the tables it reads (after a no-copy load)."""
        if self._owned:
            return
        rows = (self.slot[:, None] * self.T + np.arange(self.T)).reshape(-1)
        for name in self._TABLES:
            setattr(self, name, np.ascontiguousarray(getattr(self, name)[rows]))
        for mine, _ in self._PER_SCENE:
            setattr(self, mine, np.ascontiguousarray(getattr(self, mine)[self.slot]))
        self.slot[:] = np.arange(self.num_envs)
        self._owned = True

    def _bind(self) -> None:
        """The arrays the compiled step reads and advances in place, in its argument order."""
        self._tables_args = (self.flat, self.xref, self.ref_delay, self.ref_use, self.ref_fac, self.pen, self.lam,
                             self.delta, self.budget, self.price_w, self.start, self.slot, self.t, self.water, self.ep)

    def reset_info_one(self) -> dict[str, Any]:
        """Env 0's reset info as numpy scalars (the values of `reset_info`)."""
        info = dict(_ZERO_INFO)
        info["water_left_l"] = self.water[0]
        info["water_price"] = self.price_w[self.slot[0]]
        info["scenario_seed"] = self.seed[0]
        return info

    def reset_info(self, idx: np.ndarray) -> dict[str, np.ndarray]:
        """The info of envs ``idx`` just reset (step quantities 0)."""
        info = {k: np.full(len(idx), v) for k, v in _ZERO_INFO.items()}
        info["water_left_l"] = self.water[idx].copy()
        info["water_price"] = self.price_w[self.slot[idx]]
        info["scenario_seed"] = self.seed[idx].copy()
        return info

    # ----------------------------------------------------------------------------- the step
    def step(self, a: np.ndarray) -> np.ndarray:
        """One step of every env, then its next observation (one compiled call); returns the observations
        (E, D) float32. ``a``: (E, N, J) float32 or float64 actions (`actions`), clipped to [-1, 1] as they are
        read; NaN/inf raise ``ValueError`` with the state unchanged. Envs past their horizon must have been
        reset. The step's numbers stay in the core's buffer until the next step: read them with `rewards`,
        `info` (copies) or `reward_one` / `info_one` (env 0, scalars)."""
        E, T = self.num_envs, self.T
        obs = np.empty((E, self._D), np.float32)
        cfg = self.config
        if self.price_mode:
            a = self.price_shares(a)
        args = self._tables_args + (a, self.mode, cfg.temperature, self.net, self.R, T, cfg.forecast_hours,
                                    self._offs) + self._scales + (BOUND, self.x) + self._outs + (obs, self._rows)
        if cfg.threads > 1 and E >= 2 * cfg.threads:  # blocks run apart: check everything before any block runs
            if self.t.max() >= T:
                raise RuntimeError(f"the episode ended at t = {T}; call reset()")
            check_finite(a, "actions")
            bad = core_kernels.advance_parallel(cfg.threads, *args)
        else:
            bad = core_kernels.advance(*args)
        if bad < -1:
            raise RuntimeError(f"the episode ended at t = {T}; call reset()")
        if bad >= 0:
            check_finite(np.asarray(a[bad]), f"action of env {bad}")
        return obs

    def price_shares(self, a: np.ndarray) -> np.ndarray:
        """(E, N, J) shares of price actions ``a`` (E, J+1) in each env's current hour
        (`green_llm_env.core.prices`); NaN/inf or an ended episode raise as the step does."""
        if self.t.max() >= self.T:
            raise RuntimeError(f"the episode ended at t = {self.T}; call reset()")
        check_finite(a, "action" if self.num_envs == 1 else "actions")
        return prices.price_shares(a, self.flat[self.slot * self.T + self.t], self.price_w[self.slot],
                                   self.config.temperature, self.R, self.N, self.J)

    def actions(self, action: Any, name: str = "action") -> np.ndarray:
        """``action`` as the (E, N, J) array `step` takes: a float32/float64 array of shape (E·N·J,) for E = 1, or
        (E, N·J), passes as it is (the step clips and checks it as it reads it); anything else goes through
        `green_llm_env.actions.box_action` (shapes (E, I, K, J) too, other dtypes, lists; errors name ``name``).
        A batch of one, (1, N·J), is taken for E = 1 too. In the price mode: (J+1,) or (E, J+1), returned as
        (E, J+1)."""
        E, N, J = self.num_envs, self.N, self.J
        width = self.action_dim
        if type(action) is np.ndarray and action.shape[-1:] == (width,) and action.size == E * width \
                and (action.ndim == 2 or E == 1) and action.dtype in _FLOATS:  # (E, width), or (width,) when E = 1
            a = np.ascontiguousarray(action).reshape(E, width)
            return a if self.price_mode else a.reshape(E, N, J)
        shapes: tuple[tuple[int, ...], ...] = ((E, width),) if self.price_mode else ((E, N * J), (E, self.I, self.K, J))
        if E == 1:  # a single env's action, or a batch of one
            shapes = tuple(sh[1:] for sh in shapes) + shapes
        a = box_action(action, shapes, name)
        return a.reshape(E, width) if self.price_mode else a.reshape(E, N, J)

    def rewards(self) -> np.ndarray:
        """(E,) float64 rewards of the last step (``reward="vector"``: (E, 3))."""
        return step_rewards(self._outs[0], self.config.reward_scale, self._vector, self._wsum)

    def reward_one(self) -> Any:
        """Env 0's reward of the last step: a float (``reward="vector"``: a float32 (3,) array)."""
        if self._vector:
            return self.rewards()[0].astype(np.float32)
        row = self._buf[0]
        return -self.config.reward_scale * (float(row[0]) + float(row[8]))

    def info(self) -> dict[str, np.ndarray]:
        """The info arrays (E,) of the last step (`INFO_KEYS`; copies)."""
        info = {key: column.copy() for key, column in step_info(*self._outs).items()}
        info["t"] = self.t - 1
        info["water_left_l"] = self.water.copy()
        info["water_price"] = self.price_w[self.slot]
        info["scenario_seed"] = self.seed.copy()
        info["episode_cost_weighted"] = self.ep[:, 0].copy()
        info["episode_penalty"] = self.ep[:, 1].copy()
        return info

    def info_one(self) -> dict[str, Any]:
        """Env 0's info of the last step as numpy scalars (the single env's info; the values of `info`)."""
        row = self._buf[0]
        info = dict(zip(_ROW_KEYS, row))
        info["t"] = self.t[0] - 1
        info["water_left_l"] = self.water[0]
        info["water_price"] = self.price_w[self.slot[0]]
        info["scenario_seed"] = self.seed[0]
        info["episode_cost_weighted"] = self.ep[0, 0]
        info["episode_penalty"] = self.ep[0, 1]
        return info

    def observe(self, idx: np.ndarray | None = None) -> np.ndarray:
        """(E, D) float32 observations of every env (or (len(idx), D) of envs ``idx``) in their current state."""
        if idx is None:
            slot, t, left = self.slot, self.t, self.water
        else:
            slot, t, left = self.slot[idx], self.t[idx], self.water[idx]
        obs = np.empty((len(slot), self._D), np.float32)
        so, sd, sa, sg, sf = self._scales
        args = (self.flat, self.lam, self.delta, self.budget, self.price_w, self.start, slot, t, left, self.T,
                self.R, self.config.forecast_hours, self._offs, so, sd, sa, sg, sf, BOUND, obs)
        threads = self.config.threads
        if threads > 1 and len(slot) >= 2 * threads:
            core_kernels.observe_parallel(threads, *args)
        else:
            core_kernels.observe(*args)
        return obs
