"""A trained SB3 model as a ``Policy`` that ``evaluate.py`` can score against the oracle.

``TrainedPolicy.load("logs/ppo/GreenLLM-v0_1")`` reads the run folder written by ``train.py`` (RL Zoo layout,
see ``agents.registry.RunLayout``): the algorithm from ``<env>/args.yml`` (else the parent folder name), the
final model ``<env>.zip`` with its ``<env>/vecnormalize.pkl`` statistics, and acts deterministically. A path
to a ``.zip`` inside a run folder loads that model instead (``best_model.zip`` pairs with
``<env>/best_vecnormalize.pkl``, ``rl_model_<n>_steps.zip`` with its checkpoint statistics).

Observations are normalised with the saved running mean/variance (never updated at evaluation), actions come
from ``model.predict(..., deterministic=True)`` (clipped to the Box by SB3) and are returned flat, as the
env's action space expects. RecurrentPPO's LSTM state is carried across steps and cleared by ``reset``.

A run's agent-side settings (``<env>/config.yml``, read into `agents.settings.AgentSettings`) are applied
exactly as in training, by the steps of the one wrapper chain `AGENT_CHAIN` (``wrap_env`` / ``wrap_vec_env`` in
training, the same steps in `TrainedPolicy.act`): ``action_groups``
(a low-dimensional action repeated over areas, ``ACTION_GROUPS``), ``obs_features``
(extra observation entries computed from the env, ``OBS_FEATURES``), ``residual`` (the action corrects a
baselines policy, ``ResidualAction``) and ``shield`` (``SHIELDS``). ``env_kwargs`` of the loaded policy are
the training ``--env-kwargs`` that change what the agent sees or does (``POLICY_ENV_KWARGS``), which
evaluate.py applies to that policy's environment.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any, Callable, NamedTuple

import numpy as np

from baselines.heuristics import WaterGuard

from .analytic import ANALYTIC_MODEL
from .registry import ALGOS, RunLayout, canonical_name, fingerprint, read_run_yaml, saved_steps
from .settings import WRAPPER_KEYS, AgentSettings, read_agent_settings

__all__ = ["ACTION_GROUPS", "OBS_FEATURES", "SHIELDS", "FeatureObservation", "FeatureVecEnv", "GroupedAction",
           "GroupedVecEnv", "ResidualAction", "ShieldAction", "expand_action", "group_size",
           "AGENT_CHAIN", "ChainStep", "wrap_env", "wrap_vec_env", "with_features", "residual_action",
           "shielded_action",
           "ShieldVecEnv", "TrainedPolicy", "WaterShield", "dc_features", "feature_size",
           "load_trained_policy", "resolve_model_files", "training_env_id", "training_env_kwargs"]

OBS_FEATURES = ("dc",)
"""Optional agent-side observation features (``obs_features`` in hyperparams/<algo>.yml):

- ``"dc"``: per-DC data of the slot about to be played that GreenLLM-v0's observation leaves out but that
  decides feasibility, read from ``env.coef`` (the `Policy` protocol lets a policy read the unwrapped env, as
  the LP baselines do): water per IT kWh ``water_l_per_kwh[t, j]·PUE[j]`` (L/kWh / 1.5), PUE ((PUE - 1.2) / 0.2), capacity
  headroom ``min_r C[r, j] / Σ_n resource[t, n, r]`` (largest share of the hour's demand DC j can host,
  clipped to [0, 5]), and one water-tightness scalar ``water_left / (IT kWh this hour × mean water per
  kWh × hours left)`` clipped to [0, 5]. 3J + 1 numbers, appended to the env's observation.
"""


def resolve_model_files(path: str | Path, which: str = "final") -> tuple[str, Path, Path | None]:
    """(algo name, model zip, VecNormalize pickle or None) for a run folder or a model zip.

    ``which`` ("final" or "best") picks the model of a run folder; "final" falls back to the newest checkpoint
    and "best" to the final model when the file is missing.
    """
    path = Path(path)
    if path.is_file() and path.suffix == ".zip":
        layout, model = RunLayout.find(str(path.parent)), path
        if path.name == "best_model.zip":
            vecnorm = layout.best_vecnormalize if layout.best_vecnormalize.is_file() else layout.vecnormalize
        elif path.name.startswith(f"{layout.checkpoint_prefix}_") and path.name.endswith("_steps.zip"):
            steps = path.name[len(layout.checkpoint_prefix) + 1:-len("_steps.zip")]
            vecnorm = layout.checkpoint_vecnormalize(int(steps)) if steps.isdigit() else layout.vecnormalize
        else:
            vecnorm = layout.vecnormalize
    elif path.is_dir():
        layout = RunLayout.find(str(path))
        if which == "best" and layout.best_model.is_file():
            model, vecnorm = layout.best_model, layout.best_vecnormalize
            if not vecnorm.is_file():
                vecnorm = layout.vecnormalize
        elif which in ("final", "best"):
            if not layout.model.is_file():  # never a silent fall back to an older checkpoint (the step-0 clone)
                found = ", ".join(Path(p).name for _, p in layout.checkpoints()) or "none"
                raise FileNotFoundError(f"path={str(path)!r}: the final model {layout.model.name} is missing "
                                        f"(checkpoints: {found}); pass a checkpoint zip to play that one, or "
                                        f"train.py --resume {path} to finish the run")
            model, vecnorm = layout.model, layout.vecnormalize
        else:
            raise ValueError(f"which={which!r} is not 'final' or 'best'")
    else:
        raise FileNotFoundError(f"path={str(path)!r} is neither a training run folder nor a model .zip")
    algo = None
    if layout.args.is_file():
        algo = read_run_yaml(layout.args).get("algo")
    if algo is None and layout.run_dir.parent.name:
        algo = layout.run_dir.parent.name
    try:
        algo = canonical_name(str(algo))
    except ValueError:
        raise ValueError(f"path={str(path)!r}: cannot tell which algorithm trained it (no args.yml and parent "
                         f"folder {layout.run_dir.parent.name!r} is not one of {sorted(ALGOS)})") from None
    return algo, Path(model), (Path(vecnorm) if vecnorm is not None and Path(vecnorm).is_file() else None)


def _checked_config(model_path: str | Path) -> dict[str, Any]:
    """The run's ``config.yml`` (`training_config`), or ``ValueError`` when it is missing or unreadable: the
    agent-side settings and the normalisation it was trained with are read from it."""
    layout = RunLayout.find(str(Path(model_path).parent))
    if not layout.config.is_file():
        raise ValueError(f"config {str(layout.config)!r} is missing: cannot tell how model {Path(model_path).name} "
                         "was trained (its normalisation and agent settings); not played")
    try:
        config = read_run_yaml(layout.config)
        from .hyperparams import parse_normalize

        parse_normalize(config.get("normalize"))
        agent_settings(config)
    except (ValueError, TypeError) as exc:
        raise ValueError(f"config {str(layout.config)!r} is damaged: {' '.join(str(exc).split())[:200]}") from None
    return config


def _load_statistics(model: Any, model_path: str | Path, vecnorm_path: Path | None,
                     config: dict[str, Any]) -> Any:
    """The run's ``VecNormalize`` (observation statistics frozen, no reward scaling), None when it trained
    without observation normalisation; ``ValueError`` when the statistics it needs are missing or damaged."""
    from .hyperparams import parse_normalize

    norm = parse_normalize(config.get("normalize"))
    needed = norm is not None and norm.get("norm_obs", True)
    if vecnorm_path is None:
        if needed:
            layout = RunLayout.find(str(Path(model_path).parent))
            raise ValueError(f"model {Path(model_path).name} was trained on normalised observations (config "
                             f"normalize={config.get('normalize')!r}) but its statistics are missing (expected "
                             f"{str(layout.vecnormalize) if Path(model_path) == layout.model else 'a matching .pkl'}"
                             "); not played unnormalised")
        return None
    try:
        with open(vecnorm_path, "rb") as fh:
            vec_normalize = pickle.load(fh)
        state = vars(vec_normalize)  # a pickled VecNormalize has no venv: read its own fields only
        norm_obs = bool(state["norm_obs"])
        shape = tuple(state["obs_rms"].mean.shape) if norm_obs else ()
    except Exception as exc:  # truncated, tampered, foreign pickle
        raise ValueError(f"statistics {str(vecnorm_path)!r} are damaged ({type(exc).__name__}: "
                         f"{' '.join(str(exc).split())[:160]})") from None
    want = tuple(getattr(model.observation_space, "shape", None) or ())
    if norm_obs and want and shape != want:
        raise ValueError(f"statistics {str(vecnorm_path)!r} are of observations of shape {shape}, the model's "
                         f"are {want}: not this model's")
    vec_normalize.training = False
    vec_normalize.norm_reward = False
    return vec_normalize


def feature_size(features: str | None, J: int) -> int:
    """Number of extra observation entries of feature set ``features`` for J data centres."""
    if features is None:
        return 0
    if features == "dc":
        return 3 * J + 1
    raise ValueError(f"obs_features={features!r} is not one of {OBS_FEATURES} or None")


def dc_features(coef: Any, t: int, water_left_l: float) -> np.ndarray:
    """The ``"dc"`` features (3J + 1,) float32 of slot ``t`` (clipped to the horizon); see ``OBS_FEATURES``."""
    t = min(max(int(t), 0), coef.T - 1)
    water = coef.water_l_per_kwh[t] * coef.pue  # L per IT kWh, (J,)
    demand_units = coef.resource[t].sum(0)  # (R,) units if one DC took all of the hour's demand
    headroom = (coef.capacity / np.maximum(demand_units, 1e-12)[:, None]).min(0)
    need = float(coef.it_kw[t].sum()) * float(water.mean()) * (coef.T - t)
    tight = float(water_left_l) / need if need > 0 else 5.0
    out = np.concatenate([water / 1.5, (coef.pue - 1.2) / 0.2, np.clip(headroom, 0.0, 5.0),
                          [min(max(tight, 0.0), 5.0)]])
    return out.astype(np.float32)


def _features_of_env(env: Any, features: str) -> np.ndarray:
    base = env.unwrapped
    return dc_features(base.coef, base.t, base.water_left_l)


def with_features(obs: Any, env: Any, features: str) -> np.ndarray:
    """``obs`` with the ``features`` of ``env``'s slot appended (float32): `FeatureObservation`'s step."""
    return np.concatenate([np.asarray(obs, np.float32), _features_of_env(env, features)]).astype(np.float32,
                                                                                               copy=False)


def _extended_box(space: Any, extra: int) -> Any:
    from gymnasium import spaces

    low = np.concatenate([space.low, np.full(extra, -10.0, np.float32)])
    high = np.concatenate([space.high, np.full(extra, 10.0, np.float32)])
    return spaces.Box(low.astype(np.float32), high.astype(np.float32), dtype=np.float32)


def _feature_wrapper_base():
    import gymnasium as gym

    return gym.ObservationWrapper


class FeatureObservation(_feature_wrapper_base()):  # type: ignore[misc]
    """Gymnasium wrapper appending ``obs_features`` (see ``OBS_FEATURES``) to GreenLLM-v0's observation."""

    def __init__(self, env: Any, features: str = "dc"):
        super().__init__(env)
        self.features = features
        self.observation_space = _extended_box(env.observation_space, feature_size(features, env.unwrapped.J))

    def observation(self, observation: np.ndarray) -> np.ndarray:
        return with_features(observation, self.env, self.features)


def _batched_env(venv: Any) -> Any:
    """The `green_llm_env.vector.GreenLLMVectorEnv` under a stack of SB3 VecEnv wrappers."""
    from green_llm_env.vector import GreenLLMVectorEnv

    inner = venv
    while not isinstance(inner, GreenLLMVectorEnv):
        if not hasattr(inner, "venv"):
            raise ValueError(f"{type(venv).__name__} does not wrap green_llm_env.vector.SB3VecEnv")
        inner = inner.venv
    return inner


def _vec_wrapper_base():
    from stable_baselines3.common.vec_env import VecEnvWrapper

    return VecEnvWrapper


class FeatureVecEnv(_vec_wrapper_base()):  # type: ignore[misc]
    """The same features on ``green_llm_env.vector.SB3VecEnv`` (the native batched env) for SB3 training."""

    def __init__(self, venv: Any, features: str = "dc"):
        self.features = features
        self.batched = _batched_env(venv)  # per-env scenarios in .envs, slots in .t, water in .water_left_l
        J = self.batched.envs[0].J
        super().__init__(venv, observation_space=_extended_box(venv.observation_space, feature_size(features, J)))

    def _extend(self, obs: np.ndarray) -> np.ndarray:
        t, water = self.batched.t, self.batched.water_left_l
        extra = np.stack([dc_features(self.batched.envs[i].coef, t[i], water[i]) for i in range(self.num_envs)])
        return np.concatenate([obs, extra], axis=1).astype(np.float32)

    def reset(self) -> np.ndarray:
        return self._extend(self.venv.reset())

    def step_wait(self):
        obs, rewards, dones, infos = self.venv.step_wait()
        for info in infos:
            if "terminal_observation" in info:  # the finished episode's last slot: features padded with zeros
                term = info["terminal_observation"]
                info["terminal_observation"] = np.concatenate(
                    [term, np.zeros(self.observation_space.shape[0] - term.shape[0], np.float32)])
        return self._extend(obs), rewards, dones, infos


POLICY_ENV_KWARGS = ("forecast_hours", "forecast_noise", "action_mode", "temperature", "constraint_mode",
                     "generator_kwargs")
"""Training ``--env-kwargs`` that shape what the agent sees or how its action is applied; a loaded policy
asks evaluate.py for them. Scoring settings (``weights``, ``penalty_factor``, ``reward_scale``, traces) are
left to the evaluation."""


def _action_wrapper_base():
    import gymnasium as gym

    return gym.Wrapper


def residual_action(base: Any, scale: float, obs: Any, env: Any, action: np.ndarray) -> np.ndarray:
    """The env's action of a residual agent: ``base.act(obs, env) + scale * action`` (float64, flat)."""
    x = np.asarray(base.act(obs, env), np.float64).reshape(-1)
    return x + scale * np.asarray(action, np.float64)


def make_base_policy(spec: str) -> Any:
    """The baselines policy a residual agent corrects (``residual`` in hyperparams/<algo>.yml)."""
    from baselines.policy import make_policy

    return make_policy(spec)


class ResidualAction(_action_wrapper_base()):  # type: ignore[misc]
    """Residual control: the env receives ``base.act(obs, env) + scale * action`` (then the env's simplex
    projection). The agent learns a correction to a baselines policy (e.g. ``renewable_first``); with a
    zero action it plays the base policy exactly. Needs per-env wrappers (``--vec dummy`` or ``subproc``)."""

    def __init__(self, env: Any, base: str, scale: float = 0.5):
        super().__init__(env)
        if not float(scale) > 0:
            raise ValueError(f"residual_scale={scale!r} must be > 0")
        self.base_spec, self.scale = base, float(scale)
        self.base = make_base_policy(base)
        self._obs: Any = None

    def reset(self, **kwargs: Any):
        obs, info = self.env.reset(**kwargs)
        self.base.reset(self.env.unwrapped)
        self._obs = obs
        return obs, info

    def step(self, action: np.ndarray):
        obs, reward, terminated, truncated, info = self.env.step(
            residual_action(self.base, self.scale, self._obs, self.env.unwrapped, action))
        self._obs = obs
        return obs, reward, terminated, truncated, info


SHIELDS = ("water",)
"""Optional agent-side safety shields (``shield`` in hyperparams/<algo>.yml), applied to the allocation the
agent's action maps to, in training and in evaluation alike:

- ``"water"``: the water guard of the rule-based baselines (`baselines.heuristics`). Slot t may use the
  water left minus a reserve (the water the later slots need at least, from the capacity-aware least-water
  plan); if the agent's allocation would use more, it is blended with the least-water allocation just
  enough to fit. A blend of two allocations that meet the (linear) resource and delay constraints meets
  them too, so the shield adds no violation of its own. Needs ``action_mode="project"`` (the default).
"""


WaterShield = WaterGuard
"""The ``"water"`` shield for one env: `baselines.heuristics.WaterGuard`."""


def shielded_action(shield: Any, env: Any, action: np.ndarray) -> np.ndarray:
    """The flat allocation ``shield`` (a `WaterShield`) makes of ``action`` in ``env``'s slot: `ShieldAction`'s step."""
    x, _ = env.action_to_allocation(action)
    return shield.apply(x, env.coef, env.t, env.water_left_l).reshape(-1)


def _check_shield(shield: str | None, env: Any) -> None:
    if shield is None:
        return
    if shield not in SHIELDS:
        raise ValueError(f"shield={shield!r} is not one of {SHIELDS} or None")
    mode = getattr(env, "action_mode", "project")
    if mode != "project":
        raise ValueError(f"shield={shield!r} needs action_mode='project'; the env has action_mode={mode!r}")


class ShieldAction(_action_wrapper_base()):  # type: ignore[misc]
    """Gymnasium wrapper applying a shield (``SHIELDS``) to every action before the env sees it."""

    def __init__(self, env: Any, shield: str = "water"):
        super().__init__(env)
        _check_shield(shield, env.unwrapped)
        self.shield = WaterShield()

    def step(self, action: np.ndarray):
        return self.env.step(shielded_action(self.shield, self.env.unwrapped, action))


class ShieldVecEnv(_vec_wrapper_base()):  # type: ignore[misc]
    """The same shield on ``green_llm_env.vector.SB3VecEnv`` (the native batched env)."""

    def __init__(self, venv: Any, shield: str = "water"):
        self.batched = _batched_env(venv)
        _check_shield(shield, self.batched.envs[0])
        self.shields = [WaterShield() for _ in range(venv.num_envs)]
        super().__init__(venv)

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        x = self.batched.allocation(actions)  # (E, N, J) shares, as the env would apply them
        t, water = self.batched.t, self.batched.water_left_l
        out = np.stack([sh.apply(x[i], self.batched.envs[i].coef, t[i], water[i])
                        for i, sh in enumerate(self.shields)])
        self.venv.step_async(out.reshape(len(out), -1))

    def step_wait(self):
        return self.venv.step_wait()


ACTION_GROUPS = ("j", "kj")
"""Optional low-dimensional action (``action_groups`` in hyperparams/<algo>.yml): the agent outputs one
score per DC (``"j"``, J numbers) or per query type and DC (``"kj"``, K*J numbers), repeated over the user
areas (and types) to the env's (I, K, J) action, which the env projects onto the simplex row by row. Far
fewer dimensions than I*K*J = 405 for the policy gradient, at the price of one ranking for every area."""


def group_size(groups: str | None, I: int, K: int, J: int) -> int:
    """Size of the agent's action for ``action_groups`` (I*K*J when None)."""
    sizes = {None: I * K * J, "j": J, "kj": K * J}
    if groups not in sizes:
        raise ValueError(f"action_groups={groups!r} is not one of {ACTION_GROUPS} or None")
    return sizes[groups]


def expand_action(action: np.ndarray, groups: str | None, I: int, K: int, J: int) -> np.ndarray:
    """The agent's grouped action (..., size) -> the env's flat action (..., I*K*J)."""
    a = np.asarray(action)
    if groups is None:
        return a
    lead = a.shape[:-1]
    shape = (1, 1, J) if groups == "j" else (1, K, J)
    full = np.broadcast_to(a.reshape(lead + shape), lead + (I, K, J))
    return full.reshape(lead + (I * K * J,))


def _grouped_box(groups: str, I: int, K: int, J: int) -> Any:
    from gymnasium import spaces

    return spaces.Box(-1.0, 1.0, (group_size(groups, I, K, J),), dtype=np.float32)


class GroupedAction(_action_wrapper_base()):  # type: ignore[misc]
    """Gymnasium wrapper giving the agent the low-dimensional action of ``ACTION_GROUPS``."""

    def __init__(self, env: Any, groups: str = "j"):
        super().__init__(env)
        base = env.unwrapped
        self.groups, self.dims = groups, (base.I, base.K, base.J)
        self.action_space = _grouped_box(groups, *self.dims)

    def step(self, action: np.ndarray):
        return self.env.step(expand_action(action, self.groups, *self.dims))


class GroupedVecEnv(_vec_wrapper_base()):  # type: ignore[misc]
    """The same low-dimensional action on ``green_llm_env.vector.SB3VecEnv`` (and wrappers of it)."""

    def __init__(self, venv: Any, groups: str = "j"):
        sub = _batched_env(venv).envs[0]
        self.groups, self.dims = groups, (sub.I, sub.K, sub.J)
        super().__init__(venv, action_space=_grouped_box(groups, *self.dims))

    def reset(self) -> np.ndarray:
        return self.venv.reset()

    def step_async(self, actions: np.ndarray) -> None:
        self.venv.step_async(np.ascontiguousarray(expand_action(actions, self.groups, *self.dims)))

    def step_wait(self):
        return self.venv.step_wait()


def _need_env(policy: "TrainedPolicy", key: str, env: Any) -> None:
    if env is None:
        raise ValueError(f"policy {policy.name!r} uses {key}={getattr(policy.agent, key)!r}: act() needs the env")


def _observe_features(policy: "TrainedPolicy", obs: Any, env: Any) -> Any:
    _need_env(policy, "obs_features", env)
    return with_features(obs, env, policy.agent.obs_features)


def _act_groups(policy: "TrainedPolicy", action: np.ndarray, obs: Any, env: Any) -> np.ndarray:
    _need_env(policy, "action_groups", env)
    return expand_action(action, policy.agent.action_groups, env.I, env.K, env.J)


def _act_residual(policy: "TrainedPolicy", action: np.ndarray, obs: Any, env: Any) -> np.ndarray:
    return residual_action(policy.base, policy.agent.residual_scale, obs, env, action)


def _act_shield(policy: "TrainedPolicy", action: np.ndarray, obs: Any, env: Any) -> np.ndarray:
    _need_env(policy, "shield", env)
    return shielded_action(policy._shield, env, action)


class ChainStep(NamedTuple):
    """One agent-side option of `AGENT_CHAIN`: its setting, its gym wrapper, its VecEnv wrapper (None: per-env
    wrappers only) and the same step for a policy acting in a plain env (`TrainedPolicy.act`): ``observe``
    on the way up (env observation -> agent observation), ``act`` on the way down (agent action -> env action)."""

    key: str
    wrapper: type
    vec_wrapper: type | None
    observe: Callable[["TrainedPolicy", Any, Any], Any] | None = None
    act: Callable[["TrainedPolicy", np.ndarray, Any, Any], np.ndarray] | None = None


AGENT_CHAIN = (ChainStep("shield", ShieldAction, ShieldVecEnv, act=_act_shield),  # innermost: sees the final action
               ChainStep("residual", ResidualAction, None, act=_act_residual),
               ChainStep("obs_features", FeatureObservation, FeatureVecEnv, observe=_observe_features),
               ChainStep("action_groups", GroupedAction, GroupedVecEnv, act=_act_groups))  # the agent's own action
"""The agent-side wrapper chain, innermost first, for training (`wrap_env`, `wrap_vec_env`) and for evaluation
(`TrainedPolicy.act`) alike; a step is on when its setting of `agents.settings.AgentSettings` is not None."""


def _chain(settings: AgentSettings) -> list[ChainStep]:
    return [step for step in AGENT_CHAIN if getattr(settings, step.key) is not None]


def _step_args(step: ChainStep, settings: AgentSettings) -> tuple[Any, ...]:
    if step.key == "residual":
        return settings.residual, settings.residual_scale
    return (getattr(settings, step.key),)


def wrap_env(env: Any, settings: AgentSettings) -> Any:
    """``env`` (a gymnasium env) inside the agent-side wrappers that ``settings`` switch on (`AGENT_CHAIN`)."""
    for step in _chain(settings):
        env = step.wrapper(env, *_step_args(step, settings))
    return env


def wrap_vec_env(venv: Any, settings: AgentSettings) -> Any:
    """The same chain over the native batched env (``green_llm_env.vector``'s SB3 adapter); ``ValueError`` for
    a step without a VecEnv wrapper (``residual``: per-env wrappers only)."""
    for step in _chain(settings):
        if step.vec_wrapper is None:
            raise ValueError(f"{step.key}={getattr(settings, step.key)!r} needs per-env wrappers: use --vec dummy "
                             "or subproc")
        venv = step.vec_wrapper(venv, *_step_args(step, settings)[:1])
    return venv


def training_env_kwargs(model_path: str | Path) -> dict[str, Any]:
    """The ``POLICY_ENV_KWARGS`` among the ``--env-kwargs`` of the run that wrote ``model_path``."""
    layout = RunLayout.find(str(Path(model_path).parent))
    if not layout.args.is_file():
        return {}
    args = read_run_yaml(layout.args)
    return {k: v for k, v in (args.get("env_kwargs") or {}).items() if k in POLICY_ENV_KWARGS}


def training_env_id(model_path: str | Path) -> str:
    """The env id the run that wrote ``model_path`` trained on (``args.yml``'s ``env``; GreenLLM-v0 for runs
    made before GreenLLM-v1, whose args.yml may lack it)."""
    layout = RunLayout.find(str(Path(model_path).parent))
    args: dict[str, Any] = {}
    if layout.args.is_file():
        args = read_run_yaml(layout.args)
    return str(args.get("env") or layout.env_key or "GreenLLM-v0").split(":", 1)[-1]


def training_config(model_path: str | Path) -> dict[str, Any]:
    """The resolved hyperparameters (``<env>/config.yml``) of the run that wrote ``model_path`` ({} if none)."""
    layout = RunLayout.find(str(Path(model_path).parent))
    if not layout.config.is_file():
        return {}
    return read_run_yaml(layout.config)


def agent_settings(config: dict[str, Any]) -> AgentSettings:
    """The agent-side options (features, residual, shield, groups) of a run's ``config.yml``, written either
    flat (``obs_features: dc``) or the RL Zoo way (``env_wrapper:``), read as train.py reads them
    (`agents.settings.read_agent_settings`); the warm-start keys are left to `training_note`."""
    return read_agent_settings({k: v for k, v in config.items() if k in WRAPPER_KEYS or k == "env_wrapper"})


def training_note(model: Any, model_path: str | Path, agent: AgentSettings,
                  config: dict[str, Any] | None = None) -> dict[str, str]:
    """What ``evaluate.py``'s summary says of a trained agent: its training budget (env steps of RL, plus the
    warm start's scenarios) and how constraints were handled while it acted (shield, env guard, hourly LP).
    ``config``: the run's `training_config` where the caller has read it already."""
    layout = RunLayout.find(str(Path(model_path).parent))
    config = training_config(model_path) if config is None else config
    try:
        warm: AgentSettings | None = read_agent_settings(
            {k: v for k, v in config.items()
             if k in ("env_wrapper", "callback") or k.startswith(("pretrain", "analytic"))})
    except ValueError:
        warm = None
    budget = f"{int(model.num_timesteps):,} env steps of {type(model).__name__}"
    if warm is not None and warm.pretrain:
        episodes, dagger = warm.warm_start_size
        budget += (f" after a warm start cloning {warm.pretrain} on {episodes} scenarios"
                   + (f" + {dagger} DAgger" if dagger else ""))
    if warm is not None and warm.analytic_iters and (Path(model_path).name == ANALYTIC_MODEL
                                                     or int(model.num_timesteps) > 0):
        budget += (f"{' and' if warm.pretrain else ' after'} an analytic stage of {warm.analytic_iters} iterations x "
                   f"{warm.analytic_envs} scenarios")
    env_id = training_env_id(model_path)
    mode = (read_run_yaml(layout.args).get("env_kwargs") or {}).get("constraint_mode") if layout.args.is_file() \
        else None
    handling = []
    if agent.shield:
        handling.append(f"agent-side {agent.shield} shield (the allocation blended to keep the water budget)")
    if env_id == "GreenLLM-hybrid-v1":
        handling.append("hourly LP under the guard's water cap plays the allocation")
    if env_id == "GreenLLM-hybrid-v2":
        handling.append("hourly LP at the agent's water price (capped at the water left where that is cheaper than "
                        "v2's price beyond the budget) plays the allocation")
    if env_id is not None and env_id.endswith("-v2"):
        handling.append("v2's continuous repair (hourly rows) and water price (litres beyond the budget)")
    elif env_id != "GreenLLM-v0":
        mode = mode or "guard"
        handling.append({"guard": "v1 feasibility guard (shares blended with the least-water allocation to meet every row: "
                                   "penalty 0 unless the budget is below the day's least need)",
                         "project": "v0's QP safety layer (constraint_mode=project)",
                         "penalty": "none (penalties charged at dual rates)"}
                        .get(mode, mode))
    elif not agent.shield:
        handling.append("none (penalties charged)")
    return {"budget": budget, "constraints": "; ".join(handling)}


class TrainedPolicy:
    """A trained SB3 model acting in ``GreenLLMEnv`` (the baselines ``Policy`` protocol).

    Args:
        model: an SB3 / sb3-contrib algorithm instance.
        vec_normalize: the ``VecNormalize`` whose observation statistics the model was trained with, or None.
        deterministic: act with the distribution's mode (True) or sample (False).
        name: label in result tables (default: the algorithm's lower-case class name).
        agent: the agent-side options the model was trained with (`agents.settings.AgentSettings`: features,
            residual, shield, action groups), applied in `act` by the steps of `AGENT_CHAIN`; None: none.
    """

    def __init__(self, model: Any, vec_normalize: Any | None = None, deterministic: bool = True,
                 name: str | None = None, agent: AgentSettings | None = None):
        self.model = model
        self.vec_normalize = vec_normalize
        self.deterministic = bool(deterministic)
        self.name = name or type(model).__name__.lower()
        self.agent = AgentSettings() if agent is None else agent
        self.features, self.shield, self.action_groups = (self.agent.obs_features, self.agent.shield,
                                                          self.agent.action_groups)
        self.residual, self.residual_scale = self.agent.residual, self.agent.residual_scale
        self.base = make_base_policy(self.residual) if self.residual else None
        self._shield = WaterShield() if self.shield else None
        self._steps = _chain(self.agent)
        self.fingerprint: str | None = None  # `agents.registry.fingerprint` of the loaded files (evaluate.py)
        self.training: dict[str, str] | None = None  # `training_note` (set by `load`; evaluate.py's summary)
        self.kind = "learned"
        self.env_kwargs: dict[str, Any] = {}
        self.env_id: str | None = None  # the env it was trained on (set by `load`); evaluate.py plays it there
        self.recurrent = isinstance(model, ALGOS["recurrentppo"])
        self._state: Any = None
        self._episode_start = True

    def __repr__(self) -> str:
        return f"TrainedPolicy(name={self.name!r}, model={type(self.model).__name__}, " \
               f"normalized={self.vec_normalize is not None})"

    @classmethod
    def load(cls, path: str | Path, device: str = "cpu", which: str = "final", deterministic: bool = True,
             name: str | None = None) -> "TrainedPolicy":
        """Load a run folder or model zip written by ``train.py`` (see ``resolve_model_files``)."""
        algo, model_path, vecnorm_path = resolve_model_files(path, which)
        config = _checked_config(model_path)
        try:
            saved_steps(model_path)
            model = ALGOS[algo].load(str(model_path), device=device)
        except Exception as exc:  # a truncated, tampered or foreign zip
            raise ValueError(f"model {str(model_path)!r} is damaged ({type(exc).__name__}: "
                             f"{' '.join(str(exc).split())[:200]}); retrain or pass another model zip") from None
        vec_normalize = _load_statistics(model, model_path, vecnorm_path, config)
        agent = agent_settings(config)
        policy = cls(model, vec_normalize, deterministic=deterministic, name=name or algo, agent=agent)
        policy.training = training_note(model, model_path, agent, config)
        policy.fingerprint = fingerprint(model_path, vecnorm_path)
        policy.env_kwargs = training_env_kwargs(model_path)
        policy.env_id = training_env_id(model_path)
        import gymnasium as gym

        import green_llm_env  # noqa: F401  (registers the ids)

        if policy.env_id not in gym.registry:
            raise ValueError(f"model {Path(model_path).name} was trained on env {policy.env_id!r} (args.yml), "
                             f"which is not a registered env id; not played")
        return policy

    def reset(self, env: Any = None) -> None:
        """Start a new episode (clears the recurrent state). A size-independent policy
        (`agents.equivariant.EquivariantPolicy`) is fitted to the env's sizes here, same weights."""
        self._state = None
        self._episode_start = True
        trained_on = getattr(self.model.policy, "alloc_layout", None)
        if trained_on is not None and env is not None:
            from agents.equivariant import layout_of, resize_policy

            sizes = layout_of(env)
            if tuple(sizes) != tuple(trained_on):
                base = getattr(env, "unwrapped", env)
                self.model.policy = resize_policy(self.model.policy, base.observation_space, base.action_space, sizes)
        if self.base is not None:
            if env is None:
                raise ValueError(f"policy {self.name!r} is residual on {self.residual!r}: reset() needs the env")
            self.base.reset(env)

    def extra_obs_size(self, env: Any) -> int:
        """How many numbers `act` appends to ``env``'s observation (the ``features``) before the model reads it."""
        return 0 if self.features is None else int(_features_of_env(env, self.features).size)

    def _prepare(self, obs: Any) -> Any:
        if self.vec_normalize is not None:
            obs = self.vec_normalize.normalize_obs(obs)
        if isinstance(obs, dict):
            return {k: np.asarray(v)[None] for k, v in obs.items()}
        return np.asarray(obs)[None]

    def act(self, obs: Any, env: Any = None) -> np.ndarray:
        """The flat action for one observation of one env (``env``: needed with agent-side options), through
        the steps of `AGENT_CHAIN` that the policy's ``agent`` settings switch on, as its wrappers do in training."""
        raw = obs
        for step in self._steps:  # innermost first: the env's observation up to the agent's
            if step.observe is not None:
                obs = step.observe(self, obs, env)
        batch = self._prepare(obs)
        if self.recurrent:
            action, self._state = self.model.predict(batch, state=self._state,
                                                     episode_start=np.array([self._episode_start]),
                                                     deterministic=self.deterministic)
        else:
            action, _ = self.model.predict(batch, deterministic=self.deterministic)
        self._episode_start = False
        action = np.asarray(action[0], dtype=np.float32).reshape(-1)
        for step in reversed(self._steps):  # outermost first: the agent's action down to the env's
            if step.act is not None:
                action = step.act(self, action, raw, env)
        return action


def load_trained_policy(path: str, name: str | None = None, **kwargs: Any) -> TrainedPolicy:
    """Loader for baselines' policy registry (``ppo=logs/ppo/GreenLLM-v0_1``): ``path`` is a run folder or a
    model zip. Keyword options ``device``, ``which`` ("final"/"best") and ``deterministic`` are used; any
    other keyword (options evaluate.py passes to every policy) is ignored. The policy's ``env_id`` and
    ``env_kwargs`` are the env and the ``--env-kwargs`` it was trained with, so evaluate.py builds a matching
    environment."""
    from green_llm_env.assets import resolve_asset_path

    known = {k: v for k, v in kwargs.items() if k in ("device", "which", "deterministic")}
    return TrainedPolicy.load(resolve_asset_path(path), name=name, **known)
