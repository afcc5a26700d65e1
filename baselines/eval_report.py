"""`evaluate.py`'s report: gap statistics (bootstrap CI, IQM, performance profiles), ``summary.md`` and the
plots (``gaps.png``, ``costs.png``, ``profiles.png``, ``hourly.png``)."""

from __future__ import annotations

import json
import math
import os
import re
import zlib
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from .eval_config import Config
from .eval_store import COLUMNS

SPLIT_KINDS = (("oracle", "oracle (perfect foresight, full horizon)"),
               ("mpc", "MPC, perfect forecasts"),
               ("mpc_noisy", "MPC, noisy forecasts"),
               ("learned", "learned agents"))


def bootstrap_ci(x: np.ndarray, level: float = 0.95, n_boot: int = 4000, seed: int = 0,
                 statistic: str = "mean") -> tuple[float, float]:
    """Percentile bootstrap CI of the mean (``statistic="iqm"``: of the interquartile mean, as rliable
    reports it); seeded, so summaries are reproducible."""
    x = np.asarray(x, dtype=float)
    point = iqm(x) if statistic == "iqm" and x.size else (float(x.mean()) if x.size else math.nan)
    if x.size < 2:
        return (point, point) if x.size else (math.nan, math.nan)
    rng = np.random.default_rng(seed)
    samples = x[rng.integers(0, x.size, (n_boot, x.size))]
    means = iqm(samples) if statistic == "iqm" else samples.mean(axis=1)
    lo, hi = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(lo), float(hi)


def iqm(x: np.ndarray) -> Any:
    """Interquartile mean: the mean of the middle 50% (``int(0.25 n)`` values trimmed from each end; as
    ``scipy.stats.trim_mean(x, 0.25)`` and rliable's IQM). A float for a 1-D ``x``; for a 2-D ``x``, the IQM
    of each row (the bootstrap's resamples)."""
    x = np.asarray(x, np.float64)
    x = np.sort(x.reshape(-1) if x.ndim < 2 else x, axis=-1)
    n = x.shape[-1]
    cut = int(0.25 * n)
    out = x[..., cut:n - cut].mean(axis=-1)
    return float(out) if out.ndim == 0 else out


def _f(x: float, digits: int = 3) -> str:
    """Fixed-point text without a negative zero ("-0.000" -> "0.000")."""
    text = f"{x:.{digits}f}"
    return text[1:] if text.startswith("-") and float(text) == 0 else text


def _table(rows: list[dict[str, str]]) -> dict[str, dict[str, np.ndarray]]:
    by: dict[str, dict[str, list[float]]] = {}
    for r in rows:
        d = by.setdefault(r["policy"], {c: [] for c in COLUMNS[1:]})
        for c in COLUMNS[1:]:
            d[c].append(float(r[c]))
    return {p: {c: np.asarray(v) for c, v in d.items()} for p, d in by.items()}


def _order(policies: list[str], known: list[str]) -> list[str]:
    return [p for p in known if p in policies] + sorted(p for p in policies if p not in known)


PROFILE_TAUS = (0.1, 0.5, 1.0, 2.0, 5.0, 10.0, 50.0)
"""Gap thresholds (%) of the performance profile: the fraction of seeds a policy solves within τ of the oracle."""


def performance_profile(gaps: np.ndarray, taus: Sequence[float] = PROFILE_TAUS) -> np.ndarray:
    """Fraction of seeds whose gap is at most each τ (%), rliable's performance profile on the gap."""
    g = np.asarray(gaps, np.float64).reshape(-1)
    return np.array([float(np.mean(g <= tau)) if g.size else math.nan for tau in taus])


def _aggregate_lines(order: list[str], tab: dict[str, dict[str, np.ndarray]]) -> list[str]:
    """summary.md's rliable-style aggregates: IQM with its bootstrap CI and the performance profile."""
    head = " | ".join(f"gap ≤ {tau:g}%" for tau in PROFILE_TAUS)
    lines = ["", "## Aggregates (rliable style)", "",
             "IQM: interquartile mean of the gap over seeds, with its 95% percentile-bootstrap CI (4000 resamples, "
             "seed 0); performance profile: the fraction of seeds within τ of the oracle (`profiles.png`).", "",
             f"| policy | IQM gap % | 95% CI of IQM % | {head} |",
             "|---|---:|---|" + "---:|" * len(PROFILE_TAUS)]
    for p in order:
        g = tab[p]["gap_pct"]
        lo, hi = bootstrap_ci(g, statistic="iqm")
        prof = " | ".join(f"{v:.2f}" for v in performance_profile(g))
        lines.append(f"| {p} | {_f(iqm(g))} | [{_f(lo)}, {_f(hi)}] | {prof} |")
    return lines


def gaps_by_seed(rows: list[dict[str, str]]) -> dict[str, dict[int, float]]:
    """``{policy: {scenario seed: gap %}}`` of results.csv rows."""
    out: dict[str, dict[int, float]] = {}
    for r in rows:
        out.setdefault(r["policy"], {})[int(float(r["seed"]))] = float(r["gap_pct"])
    return out


def paired_difference(rows: list[dict[str, str]], a: str, b: str) -> dict[str, float]:
    """Gap of ``a`` minus gap of ``b`` on the seeds both played: mean, its 95% percentile-bootstrap CI, the
    number of seeds and on how many ``a`` was better (percentage points)."""
    by = gaps_by_seed(rows)
    gaps = {a: by.get(a, {}), b: by.get(b, {})}
    seeds = sorted(set(gaps[a]) & set(gaps[b]))
    d = np.array([gaps[a][s] - gaps[b][s] for s in seeds])
    lo, hi = bootstrap_ci(d)
    return {"mean": float(d.mean()) if d.size else math.nan, "lo": lo, "hi": hi, "n": int(d.size),
            "better": int((d < 0).sum())}


def _paired_lines(rows: list[dict[str, str]], paired: Sequence[tuple[str, str]]) -> list[str]:
    """summary.md's paired differences (--paired A:B)."""
    if not paired:
        return []
    lines = ["", "## Paired differences", "",
             "Gap of A minus gap of B on each seed (percentage points; < 0: A is better), mean with its 95% "
             "percentile-bootstrap CI; the CI excluding 0 is the test.", "",
             "| A | B | seeds | mean A - B (pp) | 95% CI | seeds where A is better |", "|---|---|---:|---:|---|---:|"]
    for a, b in paired:
        d = paired_difference(rows, a, b)
        lines.append(f"| {a} | {b} | {d['n']} | {_f(d['mean'])} | [{_f(d['lo'])}, {_f(d['hi'])}] | {d['better']} |")
    return lines


SEED_SUFFIX = re.compile(r"^(?P<name>.+)_seed(?P<seed>\d+)$")
"""Policy labels ``<name>_seed<k>``: the same recipe trained with seed k, reported together (`seed_groups`)."""


def seed_groups(rows: list[dict[str, str]], n_boot: int = 4000, seed: int = 0) -> dict[str, dict[str, Any]]:
    """Policies labelled ``<name>_seed<k>`` grouped by name (two or more training seeds): per training seed its
    mean gap; over them, the mean, median and IQM over all (training seed, scenario) gaps, with 95% bootstrap CIs
    of the mean and the IQM (two levels: the scenarios resampled, then the training seeds within each, so both
    the held-out scenarios and the training seeds count as samples; rliable resamples only the seeds)."""
    runs: dict[str, dict[str, dict[int, float]]] = {}
    for policy, gaps in gaps_by_seed(rows).items():
        m = SEED_SUFFIX.match(policy)
        if m:
            runs.setdefault(m["name"], {})[policy] = gaps
    out = {}
    for name, by_run in sorted(runs.items()):
        if len(by_run) < 2:
            continue
        # one generator per recipe, seeded by its name: its CI does not move when other recipes join the run
        rng = np.random.default_rng([seed, zlib.crc32(name.encode())])
        seeds = sorted(set.intersection(*(set(g) for g in by_run.values())))
        gaps = np.array([[g[s] for s in seeds] for g in by_run.values()])  # (runs, scenarios)
        R, S = gaps.shape
        scen = rng.integers(0, S, (n_boot, 1, S))  # scenarios resampled, then training runs within each
        runs_ = rng.integers(0, R, (n_boot, R, S))
        resampled = gaps[runs_, scen].reshape(n_boot, -1)
        lo, hi = np.quantile(iqm(resampled), [0.025, 0.975])
        mlo, mhi = np.quantile(resampled.mean(axis=1), [0.025, 0.975])
        out[name] = {"runs": sorted(by_run), "n_seeds": R, "scenarios": S, "per_run_mean": gaps.mean(axis=1).tolist(),
                     "mean": float(gaps.mean()), "mean_lo": float(mlo), "mean_hi": float(mhi),
                     "median": float(np.median(gaps)), "iqm": float(iqm(gaps.reshape(-1))), "iqm_lo": float(lo),
                     "iqm_hi": float(hi)}
    return out


def _seed_group_lines(rows: list[dict[str, str]]) -> list[str]:
    """summary.md's aggregates across training seeds (policies labelled ``<name>_seed<k>``)."""
    groups = seed_groups(rows)
    if not groups:
        return []
    lines = ["", "## Across training seeds", "",
             "Policies labelled `<name>_seed<k>`: one recipe, several training seeds. Mean, median and IQM over all "
             "(training seed, scenario) gaps; 95% bootstrap CIs resample the scenarios, then the training seeds "
             "within each (4000 resamples, seed 0).",
             "", "| recipe | training seeds | mean gap % | 95% CI of mean % | median % | IQM gap % | 95% CI of IQM % "
             "| mean gap % per seed |", "|---|---:|---:|---|---:|---:|---|---|"]
    for name, g in groups.items():
        lines.append(f"| {name} | {g['n_seeds']} | {_f(g['mean'])} | [{_f(g['mean_lo'])}, {_f(g['mean_hi'])}] | "
                     f"{_f(g['median'])} | {_f(g['iqm'])} | [{_f(g['iqm_lo'])}, {_f(g['iqm_hi'])}] | "
                     f"{', '.join(_f(v, 2) for v in g['per_run_mean'])} |")
    return lines


def _training_lines(order: list[str], meta: dict[str, dict[str, Any]]) -> list[str]:
    """summary.md's table of each trained agent's budget and constraint handling (`agents.policy.training_note`)."""
    notes = [(p, meta[p]["training"]) for p in order if isinstance(meta.get(p, {}).get("training"), dict)]
    if not notes:
        return []
    return ["", "## Trained agents", "", "| policy | training budget | constraint handling |", "|---|---|---|",
            *(f"| {p} | {n.get('budget', '')} | {n.get('constraints', '')} |" for p, n in notes)]


def _split_lines(order: list[str], meta: dict[str, dict[str, Any]], stats: dict[str, dict[str, float]]) -> list[str]:
    """summary.md's split oracle -> MPC -> noisy MPC -> learned agents, and the other baselines."""
    lines = ["", "## Where the gap comes from", "",
              "Each stage adds one source of sub-optimality to the one above it: a finite planning window "
              "(MPC, perfect forecasts), forecast error (MPC, noisy forecasts), then learning (agents, which "
              "see noisy forecasts at best).", "",
              "| stage | policy | mean gap % | change vs previous stage (pp) |", "|---|---|---:|---:|"]
    prev = None
    for kind, title in SPLIT_KINDS:
        members = [p for p in order if meta.get(p, {}).get("kind") == kind]
        if not members:
            lines.append(f"| {title} | (not run) | | |")
            continue
        for p in members:
            m = stats[p]["mean"]
            delta = "" if prev is None else ("+" + _f(m - prev) if _f(m - prev)[0] != "-" else _f(m - prev))
            lines.append(f"| {title} | {p} | {_f(m)} | {delta} |")
        prev = min(stats[p]["mean"] for p in members)
    others = [p for p in order if meta.get(p, {}).get("kind") not in dict(SPLIT_KINDS)]
    if others:
        lines += ["", "Other baselines (LP and rule-based): " + ", ".join(
            f"{p} {_f(stats[p]['mean'], 2)}%" for p in others) + "."]
    return lines


def write_summary(out: Path, cfg: Config, rows: list[dict[str, str]], meta: dict[str, dict[str, Any]]) -> str:
    """summary.md: gap statistics per policy and the oracle -> MPC -> noisy MPC -> agents split."""
    from baselines.policy import spec_label

    tab = _table(rows)
    order = _order(list(tab), [spec_label(s) for s in cfg.policies])
    lines = [
        "# Oracle-gap evaluation", "",
        f"- seeds: {len({int(float(r['seed'])) for r in rows})} scenarios "
        f"({'traces ' + str(cfg.traces) + ' from ' + str(cfg.start) if cfg.traces else 'synthetic generator'}"
        f"{', generator ' + json.dumps(cfg.gen_kwargs) if cfg.gen_kwargs else ''})",
        f"- weights (energy, carbon, delay): {tuple(round(w, 6) for w in cfg.weights)}",
        f"- env: {cfg.env}"
        + "".join(f"; {p} plays {m['env']}" for p, m in sorted(meta.items())
                  if p in tab and m.get("env") and m["env"] != cfg.env),
        f"- env kwargs: {json.dumps(cfg.env_kwargs) if cfg.env_kwargs else 'defaults'}"
        + "".join(f"; {p} plays with {json.dumps(m['env_kwargs'])}" for p, m in sorted(meta.items())
                  if p in tab and m.get("env_kwargs") and m["env_kwargs"] != cfg.env_kwargs),
        "- gap = (cost_weighted + penalty - oracle objective) / oracle objective, in %; "
        "95% CI: percentile bootstrap of the mean (4000 resamples, seed 0); IQM: mean of the middle 50% of seeds; "
        "steps charged: mean number of hours "
        "per episode charged a penalty (a constraint violated beyond round-off)", "",
        "| policy | kind | n | mean gap % | median gap % | 95% CI of mean % | IQM gap % | min gap % | max gap % "
        "| mean cost_weighted $ | mean penalty $ | steps charged |",
        "|---|---|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|",
    ]
    stats: dict[str, dict[str, float]] = {}
    for p in order:
        d = tab[p]
        g = d["gap_pct"]
        lo, hi = bootstrap_ci(g)
        stats[p] = {"mean": float(g.mean()), "median": float(np.median(g)), "lo": lo, "hi": hi, "n": g.size}
        kind = meta.get(p, {}).get("kind", "other")
        lines.append(f"| {p} | {kind} | {g.size} | {_f(g.mean())} | {_f(np.median(g))} | [{_f(lo)}, {_f(hi)}] | "
                     f"{_f(iqm(g))} | "
                     f"{_f(g.min(), 4)} | {_f(g.max())} | {_f(d['cost_weighted'].mean())} | "
                     f"{_f(d['penalty'].mean())} | {_f(d['violations'].mean(), 2)} |")
    lines += _split_lines(order, meta, stats)
    lines += _paired_lines(rows, cfg.paired)
    lines += _seed_group_lines(rows)
    lines += _aggregate_lines(order, tab)
    lines += _training_lines(order, meta)
    lines += ["", "Plots: `gaps.png` (gap per policy), `costs.png` (mean cost components), "
              "`profiles.png` (performance profiles), `hourly.png` (hourly profiles of one seed, one row a policy)."]
    text = "\n".join(lines) + "\n"
    tmp = out / "summary.md.tmp"
    tmp.write_text(text)
    os.replace(tmp, out / "summary.md")
    return text


class _NoBar:
    """tqdm's interface, doing nothing (tqdm comes with the ``train`` extra)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        pass

    def update(self, n: int = 1) -> None:
        pass

    def set_postfix_str(self, *args: Any, **kwargs: Any) -> None:
        pass

    def close(self) -> None:
        pass


def write_plots(out: Path, cfg: Config, rows: list[dict[str, str]], hourly: list[dict[str, str]]) -> None:
    """gaps.png, costs.png, profiles.png and hourly.png (matplotlib, Agg backend)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from baselines.policy import spec_label

    tab = _table(rows)
    order = _order(list(tab), [spec_label(s) for s in cfg.policies])
    if not order:
        return
    _gap_plot(plt, out, order, tab, rows)
    _cost_plot(plt, out, order, tab)
    _profile_plot(plt, out, order, tab)
    # Hourly profiles of one seed: the smallest seed of this run that has hourly rows.
    seeds_here = [s for s in cfg.seeds if any(int(h["seed"]) == s for h in hourly)]
    if not seeds_here:
        return
    seed = seeds_here[0]
    finished = {(r["policy"], int(r["seed"])) for r in rows}
    hourly = [h for h in hourly if (h["policy"], int(h["seed"])) in finished]
    _hourly_small_multiples(plt, order, [h for h in hourly if int(h["seed"]) == seed], seed, out / "hourly.png")


def _gap_plot(plt: Any, out: Path, order: list[str], tab: dict[str, dict[str, np.ndarray]],
              rows: list[dict[str, str]]) -> None:
    """gaps.png: the gap distribution per policy."""
    fig, ax = plt.subplots(figsize=(max(5.0, 1.1 * len(order) + 2), 4.2))
    data = [tab[p]["gap_pct"] for p in order]
    ax.boxplot(data, showfliers=False)
    ax.set_xticks(range(1, len(order) + 1), order, rotation=30, ha="right")
    rng = np.random.default_rng(0)
    for q, g in enumerate(data, start=1):
        ax.plot(q + rng.uniform(-0.15, 0.15, g.size), g, ".", alpha=0.5, color="tab:blue")
    ax.set_yscale("symlog", linthresh=1.0)
    ax.axhline(0.0, color="k", lw=0.6)
    ax.set_ylabel("oracle gap (%)")
    ax.set_title(f"Oracle gap over {len({int(float(r['seed'])) for r in rows})} seeds")
    fig.tight_layout()
    fig.savefig(out / "gaps.png", dpi=110)
    plt.close(fig)


def _cost_plot(plt: Any, out: Path, order: list[str], tab: dict[str, dict[str, np.ndarray]]) -> None:
    """costs.png: mean cost components and penalties per policy."""
    fig, (a1, a2) = plt.subplots(1, 2, figsize=(max(8.0, 1.6 * len(order) + 3), 4.2))
    x = np.arange(len(order))
    bottom = np.zeros(len(order))
    for comp, color in (("energy", "tab:orange"), ("carbon", "tab:gray"), ("delay", "tab:blue")):
        vals = np.array([tab[p][comp].mean() for p in order])
        a1.bar(x, vals, bottom=bottom, label=comp, color=color)
        bottom += vals
    a1.set_xticks(x, order, rotation=30, ha="right")
    a1.set_ylabel("mean cost per episode ($, unweighted)")
    a1.legend()
    a1.set_title("Cost components")
    pen = np.array([tab[p]["penalty"].mean() for p in order])
    a2.bar(x, pen, color="tab:red")
    a2.set_ylim(0.0, 1.0 if pen.max() <= 0 else None)
    if pen.max() <= 0:
        a2.text(0.5, 0.5, "no penalty charged", transform=a2.transAxes, ha="center", va="center")
    a2.set_xticks(x, order, rotation=30, ha="right")
    a2.set_ylabel("mean penalty per episode ($)")
    a2.set_title("Constraint penalties")
    fig.tight_layout()
    fig.savefig(out / "costs.png", dpi=110)
    plt.close(fig)


def _profile_plot(plt: Any, out: Path, order: list[str], tab: dict[str, dict[str, np.ndarray]]) -> None:
    """profiles.png: performance profiles (rliable), the fraction of seeds within τ of the oracle."""
    fig, ax = plt.subplots(figsize=(6.4, 4.2))
    taus = np.logspace(-2, 3, 200)
    for p in order:
        ax.step(taus, performance_profile(tab[p]["gap_pct"], taus), where="post", label=p)
    ax.set_xscale("log")
    ax.set_xlabel("gap threshold τ (%)")
    ax.set_ylabel("fraction of seeds with gap ≤ τ")
    ax.set_ylim(-0.02, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    ax.set_title("Performance profiles")
    fig.tight_layout()
    fig.savefig(out / "profiles.png", dpi=110)
    plt.close(fig)


HOURLY_PANELS = (("cost_weighted", "weighted cost + penalty ($)"), ("grid_kwh", "grid energy (kWh)"),
                 ("water_l", "water (L)"), ("emissions_kg", "emissions (kg CO2)"))
"""hourly.png's columns: an hourly column of ``hourly/seed_<seed>.csv`` and its axis label."""


def _hourly_small_multiples(plt: Any, order: list[str], hourly: list[dict[str, str]], seed: int, path: Path) -> None:
    """hourly.png as small multiples: a row per policy, a column per `HOURLY_PANELS` quantity, each policy's
    line over the first policy's (the oracle when it ran) in grey, y axes shared per column."""
    series: dict[str, dict[str, np.ndarray]] = {}
    for p in order:
        hr = sorted((h for h in hourly if h["policy"] == p), key=lambda h: int(h["hour"]))
        if hr:
            series[p] = {"hour": np.array([int(h["hour"]) for h in hr]),
                         **{c: np.array([float(h[c]) + (float(h["penalty"]) if c == "cost_weighted" else 0.0)
                                         for h in hr]) for c, _ in HOURLY_PANELS}}
    if not series:
        return
    names = list(series)
    ref = names[0]
    fig, axes = plt.subplots(len(names), len(HOURLY_PANELS), figsize=(12, 1.5 * len(names) + 1.2),
                             sharex=True, sharey="col", squeeze=False)
    for row, p in enumerate(names):
        for col, (key, label) in enumerate(HOURLY_PANELS):
            ax = axes[row, col]
            if p != ref:
                ax.plot(series[ref]["hour"], series[ref][key], color="0.7", lw=1.2, label=ref)
            ax.plot(series[p]["hour"], series[p][key], color="tab:blue", lw=1.2, marker=".", ms=3, label=p)
            ax.grid(alpha=0.3)
            if row == 0:
                ax.set_title(label, fontsize=9)
            if col == 0:
                ax.set_ylabel(p, fontsize=9)
            ax.tick_params(labelsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("hour (slot)", fontsize=8)
    if len(names) > 1:
        axes[1, 0].legend(fontsize=7, loc="upper left")
    fig.suptitle(f"Hourly profiles, seed {seed} (grey: {ref})", fontsize=10)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
