"""`evaluate.py`'s command line: the `Config` of a run, parsed and checked (`parse_args`); a bad value is a
`CliError` (one line, exit status 2)."""

from __future__ import annotations

import argparse
import importlib.util
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .policy import parse_value

ENV_ID = "GreenLLM-v2"
"""The default env (``--env``); a trained agent plays the env it was trained on (its ``env_id``)."""


class CliError(ValueError):
    """A bad command-line value; printed as one line, exit status 2."""


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
    paired: list[tuple[str, str]] = field(default_factory=list)  # (A, B): report A - B per seed (--paired)

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


def build_parser() -> argparse.ArgumentParser:
    """evaluate.py's flags (a bad one is a `CliError`)."""
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
    p.add_argument("--paired", action="append", default=None, metavar="A:B[,C:D]",
                   help="paired differences to report: gap of A minus gap of B on each seed, e.g. "
                        "ppo:ppo_clone (policy labels as in the summary; a label may hold ':', as in "
                        "day_price:margin=0.1:cap=true:day_price:margin=0.1); repeatable")
    return p


def parse_args(argv: list[str] | None = None) -> Config:
    """The run's `Config`, every value checked (`CliError`: one line, exit status 2)."""
    a = build_parser().parse_args(argv)
    policies = [s.strip() for s in a.policies.split(",") if s.strip()]
    if not policies:
        raise CliError(f"--policies must name at least one policy; got {a.policies!r}")
    weights = _weights(a.weights)
    _check_backend(a)
    env_kwargs = parse_kv(a.env_kwargs, "--env-kwargs")
    for bad in ("weights", "scenario"):
        if bad in env_kwargs:
            raise CliError(f"--env-kwargs may not set {bad!r} (use --weights; scenarios come from --seeds)")
    env = _env_id(a.env)
    env_given = a.env is not None
    return Config(policies=policies, seeds=parse_seeds(a.seeds), out=a.out, weights=tuple(float(w) for w in weights),
                  env=env,
                  env_kwargs=env_kwargs, gen_kwargs=parse_kv(a.gen_kwargs, "--gen-kwargs"), traces=a.traces,
                  start=(a.start or "2024-01-01T00") if a.traces else None,
                  workers=a.workers or (0 if a.backend == "ray" else 1), backend=a.backend, address=a.address,
                  imports=list(a.imports), plots=not a.no_plots, progress=not a.no_progress, env_given=env_given,
                  paired=_paired(",".join(a.paired or []), policies))


def _paired(text: str | None, policies: list[str]) -> list[tuple[str, str]]:
    """--paired ``"A:B,C:D"`` -> [(A, B), (C, D)], each a policy label of --policies. A label may hold ':'
    (``day_price:margin=0.1``): a pair splits at the ':' where both sides are labels."""
    if not text:
        return []
    from baselines.policy import spec_label

    labels = [spec_label(s) for s in policies]
    out = []
    for part in text.split(","):
        part = part.strip()
        both = [(part[:i], part[i + 1:]) for i, ch in enumerate(part)
                if ch == ":" and part[:i] in labels and part[i + 1:] in labels]
        if len(both) > 1:
            raise CliError(f"--paired: {part!r} splits into two labels in more than one way: {both}")
        if not both:  # name the first side of the first split that is not a label
            a, _, b = part.partition(":")
            if not a or not b:
                raise CliError(f"--paired takes A:B pairs of policy labels; got {part!r}")
            missing = a if a not in labels else b
            raise CliError(f"--paired: {missing!r} is not one of the policies' labels {labels}")
        out.append(both[0])
    return out


def _weights(text: str | None) -> tuple[float, ...]:
    from green_llm_env import cost

    weights = cost.DEFAULT_WEIGHTS
    if text is not None:
        try:
            weights = tuple(float(x) for x in text.split(","))
            cost.check_weights(weights, "--weights")
        except ValueError as exc:
            raise CliError(str(exc) if "--weights" in str(exc) else
                           f"--weights must be three numbers e,c,d summing to 1; got {text!r}") from None
    return weights


def _check_backend(a: argparse.Namespace) -> None:
    """--workers, --backend and --address; --start and --traces."""
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


def _env_id(given: str | None) -> str:
    """--env without its module, a registered GreenLLM id."""
    env = (given or ENV_ID).split(":", 1)[-1]
    import gymnasium as gym
    import green_llm_env  # noqa: F401  (registers the ids)

    if env not in gym.registry or not env.startswith("GreenLLM"):
        known = sorted(k for k in gym.registry if k.startswith("GreenLLM"))
        raise CliError(f"--env must be one of {known}; got {given!r}")
    return env
