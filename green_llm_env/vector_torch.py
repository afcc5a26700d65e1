"""GreenLLM-v2's batched env in torch: observations, actions, rewards and infos as tensors on a device.

::

    envs = gymnasium.make_vec("green_llm_env:GreenLLM-v2", num_envs=4096, vectorization_mode="vector_entry_point",
                              backend="torch", device="cuda")

The step is `green_llm_env.core.torch_step` (the twin of the compiled kernels, kept equal by tests). Scenarios:

- **By default** every episode's scenario is drawn on the CPU exactly as the numba backend draws it (sub-env i
  reset with ``seed + i`` plays the same scenarios) and its tables are copied to the device: with the same seeds
  and actions, the transitions equal the numba backend's (float64: to 1e-9 relative; float32: to its round-off).
- **``scenario_bank=B``** (for throughput): B scenarios are drawn on the CPU once (at the first reset, or at a
  reset with a seed: keys from ``seed``), held on the device, and every episode of every sub-env plays one of
  them picked uniformly at random on the device (a torch generator seeded from ``seed``): no host work per
  episode. Episodes then sample the generator's distribution through a finite bank (B distinct scenarios;
  ``bank_refresh=K`` draws a new bank (on the CPU, continuing the bank's random stream) every K episodes,
  `refresh_bank` whenever called; statistics of bank episodes against fresh ones: ``docs/torch.md``).

All sub-envs run in lockstep: every v2 episode lasts exactly T steps, so they start and end together and the
autoreset (Gymnasium's NEXT_STEP mode, as `GreenLLMVectorEnvV2`) needs no host-device synchronisation. The one
synchronisation per step is the NaN/inf check of the actions.
"""

from __future__ import annotations

from typing import Any, Hashable, Sequence

import numpy as np
import torch
from gymnasium.utils import seeding

from .core.batch import INFO_KEYS, step_info, step_rewards
from .core.torch_step import TorchTables, advance, observe
from .scenario import Scenario
from .vector_v2 import GreenLLMVectorEnvV2, masked

__all__ = ["DTYPES", "GreenLLMTorchVectorEnv"]

DTYPES = {"float64": torch.float64, "float32": torch.float32}
"""``dtype`` of the tables and of the step's arithmetic (observations are float32 either way)."""



class GreenLLMTorchVectorEnv(GreenLLMVectorEnvV2):
    """``num_envs`` GreenLLM-v2 envs stepped as one torch program (see the module docstring).

    Args: as `green_llm_env.vector_v2.GreenLLMVectorEnvV2`, plus
        device: where the tables live and the step runs (``"cpu"``, ``"cuda"``, ``"cuda:1"``, a `torch.device`).
        dtype: ``"float64"`` (default; equals the numba backend to 1e-9) or ``"float32"`` (faster on GPUs).
        scenario_bank: None (default: each episode's scenario drawn on the CPU, as the numba backend) or
            B >= 1 scenarios held on the device (see the module docstring).
        bank_refresh: None (keep the bank) or K >= 1: a new bank every K episodes (needs ``scenario_bank``).

    `step` takes actions as a tensor (or array) of shape (num_envs, I*K*J) or (num_envs, I, K, J) and returns
    tensors on ``device``: observations (num_envs, D) float32, rewards (num_envs,) (``reward="vector"``: (num_envs,
    3)) in ``dtype``, terminated and truncated (num_envs,) bool, and ``infos`` with every key of `INFO_KEYS`
    as a tensor (num_envs,) and its ``_key`` mask.
    """

    def __init__(self, num_envs: int = 1, scenario: Scenario | None = None, device: str | torch.device = "cpu",
                 dtype: str = "float64", scenario_bank: int | None = None, bank_refresh: int | None = None,
                 threads: int | None = 1, render_mode: str | None = None, max_episode_steps: int | None = None,
                 **env_kwargs: Any) -> None:
        try:
            self.device = torch.device(device)
            torch.empty(0, device=self.device)
        except (RuntimeError, TypeError) as exc:
            raise ValueError(f"device must name an available torch device; got {device!r} ({exc})") from None
        if dtype not in DTYPES:
            raise ValueError(f"dtype must be one of {sorted(DTYPES)}; got {dtype!r}")
        self.dtype = DTYPES[dtype]
        if scenario_bank is not None and (isinstance(scenario_bank, bool)
                                          or not isinstance(scenario_bank, (int, np.integer)) or scenario_bank < 1):
            raise ValueError(f"scenario_bank must be None or an integer >= 1; got {scenario_bank!r}")
        self.scenario_bank = None if scenario_bank is None else int(scenario_bank)
        if env_kwargs.get("action_mode") == "price":
            raise ValueError("action_mode='price' runs on the numba backend only (backend='numba'); the torch "
                             "backend takes 'project' or 'softmax'")
        if bank_refresh is not None and (scenario_bank is None or isinstance(bank_refresh, bool)
                                         or not isinstance(bank_refresh, (int, np.integer)) or bank_refresh < 1):
            raise ValueError(f"bank_refresh must be None or an integer >= 1 (episodes between new banks; needs "
                             f"scenario_bank); got {bank_refresh!r}")
        self.bank_refresh = None if bank_refresh is None else int(bank_refresh)
        self._episodes = 0  # episodes started since the bank was drawn
        super().__init__(num_envs=num_envs, scenario=scenario, threads=threads, render_mode=render_mode,
                         max_episode_steps=max_episode_steps, **env_kwargs)

    def _make_core(self, sizes: tuple[int, int, int, int, int]) -> None:
        T, I, K, J, R = sizes
        self.T, self.I, self.K, self.J, self.R, self.N = T, I, K, J, R, I * K
        E, dev = self.num_envs, self.device
        self.tab = TorchTables.empty(E if self.scenario_bank is None else 1, sizes, dev, self.dtype)
        self.slot = torch.arange(E, device=dev) if self.scenario_bank is None else torch.zeros(E, dtype=torch.int64,
                                                                                             device=dev)
        self._t = torch.zeros(E, dtype=torch.int64, device=dev)
        self._water = torch.zeros(E, dtype=self.dtype, device=dev)
        self._ep = torch.zeros(E, 2, dtype=self.dtype, device=dev)
        self._keys: list[Hashable | None] = [None] * E
        self._bank_keys: list[Hashable] = []
        self._gen = torch.Generator(device=dev)
        self._owned = True  # self.tab is this env's own memory (False: it shares the scenario source's arrays)
        self._hour = 0  # the hour every sub-env plays next (lockstep)
        self._ended = False  # the last step ended the episodes: the next step resets (NEXT_STEP)
        self._softmax = self.config.action_mode == "softmax"
        self._ones = torch.ones(E, dtype=torch.bool, device=dev)
        return None

    # ------------------------------------------------------------------------------- resets
    def _load(self, idx: np.ndarray, seeds: Sequence[int | None], options: dict[str, Any] | None) -> None:
        """New episodes in every sub-env (``idx`` is all of them: the sub-envs run in lockstep)."""
        E, dev = self.num_envs, self.device
        if self.scenario_bank is None:
            keys = [self.source.draw(self._rng(int(i), s), options) for i, s in zip(idx.tolist(), seeds)]
            tables, which = self.source.tables(keys)
            if np.array_equal(which, np.arange(E)):  # E new scenarios in env order: the tables as they are
                self.tab = TorchTables.from_scenes(tables, dev, self.dtype)
                self._owned = False  # (on the CPU they share the source's arrays: never written in place)
            else:
                if not self._owned:
                    self.tab = TorchTables.empty(E, (self.T, self.I, self.K, self.J, self.R), dev, self.dtype)
                    self._owned = True
                self.tab.put(self.slot, tables, which)
            self._keys = list(keys)
        else:
            stale = self.bank_refresh is not None and self._episodes >= self.bank_refresh
            if not self._bank_keys or seeds[0] is not None or stale:
                self.refresh_bank(seeds[0] if seeds[0] is not None or not stale else self._bank_seed(), options)
            self._episodes += 1
            self.slot = torch.randint(self.scenario_bank, (E,), generator=self._gen, device=dev)
        self._t.zero_()
        self._water.copy_(self.tab.budget[self.slot])
        self._ep.zero_()
        self._hour = 0
        self._ended = False

    def refresh_bank(self, seed: int | None = None, options: dict[str, Any] | None = None) -> None:
        """Draw a new bank of ``scenario_bank`` scenarios on the CPU (from ``seed``) and move it to the device."""
        if self.scenario_bank is None:
            raise RuntimeError("refresh_bank needs scenario_bank=B")
        rng = seeding.np_random(seed)[0]
        self._bank_rng = rng
        self._episodes = 0
        keys = [self.source.draw(rng, options) for _ in range(self.scenario_bank)]
        tables, which = self.source.tables(keys)
        self.tab = TorchTables.empty(self.scenario_bank, (self.T, self.I, self.K, self.J, self.R), self.device,
                                     self.dtype)
        self.tab.put(torch.arange(self.scenario_bank, device=self.device), tables, which)
        self._bank_keys = keys
        self._gen.manual_seed(int(rng.integers(2 ** 63 - 1)))

    def _bank_seed(self) -> int:
        """The seed of the next bank, drawn from the last bank's stream (a refresh continues it reproducibly)."""
        return int(self._bank_rng.integers(2 ** 31 - 1))

    def reset(self, *, seed: int | Sequence[int | None] | None = None, options: dict[str, Any] | None = None
              ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        seeds = self._seed_list(seed)
        self.source.check_options(options)
        self._load(np.arange(self.num_envs), seeds, options)
        self._ready = True
        return self._observe(), self._reset_info()

    def reset_envs(self, idx: Sequence[int]) -> np.ndarray:
        raise NotImplementedError("the torch backend resets every sub-env together (they run in lockstep); "
                                  "use reset()")

    # --------------------------------------------------------------------------------- step
    def _observe(self) -> torch.Tensor:
        return observe(self.tab, self.slot, self._t, self._water, self.T, self.R, self.layout, self._hour)

    def _actions(self, actions: Any) -> torch.Tensor:
        """``actions`` as an (E, N, J) tensor on the device (shape, dtype and NaN/inf checked, in one line)."""
        E, N, J = self.num_envs, self.N, self.J
        if isinstance(actions, np.ndarray):
            if actions.dtype.kind != "f":
                raise ValueError(f"actions must be a float tensor or array; got dtype {actions.dtype}")
            actions = torch.from_numpy(np.ascontiguousarray(actions))
        if not isinstance(actions, torch.Tensor):
            raise ValueError(f"actions must be a torch tensor or numpy array of shape ({E}, {N * J}); got "
                             f"{type(actions).__name__}")
        if not actions.is_floating_point():
            raise ValueError(f"actions must be a float tensor; got dtype {actions.dtype}")
        if tuple(actions.shape) not in ((E, N * J), (E, self.I, self.K, J)):
            raise ValueError(f"actions must have shape ({E}, {N * J}) or ({E}, {self.I}, {self.K}, {J}); got "
                             f"{tuple(actions.shape)}")
        a = actions.to(self.device).reshape(E, N, J)
        if not bool(torch.isfinite(a).all()):
            bad = int(torch.nonzero(~torch.isfinite(a.reshape(-1)))[0])
            raise ValueError(f"actions contain NaN or inf (first at flat index {bad}: "
                             f"{a.reshape(-1)[bad].item()})")
        return a

    def step(self, actions: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor,
                                          dict[str, torch.Tensor]]:
        if not self._ready:
            raise RuntimeError("call reset() before step()")
        a = self._actions(actions)
        E = self.num_envs
        if self._ended:  # NEXT_STEP autoreset: every sub-env starts a new episode and ignores its action
            self._load(np.arange(E), [None] * E, None)
            shape = (E, 3) if self.config.reward == "vector" else (E,)
            no = torch.zeros(E, dtype=torch.bool, device=self.device)
            return (self._observe(), torch.zeros(shape, dtype=self.dtype, device=self.device), no, no.clone(),
                    self._reset_info())
        out, obs = advance(self.tab, self.slot, self._t, self._water, self._ep, a, self._softmax,
                           self.config.temperature, self.R, self.T, self.layout, self._hour)
        self._hour += 1
        self._ended = self._hour >= self.T
        cfg = self.config
        reward = step_rewards(out.nums, cfg.reward_scale, cfg.reward == "vector", float(sum(cfg.weights)))
        done = torch.full((E,), self._ended, dtype=torch.bool, device=self.device)
        info = step_info(out.nums, out.viol, out.dist, out.moved)
        info.update(t=self._t - 1, water_left_l=self._water.clone(), water_price=self.tab.price_w[self.slot],
                    scenario_seed=self.tab.seed[self.slot],
                    episode_cost_weighted=self._ep[:, 0].clone(), episode_penalty=self._ep[:, 1].clone())
        return obs, reward, done, torch.zeros_like(done), masked(info, self._ones)

    # ------------------------------------------------------------------------------- infos
    def _reset_info(self) -> dict[str, torch.Tensor]:
        E, dev = self.num_envs, self.device
        info: dict[str, torch.Tensor] = {}
        for k in INFO_KEYS:
            if k == "t":
                info[k] = torch.full((E,), -1, dtype=torch.int64, device=dev)
            elif k == "scenario_seed":
                info[k] = self.tab.seed[self.slot].clone()
            else:
                info[k] = torch.zeros(E, dtype=self.dtype, device=dev)
        info["water_left_l"] = self._water.clone()
        info["water_price"] = self.tab.price_w[self.slot]
        return masked(info, self._ones)

    # ---------------------------------------------------------------------------- for policies
    def scenario(self, i: int) -> Scenario:
        """Sub-env i's current `Scenario` (built on the CPU)."""
        key = self._keys[int(i)] if self.scenario_bank is None else self._bank_keys[int(self.slot[int(i)])]
        return self.source.scenario(key)

    @property
    def t(self) -> torch.Tensor:
        """(num_envs,) the hour each sub-env plays next."""
        return self._t.clone()

    @property
    def water_left_l(self) -> torch.Tensor:
        """(num_envs,) litres left of each sub-env's water budget."""
        return self._water.clone()
