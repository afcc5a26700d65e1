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
``pretrain: oracle_plan`` (GreenLLM-v2 and GreenLLM-v1, with ``policy: EquivariantPolicy``, `agents.equivariant`)
the oracle's hourly allocation (`agents.imitation`, on GreenLLM-v2 played on the batched env; the cloned model is
kept as ``rl_model_0_steps.zip``);
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
import sys
from typing import Any

from agents.train_cli import DEFAULT_ENV, DEFAULT_EVAL_SEEDS, ZOO_PASS as _ZOO_PASS, zoo_command
from agents.train_cli import FIXED_ON_RESUME as _FIXED_ON_RESUME, defaults as _defaults, kv_pairs as _kv_pairs
from agents.train_env import _make_native, has_native_vector, make_vec_env, resolve_env_id
from agents.training import make_extra_callbacks, unknown_keys, warm_start
from agents.training import plain as _plain, read_yaml as _read_yaml, write_yaml as _write_yaml

__all__ = ["DEFAULT_ENV", "DEFAULT_EVAL_SEEDS", "build_parser", "has_native_vector", "main", "make_extra_callbacks",
           "make_vec_env", "resolve_env_id", "unknown_keys", "warm_start", "zoo_command", "_FIXED_ON_RESUME",
           "_ZOO_PASS", "_defaults", "_kv_pairs", "_make_native", "_plain", "_read_yaml", "_write_yaml"]
"""The names of this CLI's modules (`agents.train_cli`, `agents.training`) kept here for ``train.<name>``."""


def build_parser() -> argparse.ArgumentParser:
    """The CLI (every default None means: take it from the YAML file or, on --resume, from the run)."""
    from agents.train_cli import build_parser as parser_of

    return parser_of(__doc__.split("\n\n")[0])


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


def parse(argv: list[str] | None) -> tuple[argparse.ArgumentParser, dict[str, Any]]:
    """Step 1: the flags, with RL Zoo's --gym-packages imported first (they may register ids and policies)."""
    parser = build_parser()
    cli = vars(parser.parse_args(argv))
    for module in cli["gym_packages"] or []:
        try:
            __import__(module)
        except ImportError as exc:
            parser.error(f"--gym-packages {module!r}: {exc}")
    return parser, cli


def _main(argv: list[str] | None = None) -> int:
    from agents import training as steps

    parser, cli = parse(argv)
    steps.parse_cli(cli, parser.error)
    if cli["env_backend"] == "torch":  # PPO on the device: its own settings and loop (agents/device_ppo.py)
        from agents.device_ppo import cli_run

        return cli_run(cli, parser.error, _kv_pairs)
    if cli["optimize_hyperparameters"]:
        return steps.optimize(cli, parser.error)
    run = steps.run_arguments(cli, parser.error)  # step 2: the settings
    steps.resolve_settings(run)
    steps.setup_torch(run)
    env = steps.make_env(run)  # step 3: the env
    steps.find_start(run)  # step 4: the model
    env = steps.normalize(run, env)
    model = steps.make_model(run, env)
    steps.check_analytic(run, model)
    steps.write_run_files(run, [sys.argv[0], *(sys.argv[1:] if argv is None else argv)])
    code = steps.run_warm_start(run, model, env)  # step 5: the warm start
    if code is None:
        code = steps.run_analytic(run, model, env)  # and the analytic stage, if the entry has one
    if code is not None:
        return code
    return learn(run, model, env)


def learn(run: Any, model: Any, env: Any) -> int:
    """Steps 6 and 7: learn the remaining budget, save, print the summary line."""
    from agents import training as steps
    from agents.callbacks import SignalGuard

    remaining = run.total - int(model.num_timesteps)
    print(f"[train] {run.algo} on {run.env_id} ({run.args['vec']}, n_envs={run.n_envs}, device={run.device}, "
          f"seed={run.seed}): {max(remaining, 0)} of {run.total} steps to go -> {run.layout.run_dir}", flush=True)
    guard = SignalGuard()
    callbacks, eval_cb = steps.make_callbacks(run, guard)
    start_steps = int(model.num_timesteps)
    done = steps.learn_and_save(run, model, eval_cb, callbacks, guard, remaining)
    if done is None:  # interrupted twice: nothing saved
        return 130
    code, elapsed = done
    env.close()
    if eval_cb is not None:
        eval_cb.close()
    if code:
        print(f"[train] stopped at step {model.num_timesteps}; saved {run.layout.model}. Continue with:\n"
              f"  python train.py --resume {run.layout.run_dir}", flush=True)
    steps.print_summary(steps.summary(run, model, eval_cb, code, int(model.num_timesteps) - start_steps, elapsed,
                                      remaining))
    return code


if __name__ == "__main__":
    sys.exit(main())
