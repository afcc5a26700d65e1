"""The oracle as a policy: solve the full-horizon LP once per episode (perfect foresight), replay its plan.

Its episode cost is the oracle's objective (`baselines.solve`), the lower bound every other policy's
``cost_weighted + penalty`` is compared with.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .oracle import OracleResult
from .policy import to_action
from .rollout import env_water_price, oracle_result

__all__ = ["OraclePolicy"]


class OraclePolicy:
    """Replays ``baselines.solve(env.scenario, env.weights).plan`` slot by slot (on GreenLLM-v2 with
    ``water_price=env.water_price``: the objective v2 scores).

    Args:
        name: label in results.
        tie_break: weight given to a zero objective weight inside the LP (as `baselines.solve`).
    """

    kind = "oracle"

    def __init__(self, name: str = "oracle", tie_break: float = 1e-6) -> None:
        self.name = name
        self.tie_break = tie_break
        self.result: OracleResult | None = None

    def reset(self, env: Any) -> None:
        # GreenLLM-v2 charges water beyond the budget at env.water_price: solve that objective (elastic row)
        price = env_water_price(env)
        # `oracle_result`: the solve of this (scenario, weights, price) that scored the gap, if one did
        self.result = oracle_result(env.scenario, env.weights, water_price=price, tie_break=self.tie_break)

    def act(self, obs: Any, env: Any) -> np.ndarray:
        return to_action(self.result.plan[int(env.t)])
