"""The one episode loop and the one oracle gap of the project.

- `play_episode`: one episode of a policy (the `baselines.policy` contract: ``policy.reset(env.unwrapped)`` after
  ``env.reset``, then ``env.step(policy.act(obs, env.unwrapped))`` until the episode ends); what a caller keeps
  of each step it collects with ``on_step``. `evaluate.py` (`baselines.eval_runner`), the training callbacks
  (`agents.callbacks`), imitation (`agents.imitation`) and the benchmarks play their episodes with it.
- `oracle_gap`: ``(score - oracle) / oracle * 100``, the gap in % of an episode's weighted cost plus penalty
  over the oracle objective.
- `oracle_result`: `baselines.solve` remembered for the last few (scenario, weights, water price), so that the
  gap and the oracle policy (`baselines.oracle_policy.OraclePolicy`) of one evaluated scenario share one solve.
"""

from __future__ import annotations

from collections import OrderedDict
from typing import Any, Callable

import numpy as np

__all__ = ["env_water_price", "oracle_gap", "oracle_result", "play_episode"]


def play_episode(env: Any, policy: Any, seed: int | None = None, options: dict[str, Any] | None = None,
                 on_step: Callable[[int, Any, dict[str, Any]], None] | None = None, obs: Any = None) -> int:
    """Play one episode of ``policy`` on ``env``; returns the number of steps.

    ``env.reset(seed=seed, options=options)`` first, unless ``obs`` is given (``env`` was just reset and that is
    its observation); then ``policy.reset(env.unwrapped)`` and ``env.step(policy.act(obs, env.unwrapped))``
    until ``terminated or truncated``. ``on_step(hour, reward, info)`` after every step, ``hour`` being the slot
    just played (``env.unwrapped.t`` before the step)."""
    base = env.unwrapped
    if obs is None:
        obs, _ = env.reset(seed=seed, options=options)
    policy.reset(base)
    steps = 0
    while True:
        hour = int(base.t) if on_step is not None else steps
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, base))
        steps += 1
        if on_step is not None:
            on_step(hour, reward, info)
        if terminated or truncated:
            return steps


def env_water_price(base: Any) -> float | None:
    """GreenLLM-v2's $/L beyond the water budget of the episode (``base.water_price``; the hybrid-v2 env forwards
    it), None on v0/v1 (a hard budget)."""
    price = getattr(base, "water_price", None)
    return None if price is None else float(price)


def oracle_gap(score: float, oracle: float) -> float:
    """The oracle gap in %: ``(score - oracle) / oracle * 100`` (``score``: an episode's Σ cost_weighted +
    penalty; ``oracle``: the oracle objective of its scenario and weights)."""
    return (score - oracle) / oracle * 100.0


_RESULTS: OrderedDict[tuple, tuple[Any, Any]] = OrderedDict()
_KEEP = 8
"""Most (scenario, weights, water price) results `oracle_result` remembers (the scenarios in flight)."""


def oracle_result(scenario: Any, weights: Any, water_price: float | None = None, tie_break: float = 1e-6) -> Any:
    """``baselines.solve(scenario, weights, tie_break=tie_break, water_price=water_price)``, solved once for the
    last `_KEEP` distinct arguments (the same scenario object, equal weights, price and tie break); scenarios are
    not changed in place once built, so a remembered result stays theirs."""
    from .oracle import solve

    key = (id(scenario), tuple(float(w) for w in np.asarray(weights, np.float64).reshape(-1)),
           None if water_price is None else float(water_price), float(tie_break))
    hit = _RESULTS.get(key)
    if hit is not None and hit[0] is scenario:
        _RESULTS.move_to_end(key)
        return hit[1]
    result = solve(scenario, weights, tie_break=tie_break, water_price=water_price)
    _RESULTS[key] = (scenario, result)
    while len(_RESULTS) > _KEEP:
        _RESULTS.popitem(last=False)
    return result
