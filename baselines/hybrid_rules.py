"""Rules for ``GreenLLM-hybrid-v2`` (the hour's water price as the action): play where the day's forecast crosses
the water left, plus a margin (`DayPricePolicy`), or one price all day (`ConstantPricePolicy`).

`green_llm_env.hybrid_v2` shows each hour the action ``day_action`` at which the water of this hour plus the
later hours (those from the LPs of the day's forecast made at reset, σ = 0.1 noise) equals the water left. Played
as it is, it spends the budget exactly if the forecast is right; a margin (an action offset, in the action's
units: +0.1 is a price 1.58x higher at the default range 1e-4-1 $/L) keeps water back for forecast error, which
costs μ_w per litre beyond the budget. Measured with evaluate.py on validation seeds 900-949 (mean oracle gap):
margin 0 1.167%, 0.05 0.833%, 0.1 0.574%, 0.15 0.538%; with the exact day (``forecast_noise:0.0``) margin 0
scores 0.138%. It is the base that the residual hybrid agent corrects (``ResidualAction`` on
``day_price:margin=0.1`` in hyperparams/ppo.yml).

``constant_price`` (action 0 by default: 0.01 $/L, the middle of the range on its log scale) is what an
untrained policy of the from-scratch track plays (its mean action is about 0): the reference its learning
curves start from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ConstantPricePolicy", "DayPricePolicy"]


def _finite(cls: str, key: str, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not np.isfinite(float(value)):
        raise ValueError(f"{cls} {key} must be a finite number; got {value!r}")
    return float(value)


class _HybridRule:
    """What both rules share: evaluate.py's summary kind, the env they play, and no per-episode state."""

    kind = "heuristic"
    env_id = "GreenLLM-hybrid-v2"

    def reset(self, env: Any) -> None:
        """Nothing to prepare: a rule reads the observation only."""


class ConstantPricePolicy(_HybridRule):
    """The same action every hour (the env clips it to [-1, 1]).

    Args:
        name: label in results.
        action: the action in [-1, 1] (0: 0.01 $/L at the default price range).
    """

    def __init__(self, name: str = "constant_price", action: float = 0.0) -> None:
        self.name = name
        self.action = _finite("ConstantPricePolicy", "action", action)

    def act(self, obs: Any, env: Any = None) -> np.ndarray:
        """``[action]`` (float32, shape (1,))."""
        return np.array([self.action], np.float32)


class DayPricePolicy(_HybridRule):
    """``day_action + margin`` every hour (see the module docstring); the env clips the action to [-1, 1].

    Args:
        name: label in results.
        margin: offset added to the crossing action (a finite number; > 0 keeps water back).
    """

    def __init__(self, name: str = "day_price", margin: float = 0.0) -> None:
        from green_llm_env.hybrid_v2 import HYBRID_V2_FEATURES

        self.name = name
        self.margin = _finite("DayPricePolicy", "margin", margin)
        self._at = HYBRID_V2_FEATURES.index("day_action")

    def act(self, obs: Any, env: Any = None) -> np.ndarray:
        """``[day_action + margin]`` (float32, shape (1,)) of a GreenLLM-hybrid-v2 observation."""
        obs = np.asarray(obs, np.float64).reshape(-1)
        if obs.shape[0] <= self._at:
            raise ValueError(f"DayPricePolicy reads GreenLLM-hybrid-v2's observation (feature 'day_action' at "
                             f"{self._at}); got an observation of length {obs.shape[0]}")
        return np.array([obs[self._at] + self.margin], np.float32)
