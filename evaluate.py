"""Score policies by their oracle gap on held-out scenarios of GreenLLM-v2 (``--env GreenLLM-v1`` / ``GreenLLM-v0``).

Usage::

    python evaluate.py --policies oracle,mpc,myopic,uniform,cheapest --seeds 1000-1019 --out runs/eval
    python evaluate.py --policies oracle,mpc,mpc_noisy,ppo=logs/ppo/GreenLLM-v0_1 --seeds 1000-1099 \\
        --traces ../shared/data --start 2024-06-01T00 --weights 0.6,0.2,0.2 --env-kwargs forecast_hours:6 \\
        --workers 2 --out runs/eval_traces
    python evaluate.py --policies oracle,mpc --seeds 1000-1999 --backend ray --address auto --out runs/eval_ray

Each seed is one scenario, pinned with ``env.reset(options={"scenario": s})`` so every policy sees the same
one: on GreenLLM-v2 (``--env``) the v2 generator's scenario of that seed
(``green_llm_env.batch_generator.scenario_of_seed(seed, **gen_kwargs)``), on v0/v1
``make_scenario(seed, **gen_kwargs)``, with ``--traces`` ``scenario_from_traces(traces, start, seed,
**gen_kwargs)``. Its oracle objective is ``baselines.solve(s, weights).objective`` for policies playing v0/v1,
and ``baselines.solve(s, weights, water_price=μ_w).objective`` (the water budget at v2's price per litre beyond
it, `green_llm_env.core.water`) for policies playing a v2 env. Every policy plays one episode per
seed through the environment (`baselines.rollout.play_episode`), and ``gap_pct`` is
``(cost_weighted + penalty - oracle_cost_weighted) / oracle_cost_weighted * 100``.

Policy specs (`baselines.policy.make_policy`): registered names (``oracle``, ``mpc``, ``mpc_noisy``,
``myopic``, ``uniform``, ``nearest``, ``cheapest``, ``greenest``, ``renewable_first``; ``day_price``,
``constant_price`` and ``forecast_lp``, which play GreenLLM-hybrid-v2), options
(``mpc:horizon=6``), or ``name=path`` for trained agents (loaders registered by ``agents``). A policy's
own ``env_kwargs`` (``mpc_noisy``: ``forecast_noise`` 0.1, set with ``mpc_noisy:noise=0.2``; an agent: its
training observation settings) override ``--env-kwargs`` for its environment; summary.md lists them.

Output folder:

- ``results.csv``: one row per (policy, seed): policy, seed, cost_weighted, total, energy, carbon, delay
  ($; total = energy + carbon + delay, unweighted), emissions_kg, water_l, penalty ($), violations (number
  of steps charged a penalty), oracle_cost_weighted ($), gap_pct (%).
- ``hourly/seed_<seed>.csv``: per (policy, seed, hour) costs of that seed (the hourly profile plot), one
  small file per seed so that finishing a seed never rewrites the others.
- ``summary.md``: per policy mean, median and 95% bootstrap CI of the gap; IQM with its CI and performance
  profiles (rliable style); each trained agent's budget and constraint handling; the split oracle -> MPC with
  perfect forecasts -> MPC with noisy forecasts -> learned agents.
- ``gaps.png``, ``costs.png``, ``profiles.png`` (performance profiles), ``hourly.png`` (small multiples: a
  row per policy over the first policy in grey); ``config.json`` and ``policies.json`` (per policy its spec,
  kind, env kwargs and, for a trained agent, the sha256 ``fingerprint`` of its model zip and normalisation
  statistics).

Rows are written as each seed finishes (temporary file + ``os.replace``, so the CSV is never half-written);
a rerun into the same folder with the same configuration skips the (policy, seed) pairs already present,
so a killed run loses at most the seeds in flight. A folder holding another configuration, or rows of a
policy whose model has changed since (another fingerprint), is refused.
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any, Callable, Iterator

from baselines.eval_config import (ENV_ID, MAX_SEEDS, CliError, Config, parse_args, parse_kv,
                                   parse_seeds)
from baselines.eval_report import (PROFILE_TAUS, SPLIT_KINDS, _NoBar, bootstrap_ci, iqm,
                                   performance_profile, write_plots, write_summary)
from baselines.eval_runner import (Runner, _worker_init, _worker_run, check_policy_speaks,
                                   env_family, is_v2, make_scenario_for, oracle_objective)
from baselines.eval_store import (COLUMNS, HOURLY_COLUMNS, ResultsStore, check_fingerprints,
                                  collector, hourly_file, open_out, pending, read_csv, repair_tail, row_order,
                                  write_csv_atomic, write_json_atomic, write_meta)

__all__ = ["COLUMNS", "ENV_ID", "HOURLY_COLUMNS", "MAX_SEEDS", "PROFILE_TAUS", "SPLIT_KINDS", "CliError", "Config",
           "ResultsStore", "Runner", "bootstrap_ci", "check_fingerprints", "check_policy_speaks", "env_family", "iqm",
           "is_v2", "main", "make_scenario_for", "oracle_objective", "parse_args", "parse_kv", "parse_seeds",
           "performance_profile", "read_csv", "repair_tail", "run", "write_csv_atomic", "write_json_atomic",
           "write_plots", "write_summary"]
"""The names of this CLI's modules kept here for callers of ``evaluate.<name>``."""
Row = dict[str, Any]


# ------------------------------------------------------------------------------------------ the steps
def make_runner(cfg: Config) -> tuple[Runner, list[str]]:
    """The runner (specs validated, trained models loaded once) and the policies' labels."""
    from baselines.policy import PolicySpecError, spec_label

    try:
        labels = [spec_label(s) for s in cfg.policies]
    except PolicySpecError as exc:
        raise CliError(f"--policies: {exc}") from None
    if len(set(labels)) != len(labels):
        raise CliError(f"--policies names a policy twice: {labels}")
    try:
        return Runner(cfg), labels
    except (PolicySpecError, ImportError, OSError, ValueError) as exc:
        raise CliError(f"--policies: {exc}") from None
    except Exception as exc:  # a loader's own error type
        raise CliError(f"--policies: {type(exc).__name__}: {exc}") from None


def preflight(cfg: Config, runner: Runner) -> None:
    """The first seed's scenario and each policy's environment, tried before anything runs; Ray connected."""
    from baselines.policy import spec_label

    try:
        scenario = runner.scenario(cfg.seeds[0])
    except Exception as exc:
        used = f"--gen-kwargs {cfg.gen_kwargs}"
        if cfg.traces:
            used += f", --traces {cfg.traces}, --start {cfg.start}"
        raise CliError(f"cannot build the scenario of seed {cfg.seeds[0]} ({used}): {exc}") from None
    for spec in cfg.policies:
        try:
            env = runner.env_for(spec, scenario)
            obs, _ = env.reset(seed=0, options={"scenario": scenario})
        except Exception as exc:
            msg = str(exc).split(" was raised from the environment creator")[0].splitlines()[0]
            raise CliError(f"--env-kwargs {runner.env_kwargs(spec)} (policy {spec_label(spec)}): {msg}") from None
        check_policy_speaks(cfg, runner, spec, env, obs)
    if cfg.backend == "ray":  # connect first: a bad --address is one line, within a bounded time
        from baselines.backends import init_ray

        try:
            init_ray(cfg.address)
        except (ConnectionError, ValueError) as exc:
            raise CliError(str(exc)) from None


def play(cfg: Config, runner: Runner, todo: dict[int, list[str]], collect: Callable[[Row], None]) -> None:
    """Every pending seed, here, in worker processes or in Ray actors (rows are sorted later: files match)."""
    try:
        from tqdm import tqdm
    except ImportError:  # the core install: no progress bar
        tqdm = _NoBar
    bar = tqdm(total=len(todo), desc="seeds", unit="seed", disable=not cfg.progress, file=sys.stderr)
    if cfg.backend == "ray":  # one Runner per Ray actor
        from baselines.backends import ray_map_actors

        results = ray_map_actors(Runner, (cfg,), "run_seed", list(todo.items()), cfg.workers or None, cfg.address)
    elif cfg.workers == 1 or len(todo) <= 1:
        results = (runner.run_seed(seed, specs) for seed, specs in todo.items())
    else:
        results = _in_processes(cfg, todo)
    for res in results:
        collect(res)
        bar.update(1)
    bar.close()


def _in_processes(cfg: Config, todo: dict[int, list[str]]) -> Iterator[dict[str, Any]]:
    """The seeds' results from ``cfg.workers`` spawned processes, as each finishes."""
    import multiprocessing as mp

    with ProcessPoolExecutor(max_workers=min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn"),
                             initializer=_worker_init, initargs=(cfg, os.getpid())) as pool:
        left = {pool.submit(_worker_run, seed, specs) for seed, specs in todo.items()}
        while left:
            finished, left = wait(left, return_when=FIRST_COMPLETED)
            for fut in finished:
                yield fut.result()


def report(out: Path, cfg: Config, rows: list[dict[str, str]], meta: dict[str, Any]) -> None:
    """summary.md and (unless --no-plots) the plots."""
    if not rows:
        return
    write_summary(out, cfg, rows, meta)
    if cfg.plots:
        first = next((s for s in cfg.seeds if hourly_file(out, s).is_file()), None)
        hourly = [] if first is None else read_csv(hourly_file(out, first), HOURLY_COLUMNS)
        try:
            write_plots(out, cfg, rows, hourly)
        except ImportError as exc:  # the core install has no matplotlib
            from green_llm_env.cli import extra_hint

            print(extra_hint(exc, "plots"), file=sys.stderr)


def run(cfg: Config) -> int:
    """Evaluate; returns the exit status (0, or 1 if some (policy, seed) failed)."""
    out, ident = open_out(cfg)
    runner, labels = make_runner(cfg)
    preflight(cfg, runner)
    meta = write_meta(out, ident, runner)
    store = ResultsStore(out / "results.csv")
    todo = pending(cfg, labels, store, out)
    (out / "hourly").mkdir(exist_ok=True)
    errors: list[str] = []
    sort_key = row_order(labels)
    t0 = time.perf_counter()
    play(cfg, runner, todo, collector(out, store, sort_key, errors))
    rows_now = store.finish(sort_key)
    report(out, cfg, rows_now, meta)
    print(f"{len(rows_now)} rows in {out / 'results.csv'} ({time.perf_counter() - t0:.1f} s); "
          f"summary in {out / 'summary.md'}", file=sys.stderr)
    if errors:
        print(f"{len(errors)} (policy, seed) runs failed; rerun to retry them", file=sys.stderr)
        return 1
    return 0


def main(argv: list[str] | None = None) -> int:
    import warnings

    # v0/v1 are played on purpose (published numbers): gym's "out of date" note would break the one-line errors
    try:
        import gymnasium  # noqa: F401  (its own filter goes first; this one must be laid over it)
    except ImportError:
        pass
    warnings.filterwarnings("ignore", message=r".*is out of date", category=DeprecationWarning)
    try:
        cfg = parse_args(argv)
        return run(cfg)
    except CliError as exc:
        print(f"evaluate.py: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("evaluate.py: interrupted; rerun with the same arguments to resume", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
