"""How close the price action (``GreenLLM-price-v2``) can get to the oracle: the best-achievable gap, measured.

    python benchmarks/price_reach.py [--seeds 900-909] [--temperatures 0.02 0.05 0.1] [--pop 128] [--iters 40]

For each scenario seed and temperature, a cross-entropy search over the whole day's open-loop price sequence
(T x (J+1) numbers, the actions of the price mode) with every candidate played in one batched env (``pop``
sub-envs on the same scenario), started from prices 0 and the middle water price. The best sequence found is an
upper bound on the price mode's best-achievable gap (a policy sees only what the observation shows, so it
reaches at most this; the search knows the scenario). Prints one row per (temperature, seed) and a summary,
then one JSON object. Seeds 900-999 are validation seeds (never the held-out 1000-1099).
"""

from __future__ import annotations

import argparse
import json
import time
from typing import Any

import numpy as np


def seed_range(text: str) -> list[int]:
    """``"900-909"`` or ``"900,905"`` -> seeds."""
    out: list[int] = []
    for part in text.split(","):
        lo, _, hi = part.partition("-")
        out.extend(range(int(lo), int(hi or lo) + 1))
    return out


def cem_update(a: np.ndarray, score: np.ndarray, mean: np.ndarray, std: np.ndarray, n_elite: int, best: float,
               best_a: np.ndarray) -> tuple[np.ndarray, np.ndarray, float, np.ndarray]:
    """One cross-entropy step: the candidates ``a`` (pop, ...) scored ``score`` (pop,) (lower is better) move the
    sampling mean and std toward the elite (smoothed 0.7/0.3, std at least 0.02); the best so far is kept."""
    order = np.argsort(score)
    if score[order[0]] < best:
        best, best_a = float(score[order[0]]), a[order[0]].copy()
    top = a[order[:n_elite]]
    return (0.7 * top.mean(axis=0) + 0.3 * mean, np.maximum(0.7 * top.std(axis=0) + 0.3 * std, 0.02), best,
            best_a)


def oracle_objective(seed: int, temperature: float) -> float:
    """v2's oracle objective ($) of scenario ``seed`` (water beyond the budget at its μ_w)."""
    from baselines import solve
    from green_llm_env.env_v2 import GreenLLMEnvV2

    one = GreenLLMEnvV2(action_mode="price", temperature=temperature)
    one.reset(options={"scenario_seed": seed})
    return solve(one.scenario, one.weights, water_price=one.water_price).objective


def search(seed: int, temperature: float, pop: int = 128, iters: int = 40, elite: float = 0.1,
           rng_seed: int = 0) -> dict[str, Any]:
    """Cross-entropy search of one scenario's price sequence: {"gap", "oracle", "best", "first"} ($, %)."""
    from baselines.rollout import oracle_gap
    from green_llm_env.vector_v2 import GreenLLMVectorEnvV2

    oracle = oracle_objective(seed, temperature)
    env = GreenLLMVectorEnvV2(num_envs=pop, action_mode="price", temperature=temperature)
    T, D = env.core.T, env.core.action_dim
    rng = np.random.default_rng(rng_seed)
    mean, std = np.zeros((T, D)), np.full((T, D), 0.5)
    n_elite = max(2, int(elite * pop))
    best, best_a, first = np.inf, mean, np.nan
    for it in range(iters):
        a = np.clip(mean + std * rng.standard_normal((pop, T, D)), -1.0, 1.0)
        a[0] = mean
        env.reset(options={"scenario_seed": seed})
        for t in range(T):
            env.step(a[:, t].astype(np.float32))
        score = env.core.ep.sum(axis=1)
        if it == 0:
            first = float(score[0])
        mean, std, best, best_a = cem_update(a, score, mean, std, n_elite, best, best_a)
    return {"seed": seed, "temperature": temperature, "oracle": oracle, "best": best, "gap": oracle_gap(best, oracle),
            "start_gap": oracle_gap(first, oracle), "actions": best_a}


def search_constant(seeds: list[int], temperature: float, pop: int = 64, iters: int = 30, elite: float = 0.1,
                    rng_seed: int = 0) -> dict[str, Any]:
    """Cross-entropy search of one constant action (the same prices every hour of every scenario): its mean gap
    over ``seeds`` (what a policy that ignores its observation reaches)."""
    from baselines.rollout import oracle_gap
    from green_llm_env.vector_v2 import GreenLLMVectorEnvV2

    oracle = [oracle_objective(seed, temperature) for seed in seeds]
    S = len(seeds)
    env = GreenLLMVectorEnvV2(num_envs=pop * S, action_mode="price", temperature=temperature)
    T, D = env.core.T, env.core.action_dim
    rng = np.random.default_rng(rng_seed)
    mean, std = np.zeros(D), np.full(D, 0.5)
    n_elite = max(2, int(elite * pop))
    best, best_a = np.inf, mean
    env.reset(seed=0)
    keys = [env.source.draw(None, {"scenario_seed": sd}) for sd in seeds] * pop
    tables, which = env.source.tables(keys)
    for _ in range(iters):
        a = np.clip(mean + std * rng.standard_normal((pop, D)), -1.0, 1.0)
        a[0] = mean
        env.core.load(np.arange(pop * S), tables, which, keys)  # env c * S + i: candidate c on seed i
        act = np.repeat(a, S, axis=0).astype(np.float32)
        for _t in range(T):
            env.step(act)
        gaps = np.array([oracle_gap(sc, oracle[k % S]) for k, sc in enumerate(env.core.ep.sum(axis=1))])
        score = gaps.reshape(pop, S).mean(axis=1)
        mean, std, best, best_a = cem_update(a, score, mean, std, n_elite, best, best_a)
    return {"seeds": seeds, "temperature": temperature, "gap": best, "action": best_a.tolist()}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--seeds", type=seed_range, default=seed_range("900-909"))
    p.add_argument("--temperatures", type=float, nargs="+", default=[0.02, 0.05, 0.1])
    p.add_argument("--pop", type=int, default=128)
    p.add_argument("--iters", type=int, default=40)
    p.add_argument("--constant", action="store_true",
                   help="search one constant action for all hours and seeds instead (a policy blind to its state)")
    args = p.parse_args(argv)
    if args.constant:
        for tau in args.temperatures:
            r = search_constant(args.seeds, tau, min(args.pop, 64), args.iters)
            print(f"constant action, temperature {tau:g}: mean gap {r['gap']:.2f}% on seeds {args.seeds}; "
                  f"action {np.round(r['action'], 3).tolist()}", flush=True)
        return {}
    out: dict[str, Any] = {"seeds": args.seeds, "pop": args.pop, "iters": args.iters, "rows": []}
    t0 = time.perf_counter()
    print(f"{'temperature':>11} {'seed':>5} {'oracle $':>9} {'start gap %':>11} {'best gap %':>10}")
    for tau in args.temperatures:
        gaps = []
        for seed in args.seeds:
            r = search(seed, tau, args.pop, args.iters)
            gaps.append(r["gap"])
            out["rows"].append({k: v for k, v in r.items() if k != "actions"})
            print(f"{tau:11.3f} {seed:5d} {r['oracle']:9.2f} {r['start_gap']:11.2f} {r['gap']:10.2f}", flush=True)
        print(f"{tau:11.3f}  mean best gap {np.mean(gaps):.2f}% (min {np.min(gaps):.2f}, max {np.max(gaps):.2f})")
    out["seconds"] = time.perf_counter() - t0
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
