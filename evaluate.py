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
seed through the environment (the loop of `baselines.policy`), and ``gap_pct`` is
``(cost_weighted + penalty - oracle_cost_weighted) / oracle_cost_weighted * 100``.

Policy specs (`baselines.policy.make_policy`): registered names (``oracle``, ``mpc``, ``mpc_noisy``,
``myopic``, ``uniform``, ``nearest``, ``cheapest``, ``greenest``, ``renewable_first``), options
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

import argparse
import csv
import importlib
import importlib.util
import json
import math
import os
import re
import sys
import time
from concurrent.futures import FIRST_COMPLETED, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from baselines.policy import parse_value

ENV_ID = "GreenLLM-v2"
"""The default env (``--env``); a trained agent plays the env it was trained on (its ``env_id``)."""
COLUMNS = ("policy", "seed", "cost_weighted", "total", "energy", "carbon", "delay", "emissions_kg", "water_l",
           "penalty", "violations", "oracle_cost_weighted", "gap_pct")
HOURLY_COLUMNS = ("policy", "seed", "hour", "cost_weighted", "energy", "carbon", "delay", "penalty",
                  "emissions_kg", "water_l", "grid_kwh")
SPLIT_KINDS = (("oracle", "oracle (perfect foresight, full horizon)"),
               ("mpc", "MPC, perfect forecasts"),
               ("mpc_noisy", "MPC, noisy forecasts"),
               ("learned", "learned agents"))


class CliError(ValueError):
    """A bad command-line value; printed as one line, exit status 2."""


# ------------------------------------------------------------------------------------------------- CLI
@dataclass
class Config:
    """What a run computes; equal configs may share an output folder."""

    policies: list[str]
    seeds: list[int]
    out: str
    weights: tuple[float, float, float] = (1 / 3, 1 / 3, 1 / 3)
    env: str = ENV_ID
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    gen_kwargs: dict[str, Any] = field(default_factory=dict)
    traces: str | None = None
    start: str | None = None
    workers: int = 1  # 0: the backend's default (ray: the cluster's CPUs)
    backend: str = "local"
    address: str | None = None
    imports: list[str] = field(default_factory=list)
    plots: bool = True
    progress: bool = True
    env_given: bool = False  # --env named on the command line (an agent of another version is refused)

    def identity(self) -> dict[str, Any]:
        """The fields that fix each (policy, seed) row's value."""
        return {"weights": list(self.weights), "env": self.env, "env_kwargs": self.env_kwargs, "gen_kwargs": self.gen_kwargs,
                "traces": str(Path(self.traces).resolve()) if self.traces else None, "start": self.start}


class _Parser(argparse.ArgumentParser):
    def error(self, message: str) -> None:  # one line, not the usage block
        raise CliError(message)


MAX_SEEDS = 100_000
"""Most seeds one run may name (each is an LP solve and an episode per policy)."""


def parse_seeds(text: str) -> list[int]:
    """``"1000-1019"``, ``"1,2,7"`` or a mix (``"1-3,10"``) -> sorted unique seeds (each >= 0, at most
    `MAX_SEEDS` of them)."""
    ranges = []
    for part in str(text).split(","):
        m = re.fullmatch(r"\s*(\d+)\s*(?:-\s*(\d+)\s*)?", part)
        if not m or (m.group(2) is not None and int(m.group(2)) < int(m.group(1))):
            raise CliError(f"--seeds must be integers >= 0 or ranges like 1000-1019; got {text!r}")
        ranges.append((int(m.group(1)), int(m.group(2) or m.group(1))))
    count = sum(hi - lo + 1 for lo, hi in ranges)
    if count > MAX_SEEDS:
        raise CliError(f"--seeds must name at most {MAX_SEEDS} seeds; got {text!r} ({count} seeds)")
    return sorted({s for lo, hi in ranges for s in range(lo, hi + 1)})


def parse_kv(items: list[str] | None, flag: str) -> dict[str, Any]:
    """``["forecast_hours:6", "forecast_noise:0.1"]`` (or ``["forecast_hours:6,forecast_noise:0.1"]``) -> dict;
    values parsed as int, float, bool, None or str."""
    out: dict[str, Any] = {}
    for item in items or ():
        parts = item.split(",")
        if not all(":" in q for q in parts):
            parts = [item]
        for part in parts:
            key, sep, val = part.partition(":")
            if not sep or not key.strip():
                raise CliError(f"{flag} takes key:value pairs; got {part!r}")
            out[key.strip()] = parse_value(val.strip())
    return out


def parse_args(argv: list[str] | None = None) -> Config:
    p = _Parser(prog="evaluate.py", description="Score policies by their oracle gap on held-out scenarios.")
    p.add_argument("--policies", default="oracle,mpc,myopic,uniform,cheapest",
                   help="comma-separated policy specs (default oracle,mpc,myopic,uniform,cheapest)")
    p.add_argument("--seeds", default="1000-1019", help="scenario seeds, e.g. 1000-1019 or 1,2,5-7")
    p.add_argument("--out", required=True, help="output folder (created; reruns resume)")
    p.add_argument("--weights", default=None, help="objective weights e,c,d (default 1/3 each)")
    p.add_argument("--traces", default=None, help="folder with the 2024 carbon traces (real carbon intensity)")
    p.add_argument("--start", default=None, help="UTC start hour with --traces, e.g. 2024-06-01T00")
    p.add_argument("--env", default=None,
                   help=f"env id the baselines play (default {ENV_ID}; GreenLLM-v0: the letter's partially "
                        "observed env); trained agents play the env they were trained on")
    p.add_argument("--env-kwargs", nargs="*", default=None, metavar="K:V", help="GreenLLMEnv keyword arguments")
    p.add_argument("--gen-kwargs", nargs="*", default=None, metavar="K:V",
                   help="make_scenario keyword arguments, e.g. T:12 water_fraction:0.9")
    p.add_argument("--workers", type=int, default=None,
                   help="parallel workers over seeds: local processes (default 1) or Ray actors (default: the "
                        "cluster's CPUs)")
    p.add_argument("--backend", choices=("local", "ray"), default="local",
                   help="where the (policy, seed) jobs run: this machine or Ray (pip install -e \".[scale]\")")
    p.add_argument("--address", default=None,
                   help="with --backend ray: the cluster to join (auto, or ray://host:10001; default: a local Ray)")
    p.add_argument("--import", dest="imports", action="append", default=[], metavar="MODULE",
                   help="import MODULE first (it may register policies or loaders); repeatable")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")
    a = p.parse_args(argv)
    from green_llm_env import cost

    policies = [s.strip() for s in a.policies.split(",") if s.strip()]
    if not policies:
        raise CliError(f"--policies must name at least one policy; got {a.policies!r}")
    weights = cost.DEFAULT_WEIGHTS
    if a.weights is not None:
        try:
            weights = tuple(float(x) for x in a.weights.split(","))
            cost.check_weights(weights, "--weights")
        except ValueError as exc:
            raise CliError(str(exc) if "--weights" in str(exc) else
                           f"--weights must be three numbers e,c,d summing to 1; got {a.weights!r}") from None
    if a.workers is not None and a.workers < 1:
        raise CliError(f"--workers must be >= 1; got {a.workers}")
    if a.address is not None and a.backend != "ray":
        raise CliError("--address needs --backend ray")
    if a.backend == "ray" and importlib.util.find_spec("ray") is None:
        raise CliError('--backend ray needs Ray: pip install -e ".[scale]"')
    if a.address is not None:
        from baselines.backends import _host_port

        try:
            _host_port(a.address)
        except ValueError as exc:
            raise CliError(str(exc)) from None
    if a.start and not a.traces:
        raise CliError("--start needs --traces")
    if a.traces and not Path(a.traces).exists():
        raise CliError(f"--traces folder not found: {a.traces}")
    env_kwargs = parse_kv(a.env_kwargs, "--env-kwargs")
    for bad in ("weights", "scenario"):
        if bad in env_kwargs:
            raise CliError(f"--env-kwargs may not set {bad!r} (use --weights; scenarios come from --seeds)")
    env = (a.env or ENV_ID).split(":", 1)[-1]
    import gymnasium as gym
    import green_llm_env  # noqa: F401  (registers the ids)

    if env not in gym.registry or not env.startswith("GreenLLM"):
        known = sorted(k for k in gym.registry if k.startswith("GreenLLM"))
        raise CliError(f"--env must be one of {known}; got {a.env!r}")
    env_given = a.env is not None
    return Config(policies=policies, seeds=parse_seeds(a.seeds), out=a.out, weights=tuple(float(w) for w in weights),
                  env=env,
                  env_kwargs=env_kwargs, gen_kwargs=parse_kv(a.gen_kwargs, "--gen-kwargs"), traces=a.traces,
                  start=(a.start or "2024-01-01T00") if a.traces else None,
                  workers=a.workers or (0 if a.backend == "ray" else 1), backend=a.backend, address=a.address,
                  imports=list(a.imports), plots=not a.no_plots, progress=not a.no_progress, env_given=env_given)


# ---------------------------------------------------------------------------------------------- work
def _import_plugins(imports: list[str], specs: list[str]) -> None:
    for mod in imports:
        importlib.import_module(mod)
    from baselines.policy import parse_spec

    if any(parse_spec(s)[1] is not None for s in specs):
        try:  # agents registers loaders for name=path specs
            importlib.import_module("agents")
        except ImportError:
            pass


def make_scenario_for(cfg: Config, seed: int):
    """The scenario of one seed."""
    from green_llm_env import make_scenario, scenario_from_traces

    if cfg.traces:
        return scenario_from_traces(cfg.traces, cfg.start, seed=seed, **cfg.gen_kwargs)
    if is_v2(cfg.env):
        from green_llm_env.batch_generator import scenario_of_seed

        return scenario_of_seed(seed, **cfg.gen_kwargs)
    return make_scenario(seed, **cfg.gen_kwargs)


def is_v2(env_id: str) -> bool:
    """Whether an env id is GreenLLM-v2 or one of its views (scored against the elastic-water oracle)."""
    return env_id.endswith("-v2")


def oracle_objective(scenario, weights, v2: bool) -> float:
    """The oracle objective a policy's episode is compared with: v2's water price, or the hard budget."""
    from baselines import solve

    if not v2:
        return solve(scenario, weights).objective
    from green_llm_env.core.water import scenario_water_price

    return solve(scenario, weights, water_price=scenario_water_price(scenario, weights)).objective


class Runner:
    """Plays policies on seeds: caches one policy object per spec and one env per environment setting."""

    def __init__(self, cfg: Config) -> None:
        from baselines.policy import make_policy

        _import_plugins(cfg.imports, cfg.policies)
        self.cfg = cfg
        self.policies = {spec: make_policy(spec) for spec in cfg.policies}
        self.envs: dict[str, Any] = {}

    def env_kwargs(self, spec: str) -> dict[str, Any]:
        return {**self.cfg.env_kwargs, **dict(getattr(self.policies[spec], "env_kwargs", None) or {})}

    def env_id(self, spec: str) -> str:
        """The env a policy plays: a trained agent's own (``env_id``), else ``--env``."""
        return getattr(self.policies[spec], "env_id", None) or self.cfg.env

    def env_for(self, spec: str, scenario) -> Any:
        import gymnasium as gym

        kwargs = self.env_kwargs(spec)
        env_id = self.env_id(spec)
        key = env_id + json.dumps(kwargs, sort_keys=True, default=str) + f"|T={scenario.T}"
        if key not in self.envs:
            # v0 is registered with a 24-step TimeLimit: stretch it to the scenario's T; v1 ends at T itself
            limit = {"max_episode_steps": scenario.T} if gym.spec(env_id).max_episode_steps is not None else {}
            self.envs[key] = gym.make(f"green_llm_env:{env_id}", scenario=scenario, weights=self.cfg.weights,
                                      **limit, **kwargs)
        return self.envs[key]

    def episode(self, spec: str, scenario, seed: int) -> tuple[dict[str, float], list[dict[str, Any]]]:
        """One episode; returns (totals, hourly rows)."""
        policy = self.policies[spec]
        env = self.env_for(spec, scenario)
        obs, _ = env.reset(seed=seed, options={"scenario": scenario})
        base = env.unwrapped
        policy.reset(base)
        keys = ("cost_weighted", "energy_cost", "carbon_cost", "delay_cost", "penalty", "emissions_kg", "water_l",
                "grid_kwh")
        tot = dict.fromkeys(keys, 0.0)
        hourly = []
        steps = charged = 0
        while True:
            hour = int(base.t)
            obs, _, terminated, truncated, info = env.step(policy.act(obs, base))
            vals = {k: float(info.get(k, 0.0)) for k in keys}
            for k in keys:
                tot[k] += vals[k]
            charged += int(vals["penalty"] > 0)
            steps += 1
            hourly.append({"hour": hour, "cost_weighted": vals["cost_weighted"], "energy": vals["energy_cost"],
                           "carbon": vals["carbon_cost"], "delay": vals["delay_cost"], "penalty": vals["penalty"],
                           "emissions_kg": vals["emissions_kg"], "water_l": vals["water_l"],
                           "grid_kwh": vals["grid_kwh"]})
            if terminated or truncated:
                break
        if steps != scenario.T:
            raise RuntimeError(f"episode of policy {spec!r} ended after {steps} of T = {scenario.T} steps")
        tot["violations"] = charged
        return tot, hourly

    def run_seed(self, seed: int, specs: list[str]) -> dict[str, Any]:
        """Every pending policy on one seed -> {"rows", "hourly", "errors"}."""
        from baselines.policy import spec_label

        out: dict[str, Any] = {"seed": seed, "rows": [], "hourly": [], "errors": []}
        oracles: dict[bool, float] = {}
        try:
            scenario = make_scenario_for(self.cfg, seed)
            for v2 in sorted({is_v2(self.env_id(spec)) for spec in specs}):
                oracles[v2] = oracle_objective(scenario, self.cfg.weights, v2)
        except Exception as exc:  # infeasible scenario, trace window: one line per seed
            out["errors"].append(f"seed {seed}: {type(exc).__name__}: {exc}")
            return out
        for spec in specs:
            label = spec_label(spec)
            oracle = oracles[is_v2(self.env_id(spec))]
            try:
                tot, hourly = self.episode(spec, scenario, seed)
            except Exception as exc:
                out["errors"].append(f"seed {seed}, policy {label}: {type(exc).__name__}: {exc}")
                continue
            score = tot["cost_weighted"] + tot["penalty"]
            out["rows"].append({
                "policy": label, "seed": seed, "cost_weighted": tot["cost_weighted"],
                "total": tot["energy_cost"] + tot["carbon_cost"] + tot["delay_cost"], "energy": tot["energy_cost"],
                "carbon": tot["carbon_cost"], "delay": tot["delay_cost"], "emissions_kg": tot["emissions_kg"],
                "water_l": tot["water_l"], "penalty": tot["penalty"], "violations": tot["violations"],
                "oracle_cost_weighted": oracle, "gap_pct": (score - oracle) / oracle * 100.0})
            out["hourly"] += [{"policy": label, "seed": seed, **h} for h in hourly]
        return out


_WORKER: Runner | None = None


def _exit_with_parent(parent: int, period_s: float = 0.5) -> None:
    """In a worker: a daemon thread that ends this process once ``parent`` is gone (a killed evaluate.py
    leaves no worker behind; on Linux the kernel is asked too, ``PR_SET_PDEATHSIG``)."""
    import threading

    if sys.platform.startswith("linux"):
        try:
            import ctypes
            import signal

            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG = 1
        except (OSError, AttributeError):
            pass

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(period_s)
        os._exit(1)

    threading.Thread(target=watch, name="exit-with-parent", daemon=True).start()


def _worker_init(cfg: Config, parent: int) -> None:
    global _WORKER
    _exit_with_parent(parent)
    _WORKER = Runner(cfg)


def _worker_run(seed: int, specs: list[str]) -> dict[str, Any]:
    assert _WORKER is not None
    return _WORKER.run_seed(seed, specs)


# ------------------------------------------------------------------------------------------- files
def read_csv(path: Path, columns: tuple[str, ...]) -> list[dict[str, str]]:
    """Rows of a CSV written by this script (``[]`` if absent); ``CliError`` on a foreign header."""
    if not path.is_file():
        return []
    with open(path, newline="") as fh:
        reader = csv.DictReader(fh)
        if tuple(reader.fieldnames or ()) != columns:
            raise CliError(f"{path} has columns {reader.fieldnames}, not {list(columns)}; use another --out")
        return list(reader)


def write_csv_atomic(path: Path, columns: tuple[str, ...], rows: list[dict[str, Any]], fsync: bool = True) -> None:
    """Write ``rows`` to ``path`` via a temporary file and ``os.replace`` (never half-written, even if the process
    is killed; ``fsync``: also on the disk before the replace, against a power loss)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=columns, extrasaction="ignore")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (repr(v) if isinstance(v, float) else v) for k, v in row.items()})
        fh.flush()
        if fsync:
            os.fsync(fh.fileno())
    os.replace(tmp, path)


def _csv_cell(value: Any) -> Any:
    return repr(value) if isinstance(value, float) else value


def repair_tail(path: Path) -> int:
    """Cut a partial last line (a kill while a row was being appended) off ``path``; returns the bytes cut.
    The pair of that row counts as not done and is run again."""
    if not path.is_file():
        return 0
    with open(path, "rb+") as fh:
        fh.seek(0, os.SEEK_END)
        size = fh.tell()
        if size == 0:
            return 0
        fh.seek(size - 1)
        if fh.read(1) == b"\n":
            return 0
        back = min(size, 1 << 16)
        while True:  # find the last newline (a row is far shorter than 64 KiB; loop for safety)
            fh.seek(size - back)
            cut = fh.read(back).rfind(b"\n")
            if cut >= 0 or back == size:
                break
            back = min(size, back * 2)
        keep = size - back + cut + 1 if cut >= 0 else 0
        fh.truncate(keep)
        fh.flush()
        os.fsync(fh.fileno())
    return size - keep


class ResultsStore:
    """``results.csv`` appended as seeds finish (one write per seed, no re-sorting), sorted once by `finish`.

    Every row is flushed to the OS as it is appended (a killed process loses nothing that was appended; a kill
    in the middle of a row leaves a partial last line, which `repair_tail` cuts on resume), and fsynced at most
    every ``sync_s`` seconds and at the end (what a power loss could cost)."""

    def __init__(self, path: Path, columns: tuple[str, ...] = COLUMNS, sync_s: float = 2.0) -> None:
        self.path, self.columns, self.sync_s = Path(path), columns, float(sync_s)
        cut = repair_tail(self.path)
        if cut:
            print(f"resuming: cut a partial last row ({cut} bytes) off {self.path}", file=sys.stderr)
        self.rows: list[dict[str, Any]] = read_csv(self.path, columns)
        fresh = not self.path.is_file() or self.path.stat().st_size == 0
        self._fh = open(self.path, "a", newline="")
        self._writer = csv.DictWriter(self._fh, fieldnames=columns, extrasaction="ignore")
        if fresh:
            self._writer.writeheader()
            self._sync()
        self._synced = time.monotonic()

    def _sync(self) -> None:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._synced = time.monotonic()

    def append(self, rows: list[dict[str, Any]]) -> None:
        """Append ``rows`` (one finished seed's) and hand them to the OS."""
        if not rows:
            return
        self._writer.writerows([{k: _csv_cell(v) for k, v in row.items()} for row in rows])
        self.rows.extend(rows)
        self._fh.flush()
        if time.monotonic() - self._synced >= self.sync_s:
            os.fsync(self._fh.fileno())
            self._synced = time.monotonic()

    def close(self) -> None:
        if not self._fh.closed:
            self._sync()
            self._fh.close()

    def finish(self, sort_key: Any) -> list[dict[str, Any]]:
        """Close, then rewrite the file sorted by ``sort_key`` once (atomically) if it is not already; returns
        the rows as read back (strings, as `read_csv` gives them)."""
        self.close()
        rows = read_csv(self.path, self.columns)
        ordered = sorted(rows, key=sort_key)
        if ordered != rows:
            write_csv_atomic(self.path, self.columns, ordered)
        return ordered


def hourly_file(out: Path, seed: int) -> Path:
    """The hourly rows of one seed."""
    return out / "hourly" / f"seed_{seed}.csv"


def write_json_atomic(path: Path, data: Any) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=1, sort_keys=True, default=str))
    os.replace(tmp, path)


def check_fingerprints(out: Path, runner: "Runner") -> dict[str, str | None]:
    """Each policy's fingerprint (``policy.fingerprint``: a trained agent's model and normalisation files,
    `agents.registry.fingerprint`; None for the baselines), by spec; `CliError` when ``out`` holds rows of a
    policy recorded in ``policies.json`` with another fingerprint (its model was retrained)."""
    from baselines.policy import spec_label

    meta_path = out / "policies.json"
    try:
        meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    except json.JSONDecodeError:
        raise CliError(f"{meta_path} is not valid JSON; use a new --out") from None
    scored = {r["policy"] for r in read_csv(out / "results.csv", COLUMNS)}
    marks = {}
    for spec, pol in runner.policies.items():
        label, mark = spec_label(spec), getattr(pol, "fingerprint", None)
        old = meta.get(label, {}).get("fingerprint") if isinstance(meta.get(label), dict) else None
        if label in scored and old != mark:
            raise CliError(f"{out} holds rows of policy {label!r} from another model (fingerprint "
                           f"{str(old)[:12]} in {meta_path.name}, now {str(mark)[:12]}); use a new --out")
        marks[spec] = mark
    return marks


# ----------------------------------------------------------------------------------------- summary
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


def _training_lines(order: list[str], meta: dict[str, dict[str, Any]]) -> list[str]:
    """summary.md's table of each trained agent's budget and constraint handling (`agents.policy.training_note`)."""
    notes = [(p, meta[p]["training"]) for p in order if isinstance(meta.get(p, {}).get("training"), dict)]
    if not notes:
        return []
    return ["", "## Trained agents", "", "| policy | training budget | constraint handling |", "|---|---|---|",
            *(f"| {p} | {n.get('budget', '')} | {n.get('constraints', '')} |" for p, n in notes)]


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
    lines += ["", "## Where the gap comes from", "",
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
    # Gap distribution.
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
    # Cost components.
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
    # Performance profiles (rliable): fraction of seeds within tau of the oracle.
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
    # Hourly profiles of one seed: the smallest seed of this run that has hourly rows.
    seeds_here = [s for s in cfg.seeds if any(int(h["seed"]) == s for h in hourly)]
    if not seeds_here:
        return
    seed = seeds_here[0]
    finished = {(r["policy"], int(r["seed"])) for r in rows}
    hourly = [h for h in hourly if (h["policy"], int(h["seed"])) in finished]
    _hourly_small_multiples(plt, order, [h for h in hourly if int(h["seed"]) == seed], seed, out / "hourly.png")


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


# -------------------------------------------------------------------------------------------- main
def env_family(env_id: str) -> str:
    """The version an env id belongs to (``GreenLLM-hybrid-v1`` -> ``v1``): its scenarios and its oracle."""
    return env_id.rsplit("-", 1)[-1]


def check_policy_speaks(cfg: Config, runner: "Runner", spec: str, env: Any, obs: Any) -> None:
    """`CliError` unless the policy of ``spec`` acts in ``env`` as it was built to: a trained agent on an env of
    its family with the observation and action it was trained with, any policy with an action of the env's
    shape (an allocation baseline on ``GreenLLM-hybrid-v1``, whose action is a water price, is refused)."""
    from baselines.policy import spec_label

    label, policy = spec_label(spec), runner.policies[spec]
    env_id = runner.env_id(spec)
    trained_on = getattr(policy, "env_id", None)
    if trained_on is not None and cfg.env_given and env_family(trained_on) != env_family(cfg.env):
        raise CliError(f"--env {cfg.env}: policy {label!r} was trained on {trained_on}, not on an env of "
                       f"{cfg.env}'s version; pass --env GreenLLM-{env_family(trained_on)}")
    model = getattr(policy, "model", None)
    if model is not None and getattr(model.policy, "alloc_layout", None) is None:  # fixed-size networks
        want = tuple(getattr(model.observation_space, "shape", None) or ())
        seen = np.shape(obs)
        if getattr(policy, "features", None) is not None and len(seen) == 1:
            from agents.policy import _features_of_env

            seen = (seen[0] + _features_of_env(env.unwrapped, policy.features).size,)
        if want and not isinstance(obs, dict) and tuple(seen) != want:
            raise CliError(f"policy {label!r}: its model reads observations of shape {want}, but {env_id} gives "
                           f"{tuple(seen)} (args.yml names an env it was not trained on?); not played")
    try:
        policy.reset(env.unwrapped)
        action = np.asarray(policy.act(obs, env.unwrapped))
    except Exception as exc:
        raise CliError(f"policy {label!r} cannot act on {env_id}: {type(exc).__name__}: "
                       f"{' '.join(str(exc).split())[:200]}") from None
    shape = tuple(env.action_space.shape or ())
    if action.size != int(np.prod(shape)):
        raise CliError(f"--env {env_id}: policy {label!r} acts with {action.size} number(s) but {env_id}'s action "
                       f"has shape {shape} (an allocation policy on an env whose action is not an allocation?)")


def run(cfg: Config) -> int:
    """Evaluate; returns the exit status (0, or 1 if some (policy, seed) failed)."""
    from baselines.policy import PolicySpecError, spec_label

    out = Path(cfg.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
        probe = out / ".write_test"
        probe.write_text("")
        probe.unlink()
    except OSError as exc:
        raise CliError(f"--out {cfg.out}: not a writable folder ({exc.strerror or exc})") from None
    ident = cfg.identity()
    cfg_path = out / "config.json"
    if cfg_path.is_file():
        try:
            old = json.loads(cfg_path.read_text())
        except json.JSONDecodeError:
            old = None
        if old != json.loads(json.dumps(ident, sort_keys=True, default=str)):
            raise CliError(f"{out} holds results of another configuration ({cfg_path}); use a new --out")
    try:
        labels = [spec_label(s) for s in cfg.policies]
    except PolicySpecError as exc:
        raise CliError(f"--policies: {exc}") from None
    if len(set(labels)) != len(labels):
        raise CliError(f"--policies names a policy twice: {labels}")
    try:
        runner = Runner(cfg)  # validates specs; loads trained models once here
    except (PolicySpecError, ImportError, OSError, ValueError) as exc:
        raise CliError(f"--policies: {exc}") from None
    except Exception as exc:  # a loader's own error type
        raise CliError(f"--policies: {type(exc).__name__}: {exc}") from None
    # Preflight: the first seed's scenario and each environment setting.
    try:
        scenario = make_scenario_for(cfg, cfg.seeds[0])
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
    cut = repair_tail(out / "results.csv")  # a row half-written by a killed run is not a row
    if cut:
        print(f"resuming: cut a partial last row ({cut} bytes) off {out / 'results.csv'}", file=sys.stderr)
    marks = check_fingerprints(out, runner)  # before anything is written: never mix rows of two models
    write_json_atomic(cfg_path, ident)
    meta_path = out / "policies.json"
    meta = json.loads(meta_path.read_text()) if meta_path.is_file() else {}
    for spec, pol in runner.policies.items():
        kind = getattr(pol, "kind", None) or ("learned" if "=" in spec.split(":")[0] else "other")
        meta[spec_label(spec)] = {"spec": spec, "kind": kind, "env": runner.env_id(spec),
                                  "env_kwargs": runner.env_kwargs(spec), "fingerprint": marks[spec],
                                  "training": getattr(pol, "training", None)}
    write_json_atomic(meta_path, meta)

    store = ResultsStore(out / "results.csv")
    rows = store.rows
    done = {(r["policy"], int(r["seed"])) for r in rows}
    hourly_dir = out / "hourly"
    hourly_dir.mkdir(exist_ok=True)
    todo = {s: [spec for spec, lab in zip(cfg.policies, labels) if (lab, s) not in done] for s in cfg.seeds}
    todo = {s: specs for s, specs in todo.items() if specs}
    skipped = sum(len(cfg.policies) for _ in cfg.seeds) - sum(len(v) for v in todo.values())
    if skipped:
        print(f"resuming: {skipped} (policy, seed) pairs already in {out / 'results.csv'}", file=sys.stderr)
    errors: list[str] = []
    rank = {lab: q for q, lab in enumerate(labels)}

    def sort_key(r: dict[str, Any]) -> tuple:
        return (rank.get(r["policy"], len(rank)), r["policy"], int(r["seed"]))

    def collect(res: dict[str, Any]) -> None:
        errors.extend(res["errors"])
        for e in res["errors"]:
            print(f"error: {e}", file=sys.stderr)
        if res["rows"]:
            # This seed's hourly file first (rows of pairs re-run now replace any left by a killed run);
            # results.csv last: a pair counts as done only once its row is there.
            path = hourly_file(out, res["seed"])
            new = {r["policy"] for r in res["rows"]}
            keep = [h for h in read_csv(path, HOURLY_COLUMNS) if h["policy"] not in new]
            hourly = sorted(keep + res["hourly"], key=lambda h: sort_key(h) + (int(h["hour"]),))
            write_csv_atomic(path, HOURLY_COLUMNS, hourly, fsync=False)  # one small file per seed: no fsync each
        store.append(res["rows"])

    try:
        from tqdm import tqdm
    except ImportError:  # the core install: no progress bar
        tqdm = _NoBar
    bar = tqdm(total=len(todo), desc="seeds", unit="seed", disable=not cfg.progress, file=sys.stderr)
    t0 = time.perf_counter()
    if cfg.backend == "ray":  # one Runner per Ray actor; rows sorted by collect, so the files match local runs
        from baselines.backends import ray_map_actors

        for res in ray_map_actors(Runner, (cfg,), "run_seed", list(todo.items()), cfg.workers or None,
                                  cfg.address):
            collect(res)
            bar.update(1)
    elif cfg.workers == 1 or len(todo) <= 1:
        for seed, specs in todo.items():
            collect(runner.run_seed(seed, specs))
            bar.update(1)
    else:
        import multiprocessing as mp

        with ProcessPoolExecutor(max_workers=min(cfg.workers, len(todo)), mp_context=mp.get_context("spawn"),
                                 initializer=_worker_init, initargs=(cfg, os.getpid())) as pool:
            pending = {pool.submit(_worker_run, seed, specs) for seed, specs in todo.items()}
            while pending:
                finished, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in finished:
                    collect(fut.result())
                    bar.update(1)
    bar.close()
    rows_now = store.finish(sort_key)
    if rows_now:
        write_summary(out, cfg, rows_now, meta)
        if cfg.plots:
            first = next((s for s in cfg.seeds if hourly_file(out, s).is_file()), None)
            hourly = [] if first is None else read_csv(hourly_file(out, first), HOURLY_COLUMNS)
            try:
                write_plots(out, cfg, rows_now, hourly)
            except ImportError as exc:  # the core install has no matplotlib
                from green_llm_env.cli import extra_hint

                print(extra_hint(exc, "plots"), file=sys.stderr)
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
