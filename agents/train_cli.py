"""`train.py`'s command line: its parser (RL Zoo's flags included), the defaults a run's arguments start from,
``key:value`` pairs, and the ``rl_zoo3.train`` command that ``-optimize`` runs."""

from __future__ import annotations

import argparse
import sys
from typing import Any

DEFAULT_ENV = "GreenLLM-v2"
DEFAULT_EVAL_SEEDS = (900, 901, 902, 903, 904)
# Arguments that define the run and cannot change on --resume (its saved values are used).
FIXED_ON_RESUME = ("algo", "env", "seed", "n_envs", "vec", "env_kwargs", "hyperparams", "conf_file", "log_folder",
                   "eval_seeds")


def kv_pairs(values: list[str] | None, flag: str) -> dict[str, Any]:
    """``["a:1", "b:[1,2]"]`` -> ``{"a": 1, "b": [1, 2]}`` (values parsed by ``agents.hyperparams.parse_value``)."""
    from agents.hyperparams import parse_value

    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, text = item.partition(":")
        if not sep or not key:
            raise SystemExit(f"{flag} {item!r}: expected key:value")
        out[key] = parse_value(text)
    return out


def build_parser(description: str = "") -> argparse.ArgumentParser:
    """The CLI (every default None means: take it from the YAML file or, on --resume, from the run)."""
    from green_llm_env.cli import OneLineParser, int_at_least, positive_float

    p = OneLineParser(prog="train.py", description=description,
                      formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algo", help="algorithm: ppo, a2c, sac, td3, ddpg, tqc, recurrentppo")
    p.add_argument("--env", default=None, help=f"env id (default {DEFAULT_ENV}; 'green_llm_env:' is implied)")
    p.add_argument("-n", "--n-timesteps", type=int, default=None,
                   help="total env steps (default: n_timesteps in the YAML); with --resume the new total")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed >= 0 (default 0: the default run reproduces the shipped agent; -1 as in RL "
                        "Zoo: drawn at random and recorded)")
    p.add_argument("-f", "--log-folder", default=None, help="log folder (default logs)")
    p.add_argument("--n-envs", type=int_at_least(1), default=None,
                   help="parallel envs (default: n_envs in the YAML, else 1 as in RL Zoo)")
    p.add_argument("--vec", "--vec-env", dest="vec", choices=("native", "dummy", "subproc"), default=None,
                   help="native: one batched numpy env (default; dummy when the YAML sets residual);\n"
                        "dummy/subproc: SB3 wrappers of gym.make")
    p.add_argument("--device", default="auto", help="auto (CPU for MLP PPO/A2C, else CUDA if present), cpu, cuda")
    p.add_argument("--env-backend", choices=("numba", "torch"), default="numba",
                   help="numba (default): SB3 on the compiled env; torch: PPO whose rollouts and updates stay on "
                        "--device, over GreenLLM-v2's torch step (agents/device_ppo.py; --hyperparams sets its "
                        "DevicePPOSettings)")
    p.add_argument("--env-kwargs", nargs="*", metavar="KEY:VALUE", help="GreenLLMEnv keyword arguments")
    p.add_argument("--hyperparams", "-params", nargs="*", metavar="KEY:VALUE",
                   help="override YAML hyperparameters, e.g. batch_size:64 learning_rate:lin_1e-3")
    p.add_argument("-conf", "--conf-file", default=None, help="hyperparameter YAML (default hyperparams/<algo>.yml)")
    p.add_argument("--eval-freq", type=int, default=None,
                   help="env steps between oracle-gap evaluations (default 10000; <= 0 disables)")
    p.add_argument("--eval-seeds", type=int_at_least(0), nargs="+", default=None,
                   help=f"validation scenario seeds (default {' '.join(map(str, DEFAULT_EVAL_SEEDS))})")
    p.add_argument("--eval-episodes", type=int_at_least(1), default=None,
                   help=f"RL Zoo's flag: evaluate on this many validation seeds from {DEFAULT_EVAL_SEEDS[0]} on "
                        f"(default {len(DEFAULT_EVAL_SEEDS)}; --eval-seeds names them)")
    p.add_argument("--n-eval-envs", type=int_at_least(1), default=None,
                   help="RL Zoo's flag, accepted: the oracle-gap evaluation plays its seeds in one env")
    p.add_argument("--save-freq", type=int, default=None, help="env steps between checkpoints (default 50000; "
                   "<= 0 disables)")
    p.add_argument("--save-replay-buffer", action="store_true", default=None,
                   help="also save the replay buffer (off-policy algorithms) for an exact --resume")
    p.add_argument("--max-minutes", type=positive_float, default=None,
                   help="wall-clock budget of the learning phase in minutes (after any warm start): stop there "
                        "and save, whatever -n says (default: none)")
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the run in RUN_DIR")
    p.add_argument("-tb", "--tensorboard-log", default=None,
                   help="tensorboard folder (default: the run folder; '' = off)")
    p.add_argument("--no-progress-bar", action="store_true", default=None, help="hide the progress bar")
    p.add_argument("-P", "--progress", action="store_true", default=None,
                   help="RL Zoo's flag: show the progress bar (shown unless --no-progress-bar)")
    p.add_argument("--num-threads", type=int, default=None,
                   help="torch CPU threads for every stage (default, or -1: 1 on the CPU, fastest for SB3's small "
                        "MLPs; the YAML's agents.callbacks.TorchThreads and threads: entries set their stage's)")
    p.add_argument("--log-interval", type=int, default=None,
                   help="SB3 log-table interval in updates (default -1: SB3's default)")
    p.add_argument("-i", "--trained-agent", default=None,
                   help="start from this model zip (its folder's VecNormalize statistics too), in a new run")
    p.add_argument("--gym-packages", nargs="+", default=None,
                   help="modules to import first (registering env ids or policies), as in RL Zoo")
    p.add_argument("-uuid", "--uuid", action="store_true", default=None,
                   help="append a UUID to the run folder's name, as in RL Zoo")
    _add_search_flags(p)
    p.add_argument("-v", "--verbose", type=int, default=None,
                   help="0: no SB3 log tables (one line per evaluation remains), 1: tables (default 1)")
    return p


def _add_search_flags(p: argparse.ArgumentParser) -> None:
    """-optimize and its flags, passed on to ``rl_zoo3.train``."""
    zoo = p.add_argument_group("hyperparameter search (delegated to RL Zoo's ExperimentManager and Optuna)")
    zoo.add_argument("-optimize", "--optimize-hyperparameters", action="store_true", default=None,
                     help="run rl_zoo3.train's Optuna search on this env and YAML")
    for flag, kind, text in (("--n-trials", int, "trials"), ("--max-total-trials", int, "trials over all runs"),
                             ("--n-jobs", int, "parallel trials"), ("--sampler", str, "tpe, random or skopt"),
                             ("--pruner", str, "halving, median or none"),
                             ("--n-startup-trials", int, "random trials first"),
                             ("--n-evaluations", int, "evaluations per trial"),
                             ("--storage", str, "Optuna storage URL"), ("--study-name", str, "Optuna study name")):
        zoo.add_argument(flag, type=kind, default=None, help=f"with -optimize: {text}")
    zoo.add_argument("--no-optim-plots", action="store_true", default=None, help="with -optimize: no plots")


def defaults() -> dict[str, Any]:
    return {"env": DEFAULT_ENV, "log_folder": "logs", "vec": None, "eval_freq": 10_000,
            "eval_seeds": list(DEFAULT_EVAL_SEEDS), "save_freq": 50_000, "save_replay_buffer": False,
            "no_progress_bar": False, "verbose": 1, "env_kwargs": None, "hyperparams": None}


ZOO_PASS = (("n_timesteps", "-n"), ("seed", "--seed"), ("log_folder", "-f"), ("n_envs", None),
             ("eval_freq", "--eval-freq"), ("eval_episodes", "--eval-episodes"), ("n_eval_envs", "--n-eval-envs"),
             ("n_trials", "--n-trials"), ("max_total_trials", "--max-total-trials"), ("n_jobs", "--n-jobs"),
             ("sampler", "--sampler"), ("pruner", "--pruner"), ("n_startup_trials", "--n-startup-trials"),
             ("n_evaluations", "--n-evaluations"), ("storage", "--storage"), ("study_name", "--study-name"),
             ("tensorboard_log", "-tb"), ("num_threads", "--num-threads"), ("verbose", "--verbose"),
             ("device", "--device"), ("log_interval", "--log-interval"))
"""train.py arguments passed on to ``rl_zoo3.train`` under -optimize (n_envs: Zoo takes it from the YAML)."""


def zoo_command(cli: dict[str, Any]) -> list[str]:
    """The ``python -m rl_zoo3.train`` command line that runs ``-optimize`` for these train.py arguments:
    RL Zoo's ExperimentManager does the Optuna search on the same YAML (hyperparams/<algo>.yml by default)."""
    from agents.hyperparams import HYPERPARAMS_DIR

    env = cli.get("env") or DEFAULT_ENV
    conf = cli.get("conf_file") or str(HYPERPARAMS_DIR / f"{cli['algo']}.yml")
    cmd = [sys.executable, "-m", "rl_zoo3.train", "--algo", cli["algo"], "--env", env.split(":", 1)[-1],
           "--conf-file", conf, "--gym-packages", "green_llm_env", *(cli.get("gym_packages") or []), "-optimize"]
    for key, flag in ZOO_PASS:
        if flag is not None and cli.get(key) is not None:
            cmd += [flag, str(cli[key])]
    if cli.get("vec") in ("dummy", "subproc"):
        cmd += ["--vec-env", cli["vec"]]
    if cli.get("env_kwargs"):
        cmd += ["--env-kwargs", *cli["env_kwargs"]]
    if cli.get("hyperparams"):  # Zoo evaluates each value as Python; the warm-start keys become its callback list
        from agents.hyperparams import load_hyperparams, zoo_overrides

        entry = load_hyperparams(cli["algo"], env, cli.get("conf_file"))
        params = zoo_overrides(entry, kv_pairs(cli["hyperparams"], "--hyperparams"))
        cmd += ["-params", *(f"{k}:{v!r}" for k, v in params.items())]
    for key, flag in (("no_optim_plots", "--no-optim-plots"), ("uuid", "-uuid"), ("progress", "-P")):
        if cli.get(key):
            cmd.append(flag)
    return cmd
