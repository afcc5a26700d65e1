"""Seconds per seed (one 24-hour episode through GreenLLM-v0, policy reset included) for each baseline.

    python benchmarks/bench_baselines.py [--seeds 5] [--repeats 3]

Goal (issue 4): an MPC episode of 24 hours with H = 24 (perfect forecasts) takes <= 0.3 s (judged on the
median over seeds; the max is reported too). Reports the median over seeds of the best of ``--repeats`` runs
per seed; the last line is one JSON object.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time

import gymnasium as gym

from baselines import make_policy, solve
from baselines.rollout import oracle_gap, play_episode
from green_llm_env import make_scenario

POLICIES = ("oracle", "mpc", "mpc:horizon=6", "mpc_noisy", "myopic", "uniform", "nearest", "cheapest", "greenest",
            "renewable_first")
GOAL_MPC_S = 0.3


def episode_seconds(spec: str, scenario, repeats: int) -> tuple[float, float]:
    """(best wall seconds of one episode incl. policy.reset, its weighted cost + penalty)."""
    policy = make_policy(spec)
    env = gym.make("green_llm_env:GreenLLM-v0", max_episode_steps=scenario.T,
                   **getattr(policy, "env_kwargs", {}))
    best, score = float("inf"), 0.0
    for _ in range(repeats):
        obs, _ = env.reset(seed=0, options={"scenario": scenario})
        t0 = time.perf_counter()
        costs: list[float] = []
        play_episode(env, policy, obs=obs,
                     on_step=lambda hour, reward, info: costs.append(info["cost_weighted"] + info["penalty"]))
        best = min(best, time.perf_counter() - t0)
        score = sum(costs, 0.0)
    return best, score


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--seeds", type=int, default=5, help="scenarios (seeds 1000..) (default 5)")
    p.add_argument("--repeats", type=int, default=3, help="runs per seed; the best counts (default 3)")
    a = p.parse_args(argv)
    if a.seeds < 1 or a.repeats < 1:
        print(f"error: --seeds and --repeats must be >= 1; got {a.seeds}, {a.repeats}", file=sys.stderr)
        return 2
    times: dict[str, list[float]] = {spec: [] for spec in POLICIES}
    gaps: dict[str, list[float]] = {spec: [] for spec in POLICIES}
    oracle_s = []
    for seed in range(1000, 1000 + a.seeds):
        s = make_scenario(seed)
        t0 = time.perf_counter()
        opt = solve(s).objective
        oracle_s.append(time.perf_counter() - t0)
        for spec in POLICIES:
            sec, score = episode_seconds(spec, s, a.repeats)
            times[spec].append(sec)
            gaps[spec].append(oracle_gap(score, opt))
    print(f"{'policy':<18}{'s/seed (median)':>16}{'max':>9}{'mean gap %':>12}")
    for spec in POLICIES:
        print(f"{spec:<18}{statistics.median(times[spec]):>16.4f}{max(times[spec]):>9.4f}"
              f"{statistics.mean(gaps[spec]):>12.4f}")
    print(f"{'oracle solve()':<18}{statistics.median(oracle_s):>16.4f}{max(oracle_s):>9.4f}")
    mpc = statistics.median(times["mpc"])
    print(f"MPC 24 h, H = 24: {mpc:.3f} s per episode (goal <= {GOAL_MPC_S} s): "
          f"{'met' if mpc <= GOAL_MPC_S else 'NOT met'} (median over seeds; max {max(times['mpc']):.3f} s)")
    print(json.dumps({
        "seeds": a.seeds, "repeats": a.repeats,
        "seconds_per_seed": {spec: round(statistics.median(v), 5) for spec, v in times.items()},
        "oracle_solve_s": round(statistics.median(oracle_s), 5),
        "mean_gap_pct": {spec: round(statistics.mean(v), 4) + 0.0 for spec, v in gaps.items()},
        "mpc_h24_episode_s": round(mpc, 5), "mpc_h24_episode_max_s": round(max(times["mpc"]), 5),
        "goal_mpc_h24_s": GOAL_MPC_S, "goal_met": mpc <= GOAL_MPC_S,
    }))
    return 0


if __name__ == "__main__":
    sys.exit(main())
