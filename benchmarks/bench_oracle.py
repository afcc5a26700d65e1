"""Oracle LP size and speed: the monolithic LP beside the decomposed oracle, in the same run.

    python benchmarks/bench_oracle.py [--skip-week] [--repeat 5] [--hours 24,48,96,168] [--workers N]

Sizes: the letter's default (9 areas x 9 DCs x 5 types x 24 h, R = 3), then 30 x 30 x 5 for each T in
``--hours`` (a week at T = 168: 761k columns). For the monolithic LP, "build" is the numpy work
(coefficients, sparse arrays, objective vectors), "pass" HiGHS taking them, "solve" HiGHS's run (dual simplex).
The decomposed oracle (`baselines.decomposed`: T hourly LPs and a search on the water price, hours on
``--workers`` threads) is timed whole (seconds from the coefficients to the result); ``ratio`` is the
monolithic total over the decomposed total, ``rel_diff`` the objectives' relative difference. The last
line printed is one JSON object with the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import time

import numpy as np

from baselines.decomposed import default_workers
from baselines.lp import build_lp
from baselines.oracle import solve
from green_llm_env import cost, make_scenario


def measure(name: str, sizes: dict, repeat: int, workers: int, seed: int = 0) -> dict:
    coef = cost.coefficients(make_scenario(seed, **sizes))
    mono, dec = [], []
    res = dres = None
    for _ in range(repeat):
        t0 = time.perf_counter()
        res = solve(coef)
        mono.append((res.build_s, res.pass_s, res.solve_s, time.perf_counter() - t0))
        t0 = time.perf_counter()
        dres = solve(coef, method="decomposed", workers=workers)
        dec.append(time.perf_counter() - t0)
    build, pass_, solve_s, mono_s = (float(np.median(col)) for col in zip(*mono))
    dec_s = float(np.median(dec))
    lp = build_lp(coef)
    rel = abs(dres.objective - res.objective) / abs(res.objective)
    row = {"size": name, **sizes, "columns": lp.num_col, "rows": lp.num_row, "nonzeros": lp.nnz,
           "build_s": build, "pass_s": pass_, "solve_s": solve_s, "build_over_solve": build / solve_s,
           "monolithic_s": mono_s, "decomposed_s": dec_s, "ratio": mono_s / dec_s, "rel_diff": rel,
           "decomposed_passes": len(dres.phases), "objective": res.objective, "water_dual": res.water_dual,
           "decomposed_water_dual": dres.water_dual, "repeat": repeat}
    print(f"{name:>10}: {lp.num_col:>8} cols {lp.num_row:>7} rows {lp.nnz:>9} nnz | monolithic {mono_s:7.3f} s "
          f"(build {build:.3f}, pass {pass_:.3f}, solve {solve_s:.3f}) | decomposed {dec_s:7.3f} s "
          f"({len(dres.phases)} passes) | ratio {mono_s / dec_s:5.2f} | rel diff {rel:.1e}", flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="repeats of the default size (median reported)")
    parser.add_argument("--skip-week", action="store_true", help="only the default size")
    parser.add_argument("--hours", default="24,48,96,168", help="horizons T of the 30x30x5 sizes")
    parser.add_argument("--workers", type=int, default=None, help="threads of the decomposed oracle (default: "
                                                                  "the usable cores)")
    args = parser.parse_args()
    workers = args.workers or default_workers()
    rows = [measure("default", dict(I=9, J=9, K=5, T=24, R=3), args.repeat, workers)]
    if not args.skip_week:
        for T in (int(x) for x in args.hours.split(",")):
            rows.append(measure(f"30x30x5x{T}", dict(I=30, J=30, K=5, T=T, R=3), 1, workers))
    print(json.dumps({"benchmark": "oracle", "machine": platform.machine(), "python": platform.python_version(),
                      "cores": os.cpu_count(), "workers": workers, "results": rows}))


if __name__ == "__main__":
    main()
