"""PPO whose rollouts, advantages and updates stay on one torch device, over GreenLLM-v2's torch backend.

`train` steps ``n_envs`` GreenLLM-v2 envs as one tensor program (`green_llm_env.vector_torch`), collects one whole
episode per env per rollout (T steps: v2 episodes have a fixed length and the envs run in lockstep, so no
transition straddles a reset), computes GAE(λ) and runs clipped-PPO epochs, all on ``device``; the network is
Stable-Baselines3's ``MlpPolicy`` (``ActorCriticPolicy``), so the run is saved as an SB3 ``PPO`` zip in the
repository's run layout (`agents.registry.RunLayout`) and ``evaluate.py`` plays it like any other run
(on the numba env, deterministic actions). ``train.py --env-backend torch --device cuda`` calls `run`.
"""

from __future__ import annotations

import math
import sys
import time
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Callable

import numpy as np
import torch

__all__ = ["DevicePPOSettings", "TrainStats", "run", "train"]


@dataclass(frozen=True)
class DevicePPOSettings:
    """The settings of `train` (one name and one default each; ``KEY:VALUE`` overrides via `from_pairs`).

    ``n_envs`` envs x T steps per rollout; ``n_epochs`` passes over it in minibatches of ``batch_size``;
    Adam at ``learning_rate`` (linearly annealed to 0 when ``anneal_lr``); ``gamma``, ``gae_lambda``; the
    clip range, entropy and value coefficients, gradient-norm clip; ``net_arch`` hidden sizes of the policy and
    value MLPs; ``log_std_init`` of the Gaussian; ``dtype`` of the env's tables (``"float32"`` on GPUs);
    ``scenario_bank``: None (each episode's scenario drawn on the CPU) or B scenarios held on the device
    (`green_llm_env.vector_torch`; what a GPU needs to stay busy).
    """

    n_envs: int = 256
    n_epochs: int = 4
    batch_size: int = 1536
    learning_rate: float = 3e-4
    anneal_lr: bool = True
    gamma: float = 0.99
    gae_lambda: float = 0.95
    clip_range: float = 0.2
    ent_coef: float = 0.0
    vf_coef: float = 0.5
    max_grad_norm: float = 0.5
    net_arch: tuple[int, ...] = (256, 256)
    log_std_init: float = -1.0
    dtype: str = "float64"
    scenario_bank: int | None = None

    def __post_init__(self) -> None:
        for name, low in (("n_envs", 1), ("n_epochs", 1), ("batch_size", 1)):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, int) or v < low:
                raise ValueError(f"{name} must be an integer >= {low}; got {v!r}")
        for name, lo, hi, open_lo in (("learning_rate", 0.0, math.inf, True), ("gamma", 0.0, 1.0, False),
                                      ("gae_lambda", 0.0, 1.0, False), ("clip_range", 0.0, math.inf, True),
                                      ("ent_coef", 0.0, math.inf, False), ("vf_coef", 0.0, math.inf, False),
                                      ("max_grad_norm", 0.0, math.inf, True)):
            v = getattr(self, name)
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) and v <= hi
            if not ok or v < lo or (open_lo and v == lo):
                raise ValueError(f"{name} must be a finite number in {'(' if open_lo else '['}{lo}, {hi}]; "
                                 f"got {v!r}")
        if not self.net_arch or any(isinstance(h, bool) or not isinstance(h, int) or h < 1 for h in self.net_arch):
            raise ValueError(f"net_arch must be a tuple of integers >= 1; got {self.net_arch!r}")
        if self.dtype not in ("float64", "float32"):
            raise ValueError(f"dtype must be 'float64' or 'float32'; got {self.dtype!r}")

    @classmethod
    def from_pairs(cls, pairs: dict[str, Any]) -> "DevicePPOSettings":
        """Settings with ``pairs`` overriding the defaults; an unknown key is refused, naming it."""
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(pairs) - known)
        if unknown:
            raise ValueError(f"unknown device-PPO setting(s) {unknown}; known: {sorted(known)}")
        kw = dict(pairs)
        if "net_arch" in kw and isinstance(kw["net_arch"], list):
            kw["net_arch"] = tuple(kw["net_arch"])
        return cls(**kw)


@dataclass
class TrainStats:
    """What `train` measured per update: env steps so far, mean episode return, value loss, approximate KL,
    clip fraction, the policy's mean log-std, and seconds; ``env_steps_per_s`` end to end."""

    steps: list[int] = field(default_factory=list)
    episode_return: list[float] = field(default_factory=list)
    value_loss: list[float] = field(default_factory=list)
    approx_kl: list[float] = field(default_factory=list)
    clip_fraction: list[float] = field(default_factory=list)
    log_std: list[float] = field(default_factory=list)
    seconds: list[float] = field(default_factory=list)
    env_steps_per_s: float = 0.0


def _model(env_kwargs: dict[str, Any], T: int, settings: DevicePPOSettings, device: torch.device, seed: int
           ) -> Any:
    """An SB3 PPO (MlpPolicy) over a single v2 env with the batched env's spaces (the network `train` trains;
    SB3's own rollout buffer is not used)."""
    from stable_baselines3 import PPO

    from green_llm_env.env_v2 import GreenLLMEnvV2

    arch = list(settings.net_arch)
    model = PPO("MlpPolicy", GreenLLMEnvV2(**env_kwargs), device=device, seed=seed,
                learning_rate=settings.learning_rate, n_steps=T, batch_size=T, n_epochs=settings.n_epochs,
                gamma=settings.gamma, gae_lambda=settings.gae_lambda, clip_range=settings.clip_range,
                ent_coef=settings.ent_coef, vf_coef=settings.vf_coef, max_grad_norm=settings.max_grad_norm,
                policy_kwargs={"net_arch": {"pi": arch, "vf": arch}, "log_std_init": settings.log_std_init})
    model.batch_size = settings.batch_size  # what the device loop used
    return model


def train(total_timesteps: int, settings: DevicePPOSettings = DevicePPOSettings(), device: str = "cpu",
          seed: int = 0, env_kwargs: dict[str, Any] | None = None,
          progress: Callable[[int, int, dict[str, float]], None] | None = None) -> tuple[Any, TrainStats]:
    """PPO for ``total_timesteps`` env steps (rounded up to whole rollouts of n_envs x T) on ``device``;
    returns (the SB3 PPO model, `TrainStats`). ``progress(steps, total, numbers)`` is called after each update."""
    from green_llm_env.vector_torch import GreenLLMTorchVectorEnv

    if isinstance(total_timesteps, bool) or not isinstance(total_timesteps, int) or total_timesteps < 1:
        raise ValueError(f"total_timesteps must be an integer >= 1; got {total_timesteps!r}")
    dev = torch.device(device)
    torch.manual_seed(seed)
    env_kwargs = dict(env_kwargs or {})
    venv = GreenLLMTorchVectorEnv(num_envs=settings.n_envs, device=dev, dtype=settings.dtype,
                                  scenario_bank=settings.scenario_bank, **env_kwargs)
    model = _model(env_kwargs, venv.T, settings, dev, seed)
    policy = model.policy
    opt = policy.optimizer
    E, T = settings.n_envs, venv.T
    per = E * T
    updates = -(-total_timesteps // per)
    D = venv.single_observation_space.shape[0]
    A = venv.single_action_space.shape[0]
    buf_obs = torch.empty(T, E, D, device=dev)
    buf_act = torch.empty(T, E, A, device=dev)
    buf_logp = torch.empty(T, E, device=dev)
    buf_val = torch.empty(T, E, device=dev)
    buf_rew = torch.empty(T, E, device=dev)
    stats = TrainStats()
    t0 = time.perf_counter()
    obs, _ = venv.reset(seed=seed)
    for u in range(updates):
        if settings.anneal_lr:
            for g in opt.param_groups:
                g["lr"] = settings.learning_rate * (1.0 - u / updates)
        policy.set_training_mode(False)
        with torch.no_grad():  # one episode of every env
            for t in range(T):
                act, val, logp = policy(obs)
                buf_obs[t], buf_act[t], buf_logp[t], buf_val[t] = obs, act, logp, val.flatten()
                obs, rew, _, _, _ = venv.step(act)
                buf_rew[t] = rew.to(torch.float32)
            adv = torch.zeros(T, E, device=dev)  # GAE(λ); the episode ends at T (no bootstrap)
            last = torch.zeros(E, device=dev)
            for t in reversed(range(T)):
                nxt = buf_val[t + 1] if t + 1 < T else torch.zeros(E, device=dev)
                delta = buf_rew[t] + settings.gamma * nxt - buf_val[t]
                last = delta + settings.gamma * settings.gae_lambda * last
                adv[t] = last
            ret = adv + buf_val
            ep_return = buf_rew.sum(dim=0).mean()
        obs, _ = venv.reset()  # the next episodes (each env's own random stream, as the autoreset would)
        b_obs, b_act = buf_obs.reshape(per, D), buf_act.reshape(per, A)
        b_logp, b_adv, b_ret = buf_logp.reshape(-1), adv.reshape(-1), ret.reshape(-1)
        policy.set_training_mode(True)
        kls, clips, vls = [], [], []
        for _ in range(settings.n_epochs):
            perm = torch.randperm(per, device=dev)
            for b0 in range(0, per, settings.batch_size):
                mb = perm[b0:b0 + settings.batch_size]
                values, logp, entropy = policy.evaluate_actions(b_obs[mb], b_act[mb])
                a_mb = b_adv[mb]
                a_mb = (a_mb - a_mb.mean()) / (a_mb.std() + 1e-8) if a_mb.numel() > 1 else a_mb
                log_ratio = logp - b_logp[mb]
                ratio = log_ratio.exp()
                pg = torch.max(-a_mb * ratio,
                               -a_mb * ratio.clamp(1 - settings.clip_range, 1 + settings.clip_range)).mean()
                v_loss = ((values.flatten() - b_ret[mb]) ** 2).mean()
                ent = entropy.mean() if entropy is not None else -logp.mean()
                loss = pg + settings.vf_coef * v_loss - settings.ent_coef * ent
                opt.zero_grad()
                loss.backward()
                torch.nn.utils.clip_grad_norm_(policy.parameters(), settings.max_grad_norm)
                opt.step()
                with torch.no_grad():
                    kls.append(((ratio - 1) - log_ratio).mean())
                    clips.append(((ratio - 1).abs() > settings.clip_range).float().mean())
                    vls.append(v_loss.detach())
        steps = (u + 1) * per
        numbers = {"episode_return": float(ep_return), "value_loss": float(torch.stack(vls).mean()),
                   "approx_kl": float(torch.stack(kls).mean()), "clip_fraction": float(torch.stack(clips).mean()),
                   "log_std": float(policy.log_std.detach().mean()), "seconds": time.perf_counter() - t0}
        stats.steps.append(steps)
        for k, v in numbers.items():
            getattr(stats, k).append(v)
        if progress is not None:
            progress(steps, updates * per, numbers)
    elapsed = time.perf_counter() - t0
    stats.env_steps_per_s = updates * per / elapsed if elapsed > 0 else 0.0
    model.num_timesteps = updates * per
    venv.close()
    return model, stats


def _print_progress(steps: int, total: int, numbers: dict[str, float]) -> None:
    rate = steps / numbers["seconds"] if numbers["seconds"] > 0 else 0.0
    print(f"device-ppo {steps:>10,}/{total:,} env steps  return {numbers['episode_return']:9.3f}  "
          f"value loss {numbers['value_loss']:.4f}  kl {numbers['approx_kl']:.4f}  clip {numbers['clip_fraction']:.3f}"
          f"  log-std {numbers['log_std']:.2f}  {rate:,.0f} env-steps/s", file=sys.stderr, flush=True)


def run(log_folder: str, total_timesteps: int, settings: DevicePPOSettings, device: str, seed: int,
        env_id: str = "GreenLLM-v2", env_kwargs: dict[str, Any] | None = None, command: str = "",
        quiet: bool = False) -> Any:
    """`train`, then save the run as ``log_folder/ppo/<env_id>_<n>/`` (`agents.registry.RunLayout`): the model
    zip, ``config.yml`` (settings, ``normalize: false``), ``args.yml``, ``command.txt`` and ``curves.csv`` (the
    `TrainStats`). Returns the `RunLayout`."""
    import yaml

    from .registry import RunLayout

    if env_id != "GreenLLM-v2":
        raise ValueError(f"env must be GreenLLM-v2 for the torch backend (its batched step); got {env_id!r}")
    model, stats = train(total_timesteps, settings, device, seed, env_kwargs, None if quiet else _print_progress)
    layout = RunLayout.new(log_folder, "ppo", env_id)
    layout.params_dir.mkdir(parents=True, exist_ok=True)
    model.save(layout.model)
    config = {"policy": "MlpPolicy", "normalize": False, "n_timesteps": model.num_timesteps,
              "env_backend": "torch", **{k: (list(v) if isinstance(v, tuple) else v)
                                         for k, v in asdict(settings).items()}}
    args = {"algo": "ppo", "env": env_id, "seed": seed, "n_timesteps": total_timesteps, "n_envs": settings.n_envs,
            "device": str(device), "env_backend": "torch", "env_kwargs": dict(env_kwargs or {}),
            "log_folder": str(log_folder)}
    for path, data in ((layout.config, config), (layout.args, args)):
        with open(path, "w") as fh:
            yaml.safe_dump(data, fh, sort_keys=False)
    layout.command.write_text(command + "\n")
    rows = np.column_stack([stats.steps, stats.episode_return, stats.value_loss, stats.approx_kl,
                            stats.clip_fraction, stats.log_std, stats.seconds])
    np.savetxt(layout.run_dir / "curves.csv", rows, delimiter=",", comments="",
               header="steps,episode_return,value_loss,approx_kl,clip_fraction,log_std,seconds")
    if not quiet:
        print(f"saved {layout.model} ({stats.env_steps_per_s:,.0f} env-steps/s end to end on {device})",
              file=sys.stderr)
    return layout


DEFAULT_TIMESTEPS = 1_000_000
"""``train.py --env-backend torch`` without ``-n``."""
_UNSUPPORTED = ("resume", "trained_agent", "optimize_hyperparameters", "vec", "eval_freq", "eval_seeds",
                "eval_episodes", "n_eval_envs", "save_freq", "save_replay_buffer", "tensorboard_log", "conf_file",
                "uuid")
"""train.py flags the device path does not take (refused, named, rather than ignored)."""


def cli_run(cli: dict[str, Any], error: Callable[[str], Any], pairs: Callable[[Any, str], dict[str, Any]]) -> int:
    """``train.py --env-backend torch``: the parsed flags ``cli`` (after train.py's shared checks and RL Zoo's
    conventions, `agents.training.parse_cli`) to `run` (``error`` reports a bad flag in one line; ``pairs`` parses
    ``KEY:VALUE`` lists). ``--hyperparams`` sets `DevicePPOSettings` fields."""
    given = [f"--{k.replace('_', '-')}" for k in _UNSUPPORTED if cli.get(k) not in (None, False, [])]
    if given:
        error(f"--env-backend torch does not take {', '.join(given)}")
    algo = (cli.get("algo") or "ppo").lower()
    if algo != "ppo":
        error(f"--env-backend torch trains PPO only; got --algo {cli['algo']}")
    env_id = (cli.get("env") or "GreenLLM-v2").split(":")[-1]
    if env_id != "GreenLLM-v2":
        error(f"--env-backend torch needs --env GreenLLM-v2 (the env with a torch step); got {cli['env']}")
    device = cli.get("device") or "auto"
    if device == "auto":
        device = "cuda" if torch.cuda.is_available() else "cpu"
    try:
        torch.empty(0, device=device)
    except (RuntimeError, TypeError) as exc:
        error(f"--device {device}: not an available torch device ({' '.join(str(exc).split())[:120]})")
    hp = pairs(cli.get("hyperparams"), "--hyperparams")
    if cli.get("n_envs") is not None:
        hp["n_envs"] = cli["n_envs"]
    try:
        settings = DevicePPOSettings.from_pairs(hp)
    except (TypeError, ValueError) as exc:
        error(f"--hyperparams: {exc}")
    steps = cli.get("n_timesteps") or DEFAULT_TIMESTEPS
    if steps < 1:
        error(f"-n {steps}: expected an integer >= 1")
    seed = cli.get("seed")
    if seed is None or seed < 0:
        from .training import random_seed

        seed = random_seed()
    if cli.get("num_threads"):
        torch.set_num_threads(int(cli["num_threads"]))
    env_kwargs = pairs(cli.get("env_kwargs"), "--env-kwargs")
    try:
        from green_llm_env.env_v2 import GreenLLMEnvV2

        GreenLLMEnvV2(**env_kwargs)
    except (TypeError, ValueError) as exc:
        error(f"--env-kwargs: {exc}")
    command = "python train.py " + " ".join(sys.argv[1:])
    run(cli.get("log_folder") or "logs", int(steps), settings, device, seed, env_id, env_kwargs, command,
        quiet=bool(cli.get("no_progress_bar")))
    return 0
