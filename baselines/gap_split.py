"""Where a GreenLLM-v2 policy's oracle gap comes from: within the hours, or across them.

``python -m baselines.gap_split OUT`` reads an `evaluate.py` output folder (``config.json``, ``results.csv`` and the
hourly rows ``hourly/seed_<k>.csv``) and, for each (policy, seed), solves every hour's LP
(`green_llm_env.hourly.HourlyLP`, HiGHS) with the hour's water capped at what the policy used in that hour: the
least weighted cost ($) of the hour's demand at that water. The gap (% of the oracle objective) then splits into

- **within the hours** = Σ_t (the policy's weighted cost_t - the LP's cost_t) / oracle × 100: what the allocation
  loses inside each hour, given its own water in that hour (0 for a policy whose hours are LP optima: the oracle,
  ``myopic``, the hybrid agents);
- **across the hours** = gap - within: spreading the water over the day differently from the oracle, the litres
  beyond the budget (v2's water price, the ``penalty`` column, also shown on its own) included.

Only GreenLLM-v2 runs (the scenario of a seed is rebuilt from ``config.json``). Writes ``gap_split.csv`` (one row
per policy and seed) into ``OUT`` and prints a Markdown table of the means with their 95% bootstrap CIs.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["SPLIT_COLUMNS", "split_episode", "split_folder", "main"]

SPLIT_COLUMNS = ("policy", "seed", "gap_pct", "within_pct", "across_pct", "penalty_pct")
"""Columns of ``gap_split.csv`` (% of the seed's oracle objective)."""


def split_episode(lp: Any, hours: Sequence[dict[str, Any]], oracle: float) -> float:
    """The within-hours loss (% of ``oracle``) of one episode: ``hours`` are its hourly rows (``hour``,
    ``cost_weighted`` $, ``water_l`` L), ``lp`` the scenario's `HourlyLP`."""
    loss = 0.0
    for h in hours:
        water = float(h["water_l"])
        best = lp.solve(int(h["hour"]), water_price=0.0, water_cap_l=water * (1 + 1e-9) + 1e-9)
        loss += float(h["cost_weighted"]) - best.cost_weighted
    return loss / oracle * 100.0


def split_folder(out: str | Path, policies: Sequence[str] | None = None) -> list[dict[str, Any]]:
    """The rows of ``gap_split.csv`` for an evaluate.py folder ``out`` (``policies``: labels to keep; None: all
    but the oracle), in the order of ``results.csv``."""
    from green_llm_env import cost
    from green_llm_env.hourly import HourlyLP

    from .eval_config import Config
    from .eval_runner import is_v2, make_scenario_for
    from .eval_store import COLUMNS, HOURLY_COLUMNS, read_csv

    out = Path(out)
    if not (out / "config.json").exists() or not (out / "results.csv").exists():
        raise FileNotFoundError(f"{out}: not an evaluate.py output folder (config.json and results.csv expected)")
    ident = json.loads((out / "config.json").read_text())
    if not is_v2(ident["env"]):
        raise ValueError(f"{out}: env {ident['env']!r}; the split reads GreenLLM-v2 runs only")
    cfg = Config(policies=[], seeds=[], out=str(out), weights=tuple(ident["weights"]), env=ident["env"],
                 env_kwargs=ident.get("env_kwargs") or {}, gen_kwargs=ident.get("gen_kwargs") or {},
                 traces=ident.get("traces"), start=ident.get("start"))
    results = [r for r in read_csv(out / "results.csv", COLUMNS)
               if (r["policy"] in policies if policies else r["policy"] != "oracle")]
    if policies:
        missing = sorted(set(policies) - {r["policy"] for r in results})
        if missing:
            raise ValueError(f"policies {missing} are not in {out / 'results.csv'}")
    split: list[dict[str, Any]] = []
    by_seed: dict[int, list[dict[str, str]]] = {}
    for r in results:
        by_seed.setdefault(int(r["seed"]), []).append(r)
    for seed, rows in by_seed.items():
        scenario = make_scenario_for(cfg, seed)
        lp = HourlyLP(cost.coefficients(scenario), cfg.weights)
        hourly = read_csv(out / "hourly" / f"seed_{seed}.csv", HOURLY_COLUMNS)
        for r in rows:
            oracle = float(r["oracle_cost_weighted"])
            hours = [h for h in hourly if h["policy"] == r["policy"]]
            within = split_episode(lp, hours, oracle)
            gap = float(r["gap_pct"])
            split.append({"policy": r["policy"], "seed": seed, "gap_pct": gap, "within_pct": within,
                          "across_pct": gap - within, "penalty_pct": float(r["penalty"]) / oracle * 100.0})
    order = {p: i for i, p in enumerate(dict.fromkeys(r["policy"] for r in results))}
    split.sort(key=lambda row: (order[row["policy"]], row["seed"]))
    return split


def table(split: list[dict[str, Any]]) -> str:
    """The means per policy (with 95% percentile-bootstrap CIs, 4000 resamples, seed 0) as Markdown."""
    from .eval_report import bootstrap_ci

    lines = ["| policy | seeds | gap % | within the hours % [95% CI] | across the hours % [95% CI] "
             "| of which penalty % |", "|---|---:|---:|---|---|---:|"]
    for policy in dict.fromkeys(r["policy"] for r in split):
        rows = [r for r in split if r["policy"] == policy]
        col = {k: np.array([r[k] for r in rows]) for k in SPLIT_COLUMNS[2:]}
        (wl, wh), (al, ah) = bootstrap_ci(col["within_pct"]), bootstrap_ci(col["across_pct"])
        lines.append(f"| {policy} | {len(rows)} | {col['gap_pct'].mean():.3f} | {col['within_pct'].mean():.3f} "
                     f"[{wl:.3f}, {wh:.3f}] | {col['across_pct'].mean():.3f} [{al:.3f}, {ah:.3f}] | "
                     f"{col['penalty_pct'].mean():.3f} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m baselines.gap_split", description=__doc__.split("\n\n")[0])
    p.add_argument("out", help="an evaluate.py output folder of a GreenLLM-v2 run")
    p.add_argument("--policies", help="comma-separated policy labels (default: all but the oracle)")
    a = p.parse_args(argv)
    try:
        split = split_folder(a.out, a.policies.split(",") if a.policies else None)
    except (FileNotFoundError, ValueError) as exc:
        print(f"gap_split: {exc}", file=sys.stderr)
        return 2
    from .eval_store import write_csv_atomic

    path = Path(a.out) / "gap_split.csv"
    write_csv_atomic(path, SPLIT_COLUMNS, split, fsync=False)
    print(table(split))
    print(f"\n{len(split)} rows in {path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
