"""`evaluate.py`'s runner: the scenario of a seed, its oracle objective, and every pending policy's episode on
it (`Runner.run_seed`, in this process, in worker processes or in Ray actors), with the check that a policy acts
in the env it is given (`check_policy_speaks`)."""

from __future__ import annotations

import importlib
import json
import os
import sys
import time
from typing import Any

import numpy as np

from .eval_config import CliError, Config
from .rollout import oracle_gap, oracle_result, play_episode

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
    """The oracle objective a policy's episode is compared with: v2's water price, or the hard budget (solved
    once: `baselines.rollout.oracle_result`, whose result the ``oracle`` policy replays)."""
    if not v2:
        return oracle_result(scenario, weights).objective
    from green_llm_env.core.water import scenario_water_price

    return oracle_result(scenario, weights, water_price=scenario_water_price(scenario, weights)).objective


EPISODE_KEYS = ("cost_weighted", "energy_cost", "carbon_cost", "delay_cost", "penalty", "emissions_kg", "water_l",
                "grid_kwh")
"""The ``info`` entries an episode sums (`Runner.episode`)."""


class Runner:
    """Plays policies on seeds: caches one policy object per spec and one env per environment setting."""

    def __init__(self, cfg: Config) -> None:
        from baselines.policy import make_policy

        _import_plugins(cfg.imports, cfg.policies)
        self.cfg = cfg
        self.policies = {spec: make_policy(spec) for spec in cfg.policies}
        self.envs: dict[str, Any] = {}
        self._scenario: tuple[int, Any] | None = None

    def scenario(self, seed: int) -> Any:
        """The scenario of ``seed`` (`make_scenario_for`), the same object for the same seed twice in a row: the
        preflight's, replayed by `run_seed`, shares its oracle solve (`baselines.rollout.oracle_result`)."""
        if self._scenario is None or self._scenario[0] != seed:
            self._scenario = (seed, make_scenario_for(self.cfg, seed))
        return self._scenario[1]

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
        tot = dict.fromkeys(EPISODE_KEYS, 0.0)
        tot["violations"] = 0
        hourly: list[dict[str, Any]] = []

        def on_step(hour: int, reward: Any, info: dict[str, Any]) -> None:
            vals = {k: float(info.get(k, 0.0)) for k in EPISODE_KEYS}
            for k in EPISODE_KEYS:
                tot[k] += vals[k]
            tot["violations"] += int(vals["penalty"] > 0)
            hourly.append({"hour": hour, "cost_weighted": vals["cost_weighted"], "energy": vals["energy_cost"],
                           "carbon": vals["carbon_cost"], "delay": vals["delay_cost"], "penalty": vals["penalty"],
                           "emissions_kg": vals["emissions_kg"], "water_l": vals["water_l"],
                           "grid_kwh": vals["grid_kwh"]})

        steps = play_episode(self.env_for(spec, scenario), self.policies[spec], seed=seed,
                             options={"scenario": scenario}, on_step=on_step)
        if steps != scenario.T:
            raise RuntimeError(f"episode of policy {spec!r} ended after {steps} of T = {scenario.T} steps")
        return tot, hourly

    def run_seed(self, seed: int, specs: list[str]) -> dict[str, Any]:
        """Every pending policy on one seed -> {"rows", "hourly", "errors"}."""
        from baselines.policy import spec_label

        out: dict[str, Any] = {"seed": seed, "rows": [], "hourly": [], "errors": []}
        oracles: dict[bool, float] = {}
        try:
            scenario = self.scenario(seed)
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
                "oracle_cost_weighted": oracle, "gap_pct": oracle_gap(score, oracle)})
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
        extra = getattr(policy, "extra_obs_size", None)  # a trained agent's obs_features (agents.policy)
        if extra is not None and len(seen) == 1:
            seen = (seen[0] + extra(env.unwrapped),)
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
