"""Oracle LP size and speed: columns, rows, nonzeros, build s, solve s and build/solve.

    python benchmarks/bench_oracle.py [--skip-week] [--repeat 5]

Sizes: the letter's default (9 areas x 9 DCs x 5 types x 24 h, R = 3) and a week at 30 x 30 x 5 x 168.
"Build" is the numpy work: cost coefficients, the sparse LP arrays and the objective vectors; "pass" is
HiGHS taking them (instance + passModel); "solve" is HiGHS's run (dual simplex). The last line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import platform

import numpy as np

from baselines.lp import build_lp
from baselines.oracle import solve
from green_llm_env import cost, make_scenario


def measure(name: str, sizes: dict, repeat: int, seed: int = 0) -> dict:
    scenario = make_scenario(seed, **sizes)
    runs = []
    res = None
    for _ in range(repeat):
        res = solve(scenario)
        runs.append((res.build_s, res.pass_s, res.solve_s))
    build, pass_, solve_s = (float(np.median(col)) for col in zip(*runs))
    lp = build_lp(cost.coefficients(scenario))
    row = {"size": name, **sizes, "columns": lp.num_col, "rows": lp.num_row, "nonzeros": lp.nnz,
           "build_s": build, "pass_s": pass_, "solve_s": solve_s, "build_over_solve": build / solve_s,
           "objective": res.objective, "water_dual": res.water_dual, "repeat": repeat}
    print(f"{name:>8}: {lp.num_col:>8} cols {lp.num_row:>7} rows {lp.nnz:>9} nnz | build {build:.4f} s  "
          f"pass {pass_:.4f} s  solve {solve_s:.3f} s  build/solve {100 * build / solve_s:.2f}%", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the default size (median reported)")
    parser.add_argument("--skip-week", action="store_true", help="only the default size")
    args = parser.parse_args()
    rows = [measure("default", dict(I=9, J=9, K=5, T=24, R=3), args.repeat)]
    if not args.skip_week:
        rows.append(measure("week", dict(I=30, J=30, K=5, T=168, R=3), 1))
    print(json.dumps({"benchmark": "oracle", "machine": platform.machine(), "python": platform.python_version(),
                      "results": rows}))


if __name__ == "__main__":
    main()
