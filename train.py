#!/usr/bin/env python
"""Train a Stable-Baselines3 / sb3-contrib agent on GreenLLM-v2 (the default; RL Baselines3 Zoo conventions).

    python train.py --algo ppo                          # hyperparams/ppo.yml, entry GreenLLM-v2 over default
    python train.py --algo sac -n 50000 --seed 3 --env-kwargs forecast_hours:6
    python train.py --resume logs/ppo/GreenLLM-v0_1     # continue an interrupted run to its budget

Configuration flows CLI -> YAML -> constructors: ``hyperparams/<algo>.yml`` (``default:`` with the
``GreenLLM-v0:`` entry laid over it) gives the algorithm's keyword arguments and ``n_timesteps``, ``n_envs``,
``normalize``, ``policy``; ``-n``, ``--n-envs`` and ``--hyperparams k:v`` override them.

A run lives in ``LOGDIR/<algo>/GreenLLM-v0_<n>/`` (``n`` one above the highest present), RL Zoo's layout:
``GreenLLM-v0.zip`` (final or interrupted model), ``best_model.zip`` (lowest mean oracle gap on the
validation seeds), ``GreenLLM-v0/{config.yml, args.yml, vecnormalize.pkl, best_vecnormalize.pkl}``,
``command.txt``, ``evaluations.npz``, ``rl_model_<steps>_steps.zip`` checkpoints, ``tb_1/`` tensorboard
events (``tensorboard --logdir LOGDIR``), ``train*.monitor.csv``. The last printed line is one JSON object
(run_dir, num_timesteps, steps_per_s, best and final validation gaps).

``--env-backend torch`` (GreenLLM-v2, PPO only): rollouts, advantages and updates on ``--device`` over the env's
torch step (`agents.device_ppo`; ``--hyperparams`` sets `agents.device_ppo.DevicePPOSettings`), saved in the
same layout with ``normalize: false``.

Devices: ``--device auto`` (default) trains PPO, A2C and RecurrentPPO with MLP policies on the CPU (SB3's
advice: small MLPs are faster there than on a GPU) and SAC, TD3, DDPG, TQC on CUDA when a GPU is visible;
``--device cuda`` insists on the GPU and stops with a clear message when CUDA is unavailable.

Environments (``--vec``): ``native`` (default) steps all ``n_envs`` scenarios as one numpy batch
(``green_llm_env.vector``); ``dummy`` and ``subproc`` are SB3's per-env wrappers around ``gym.make``.

RL Zoo: the YAML files are in Zoo's format (``env_wrapper:``, ``callback:``, dotted ``policy:``; see
``agents.hyperparams``) and Zoo's flags are accepted with Zoo's meaning (``-tb``, ``--vec-env``, ``-P``,
``--eval-episodes``, ``--n-eval-envs``, ``-i``, ``--gym-packages``, ``--log-interval``, ``-uuid``, ``--seed -1``,
``-n -1``); ``-optimize`` (with ``--n-trials``, ``--storage``, ``--study-name``, ...) runs ``rl_zoo3.train``'s
Optuna search on the same YAML. Runs of this script are read by ``rl_zoo3.enjoy`` and ``rl_zoo3.plots``.

Agent-side settings (YAML keys, see ``agents.policy``; in the YAML files as Zoo ``env_wrapper`` /
``callback`` entries): ``obs_features: dc`` appends per-DC water
intensity, PUE and capacity headroom (which GreenLLM-v0's observation leaves out) to the observation;
``pretrain: oracle_price`` (GreenLLM-hybrid-v1) clones the oracle's water price on training scenarios before RL,
``pretrain: oracle_plan`` (GreenLLM-v1, with ``policy: EquivariantPolicy``, `agents.equivariant`) the oracle's
hourly allocation (`agents.imitation`; the cloned model is kept as ``rl_model_0_steps.zip``);
``shield: water`` applies the baselines' water guard to every allocation (the water budget binds and each
litre over it costs about $1000); ``residual: <policy>`` makes the action a correction to a baselines policy
(dummy/subproc envs only). The GreenLLM-v0 entries of all hyperparams/*.yml use ``obs_features: dc`` and
``shield: water``; ``--hyperparams shield:none obs_features:none`` trains on the raw env. A trained run
applies the same settings when ``evaluate.py`` loads it (``--policies ppo=RUN_DIR``).

Stopping: the first SIGINT (Ctrl-C) or SIGTERM stops at the next env step and saves the model, the
VecNormalize statistics and (with ``--save-replay-buffer``) the replay buffer, then exits with 130 / 143 (during
the warm start: at the next episode or epoch, saving its data, policy and statistics in ``<env>/warm_start/``);
``--resume RUN_DIR`` continues an unfinished warm start where it stopped, else from the saved state with the most
steps (final model or checkpoint; a damaged zip is reported in one line and the previous checkpoint used) with the
step count, optimiser state and normalisation statistics, until the run's ``n_timesteps`` (or a new total ``-n``).
"""

from __future__ import annotations

import argparse
import json
import shlex
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

DEFAULT_ENV = "GreenLLM-v2"
DEFAULT_EVAL_SEEDS = (900, 901, 902, 903, 904)
# Arguments that define the run and cannot change on --resume (its saved values are used).
_FIXED_ON_RESUME = ("algo", "env", "seed", "n_envs", "vec", "env_kwargs", "hyperparams", "conf_file", "log_folder",
                    "eval_seeds")


def _kv_pairs(values: list[str] | None, flag: str) -> dict[str, Any]:
    """``["a:1", "b:[1,2]"]`` -> ``{"a": 1, "b": [1, 2]}`` (values parsed by ``agents.hyperparams.parse_value``)."""
    from agents.hyperparams import parse_value

    out: dict[str, Any] = {}
    for item in values or []:
        key, sep, text = item.partition(":")
        if not sep or not key:
            raise SystemExit(f"{flag} {item!r}: expected key:value")
        out[key] = parse_value(text)
    return out


def build_parser() -> argparse.ArgumentParser:
    """The CLI (every default None means: take it from the YAML file or, on --resume, from the run)."""
    from green_llm_env.cli import OneLineParser, int_at_least

    p = OneLineParser(prog="train.py", description=__doc__.split("\n\n")[0],
                      formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--algo", help="algorithm: ppo, a2c, sac, td3, ddpg, tqc, recurrentppo")
    p.add_argument("--env", default=None, help=f"env id (default {DEFAULT_ENV}; 'green_llm_env:' is implied)")
    p.add_argument("-n", "--n-timesteps", type=int, default=None,
                   help="total env steps (default: n_timesteps in the YAML); with --resume the new total")
    p.add_argument("--seed", type=int, default=None,
                   help="random seed >= 0 (default, or -1 as in RL Zoo: drawn at random and recorded)")
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
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue the run in RUN_DIR")
    p.add_argument("-tb", "--tensorboard-log", default=None,
                   help="tensorboard folder (default: the run folder; '' = off)")
    p.add_argument("--no-progress-bar", action="store_true", default=None, help="hide the progress bar")
    p.add_argument("-P", "--progress", action="store_true", default=None,
                   help="RL Zoo's flag: show the progress bar (shown unless --no-progress-bar)")
    p.add_argument("--num-threads", type=int, default=None,
                   help="torch CPU threads (default, or -1: 1 on the CPU, fastest for SB3's small MLPs)")
    p.add_argument("--log-interval", type=int, default=None,
                   help="SB3 log-table interval in updates (default -1: SB3's default)")
    p.add_argument("-i", "--trained-agent", default=None,
                   help="start from this model zip (its folder's VecNormalize statistics too), in a new run")
    p.add_argument("--gym-packages", nargs="+", default=None,
                   help="modules to import first (registering env ids or policies), as in RL Zoo")
    p.add_argument("-uuid", "--uuid", action="store_true", default=None,
                   help="append a UUID to the run folder's name, as in RL Zoo")
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
    p.add_argument("-v", "--verbose", type=int, default=None,
                   help="0: no SB3 log tables (one line per evaluation remains), 1: tables (default 1)")
    return p


def _defaults() -> dict[str, Any]:
    return {"env": DEFAULT_ENV, "log_folder": "logs", "vec": None, "eval_freq": 10_000,
            "eval_seeds": list(DEFAULT_EVAL_SEEDS), "save_freq": 50_000, "save_replay_buffer": False,
            "no_progress_bar": False, "verbose": 1, "env_kwargs": None, "hyperparams": None}


def resolve_env_id(env: str) -> str:
    """``GreenLLM-v0`` -> ``green_llm_env:GreenLLM-v0`` unless the bare id is registered by another package:
    the module prefix makes every process that makes the env (``--vec subproc`` workers) import green_llm_env
    and so register its ids, whatever this process imported before."""
    import gymnasium as gym

    spec = gym.registry.get(env)
    if ":" in env or (spec is not None and not str(spec.entry_point).startswith("green_llm_env")):
        return env
    return f"green_llm_env:{env}"


def has_native_vector(env_id: str) -> bool:
    """Whether the env id is registered with a natively batched version (GreenLLM-v0 is; v1 is not)."""
    import gymnasium as gym

    module, _, name = env_id.rpartition(":")
    if module:
        __import__(module)  # registers its ids
    try:
        return gym.spec(name).vector_entry_point is not None
    except gym.error.Error:
        return False


def _plain(value: Any) -> Any:
    """YAML-safe copy (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def make_vec_env(env_id: str, n_envs: int, vec: str, env_kwargs: dict[str, Any], seed: int,
                 monitor_file: str | None, features: str | None = None, residual: str | None = None,
                 residual_scale: float = 0.5, shield: str | None = None, action_groups: str | None = None,
                 extra_wrappers: list[tuple[str, dict[str, Any]]] | None = None) -> Any:
    """The training VecEnv (SB3 API) with a ``VecMonitor`` on top (episode reward/length for the logs);
    ``features`` appends agent-side observation features (``agents.policy.OBS_FEATURES``)."""
    import gymnasium as gym
    from stable_baselines3.common.vec_env import DummyVecEnv, SubprocVecEnv, VecMonitor

    if vec == "native":
        if residual is not None:
            raise SystemExit(f"residual={residual!r} needs per-env wrappers: use --vec dummy or subproc")
        venv = _make_native(env_id, n_envs, env_kwargs, seed)
        if shield is not None:
            from agents.policy import ShieldVecEnv

            venv = ShieldVecEnv(venv, shield)
        if features is not None:
            from agents.policy import FeatureVecEnv

            venv = FeatureVecEnv(venv, features)
        if action_groups is not None:
            from agents.policy import GroupedVecEnv

            venv = GroupedVecEnv(venv, action_groups)
    elif vec in ("dummy", "subproc"):
        def factory(rank: int):
            def _init() -> gym.Env:
                if vec == "subproc":  # Ctrl-C reaches the whole process group: only the parent handles it
                    import signal
                    signal.signal(signal.SIGINT, signal.SIG_IGN)
                env = gym.make(env_id, **env_kwargs)
                if shield is not None:  # innermost: it sees the final action
                    from agents.policy import ShieldAction

                    env = ShieldAction(env, shield)
                if residual is not None:
                    from agents.policy import ResidualAction

                    env = ResidualAction(env, residual, residual_scale)
                if features is not None:
                    from agents.policy import FeatureObservation

                    env = FeatureObservation(env, features)
                if action_groups is not None:  # outermost of the agent wrappers: the agent's own action
                    from agents.policy import GroupedAction

                    env = GroupedAction(env, action_groups)
                for name, kwargs in extra_wrappers or []:  # other env_wrapper classes of the YAML, as RL Zoo
                    from agents.hyperparams import import_dotted

                    env = import_dotted(name)(env, **kwargs)
                env.action_space.seed(seed + rank)
                return env
            return _init
        fns = [factory(r) for r in range(n_envs)]
        venv = DummyVecEnv(fns) if vec == "dummy" else SubprocVecEnv(fns)
        venv.seed(seed)
    else:
        raise ValueError(f"vec={vec!r} is not one of 'native', 'dummy', 'subproc'")
    return VecMonitor(venv, filename=monitor_file)


def _make_native(env_id: str, n_envs: int, env_kwargs: dict[str, Any], seed: int) -> Any:
    """The natively batched env of ``green_llm_env.vector`` behind its SB3 ``VecEnv`` adapter."""
    if not has_native_vector(env_id):
        raise SystemExit(f"--vec native: env {env_id!r} has no native batched version; use --vec dummy")
    try:
        if env_id.endswith("-v2"):  # GreenLLM-v2 and its views: the batch-first core's adapter
            from green_llm_env import vector_v2 as vector
        else:
            from green_llm_env import vector  # type: ignore[no-redef]
    except ImportError as exc:
        raise SystemExit(f"--vec native: green_llm_env.vector is not available ({exc}); use --vec dummy") from None
    adapter = getattr(vector, "SB3VecEnvV2" if env_id.endswith("-v2") else "SB3VecEnv", None)
    if adapter is None:
        raise SystemExit("--vec native: green_llm_env.vector has no SB3VecEnv adapter; use --vec dummy")
    venv = adapter(num_envs=n_envs, **env_kwargs)
    venv.seed(seed)
    return venv


def warm_start(model: Any, layout: Any, make_env: Any, settings: Any, seed: int,
               stop: Any = None) -> None:
    """Behaviour cloning before RL (``pretrain`` in the YAML, `agents.imitation`); the cloned model and its
    statistics are kept as the step-0 checkpoint (``rl_model_0_steps.zip``), so that the warm start alone can be
    scored (``evaluate.py --policies ppo=RUN/rl_model_0_steps.zip``). Progress per round goes to the console and
    ``<env>/warm_start/progress.jsonl``; when ``stop()`` turns true (SIGINT/SIGTERM) what is done is saved in
    ``<env>/warm_start/`` and `agents.imitation.WarmStartInterrupted` raised (``--resume`` continues)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.imitation import DAGGER_ROUND, pretrain

    dagger = settings["pretrain_dagger"]
    rounds = -(-dagger // DAGGER_ROUND)
    print(f"[train] warm start: behaviour cloning of {settings['pretrain']!r} on {settings['pretrain_episodes']} "
          f"training scenarios, {settings['pretrain_epochs']} epochs per fit"
          + (f", then {dagger} DAgger episodes in {rounds} round(s) (pretrain_dagger)" if dagger else ""),
          flush=True)
    warm_dir = layout.params_dir / "warm_start"
    summary = pretrain(model, make_env, settings["pretrain"], settings["pretrain_episodes"],
                       settings["pretrain_epochs"], seed, settings["pretrain_dagger"], settings["pretrain_lr"],
                       state_dir=warm_dir, stop=stop, log=lambda line: print(line, flush=True))
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(layout.run_dir / f"{layout.checkpoint_prefix}_0_steps.zip"))
    vecnorm = model.get_vec_normalize_env()
    if isinstance(vecnorm, VecNormalize):
        vecnorm.save(str(layout.checkpoint_vecnormalize(0)))
    _write_yaml(layout.params_dir / "pretrain.yml", {"expert": settings["pretrain"], **summary})
    for name in ("data.npz", "policy.pt", "state.json"):  # kept in rl_model_0_steps.zip now; the log stays
        (warm_dir / name).unlink(missing_ok=True)
    print(f"[train] warm start done: {summary}", flush=True)


def _write_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        yaml.safe_dump(_plain(data), fh, sort_keys=False)


def _read_yaml(path: Path) -> dict[str, Any]:
    from agents.registry import read_run_yaml

    if not path.is_file():
        raise SystemExit(f"--resume: {path} is missing; is this a run folder written by train.py?")
    try:
        return read_run_yaml(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--resume: {exc}") from None


_ZOO_PASS = (("n_timesteps", "-n"), ("seed", "--seed"), ("log_folder", "-f"), ("n_envs", None),
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
    for key, flag in _ZOO_PASS:
        if flag is not None and cli.get(key) is not None:
            cmd += [flag, str(cli[key])]
    if cli.get("vec") in ("dummy", "subproc"):
        cmd += ["--vec-env", cli["vec"]]
    if cli.get("env_kwargs"):
        cmd += ["--env-kwargs", *cli["env_kwargs"]]
    if cli.get("hyperparams"):  # Zoo evaluates each value as Python; the warm-start keys become its callback list
        from agents.hyperparams import load_hyperparams, zoo_overrides

        entry = load_hyperparams(cli["algo"], env, cli.get("conf_file"))
        params = zoo_overrides(entry, _kv_pairs(cli["hyperparams"], "--hyperparams"))
        cmd += ["-params", *(f"{k}:{v!r}" for k, v in params.items())]
    for key, flag in (("no_optim_plots", "--no-optim-plots"), ("uuid", "-uuid"), ("progress", "-P")):
        if cli.get(key):
            cmd.append(flag)
    return cmd


def unknown_keys(algo: str, algo_kwargs: dict[str, Any]) -> list[str]:
    """The keys of ``algo_kwargs`` that ``algo``'s constructor does not take (a typo such as ``pretrain_epoch``)."""
    import inspect

    from agents.registry import ALGOS

    params = inspect.signature(ALGOS[algo].__init__).parameters
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values()):
        return []
    return sorted(k for k in algo_kwargs if k not in params)


def make_extra_callbacks(entries: list[tuple[str, dict[str, Any]]]) -> list[Any]:
    """The YAML's ``callback:`` classes other than the warm start, built as RL Zoo builds them."""
    from agents.hyperparams import import_dotted

    out = []
    for name, kwargs in entries:
        try:
            out.append(import_dotted(name)(**kwargs))
        except (TypeError, ValueError) as exc:
            raise SystemExit(f"callback {name!r} with {kwargs!r}: {exc}") from None
    return out


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring); a bad value is one line on stderr and exit status 2."""
    import warnings

    from green_llm_env.cli import extra_hint, run_cli

    # v0/v1 are trained on purpose: gym's "out of date" note would break the one-line errors
    try:
        import gymnasium  # noqa: F401  (its own filter goes first; this one must be laid over it)
    except ImportError:
        pass
    warnings.filterwarnings("ignore", message=r".*is out of date", category=DeprecationWarning)
    try:
        return run_cli("train.py", _main, argv)
    except ImportError as exc:  # the core install: SB3, torch and yaml come with the train extra
        if getattr(exc, "name", None) in (None, "") or exc.name.split(".")[0] not in ("torch", "stable_baselines3",
                                                                                      "sb3_contrib", "yaml", "tqdm",
                                                                                      "rich", "rl_zoo3"):
            raise
        print(f"train.py: error: {extra_hint(exc, 'training')}", file=sys.stderr)
        return 2


def _main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    cli = vars(parser.parse_args(argv))
    for module in cli["gym_packages"] or []:  # RL Zoo's --gym-packages: register ids / policies first
        try:
            __import__(module)
        except ImportError as exc:
            parser.error(f"--gym-packages {module!r}: {exc}")
    if cli["env_backend"] == "torch":  # PPO on the device: its own settings and loop (agents/device_ppo.py)
        from agents.device_ppo import cli_run

        return cli_run(cli, parser.error, _kv_pairs)
    if cli["seed"] is not None and cli["seed"] < -1:
        parser.error(f"--seed {cli['seed']}: expected an integer >= 0, or -1 for a random seed")
    if cli["num_threads"] is not None and cli["num_threads"] < 1 and cli["num_threads"] != -1:
        parser.error(f"--num-threads {cli['num_threads']}: expected an integer >= 1, or -1 for the default")
    if cli["n_timesteps"] == -1:  # RL Zoo's default: the YAML's budget
        cli["n_timesteps"] = None
    if cli["num_threads"] == -1:
        cli["num_threads"] = None
    if cli["optimize_hyperparameters"]:
        if not cli["algo"]:
            parser.error("-optimize needs --algo")
        import subprocess

        try:
            cmd = zoo_command(cli)
        except (OSError, ValueError) as exc:
            parser.error(f"-optimize: {exc}")
        return subprocess.call(cmd)
    if cli["eval_episodes"] is not None and cli["eval_seeds"] is None:
        cli["eval_seeds"] = list(range(DEFAULT_EVAL_SEEDS[0], DEFAULT_EVAL_SEEDS[0] + cli["eval_episodes"]))
    if cli["progress"]:
        cli["no_progress_bar"] = False
    given = {k: v for k, v in cli.items() if v is not None and not (k == "device" and v == "auto")}

    from agents.registry import DEFAULT_POLICY, RunLayout, canonical_name, is_off_policy, resolve_device

    resume = cli["resume"]
    if resume:
        try:
            layout = RunLayout.find(resume)
        except FileNotFoundError as exc:
            raise SystemExit(f"--resume {resume}: not a training run folder ({exc})") from None
        saved = _read_yaml(layout.args)
        clash = [k for k in _FIXED_ON_RESUME if k in given and _plain(given[k]) != saved.get(k)
                 and not (k in ("env_kwargs", "hyperparams") and _kv_pairs(given[k], k) == saved.get(k))]
        if clash:
            parser.error(f"--resume keeps the run's {', '.join(clash)}; drop those arguments "
                         f"(saved values: {', '.join(f'{k}={saved.get(k)!r}' for k in clash)})")
        args = {**_defaults(), **saved, **{k: v for k, v in given.items() if k not in _FIXED_ON_RESUME}}
        try:
            args["algo"] = canonical_name(str(args.get("algo")))
        except ValueError as exc:
            parser.error(f"--resume {resume}: args.yml has algo={saved.get('algo')!r} ({exc})")
        if not isinstance(args.get("env"), str) or not isinstance(saved.get("env_kwargs") or {}, dict) \
                or not isinstance(args.get("seed"), int) or isinstance(args.get("seed"), bool):
            parser.error(f"--resume {resume}: args.yml is damaged (env={saved.get('env')!r}, "
                         f"env_kwargs={saved.get('env_kwargs')!r}, seed={saved.get('seed')!r})")
        raw = _read_yaml(layout.config)
        raw.pop("device", None)
        env_kwargs = dict(saved.get("env_kwargs") or {})
    else:
        if not cli["algo"]:
            parser.error("--algo is required (or --resume RUN_DIR)")
        args = {**_defaults(), **given}
        try:
            args["algo"] = canonical_name(args["algo"])
        except ValueError as exc:
            parser.error(str(exc))
        env_kwargs = _kv_pairs(cli["env_kwargs"], "--env-kwargs")
        args["env_kwargs"] = env_kwargs
        args["hyperparams"] = _kv_pairs(cli["hyperparams"], "--hyperparams")
        if args.get("seed") is None or args["seed"] < 0:
            args["seed"] = int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))
    algo = args["algo"]
    env_id = resolve_env_id(args["env"])
    key = env_id.split(":", 1)[-1]

    from agents.hyperparams import import_dotted, load_hyperparams, make_action_noise, split_hyperparams

    try:
        if not resume:
            raw = load_hyperparams(algo, key, args.get("conf_file"), args["hyperparams"])
        algo_kwargs, settings = split_hyperparams(raw)
    except (OSError, ValueError) as exc:
        parser.error(str(exc))
    unknown = unknown_keys(algo, algo_kwargs)
    if unknown:
        where = f"config.yml of {resume}" if resume else "--hyperparams / the YAML"
        parser.error(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}: not a setting of train.py nor an "
                     f"argument of {algo}'s constructor (value {algo_kwargs[unknown[0]]!r})")
    policy_name = settings["policy"] or DEFAULT_POLICY[algo]
    policy: Any = policy_name
    if "." in policy_name:  # RL Zoo's custom policy: a dotted class name
        try:
            policy = import_dotted(policy_name)
        except ValueError as exc:
            parser.error(f"policy: {exc}")
    n_envs = int(args.get("n_envs") or settings["n_envs"] or 1)
    total = args["n_timesteps"] if args.get("n_timesteps") is not None else settings["n_timesteps"]
    if not total or total <= 0:
        parser.error(f"-n/--n-timesteps={total!r}: give a positive budget or set n_timesteps in the YAML")
    try:
        device = resolve_device(args.get("device") or "auto", algo, policy_name)
    except (RuntimeError, ValueError) as exc:
        raise SystemExit(f"--device: {exc}") from None
    seed = int(args["seed"])
    if not args.get("vec") and settings["extra_wrappers"]:
        args["vec"] = "dummy"
    if not args.get("vec"):  # native batched env where the env has one, unless a per-env wrapper is configured
        args["vec"] = "dummy" if settings["residual"] or not has_native_vector(env_id) else "native"
    if settings["residual"] and args["vec"] == "native":
        parser.error(f"residual={settings['residual']!r} needs per-env wrappers: use --vec dummy or subproc")
    if settings["extra_wrappers"] and args["vec"] == "native":
        parser.error(f"env_wrapper {[n for n, _ in settings['extra_wrappers']]}: per-env wrappers need --vec dummy "
                     "or subproc")
    args.update(n_envs=n_envs, n_timesteps=int(total), env=key)

    import torch
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.utils import set_random_seed
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.callbacks import OracleGapEvalCallback, SignalGuard, StopTrainingOnSignal, make_checkpoint_callback
    from agents.registry import ALGOS

    if args.get("num_threads"):
        torch.set_num_threads(int(args["num_threads"]))
    elif device == "cpu":  # small MLPs: one thread is fastest, and far faster when the cores are shared
        torch.set_num_threads(1)
    set_random_seed(seed)

    import gymnasium as gym

    try:  # bad --env-kwargs fail here, before a run folder exists
        gym.make(env_id, **env_kwargs).close()
    except gym.error.Error as exc:  # an unknown id
        parser.error(f"--env {args['env']!r}: {exc}")
    except (TypeError, ValueError) as exc:
        parser.error(f"--env-kwargs {env_kwargs!r}: {exc}")
    if not resume:
        layout = RunLayout.new(args["log_folder"], algo, key, uuid=bool(args.get("uuid")))
    layout.params_dir.mkdir(parents=True, exist_ok=True)
    n_monitor = len(list(layout.run_dir.glob("train*.monitor.csv")))
    monitor = str(layout.run_dir / ("train" if n_monitor == 0 else f"train_resume{n_monitor}"))
    env = make_vec_env(env_id, n_envs, args["vec"], env_kwargs, seed, monitor, settings["obs_features"],
                       settings["residual"], settings["residual_scale"], settings["shield"],
                       settings["action_groups"], settings["extra_wrappers"])
    model_path = vecnorm_path = buffer_path = None
    warm_dir = layout.params_dir / "warm_start"
    # a run stopped during its warm start: no model yet; the warm start continues from what it saved
    warm_pending = bool(resume and settings["pretrain"] and (warm_dir / "state.json").is_file()
                        and not (layout.params_dir / "pretrain.yml").is_file())
    if resume and not warm_pending:
        try:
            model_path, vecnorm_path, buffer_path = layout.latest_state(on_damaged=lambda path, why: print(
                f"[train] {Path(path).name} is damaged ({why}); falling back to the previous checkpoint",
                flush=True))
        except FileNotFoundError as exc:
            raise SystemExit(f"--resume {resume}: {exc}") from None
    elif args.get("trained_agent"):  # RL Zoo's -i: start from a model, with its statistics, in a new run
        from agents.policy import resolve_model_files

        try:
            _, model_path, vecnorm_path = resolve_model_files(args["trained_agent"])
        except (FileNotFoundError, ValueError) as exc:
            parser.error(f"-i/--trained-agent {args['trained_agent']!r}: {exc}")
        buffer_path = Path(model_path).with_name("replay_buffer.pkl")
    if settings["normalize"] is not None:
        if model_path is not None and vecnorm_path is not None and Path(vecnorm_path).is_file():
            try:
                env = VecNormalize.load(str(vecnorm_path), env)
            except Exception as exc:  # another env's statistics (AssertionError on the shapes), a damaged pickle
                raise SystemExit(f"{'--resume' if resume else '-i'}: statistics {vecnorm_path} do not fit env "
                                 f"{env_id} ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
            env.training = True
        else:
            if resume and not warm_pending:
                print(f"[train] warning: {vecnorm_path} missing; normalisation statistics restart", flush=True)
            norm = {"gamma": algo_kwargs.get("gamma", 0.99), **settings["normalize"]}
            env = VecNormalize(env, **norm)

    tb = args.get("tensorboard_log")
    tb = str(layout.run_dir) if tb is None else (tb or None)
    noise = make_action_noise(settings["noise_type"], settings["noise_std"], int(np.prod(env.action_space.shape)))
    verbose = int(args.get("verbose", 1))
    algo_cls = ALGOS[algo]
    if model_path is not None:
        try:
            model = algo_cls.load(str(model_path), env=env, device=device, tensorboard_log=tb, verbose=verbose)
        except Exception as exc:  # spaces of another env, a damaged zip
            raise SystemExit(f"{'--resume' if resume else '-i'}: model {model_path} does not load on env {env_id} "
                             f"({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
        if noise is not None:
            model.action_noise = noise
        if is_off_policy(algo):
            if Path(buffer_path).is_file():
                model.load_replay_buffer(str(buffer_path))
            else:
                print("[train] no saved replay buffer (train with --save-replay-buffer for one); it restarts empty",
                      flush=True)
        print(f"[train] {'resuming' if resume else 'starting'} {layout.run_dir} from "
              f"{Path(model_path).name if resume else model_path} at step {model.num_timesteps}", flush=True)
        if not resume:  # -i: a new run, its own budget
            model.num_timesteps = 0
    else:
        if noise is not None:
            algo_kwargs["action_noise"] = noise
        if policy_name.rsplit(".", 1)[-1] == "EquivariantPolicy":  # its network reads the obs by the env's layout
            from agents.equivariant import layout_of

            try:
                layout_sizes = layout_of(env)
            except (AttributeError, ValueError) as exc:
                raise SystemExit(f"policy EquivariantPolicy on --env {args['env']!r}: {exc}") from None
            algo_kwargs["policy_kwargs"] = {**dict(algo_kwargs.get("policy_kwargs") or {}), "layout": layout_sizes}
        try:
            model = algo_cls(policy, env, seed=seed, device=device, tensorboard_log=tb, verbose=verbose,
                             **algo_kwargs)
        except (TypeError, ValueError, AssertionError) as exc:  # SB3 asserts some ranges (batch_size > 1)
            raise SystemExit(f"--hyperparams for {algo}: {type(exc).__name__}: {exc}") from None

    # the run's files first: a run stopped during its warm start is a run folder that --resume continues
    config = {**raw, "policy": policy_name, "n_timesteps": int(total), "n_envs": n_envs, "device": device}
    _write_yaml(layout.config, config)
    order = ("algo", "env", "seed", "n_timesteps", "n_envs", "vec", "device", "env_kwargs", "hyperparams")
    saved_args = {k: args.get(k) for k in order}
    saved_args.update({k: v for k, v in args.items() if k not in order and k != "resume"})
    _write_yaml(layout.args, {**saved_args, "device": args.get("device") or "auto"})
    command = "python " + shlex.join([sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    with open(layout.command, "a") as fh:
        fh.write(f"{command}\n# seed: {seed}  device: {device}  start: {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")

    if model_path is None and settings["pretrain"] and (not resume or warm_pending):
        from agents.imitation import WarmStartInterrupted

        with SignalGuard() as warm_guard:
            try:
                warm_start(model, layout, lambda: gym.make(env_id, **env_kwargs), settings, seed,
                           stop=lambda: warm_guard.signum is not None)
            except WarmStartInterrupted as exc:
                env.close()
                print(f"[train] warm start stopped after {exc.progress}; saved in {warm_dir}. Continue with:\n"
                      f"  python train.py --resume {layout.run_dir}", flush=True)
                return warm_guard.exit_code or 130
            except KeyboardInterrupt:
                print("[train] interrupted twice: quit without saving", file=sys.stderr, flush=True)
                return 130

    remaining = int(total) - int(model.num_timesteps)
    print(f"[train] {algo} on {env_id} ({args['vec']}, n_envs={n_envs}, device={device}, seed={seed}): "
          f"{max(remaining, 0)} of {int(total)} steps to go -> {layout.run_dir}", flush=True)

    eval_cb = None
    guard = SignalGuard()
    callbacks = [StopTrainingOnSignal(guard)]
    if int(args["eval_freq"]) > 0:
        eval_cb = OracleGapEvalCallback(lambda: gym.make(env_id, **env_kwargs), args["eval_seeds"],
                                        int(args["eval_freq"]), layout, verbose=1,
                                        features=settings["obs_features"], residual=settings["residual"],
                                        residual_scale=settings["residual_scale"], shield=settings["shield"],
                                        action_groups=settings["action_groups"])
        callbacks.append(eval_cb)
    callbacks += make_extra_callbacks(settings["extra_callbacks"])
    if int(args["save_freq"]) > 0:
        callbacks.append(make_checkpoint_callback(layout, int(args["save_freq"]), n_envs,
                                                  bool(args["save_replay_buffer"]) and is_off_policy(algo)))

    log_interval = args.get("log_interval")  # RL Zoo's -1 (or none): SB3's default for the algorithm
    log_interval = (4 if is_off_policy(algo) else 1) if log_interval is None or log_interval <= 0 else log_interval
    start_steps, start = int(model.num_timesteps), time.perf_counter()
    code = 0
    with guard:
        try:
            if remaining > 0:
                model.learn(total_timesteps=remaining, callback=CallbackList(callbacks),
                            progress_bar=not args["no_progress_bar"], tb_log_name="tb",
                            log_interval=log_interval,
                            reset_num_timesteps=not resume or warm_pending)
            elapsed = time.perf_counter() - start
            if eval_cb is not None and guard.signum is None:
                eval_cb.final_evaluation()
        except KeyboardInterrupt:
            print("[train] interrupted twice: quit without saving", file=sys.stderr, flush=True)
            return 130
        model.save(str(layout.model))
        if isinstance(model.get_vec_normalize_env(), VecNormalize):
            model.get_vec_normalize_env().save(str(layout.vecnormalize))
        if is_off_policy(algo) and args["save_replay_buffer"]:
            model.save_replay_buffer(str(layout.replay_buffer))
        code = guard.exit_code
    env.close()
    if eval_cb is not None:
        eval_cb.close()
    steps = int(model.num_timesteps) - start_steps
    if code:
        print(f"[train] stopped at step {model.num_timesteps}; saved {layout.model}. Continue with:\n"
              f"  python train.py --resume {layout.run_dir}", flush=True)
    summary = {"run_dir": str(layout.run_dir), "algo": algo, "num_timesteps": int(model.num_timesteps),
               "n_timesteps": int(total), "interrupted": bool(code), "seed": seed, "device": device,
               "steps_per_s": round(steps / elapsed, 1) if remaining > 0 and elapsed > 0 else None,
               "best_oracle_gap_pct": None if eval_cb is None or not np.isfinite(eval_cb.best_gap_pct)
               else round(float(eval_cb.best_gap_pct), 3),
               "last_oracle_gap_pct": None if eval_cb is None or eval_cb.last_result is None
               else round(float(np.mean(eval_cb.last_result["gap_pct"])), 3)}
    print(json.dumps(summary), flush=True)
    return code


if __name__ == "__main__":
    sys.exit(main())
