#!/usr/bin/env python
"""Is the score continuous at the optimum? The oracle's plan replayed in float64, cast to float32 (the action dtype
of every policy) and perturbed by a relative ε, through GreenLLM-v2 and GreenLLM-v1 on the same seeds.

    python benchmarks/bench_continuity.py [--seeds 1000-1019] [--eps 1e-7,1e-5,1e-3]

Per env and setting: the oracle gap in % (mean and worst over the seeds; the v1 oracle is the hard-budget LP, the
v2 oracle the elastic one at v2's water price: on these seeds the same plan and objective). A perturbation moves
each share by a relative ``ε·u``, u uniform in [-1, 1], then renormalises each row. The last line is JSON.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import numpy as np  # noqa: E402


def _seeds(text: str) -> list[int]:
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out += list(range(int(lo), int(hi or lo) + 1))
    return out


class _Replay:
    """A plan (T, I, K, J) played hour by hour as a policy."""

    def __init__(self, plan: np.ndarray) -> None:
        self.plan = plan

    def reset(self, env) -> None:
        pass

    def act(self, obs, env) -> np.ndarray:
        return self.plan[int(env.t)].reshape(-1)


def main() -> None:
    from baselines import solve
    from baselines.rollout import oracle_gap, play_episode
    from green_llm_env import make_scenario
    from green_llm_env.batch_generator import draw_batch
    from green_llm_env.core.water import scenario_water_price
    from green_llm_env.env_v1 import GreenLLMEnvV1
    from green_llm_env.env_v2 import GreenLLMEnvV2

    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--seeds", default="1000-1019")
    p.add_argument("--eps", default="1e-7,1e-5,1e-3")
    args = p.parse_args()
    seeds = _seeds(args.seeds)
    eps = [float(e) for e in args.eps.split(",")]
    settings = ["float64", "float32"] + [f"eps={e:g}" for e in eps]
    gaps: dict[str, dict[str, list[float]]] = {"GreenLLM-v2": {k: [] for k in settings},
                                               "GreenLLM-v1": {k: [] for k in settings}}
    rng = np.random.default_rng(0)
    v2, v1 = GreenLLMEnvV2(), None
    batch = draw_batch(np.array(seeds, np.int64))
    for q, seed in enumerate(seeds):
        for name in gaps:
            if name == "GreenLLM-v2":
                scen, env = batch.scenario(q), v2
                res = solve(scen, env.weights, water_price=scenario_water_price(scen, env.weights))
            else:
                scen = make_scenario(seed)
                env = v1 = GreenLLMEnvV1(scenario=scen) if v1 is None or v1.scenario is not scen else v1
                res = solve(scen)
            plans = {"float64": res.plan, "float32": res.plan.astype(np.float32)}
            for e in eps:
                x = res.plan * (1.0 + e * rng.uniform(-1.0, 1.0, res.plan.shape))
                plans[f"eps={e:g}"] = x / x.sum(axis=-1, keepdims=True)
            for key, plan in plans.items():
                costs: list[float] = []
                play_episode(env, _Replay(plan), seed=0, options={"scenario": scen},
                             on_step=lambda hour, reward, info: costs.append(
                                 float(info["cost_weighted"] + info["penalty"])))
                gaps[name][key].append(oracle_gap(sum(costs, 0.0), res.objective))
    out: dict[str, dict[str, dict[str, float]]] = {}
    print(f"{'env':<13}{'setting':<12}{'mean gap %':>14}{'worst gap %':>14}")
    for name, per in gaps.items():
        out[name] = {}
        for key, vals in per.items():
            a = np.array(vals)
            out[name][key] = {"mean_pct": float(a.mean()), "worst_pct": float(a.max())}
            print(f"{name:<13}{key:<12}{a.mean():>14.3g}{a.max():>14.3g}")
    print(json.dumps({"seeds": f"{seeds[0]}-{seeds[-1]}", "gaps": out}))


if __name__ == "__main__":
    main()
