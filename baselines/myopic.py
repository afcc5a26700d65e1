"""The myopic LP: one LP per hour over the current slot only, warm-started from the previous hour's basis.

Water allowance rule for slot t (the only thing that looks beyond the hour): the water left
(``env.water_left_l``) times the hour's share of the remaining IT energy demand, with every future hour
assumed to need the mean IT energy of the hours seen so far (slots 0..t, true demand)::

    share_t     = water_left * E_t / (E_t + (T - t - 1) * mean(E_0 .. E_t))
    allowance_t = max(min(share_t, water_left - reserve[t+1]), least[t])

where ``least[s]`` is the water of slot s's least-water allocation and ``reserve[t+1] = sum(least[t+1:])``
(`baselines.heuristics.least_water_l`, from the scenario's demand: the one look-ahead myopic gets), so the
water kept back always lets the later hours stay within the budget (the environment's water penalty is
steep). The last hour may use all that is left. If the hour's LP is still infeasible the water row is
relaxed and the hour's least-water allocation is played (the environment charges the overrun).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from green_llm_env import cost

from .heuristics import least_water_l, reserve_after
from .mpc import WindowInfeasible, WindowSolver, window
from .policy import to_action

__all__ = ["MyopicPolicy", "myopic_allowance"]


def myopic_allowance(water_left_l: float, energy_seen: np.ndarray, T: int, reserve_next: float = 0.0,
                     least_now: float = 0.0) -> float:
    """The allowance rule above (L): ``energy_seen`` is the IT energy (kWh) of slots 0..t, t = len - 1;
    ``reserve_next`` the water kept back for slots t+1.., ``least_now`` slot t's least water."""
    t = len(energy_seen) - 1
    e_t = float(energy_seen[-1])
    denom = e_t + (T - t - 1) * float(np.mean(energy_seen))
    left = max(float(water_left_l), 0.0)
    share = left * (e_t / denom if denom > 0 else 1.0 / (T - t))
    return max(min(share, left - reserve_next), least_now, 0.0)


class MyopicPolicy:
    """One LP per hour (see the module docstring).

    Args:
        name: label in results.
        tie_break: weight given to a zero objective weight inside the LP (as `baselines.solve`).
    """

    kind = "lp"

    def __init__(self, name: str = "myopic", tie_break: float = 1e-6) -> None:
        self.name = name
        self.tie_break = tie_break

    def reset(self, env: Any) -> None:
        self.scenario = env.scenario
        self.solver = WindowSolver.reuse(getattr(self, "solver", None), env.weights, self.tie_break)
        self._energy = cost.coefficients(self.scenario).it_kw.sum(axis=1)  # (T,) kWh; slot t read at t only
        self._least = least_water_l(self.scenario)
        self._reserve = reserve_after(self._least)
        self.relaxed = 0
        self.fallbacks = 0

    def act(self, obs: Any, env: Any) -> np.ndarray:
        t = int(env.t)
        allowance = myopic_allowance(env.water_left_l, self._energy[:t + 1], self.scenario.T,
                                     self._reserve[t + 1], self._least[t])
        try:
            plan, relaxed = self.solver.solve(window(self.scenario, t, t + 1, allowance), shift=1)
            self.relaxed += int(relaxed)
            x = plan[0]
        except WindowInfeasible:
            from .heuristics import nearest_plan
            self.fallbacks += 1
            x = nearest_plan(self.scenario)[t]
        return to_action(x)
