"""Learning curves across training seeds: the oracle gap on the validation seeds against env steps.

    python -m agents.curves RUN_DIR [RUN_DIR ...] [--out DIR] [--points 12] [--reference NAME=GAP ...]

Each RUN_DIR is a train.py run folder (its ``evaluations.npz``: the validation gaps of every evaluation); runs
are grouped by algorithm (the folder above the run, RL Zoo's layout). For each algorithm, on a common grid of
env steps (up to the shortest run's last evaluation; a run's gaps between two evaluations are interpolated
linearly), the curve is the IQM over (training seed, validation scenario) of the gap with a 95% stratified
bootstrap CI (the training runs resampled within each scenario, as rliable does), and the mean across seeds.
Writes ``curves.md`` (a table per algorithm and the final row of each), ``curves.png`` and ``curves.json``.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from baselines.eval_report import iqm

__all__ = ["algorithm_curve", "load_run", "main"]


def load_run(run_dir: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """(env steps (E,), gaps (E, S) %) of a run's evaluations (``evaluations.npz``)."""
    path = Path(run_dir) / "evaluations.npz"
    if not path.is_file():
        raise SystemExit(f"{run_dir}: no evaluations.npz (train with --eval-freq > 0)")
    with np.load(path) as d:
        return np.asarray(d["timesteps"], np.float64), np.asarray(d["gap_pct"], np.float64)


def algorithm_curve(runs: Sequence[tuple[np.ndarray, np.ndarray]], points: int = 12, n_boot: int = 2000,
                    seed: int = 0) -> dict[str, Any]:
    """The curve of one algorithm's runs (see the module docstring): steps, iqm, ci_lo, ci_hi, mean (per grid
    point), the number of runs, and each run's final mean gap."""
    last = min(float(steps[-1]) for steps, _ in runs)
    first = max(float(steps[0]) for steps, _ in runs)
    grid = np.linspace(first, last, points) if last > first else np.array([last])
    S = runs[0][1].shape[1]
    # gaps[g, r, s]: run r's gap on validation scenario s at grid step g
    gaps = np.stack([np.stack([np.interp(grid, steps, g[:, s]) for s in range(S)], axis=1) for steps, g in runs],
                    axis=1)
    R = gaps.shape[1]
    rng = np.random.default_rng(seed)
    pick = rng.integers(0, R, (n_boot, R, S))  # runs resampled within each scenario
    scen = np.arange(S)
    point = iqm(gaps.reshape(len(grid), -1))
    boot = np.stack([iqm(gaps[g][pick, scen].reshape(n_boot, -1)) for g in range(len(grid))])
    lo, hi = np.quantile(boot, [0.025, 0.975], axis=1)
    return {"steps": grid.tolist(), "iqm": point.tolist(), "ci_lo": lo.tolist(), "ci_hi": hi.tolist(),
            "mean": gaps.mean(axis=(1, 2)).tolist(), "runs": R,
            "final_per_run": [float(g[-1].mean()) for _, g in runs],
            "last_steps_per_run": [float(steps[-1]) for steps, _ in runs]}


def _table(name: str, c: dict[str, Any]) -> list[str]:
    lines = [f"### {name} ({c['runs']} training seeds)", "", "| env steps | IQM gap % | 95% CI | mean gap % |",
             "|---:|---:|---|---:|"]
    for s, q, lo, hi, m in zip(c["steps"], c["iqm"], c["ci_lo"], c["ci_hi"], c["mean"]):
        lines.append(f"| {s:,.0f} | {q:.2f} | [{lo:.2f}, {hi:.2f}] | {m:.2f} |")
    return lines + [""]


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m agents.curves", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("runs", nargs="+", help="train.py run folders (<log folder>/<algo>/<env>_<n>)")
    p.add_argument("--out", default="curves", help="output folder (default curves)")
    p.add_argument("--points", type=int, default=12, help="grid points per curve (default 12)")
    p.add_argument("--reference", nargs="*", default=[], metavar="NAME=GAP",
                   help="horizontal lines, e.g. myopic=23.6 (the baselines' gap on the same validation seeds)")
    args = p.parse_args(argv)
    groups: dict[str, list[tuple[np.ndarray, np.ndarray]]] = {}
    for run in args.runs:
        groups.setdefault(Path(run).resolve().parent.name, []).append(load_run(run))
    curves = {algo: algorithm_curve(runs, args.points) for algo, runs in sorted(groups.items())}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    refs = {}
    for item in args.reference:
        name, _, value = item.partition("=")
        try:
            refs[name] = float(value)
        except ValueError:
            raise SystemExit(f"--reference {item!r}: expected NAME=GAP, e.g. myopic=23.6") from None
    lines = ["# Learning curves: oracle gap on the validation seeds", "",
             "IQM over (training seed, validation scenario), 95% stratified bootstrap CI; mean over both.", "",
             "| algorithm | seeds | env steps (last) | final IQM gap % | 95% CI | final mean gap % | per seed |",
             "|---|---:|---:|---:|---|---:|---|"]
    for algo, c in curves.items():
        lines.append(f"| {algo} | {c['runs']} | {c['steps'][-1]:,.0f} | {c['iqm'][-1]:.2f} | [{c['ci_lo'][-1]:.2f}, "
                     f"{c['ci_hi'][-1]:.2f}] | {c['mean'][-1]:.2f} | "
                     f"{', '.join(f'{g:.2f}' for g in c['final_per_run'])} |")
    lines.append("")
    for algo, c in curves.items():
        lines += _table(algo, c)
    (out / "curves.md").write_text("\n".join(lines))
    (out / "curves.json").write_text(json.dumps({"curves": curves, "references": refs}, indent=1))
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    for algo, c in curves.items():
        steps = np.asarray(c["steps"])
        ax.plot(steps, c["iqm"], label=f"{algo} ({c['runs']} seeds)")
        ax.fill_between(steps, c["ci_lo"], c["ci_hi"], alpha=0.25)
    for name, gap in refs.items():
        ax.axhline(gap, ls="--", lw=1, color="grey")
        ax.annotate(name, (ax.get_xlim()[0], gap), fontsize=8, va="bottom", color="grey")
    ax.set_xlabel("env steps")
    ax.set_ylabel("oracle gap % (IQM, validation seeds)")
    ax.legend()
    ax.grid(alpha=0.3)
    fig.tight_layout()
    fig.savefig(out / "curves.png", dpi=120)
    plt.close(fig)
    print("\n".join(lines[:6 + len(curves)]))
    print(f"wrote {out / 'curves.md'}, {out / 'curves.png'}, {out / 'curves.json'}")
    return curves


if __name__ == "__main__":
    main()
