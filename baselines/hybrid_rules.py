"""Rules for ``GreenLLM-hybrid-v2`` (the hour's water price as the action): play where the day's forecast crosses
the water left, plus a margin (`DayPricePolicy`), the mean of that crossing over days sampled around the
forecast, plus a margin (`SampledPricePolicy`), the water dual of the LP of the hours left on the same forecast
(`ForecastLPPolicy`), or one price all day (`ConstantPricePolicy`).

`green_llm_env.hybrid_v2` shows each hour the action ``day_action`` at which the water of this hour plus the
later hours (those from the LPs of the day's forecast made at reset, σ = 0.1 noise) equals the water left. Played
as it is, it spends the budget exactly if the forecast is right; a margin (an action offset, in the action's
units: +0.1 is a price 1.58x higher at the default range 1e-4-1 $/L) keeps water back for forecast error, which
costs μ_w per litre beyond the budget. Measured with evaluate.py on validation seeds 900-949 (mean oracle gap):
margin 0 1.167%, 0.05 0.833%, 0.1 0.574%, 0.15 0.538%; with the exact day (``forecast_noise:0.0``) margin 0
scores 0.138%. It is the base that the residual hybrid agent corrects (``ResidualAction`` on
``day_price:margin=0.1`` in hyperparams/ppo.yml).

``day_price:cap=true`` and ``forecast_lp`` never price water above μ_w: v2 charges μ_w for a litre beyond the
budget, so a dearer hour is never worth it (an hour whose water still runs over is priced exactly by the env).
On validation seeds 900-999 the cap lowers ``day_price:margin=0.1`` from 0.588% to 0.566% (better on 8 seeds,
worse on none; held-out 1000-1099: 0.570% -> 0.557%). It is off by default, so that ``day_price:margin=0.1``,
the published rule and the shipped residual agent's base, keeps its numbers.

``forecast_lp`` (`ForecastLPPolicy`) is the planner with the same information: each hour, the water dual of the
LP over the hours left (this hour exact, later hours the env's ``forecast_scenario``, the budget the water
left, litres beyond it at μ_w), plus a margin. It is the certainty-equivalent reference of the rules above, and
the fair floor of what this forecast allows without hedging: on held-out seeds 1000-1099 it scores 1.019%
(margin 0) and 0.607% (margin 0.1), the ``day_price`` rule with its margin 0.570%.

``sampled_price`` (`SampledPricePolicy`) hedges the same forecast by sampling what it may have got wrong: at
reset it draws 16 days around the forecast (each later value divided by a fresh mean-one lognormal factor of the
forecast's σ) and solves their later hours' water at 13 prices from the range's low end to μ_w; each hour it
takes, for every sample, the price where this hour's exact water plus that sample's later hours equals the water
left (μ_w if none does), and plays the mean of those prices in $/L plus a margin of 0.05 in action units, capped
at μ_w. The mean of the sampled prices is the expected value of the water left when the later hours could adapt
to the day they turn out to be; the margin pays for the hours that cannot (the evening of a day short of
water). Validation seeds 900-999: 0.439% [0.324, 0.579] against 0.566% for ``day_price:margin=0.1:cap=true``
(paired -0.127 pp [-0.238, -0.008]); margin 0: 0.675% (median 0.196%, a few days overrun). Chosen on a
prototype with other draws (900-949 / 950-999): margins 0, 0.03, 0.05, 0.08, 0.1, 0.15 scored 0.698, 0.512,
0.428, 0.513, 0.530, 0.660% / -, -, 0.388, 0.434, -, -%; the median of the prices instead of the mean
0.526% (margin 0.05); the newsvendor price ``μ_w·P(sampled price > p)`` 0.708%; scaling each sample's water by
its measured bias against the true day (+2% at the lowest price, -3% at μ_w, fitted on training seeds
10000-10039) 0.466% (margin 0.05). It costs about 5 s of LPs per reset (16 x 23 x 13) and 13 LPs per hour.

``constant_price`` (action 0 by default: 0.01 $/L, the middle of the range on its log scale) is what an
untrained policy of the from-scratch track plays (its mean action is about 0): the reference its learning
curves start from.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["ConstantPricePolicy", "DayPricePolicy", "ForecastLPPolicy", "SampledPricePolicy"]


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


def _capped(action: float, env: Any) -> np.ndarray:
    """``[min(action, the action of μ_w)]`` (float32, shape (1,)) in a GreenLLM-hybrid-v2 env (its
    ``water_price`` and ``action_of``)."""
    return np.array([min(action, float(env.action_of(float(env.water_price))))], np.float32)


class DayPricePolicy(_HybridRule):
    """``day_action + margin`` every hour (see the module docstring); with ``cap``, at most μ_w's action (read
    from the env that evaluate.py and ``ResidualAction`` pass). The env clips the action to [-1, 1].

    Args:
        name: label in results.
        margin: offset added to the crossing action (a finite number; > 0 keeps water back).
        cap: never play a price above μ_w, v2's price of a litre beyond the budget (off by default: the
            published rule).
    """

    def __init__(self, name: str = "day_price", margin: float = 0.0, cap: bool = False) -> None:
        from green_llm_env.hybrid_v2 import HYBRID_V2_FEATURES

        self.name = name
        self.margin = _finite("DayPricePolicy", "margin", margin)
        if not isinstance(cap, (bool, np.bool_)):
            raise ValueError(f"DayPricePolicy cap must be true or false; got {cap!r}")
        self.cap = bool(cap)
        self._at = HYBRID_V2_FEATURES.index("day_action")

    def act(self, obs: Any, env: Any = None) -> np.ndarray:
        """``[day_action + margin]`` (float32, shape (1,)) of a GreenLLM-hybrid-v2 observation."""
        obs = np.asarray(obs, np.float64).reshape(-1)
        if obs.shape[0] <= self._at:
            raise ValueError(f"DayPricePolicy reads GreenLLM-hybrid-v2's observation (feature 'day_action' at "
                             f"{self._at}); got an observation of length {obs.shape[0]}")
        action = float(obs[self._at]) + self.margin
        if not self.cap:
            return np.array([action], np.float32)
        if env is None:
            raise ValueError("day_price:cap=true reads μ_w from the env: pass the GreenLLM-hybrid-v2 env as "
                             "act(obs, env)")
        return _capped(action, env)


class ForecastLPPolicy(_HybridRule):
    """Each hour the water dual of the LP over the hours left on the env's forecast, plus ``margin``, at most
    μ_w's action (see the module docstring). One LP of the hours left per hour (about 40 ms at 9 x 9 x 24).

    Args:
        name: label in results.
        margin: offset added to the dual's action (a finite number; > 0 keeps water back).
    """

    kind = "mpc_noisy"

    def __init__(self, name: str = "forecast_lp", margin: float = 0.0) -> None:
        self.name = name
        self.margin = _finite("ForecastLPPolicy", "margin", margin)

    def act(self, obs: Any, env: Any = None) -> np.ndarray:
        """``[action of the dual + margin]`` (float32, shape (1,)); ``env`` is the GreenLLM-hybrid-v2 env."""
        from baselines.mpc import hours_left_dual

        seen = getattr(env, "forecast_scenario", None)
        if seen is None:
            raise ValueError("ForecastLPPolicy plans on GreenLLM-hybrid-v2's forecast_scenario: pass the env "
                             "(after reset) as act(obs, env)")
        dual = hours_left_dual(env.base, seen)
        if dual is None:  # a forecast the hours left cannot host: price at μ_w
            dual = float(env.water_price)
        return _capped(env.action_of(max(dual, 1e-300)) + self.margin, env)


class SampledPricePolicy(_HybridRule):
    """The mean, over samples of what the forecast may have got wrong, of the price at which the day spends the
    water left, plus ``margin``, at most μ_w's action (see the module docstring).

    At reset: ``samples`` days drawn around the env's ``forecast_scenario`` (each later hour's demand, price,
    carbon, renewable power and water per kWh divided by a fresh mean-one lognormal factor of the env's
    ``forecast_noise``, as `green_llm_env.hybrid_v2.scaled_scenario` makes the forecast) and each later hour's
    LP water at ``points`` prices log-spaced from the low end of the price range to μ_w (samples x (T - 1) x
    points LPs, about 5 s at the defaults on 9 x 9 x 24). Each hour: this hour's exact water curve plus each
    sample's later hours, the price where each crosses the water left (μ_w if above), their mean in $/L.
    The draws are seeded by ``seed`` and the forecast itself, so an episode replays exactly.

    Args:
        name: label in results.
        samples: days drawn (>= 1).
        points: prices per curve (>= 2).
        margin: offset added to the mean price's action (a finite number; > 0 keeps water back).
        seed: seed of the draws (with the forecast's bytes).
    """

    def __init__(self, name: str = "sampled_price", samples: int = 16, points: int = 13, margin: float = 0.05,
                 seed: int = 0) -> None:
        from green_llm_env.env import _check_int  # the envs' integer check: "<name> must be an integer >= k"

        self.name = name
        self.samples = _check_int("SampledPricePolicy samples", samples, 1)
        self.points = _check_int("SampledPricePolicy points", points, 2)
        self.margin = _finite("SampledPricePolicy", "margin", margin)
        self.seed = _check_int("SampledPricePolicy seed", seed, 0)
        self._later: np.ndarray | None = None  # (samples, T, points) L
        self._hour_lp: Any = None

    def reset(self, env: Any) -> None:
        """Draw the samples and solve their later hours' water curves (``env``: the GreenLLM-hybrid-v2 env, reset)."""
        import zlib

        from green_llm_env import cost
        from green_llm_env.hourly import HourlyLP
        from green_llm_env.hybrid_v2 import scaled_scenario, water_curves
        from green_llm_env.observation import lognormal_factors

        seen = getattr(env, "forecast_scenario", None)
        if seen is None:
            raise ValueError("SampledPricePolicy draws around GreenLLM-hybrid-v2's forecast_scenario: pass the env "
                             "(after reset) to reset(env)")
        base = env.base
        self._prices = np.geomspace(env.price_range[0], float(base.water_price), self.points)
        self._actions = np.array([env.action_of(p) for p in self._prices])
        sig = float(env.forecast_noise)
        digest = zlib.crc32(b"".join(np.ascontiguousarray(np.asarray(a, np.float64)).tobytes()
                                     for a in (seen.lam, seen.c, seen.theta, seen.P_w, seen.WUE)))
        rng = np.random.default_rng([self.seed, digest])

        def factors(shape: tuple[int, ...]) -> np.ndarray:
            return 1.0 / lognormal_factors(rng, shape, sig) if sig > 0 else np.ones(shape)

        self._later = np.stack([
            water_curves(HourlyLP(cost.coefficients(scaled_scenario(seen, factors)), base.weights), self._prices,
                         start=1)[0]
            for _ in range(self.samples)])
        self._hour_lp = HourlyLP(base.coef, base.weights)  # not the env's solver: its warm starts stay the env's

    def act(self, obs: Any, env: Any = None) -> np.ndarray:
        """``[action of the mean crossing price + margin]`` (float32, shape (1,)), at most μ_w's action."""
        from green_llm_env.hourly import even_action

        if self._later is None or env is None:
            raise ValueError("SampledPricePolicy plays GreenLLM-hybrid-v2: call reset(env) after the env's reset, "
                             "then act(obs, env)")
        base = env.base
        t = int(base.t)
        left = max(float(base.water_left_l), 1e-9)
        hour = np.array([self._hour_lp.solve(t, water_price=p).water_l for p in self._prices])
        day = hour + self._later[:, t + 1:].sum(axis=1)  # (samples, points)
        mu_w = float(base.water_price)
        crossings = [even_action(np.log(np.maximum(d / left, 1e-12)), self._actions) for d in day]
        prices = [mu_w if a > 1.0 else env.price(a) for a in crossings]  # ±1.5: beyond the grid's ends
        return _capped(env.action_of(float(np.mean(prices))) + self.margin, env)
