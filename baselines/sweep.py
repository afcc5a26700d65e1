"""The letter's sensitivity studies (Figs. 2-4): sweep Ψθ, ΨPw, Ψτ, Ψρ for M0, M1 and M2.

Each factor scales exactly the parameter it names (`green_llm_env.scale`); everything else, the water budget
included, stays as in the scenario. A factor at which the scenario becomes infeasible is recorded with
``status = "infeasible"`` and empty costs.

Command line::

    python -m baselines.sweep --scenario ../shared/data/paper_reference_scenario.json --out runs/sweep \
        [--backend ray [--address auto]]

writes ``sweep.csv`` (one row per parameter, Ψ and model), ``hourly.csv`` (hourly profiles at Ψθ = 1.2) and
``sweep_<parameter>.png`` / ``hourly_theta_1.2.png``.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

from green_llm_env import Scenario, ScenarioFileError, cost, make_scenario, scale

from .oracle import InfeasibleScenarioError, solve

__all__ = ["MODELS", "PARAMETERS", "hourly_profiles", "plot", "sweep", "sweep_point"]

MODELS = {"M0": (1 / 3, 1 / 3, 1 / 3), "M1": (1.0, 0.0, 0.0), "M2": (0.0, 1.0, 0.0)}
PARAMETERS = {"theta": "carbon intensity Ψθ", "P_w": "renewable generation ΨPw", "tau": "energy per token Ψτ",
              "rho": "delay penalty Ψρ"}
DEFAULT_PSI = tuple(np.round(np.arange(0.1, 1.91, 0.1), 10))
_COLUMNS = ["parameter", "psi", "model", "status", "total", "energy", "carbon", "delay", "emissions_kg", "water_l",
            "water_dual"]


def sweep_point(scenario: Scenario, name: str, value: float) -> list[dict]:
    """The rows of one sweep point: ``name`` scaled by ``value``, solved for each model of `MODELS`."""
    coef = cost.coefficients(scale(scenario, **{name: float(value)}))
    rows = []
    for model, weights in MODELS.items():
        row = {"parameter": name, "psi": float(value), "model": model}
        try:
            res = solve(coef, weights)
            row.update(status="optimal", total=res.total, energy=res.energy, carbon=res.carbon,
                       delay=res.delay, emissions_kg=res.emissions_kg, water_l=res.water_l,
                       water_dual=res.water_dual)
        except InfeasibleScenarioError:
            row.update(status="infeasible")
        rows.append(row)
    return rows


def sweep(scenario: Scenario, psi=DEFAULT_PSI, parameters=tuple(PARAMETERS), progress: bool = True,
          backend: str = "local", address: str | None = None) -> pd.DataFrame:
    """One oracle solve per (parameter, Ψ, model); a tidy frame with the columns of ``sweep.csv``. With
    ``backend="ray"`` each (parameter, Ψ) point is a Ray task (`baselines.backends`; same rows, same order)."""
    points = [(p, float(v)) for p in parameters for v in psi]
    if backend == "ray":
        from .backends import ray_map_tasks

        t0 = time.perf_counter()
        rows = [r for part in ray_map_tasks(sweep_point, [(scenario, p, v) for p, v in points], address)
                for r in part]
        if progress:
            print(f"sweep {len(points)}/{len(points)} on Ray {time.perf_counter() - t0:.1f} s", file=sys.stderr)
        return pd.DataFrame(rows, columns=_COLUMNS)
    if backend != "local":
        raise ValueError(f"backend must be 'local' or 'ray'; got {backend!r}")
    rows = []
    total = len(points)
    t0 = time.perf_counter()
    for q, (name, value) in enumerate(points):
        rows += sweep_point(scenario, name, value)
        if progress and (sys.stderr.isatty() or (q + 1) % max(total // 10, 1) == 0 or q + 1 == total):
            end = "" if sys.stderr.isatty() and q + 1 < total else "\n"
            print(f"\rsweep {q + 1}/{total} ({name} = {value:.1f}) {time.perf_counter() - t0:.1f} s",
                  end=end, file=sys.stderr, flush=True)
    return pd.DataFrame(rows, columns=_COLUMNS)


def hourly_profiles(scenario: Scenario, psi_theta: float = 1.2) -> pd.DataFrame:
    """Hourly emissions and costs of M0, M1 and M2 at carbon-intensity factor ``psi_theta``."""
    s = scale(scenario, theta=psi_theta)
    coef = cost.coefficients(s)
    frames = []
    for model, weights in MODELS.items():
        out = cost.evaluate(coef, solve(coef, weights).plan, weights)
        frames.append(pd.DataFrame({"model": model, "hour": np.arange(s.T), "emissions_kg": out["emissions_kg"],
                                    "total": out["total_usd"], "energy": out["energy_usd"],
                                    "carbon": out["carbon_usd"], "delay": out["delay_usd"]}))
    return pd.concat(frames, ignore_index=True)


def _two_panels(frame: pd.DataFrame, x: str, ys: tuple[str, str], xlabel: str, ylabels: tuple[str, str],
                title: str, path: Path) -> Path:
    """One figure: ``ys[0]`` and ``ys[1]`` against ``x``, a line per model."""
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(1, 2, figsize=(10, 3.8))
    for model in MODELS:
        m = frame[frame["model"] == model]
        for ax, y in zip(axes, ys):
            ax.plot(m[x], m[y], marker="o", ms=3, label=model)
    for ax, label in zip(axes, ylabels):
        ax.set_xlabel(xlabel)
        ax.set_ylabel(label)
        ax.grid(alpha=0.3)
    axes[0].legend()
    if title:
        fig.suptitle(title, fontsize=9)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def plot(frame: pd.DataFrame, hourly: pd.DataFrame | None, out: Path) -> list[Path]:
    """PNG plots in the spirit of Figs. 2-4: total cost and emissions versus Ψ, and hourly profiles."""
    import matplotlib

    matplotlib.use("Agg")
    paths = []
    for name in frame["parameter"].unique():
        part = frame[frame["parameter"] == name]
        skipped = part[part["status"] != "optimal"]["psi"].unique()
        title = (f"infeasible (water budget or caps) at Ψ = {', '.join(f'{v:.1f}' for v in skipped)}"
                 if len(skipped) else "")
        paths.append(_two_panels(part[part["status"] == "optimal"], "psi", ("total", "emissions_kg"),
                                 PARAMETERS.get(name, name), ("total cost ($/day)", "emissions (kg CO2/day)"),
                                 title, out / f"sweep_{name}.png"))
    if hourly is not None:
        paths.append(_two_panels(hourly, "hour", ("emissions_kg", "total"), "hour",
                                 ("emissions (kg CO2/h)", "total cost ($/h)"), "hourly profiles at Ψθ = 1.2",
                                 out / "hourly_theta_1.2.png"))
    return paths


def _parse_psi(text: str) -> tuple[float, ...]:
    try:
        lo, hi, step = (float(x) for x in text.split(":"))
    except ValueError:
        raise ValueError(f"--psi must be lo:hi:step, e.g. 0.1:1.9:0.1; got {text!r}") from None
    if step <= 0 or hi < lo or lo < 0:
        raise ValueError(f"--psi needs 0 <= lo <= hi and step > 0; got {text!r}")
    return tuple(np.round(np.arange(lo, hi + step / 2, step), 10))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m baselines.sweep", description=__doc__.split("\n\n")[0])
    parser.add_argument("--scenario", help="scenario JSON (default: the generator's scenario for --seed)")
    parser.add_argument("--seed", type=int, default=0, help="generator seed when no --scenario is given")
    parser.add_argument("--psi", default="0.1:1.9:0.1", help="factors lo:hi:step (default 0.1:1.9:0.1)")
    parser.add_argument("--parameters", default=",".join(PARAMETERS),
                        help=f"comma-separated subset of {','.join(PARAMETERS)}")
    parser.add_argument("--no-plots", action="store_true", help="write the CSV files only")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--backend", choices=("local", "ray"), default="local",
                        help="where the sweep points are solved: here, or as Ray tasks (pip install -e \".[scale]\")")
    parser.add_argument("--address", default=None, help="with --backend ray: the cluster to join (auto, ray://...)")
    args = parser.parse_args(argv)
    try:
        psi = _parse_psi(args.psi)
        params = tuple(p.strip() for p in args.parameters.split(",") if p.strip())
        unknown = [p for p in params if p not in PARAMETERS]
        if unknown:
            raise ValueError(f"--parameters: unknown {unknown}; choose from {list(PARAMETERS)}")
        scenario = Scenario.from_json(args.scenario) if args.scenario else make_scenario(args.seed)
        out = Path(args.out)
        out.mkdir(parents=True, exist_ok=True)
        frame = sweep(scenario, psi, params, backend=args.backend, address=args.address)
        hourly = hourly_profiles(scenario) if "theta" in params else None
    except (ScenarioFileError, InfeasibleScenarioError, ValueError, OSError, ImportError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    frame.to_csv(out / "sweep.csv", index=False)
    if hourly is not None:
        hourly.to_csv(out / "hourly.csv", index=False)
    written = [out / "sweep.csv"] + ([out / "hourly.csv"] if hourly is not None else [])
    if not args.no_plots:
        try:
            written += plot(frame, hourly, out)
        except ImportError as exc:  # the core install has no matplotlib
            from green_llm_env.cli import extra_hint

            print(extra_hint(exc, "plots"), file=sys.stderr)
    bad = frame[frame["status"] != "optimal"]
    print(f"{len(frame)} solves, {len(bad)} infeasible" +
          (f" ({', '.join(sorted({f'{r.parameter}={r.psi:.1f}' for r in bad.itertuples()}))})" if len(bad) else ""))
    for path in written:
        print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
