"""What `train.py` runs, step by step: the run's settings (a new run, or ``--resume``), its VecEnv
(`agents.train_env`), its model (new, resumed or ``-i``), the warm start, the learning and the saved files (RL
Zoo's layout, `agents.registry.RunLayout`)."""

from __future__ import annotations

import json
import shlex
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .threads import torch_threads
from .train_cli import DEFAULT_EVAL_SEEDS, FIXED_ON_RESUME, defaults, kv_pairs
from .train_env import has_native_vector, make_vec_env, resolve_env_id


def plain(value: Any) -> Any:
    """YAML-safe copy (tuples -> lists, numpy scalars -> Python)."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def warm_start(model: Any, layout: Any, make_env: Any, settings: Any, seed: int,
               stop: Any = None, progress: bool = False, threads: int | None = None) -> None:
    """Behaviour cloning before RL (``pretrain`` in the YAML, `agents.imitation`); the cloned model and its
    statistics are kept as the step-0 checkpoint (``rl_model_0_steps.zip``), so that the warm start alone can be
    scored (``evaluate.py --policies ppo=RUN/rl_model_0_steps.zip``). Progress per round goes to the console and
    ``<env>/warm_start/progress.jsonl``; when ``stop()`` turns true (SIGINT/SIGTERM) what is done is saved in
    ``<env>/warm_start/`` and `agents.imitation.WarmStartInterrupted` raised (``--resume`` continues).
    ``progress``: progress bars over every phase (expert episodes, each fit's epochs, DAgger episodes).
    ``threads``: torch's CPU threads while it runs (restored after; None: ``pretrain_threads``, else as they are)."""
    from stable_baselines3.common.vec_env import VecNormalize

    from agents.imitation import DAGGER_ROUND, pretrain

    dagger = settings["pretrain_dagger"]
    rounds = -(-dagger // DAGGER_ROUND)
    print(f"[train] warm start: behaviour cloning of {settings['pretrain']!r} on {settings['pretrain_episodes']} "
          f"training scenarios, {settings['pretrain_epochs']} epochs per fit"
          + (f", then {dagger} DAgger episodes in {rounds} round(s) (pretrain_dagger)" if dagger else ""),
          flush=True)
    warm_dir = layout.params_dir / "warm_start"
    with torch_threads(threads or settings.get("pretrain_threads")):
        summary = pretrain(model, make_env, settings["pretrain"], settings["pretrain_episodes"],
                           settings["pretrain_epochs"], seed, settings["pretrain_dagger"], settings["pretrain_lr"],
                           state_dir=warm_dir, stop=stop, log=lambda line: print(line, flush=True), progress=progress)
    layout.run_dir.mkdir(parents=True, exist_ok=True)
    model.save(str(layout.run_dir / f"{layout.checkpoint_prefix}_0_steps.zip"))
    vecnorm = model.get_vec_normalize_env()
    if isinstance(vecnorm, VecNormalize):
        vecnorm.save(str(layout.checkpoint_vecnormalize(0)))
    write_yaml(layout.params_dir / "pretrain.yml", {"expert": settings["pretrain"], **summary})
    for name in ("data.npz", "policy.pt", "state.json"):  # kept in rl_model_0_steps.zip now; the log stays
        (warm_dir / name).unlink(missing_ok=True)
    print(f"[train] warm start done: {summary}", flush=True)


def write_yaml(path: Path, data: dict[str, Any]) -> None:
    import yaml

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as fh:
        yaml.safe_dump(plain(data), fh, sort_keys=False)


def read_yaml(path: Path) -> dict[str, Any]:
    from agents.registry import read_run_yaml

    if not path.is_file():
        raise SystemExit(f"--resume: {path} is missing; is this a run folder written by train.py?")
    try:
        return read_run_yaml(path)
    except (OSError, ValueError) as exc:
        raise SystemExit(f"--resume: {exc}") from None


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


# ------------------------------------------------------------------------------------------ the steps
@dataclass
class TrainRun:
    """One run of train.py as its steps fill it in: the arguments (as saved in args.yml), the YAML entry and its
    split into the algorithm's keyword arguments and train.py's settings, the run folder, the files to start
    from (``--resume`` / ``-i``)."""

    error: Callable[[str], Any]
    """The parser's one-line error (exit status 2)."""
    args: dict[str, Any]
    resume: str | None
    layout: Any = None
    raw: dict[str, Any] = field(default_factory=dict)
    env_kwargs: dict[str, Any] = field(default_factory=dict)
    algo_kwargs: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    env_id: str = ""
    policy: Any = None
    policy_name: str = ""
    n_envs: int = 1
    total: int = 0
    device: str = "cpu"
    seed: int = 0
    warm_pending: bool = False
    model_path: Any = None
    vecnorm_path: Any = None
    buffer_path: Any = None

    @property
    def algo(self) -> str:
        return self.args["algo"]

    @property
    def key(self) -> str:
        """The env id without its module (the run folder's and the YAML entry's name)."""
        return self.env_id.split(":", 1)[-1]

    def make_env(self) -> Any:
        """One un-wrapped env of the run (the warm start's and the evaluation callback's)."""
        import gymnasium as gym

        return gym.make(self.env_id, **self.env_kwargs)


DEFAULT_SEED = 0
"""The seed of a run that names none (CleanRL's convention, not RL Zoo's random one): on the same machine and
software, ``python train.py --algo ppo`` then retrains the shipped ``rl-trained-agents/ppo/GreenLLM-v2_13``
bit for bit (its config records seed 0; ``GreenLLM-v2_10``, seed 0 of the README's three-seed row, is the same
recipe with PPO on one torch thread). ``--seed -1`` draws one."""


def random_seed() -> int:
    """A seed drawn from the OS's entropy, for ``--seed -1`` (RL Zoo's "random"); the run records it."""
    return int(np.random.SeedSequence().generate_state(1)[0] % (2**31 - 1))


def parse_cli(cli: dict[str, Any], error: Callable[[str], Any]) -> None:
    """Checks and RL Zoo's conventions on the parsed flags (in place): ``--seed -1``, ``-n -1``,
    ``--num-threads -1``, ``--eval-episodes``, ``-P``."""
    if cli["seed"] is not None and cli["seed"] < -1:
        error(f"--seed {cli['seed']}: expected an integer >= 0, or -1 for a random seed")
    if cli["num_threads"] is not None and cli["num_threads"] < 1 and cli["num_threads"] != -1:
        error(f"--num-threads {cli['num_threads']}: expected an integer >= 1, or -1 for the default")
    if cli["n_timesteps"] == -1:  # RL Zoo's default: the YAML's budget
        cli["n_timesteps"] = None
    if cli["num_threads"] == -1:
        cli["num_threads"] = None


def optimize(cli: dict[str, Any], error: Callable[[str], Any]) -> int:
    """``-optimize``: RL Zoo's Optuna search on the same YAML, as a child process; its exit status."""
    import subprocess

    from .train_cli import zoo_command

    if not cli["algo"]:
        error("-optimize needs --algo")
    try:
        cmd = zoo_command(cli)
    except (OSError, ValueError) as exc:
        error(f"-optimize: {exc}")
    return subprocess.call(cmd)


def run_arguments(cli: dict[str, Any], error: Callable[[str], Any]) -> TrainRun:
    """The run's arguments: a new run's (defaults, then the flags) or, with ``--resume``, the saved ones (the
    flags that define the run may not change)."""
    from .registry import canonical_name

    if cli["eval_episodes"] is not None and cli["eval_seeds"] is None:
        cli["eval_seeds"] = list(range(DEFAULT_EVAL_SEEDS[0], DEFAULT_EVAL_SEEDS[0] + cli["eval_episodes"]))
    if cli["progress"]:
        cli["no_progress_bar"] = False
    given = {k: v for k, v in cli.items() if v is not None and not (k == "device" and v == "auto")}
    resume = cli["resume"]
    if resume:
        return _resumed_arguments(resume, given, error)
    if not cli["algo"]:
        error("--algo is required (or --resume RUN_DIR)")
    args = {**defaults(), **given}
    try:
        args["algo"] = canonical_name(args["algo"])
    except ValueError as exc:
        error(str(exc))
    env_kwargs = kv_pairs(cli["env_kwargs"], "--env-kwargs")
    args["env_kwargs"] = env_kwargs
    args["hyperparams"] = kv_pairs(cli["hyperparams"], "--hyperparams")
    if args.get("seed") is None:
        args["seed"] = DEFAULT_SEED
    elif args["seed"] < 0:
        args["seed"] = random_seed()
    return TrainRun(error, args, None, env_kwargs=env_kwargs)  # its folder: `make_env`, once the env builds


def _resumed_arguments(resume: str, given: dict[str, Any], error: Callable[[str], Any]) -> TrainRun:
    from .registry import RunLayout, canonical_name

    try:
        layout = RunLayout.find(resume)
    except FileNotFoundError as exc:
        raise SystemExit(f"--resume {resume}: not a training run folder ({exc})") from None
    saved = read_yaml(layout.args)
    clash = [k for k in FIXED_ON_RESUME if k in given and plain(given[k]) != saved.get(k)
             and not (k in ("env_kwargs", "hyperparams") and kv_pairs(given[k], k) == saved.get(k))]
    if clash:
        error(f"--resume keeps the run's {', '.join(clash)}; drop those arguments "
              f"(saved values: {', '.join(f'{k}={saved.get(k)!r}' for k in clash)})")
    args = {**defaults(), **saved, **{k: v for k, v in given.items() if k not in FIXED_ON_RESUME}}
    try:
        args["algo"] = canonical_name(str(args.get("algo")))
    except ValueError as exc:
        error(f"--resume {resume}: args.yml has algo={saved.get('algo')!r} ({exc})")
    if not isinstance(args.get("env"), str) or not isinstance(saved.get("env_kwargs") or {}, dict) \
            or not isinstance(args.get("seed"), int) or isinstance(args.get("seed"), bool):
        error(f"--resume {resume}: args.yml is damaged (env={saved.get('env')!r}, "
              f"env_kwargs={saved.get('env_kwargs')!r}, seed={saved.get('seed')!r})")
    raw = read_yaml(layout.config)
    raw.pop("device", None)
    return TrainRun(error, args, resume, layout=layout, raw=raw, env_kwargs=dict(saved.get("env_kwargs") or {}))


def resolve_settings(run: TrainRun) -> None:
    """The YAML entry (a new run's, or the run's config.yml), split and checked; policy, n_envs, budget, device,
    seed and the kind of VecEnv."""
    from .hyperparams import import_dotted, load_hyperparams, split_hyperparams
    from .registry import DEFAULT_POLICY, resolve_device

    args, algo, error = run.args, run.algo, run.error
    run.env_id = resolve_env_id(args["env"])
    try:
        if not run.resume:
            run.raw = load_hyperparams(algo, run.key, args.get("conf_file"), args["hyperparams"])
        run.algo_kwargs, run.settings = split_hyperparams(run.raw)
    except (OSError, ValueError) as exc:
        error(str(exc))
    unknown = unknown_keys(algo, run.algo_kwargs)
    if unknown:
        where = f"config.yml of {run.resume}" if run.resume else "--hyperparams / the YAML"
        error(f"{where}: unknown key(s) {', '.join(map(repr, unknown))}: not a setting of train.py nor an "
              f"argument of {algo}'s constructor (value {run.algo_kwargs[unknown[0]]!r})")
    run.policy_name = run.settings["policy"] or DEFAULT_POLICY[algo]
    run.policy = run.policy_name
    if "." in run.policy_name:  # RL Zoo's custom policy: a dotted class name
        try:
            run.policy = import_dotted(run.policy_name)
        except ValueError as exc:
            error(f"policy: {exc}")
    run.n_envs = int(args.get("n_envs") or run.settings["n_envs"] or 1)
    total = args["n_timesteps"] if args.get("n_timesteps") is not None else run.settings["n_timesteps"]
    if not total or total <= 0:
        error(f"-n/--n-timesteps={total!r}: give a positive budget or set n_timesteps in the YAML")
    run.total = int(total)
    try:
        run.device = resolve_device(args.get("device") or "auto", algo, run.policy_name)
    except (RuntimeError, ValueError) as exc:
        raise SystemExit(f"--device: {exc}") from None
    run.seed = int(args["seed"])
    _choose_vec(run)
    args.update(n_envs=run.n_envs, n_timesteps=run.total, env=run.key)


def _choose_vec(run: TrainRun) -> None:
    """``--vec``: the native batched env where the env has one, unless a per-env wrapper is configured."""
    args, settings = run.args, run.settings
    if not args.get("vec") and settings["extra_wrappers"]:
        args["vec"] = "dummy"
    if not args.get("vec"):
        args["vec"] = "dummy" if settings["residual"] or not has_native_vector(run.env_id) else "native"
    if settings["residual"] and args["vec"] == "native":
        run.error(f"residual={settings['residual']!r} needs per-env wrappers: use --vec dummy or subproc")
    if settings["extra_wrappers"] and args["vec"] == "native":
        run.error(f"env_wrapper {[n for n, _ in settings['extra_wrappers']]}: per-env wrappers need --vec dummy "
                  "or subproc")


def setup_torch(run: TrainRun) -> None:
    """Torch's CPU threads and every seed."""
    import torch
    from stable_baselines3.common.utils import set_random_seed

    if run.args.get("num_threads"):
        torch.set_num_threads(int(run.args["num_threads"]))
    elif run.device == "cpu":  # small MLPs: one thread is fastest, and far faster when the cores are shared
        torch.set_num_threads(1)
    set_random_seed(run.seed)


def make_env(run: TrainRun) -> Any:
    """The training VecEnv; bad --env-kwargs fail first, before a new run's folder exists."""
    import gymnasium as gym

    from .registry import RunLayout

    try:
        run.make_env().close()
    except gym.error.Error as exc:  # an unknown id
        run.error(f"--env {run.args['env']!r}: {exc}")
    except (TypeError, ValueError) as exc:
        run.error(f"--env-kwargs {run.env_kwargs!r}: {exc}")
    if not run.resume:
        run.layout = RunLayout.new(run.args["log_folder"], run.algo, run.key, uuid=bool(run.args.get("uuid")))
    layout, settings = run.layout, run.settings
    layout.params_dir.mkdir(parents=True, exist_ok=True)
    n_monitor = len(list(layout.run_dir.glob("train*.monitor.csv")))
    monitor = str(layout.run_dir / ("train" if n_monitor == 0 else f"train_resume{n_monitor}"))
    return make_vec_env(run.env_id, run.n_envs, run.args["vec"], run.env_kwargs, run.seed, monitor,
                        settings.agent, settings["extra_wrappers"])


def find_start(run: TrainRun) -> None:
    """The files a model starts from: on --resume the latest saved state (none while its warm start is
    unfinished), with -i the given model and its statistics."""
    layout = run.layout
    # a run stopped during its warm start: no model yet; the warm start continues from what it saved
    run.warm_pending = bool(run.resume and run.settings["pretrain"]
                            and (layout.params_dir / "warm_start" / "state.json").is_file()
                            and not (layout.params_dir / "pretrain.yml").is_file())
    if run.resume and not run.warm_pending:
        try:
            run.model_path, run.vecnorm_path, run.buffer_path = layout.latest_state(
                on_damaged=lambda path, why: print(f"[train] {Path(path).name} is damaged ({why}); falling back "
                                                   "to the previous checkpoint", flush=True))
        except FileNotFoundError as exc:
            raise SystemExit(f"--resume {run.resume}: {exc}") from None
    elif run.args.get("trained_agent"):  # RL Zoo's -i: start from a model, with its statistics, in a new run
        from .policy import resolve_model_files

        try:
            _, run.model_path, run.vecnorm_path = resolve_model_files(run.args["trained_agent"])
        except (FileNotFoundError, ValueError) as exc:
            run.error(f"-i/--trained-agent {run.args['trained_agent']!r}: {exc}")
        run.buffer_path = Path(run.model_path).with_name("replay_buffer.pkl")


def normalize(run: TrainRun, env: Any) -> Any:
    """``env`` under VecNormalize (``normalize`` in the YAML), with the statistics the model starts from."""
    from stable_baselines3.common.vec_env import VecNormalize

    if run.settings["normalize"] is None:
        return env
    path = run.vecnorm_path
    if run.model_path is not None and path is not None and Path(path).is_file():
        try:
            env = VecNormalize.load(str(path), env)
        except Exception as exc:  # another env's statistics (AssertionError on the shapes), a damaged pickle
            raise SystemExit(f"{'--resume' if run.resume else '-i'}: statistics {path} do not fit env "
                             f"{run.env_id} ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
        env.training = True
        return env
    if run.resume and not run.warm_pending:
        print(f"[train] warning: {path} missing; normalisation statistics restart", flush=True)
    norm = {"gamma": run.algo_kwargs.get("gamma", 0.99), **run.settings["normalize"]}
    return VecNormalize(env, **norm)


def make_model(run: TrainRun, env: Any) -> Any:
    """The model: loaded from `find_start`'s files, else new."""
    from .hyperparams import make_action_noise
    from .registry import ALGOS

    tb = run.args.get("tensorboard_log")
    tb = str(run.layout.run_dir) if tb is None else (tb or None)
    noise = make_action_noise(run.settings["noise_type"], run.settings["noise_std"],
                              int(np.prod(env.action_space.shape)))
    verbose = int(run.args.get("verbose", 1))
    if run.model_path is not None:
        return _load_model(run, env, tb, noise, verbose)
    if noise is not None:
        run.algo_kwargs["action_noise"] = noise
    if run.policy_name.rsplit(".", 1)[-1] == "EquivariantPolicy":  # its network reads the obs by the env's layout
        from .equivariant import policy_kwargs_of

        try:
            layout_sizes = policy_kwargs_of(env)
        except (AttributeError, ValueError) as exc:
            raise SystemExit(f"policy EquivariantPolicy on --env {run.args['env']!r}: {exc}") from None
        run.algo_kwargs["policy_kwargs"] = {**dict(run.algo_kwargs.get("policy_kwargs") or {}), **layout_sizes}
    try:
        return ALGOS[run.algo](run.policy, env, seed=run.seed, device=run.device, tensorboard_log=tb,
                               verbose=verbose, **run.algo_kwargs)
    except (TypeError, ValueError, AssertionError) as exc:  # SB3 asserts some ranges (batch_size > 1)
        raise SystemExit(f"--hyperparams for {run.algo}: {type(exc).__name__}: {exc}") from None


def _load_model(run: TrainRun, env: Any, tb: str | None, noise: Any, verbose: int) -> Any:
    from .registry import ALGOS, is_off_policy

    # -i starts a new run: its hyperparameters (the YAML entry and --hyperparams) replace the saved model's, as in
    # RL Zoo; the network (policy_kwargs) stays the model's. --resume continues with the model's own, its run's.
    overrides = {} if run.resume else {k: v for k, v in run.algo_kwargs.items() if k != "policy_kwargs"}
    try:
        model = ALGOS[run.algo].load(str(run.model_path), env=env, device=run.device, tensorboard_log=tb,
                                     verbose=verbose, **overrides)
    except Exception as exc:  # spaces of another env, a damaged zip
        raise SystemExit(f"{'--resume' if run.resume else '-i'}: model {run.model_path} does not load on env "
                         f"{run.env_id} ({type(exc).__name__}: {' '.join(str(exc).split())[:160]})") from None
    if noise is not None:
        model.action_noise = noise
    if is_off_policy(run.algo):
        if Path(run.buffer_path).is_file():
            model.load_replay_buffer(str(run.buffer_path))
        else:
            print("[train] no saved replay buffer (train with --save-replay-buffer for one); it restarts empty",
                  flush=True)
    print(f"[train] {'resuming' if run.resume else 'starting'} {run.layout.run_dir} from "
          f"{Path(run.model_path).name if run.resume else run.model_path} at step {model.num_timesteps}", flush=True)
    if not run.resume:  # -i: a new run, its own budget
        model.num_timesteps = 0
    return model


def write_run_files(run: TrainRun, command_argv: list[str]) -> None:
    """config.yml, args.yml and a line of command.txt: a run stopped during its warm start is a run folder
    that --resume continues."""
    layout, args = run.layout, run.args
    config = {**run.raw, "policy": run.policy_name, "n_timesteps": run.total, "n_envs": run.n_envs,
              "device": run.device}
    write_yaml(layout.config, config)
    order = ("algo", "env", "seed", "n_timesteps", "n_envs", "vec", "device", "env_kwargs", "hyperparams")
    saved_args = {k: args.get(k) for k in order}
    saved_args.update({k: v for k, v in args.items() if k not in order and k != "resume"})
    write_yaml(layout.args, {**saved_args, "device": args.get("device") or "auto"})
    command = "python " + shlex.join(command_argv)
    with open(layout.command, "a") as fh:
        fh.write(f"{command}\n# seed: {run.seed}  device: {run.device}  "
                 f"start: {time.strftime('%Y-%m-%dT%H:%M:%S')}\n")


def run_warm_start(run: TrainRun, model: Any, env: Any) -> int | None:
    """The warm start (``pretrain``), for a new model or an unfinished one; an exit status if it was stopped."""
    from .callbacks import SignalGuard
    from .imitation import WarmStartInterrupted

    if run.model_path is not None or not run.settings["pretrain"] or (run.resume and not run.warm_pending):
        return None
    with SignalGuard() as warm_guard:
        try:
            warm_start(model, run.layout, run.make_env, run.settings, run.seed,
                       stop=lambda: warm_guard.signum is not None, progress=not run.args.get("no_progress_bar"),
                       threads=run.args.get("num_threads"))
        except WarmStartInterrupted as exc:
            env.close()
            print(f"[train] warm start stopped after {exc.progress}; saved in {run.layout.params_dir / 'warm_start'}."
                  f" Continue with:\n  python train.py --resume {run.layout.run_dir}", flush=True)
            return warm_guard.exit_code or 130
        except KeyboardInterrupt:
            print("[train] interrupted twice: quit without saving", file=sys.stderr, flush=True)
            return 130
    return None


def check_analytic(run: TrainRun, model: Any) -> None:
    """Stop before the warm start (one line, exit status 2) if the analytic stage is on but cannot run: it needs a
    policy that maps observations to the allocation and a GreenLLM-v2 allocation action."""
    from .analytic import allocates

    if not run.settings["analytic_iters"]:
        return
    if not allocates(model.policy):
        run.error(f"analytic_iters={run.settings['analytic_iters']}: the analytic stage needs a policy that maps "
                  f"observations to the allocation (agents.equivariant.EquivariantPolicy); policy "
                  f"{run.policy_name!r} does not (set analytic_iters:0)")
    import gymnasium as gym

    spec = gym.spec(run.env_id.split(":")[-1])
    mode = run.env_kwargs.get("action_mode", spec.kwargs.get("action_mode", "project"))
    if spec.entry_point != "green_llm_env.env_v2:GreenLLMEnvV2" or mode == "price":
        run.error(f"analytic_iters={run.settings['analytic_iters']}: the analytic stage plays allocations on "
                  f"GreenLLM-v2's torch step; env {run.env_id!r} (action_mode {mode!r}) is not one "
                  f"(set analytic_iters:0)")


def run_analytic(run: TrainRun, model: Any, env: Any) -> int | None:
    """The analytic stage (``analytic_iters`` > 0, `agents.analytic`) after the warm start, for a new model or a
    resumed run whose stage had not finished (it restarts from the warm start's model); a resumed run whose
    stage had finished but whose latest state is still the warm start's gets the stage's weights. Per-iteration
    numbers go to ``<env>/analytic.csv``, the summary to ``<env>/analytic.yml``, the model to `ANALYTIC_MODEL`.
    Returns an exit status if a signal stopped it (nothing kept: ``--resume`` restarts the stage)."""
    import csv

    from .analytic import ANALYTIC_MODEL, ANALYTIC_THREADS, analytic_finetune
    from .callbacks import SignalGuard

    iters = run.settings["analytic_iters"]
    if not iters or (run.model_path is not None and not run.resume):  # -i: the given model is trained as it is
        return None
    layout = run.layout
    done, saved = layout.params_dir / "analytic.yml", layout.run_dir / ANALYTIC_MODEL
    if done.is_file():
        if int(model.num_timesteps) == 0 and saved.is_file():
            model.set_parameters(str(saved), exact_match=True, device=model.device)
        return None
    if int(model.num_timesteps) > 0:  # RL had started from a model of an older recipe: left as it is
        return None
    print(f"[train] analytic stage: {iters} iterations of the day's cost gradient through the torch step, "
          f"{run.settings['analytic_envs']} training scenarios each (analytic_iters)", flush=True)
    layout.params_dir.mkdir(parents=True, exist_ok=True)
    with open(layout.params_dir / "analytic.csv", "w", newline="") as fh, SignalGuard() as guard:
        writer = None

        def curve(row: dict[str, float]) -> None:
            nonlocal writer
            if writer is None:
                writer = csv.DictWriter(fh, fieldnames=list(row))
                writer.writeheader()
            writer.writerow(row)

        try:
            summary = analytic_finetune(model.policy, run.env_id, iters, run.settings["analytic_envs"],
                                        run.settings["analytic_lr"], run.seed, env_kwargs=run.env_kwargs,
                                        stop=lambda: guard.signum is not None,
                                        log=lambda line: print(line, flush=True),
                                        progress=not run.args.get("no_progress_bar"), curve=curve,
                                        threads=run.args.get("num_threads") or ANALYTIC_THREADS)
        except KeyboardInterrupt:
            env.close()
            print("[train] interrupted twice: quit without saving", file=sys.stderr, flush=True)
            return 130
    if summary["stopped"]:
        env.close()
        print(f"[train] analytic stage stopped after {summary['iterations']} iterations; nothing kept. Restart it "
              f"with:\n  python train.py --resume {layout.run_dir}", flush=True)
        return guard.exit_code or 130
    model.save(str(saved))
    write_yaml(done, summary)
    return None


def make_callbacks(run: TrainRun, guard: Any) -> tuple[list[Any], Any]:
    """The learning's callbacks (stop on a signal, the oracle-gap evaluation, the YAML's, checkpoints) and
    the evaluation callback (None when ``--eval-freq`` <= 0)."""
    from .callbacks import OracleGapEvalCallback, StopTrainingOnSignal, make_checkpoint_callback
    from .registry import is_off_policy

    args, settings = run.args, run.settings
    eval_cb = None
    callbacks = [StopTrainingOnSignal(guard)]
    if int(args["eval_freq"]) > 0:
        eval_cb = OracleGapEvalCallback(run.make_env, args["eval_seeds"], int(args["eval_freq"]), run.layout,
                                        verbose=1, agent=settings.agent)
        callbacks.append(eval_cb)
    extra = make_extra_callbacks(settings["extra_callbacks"])
    if args.get("num_threads"):  # --num-threads N: every stage on N threads, RL included
        from .callbacks import TorchThreads

        for cb in extra:
            if isinstance(cb, TorchThreads):
                cb.threads = int(args["num_threads"])
    callbacks += extra
    if args.get("max_minutes") is not None:
        from .callbacks import StopAfterMinutes

        callbacks.append(StopAfterMinutes(float(args["max_minutes"])))
    if int(args["save_freq"]) > 0:
        callbacks.append(make_checkpoint_callback(run.layout, int(args["save_freq"]), run.n_envs,
                                                  bool(args["save_replay_buffer"]) and is_off_policy(run.algo)))
    return callbacks, eval_cb


def learn_and_save(run: TrainRun, model: Any, eval_cb: Any, callbacks: list[Any], guard: Any,
                   remaining: int) -> tuple[int, float] | None:
    """Learn the remaining steps, evaluate once more, save the model, statistics and (if asked) the replay
    buffer, stopping cleanly on a signal; (exit status, seconds of learning). None: a second signal, unsaved."""
    from stable_baselines3.common.callbacks import CallbackList
    from stable_baselines3.common.vec_env import VecNormalize

    from .registry import is_off_policy

    args = run.args
    log_interval = args.get("log_interval")  # RL Zoo's -1 (or none): SB3's default for the algorithm
    log_interval = (4 if is_off_policy(run.algo) else 1) if log_interval is None or log_interval <= 0 else log_interval
    start = time.perf_counter()
    with guard:
        try:
            if remaining > 0:
                model.learn(total_timesteps=remaining, callback=CallbackList(callbacks),
                            progress_bar=not args["no_progress_bar"], tb_log_name="tb", log_interval=log_interval,
                            reset_num_timesteps=not run.resume or run.warm_pending)
            elapsed = time.perf_counter() - start
            if eval_cb is not None and guard.signum is None:
                eval_cb.final_evaluation()
        except KeyboardInterrupt:
            print("[train] interrupted twice: quit without saving", file=sys.stderr, flush=True)
            return None
        model.save(str(run.layout.model))
        if isinstance(model.get_vec_normalize_env(), VecNormalize):
            model.get_vec_normalize_env().save(str(run.layout.vecnormalize))
        if is_off_policy(run.algo) and args["save_replay_buffer"]:
            model.save_replay_buffer(str(run.layout.replay_buffer))
        return guard.exit_code, elapsed


def summary(run: TrainRun, model: Any, eval_cb: Any, code: int, steps: int, elapsed: float,
            remaining: int) -> dict[str, Any]:
    """The last printed line of a run: one JSON object."""
    return {"run_dir": str(run.layout.run_dir), "algo": run.algo, "num_timesteps": int(model.num_timesteps),
            "n_timesteps": run.total, "interrupted": bool(code), "seed": run.seed, "device": run.device,
            "steps_per_s": round(steps / elapsed, 1) if remaining > 0 and elapsed > 0 else None,
            "best_oracle_gap_pct": None if eval_cb is None or not np.isfinite(eval_cb.best_gap_pct)
            else round(float(eval_cb.best_gap_pct), 3),
            "last_oracle_gap_pct": None if eval_cb is None or eval_cb.last_result is None
            else round(float(np.mean(eval_cb.last_result["gap_pct"])), 3)}


def print_summary(data: dict[str, Any]) -> None:
    print(json.dumps(data), flush=True)
