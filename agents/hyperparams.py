"""Hyperparameters in RL Baselines3 Zoo's format: ``hyperparams/<algo>.yml``.

Each file holds a ``default:`` entry and one entry per env id (``GreenLLM-v2:``, the default env, ``GreenLLM-v1:``,
``GreenLLM-hybrid-v1:``, ``GreenLLM-v0:``; any other env id works the same way). The
env entry is laid over ``default`` key by key, then CLI overrides (``train.py --hyperparams k:v``) over that.
Keys as in RL Zoo:

- ``n_timesteps`` (int or float like ``!!float 2e5``), ``n_envs`` (int), ``policy`` (``MlpPolicy``, ...);
- ``normalize``: ``true``/``false`` or a dict string such as ``"{'norm_obs': True, 'norm_reward': False}"``
  (keyword arguments of SB3's ``VecNormalize``);
- ``policy_kwargs``: a Python-like string, e.g. ``"dict(net_arch=dict(pi=[64, 64], vf=[64, 64]),
  activation_fn=nn.Tanh, log_std_init=-1.0)"``; it is read by a small safe evaluator that only knows
  literals, ``dict(...)`` and attributes of ``torch`` (``nn.*``, ``th.*``, ``torch.*``), never ``eval``;
- ``lin_<v>`` strings (e.g. ``learning_rate: lin_3e-4``, ``clip_range: lin_0.2``): linear decay from ``v``
  to 0 over training (SB3's ``LinearSchedule(v, 0, 1)``);
- ``noise_type`` (``normal`` or ``ornstein-uhlenbeck``) and ``noise_std`` for TD3/DDPG/SAC/TQC exploration;
- ``obs_features`` (``dc`` or absent): agent-side observation features (``agents.policy.OBS_FEATURES``);
- ``residual`` (a baselines policy spec such as ``renewable_first``) and ``residual_scale`` (default 0.5):
  the agent's action is a correction added to that policy's allocation (``agents.policy.ResidualAction``);
- ``shield`` (``water`` or absent): a safety shield on the agent's allocation (``agents.policy.SHIELDS``);
- ``action_groups`` (``j``, ``kj`` or absent): a low-dimensional action (``agents.policy.ACTION_GROUPS``);
- ``pretrain`` (``oracle_price``, ``oracle_plan`` or absent; ``none``/``false``/``off`` switch a YAML's warm start
  off), ``pretrain_episodes`` (default 300),
  ``pretrain_epochs`` (default 60), ``pretrain_dagger`` (episodes of DAgger rounds, default 0), ``pretrain_scale``
  (one factor on both episode counts, default 1: ``pretrain_scale:0.1`` is a tenth of the warm start), ``pretrain_lr``
  (Adam's step, default 1e-3), ``pretrain_threads`` (torch's CPU threads while it runs, restored after; default:
  train.py's one): a warm start by behaviour cloning of an expert before RL (``agents.imitation``);
- ``train_freq`` lists become tuples; every other key goes to the algorithm's constructor unchanged.

RL Zoo reads the same files (``python -m rl_zoo3.train --conf-file hyperparams/ppo.yml --gym-packages
green_llm_env``), so the agent-side settings are written the Zoo way, which both tools understand:

- ``env_wrapper:`` a list of wrapper classes (innermost first), each a dotted name or ``{name: kwargs}``.
  ``train.py`` reads the four agent wrappers of ``agents.policy`` as the settings above (`AGENT_WRAPPERS`:
  ``ShieldAction`` = ``shield``, ``ResidualAction`` = ``residual``, ``FeatureObservation`` =
  ``obs_features``, ``GroupedAction`` = ``action_groups``), so that its batched env and ``evaluate.py`` apply
  the same ones; any other wrapper class is applied as Zoo applies it (per-env wrappers: ``--vec dummy``).
- ``callback:`` a list of callback classes, each a dotted name or ``{name: kwargs}``.
  ``agents.imitation.ImitationWarmStart`` (kwargs ``expert``, ``episodes``, ``epochs``, ``dagger_episodes``,
  ``learning_rate``, ``scale``)
  is the warm start (``pretrain*`` above); others are built and added to training as in Zoo.
- ``policy:`` a policy alias (``MlpPolicy``) or a dotted class name (``package.module.MyPolicy``), as in Zoo.

The agent-side and warm-start keys are read, from either form, into one frozen `agents.settings.AgentSettings`
(one name and one default each, validated once; ``RunSettings.agent``) by `agents.settings.read_agent_settings`,
which also reads a run's config.yml and the callback's kwargs.
The flat keys (``obs_features``, ``shield``, ``pretrain_episodes``, ...) stay accepted (runs written before,
``--hyperparams pretrain_episodes:40``); a flat key set beside the Zoo form overrides it.
"""

from __future__ import annotations

import ast
import copy
from pathlib import Path
from typing import Any

from baselines.policy import parse_value

from .settings import (AGENT_KEYS, AGENT_WRAPPERS, OFF_VALUES, STAGE_CALLBACKS, WARM_START_CALLBACK,  # noqa: F401
                       AgentSettings, _integer, is_off as _is_off, named_entries,
                       read_agent_settings, scaled_warm_start, zoo_entries)

import numpy as np
import yaml

__all__ = ["AGENT_WRAPPERS", "AgentSettings", "read_agent_settings",
           "WARM_START_CALLBACK", "HYPERPARAMS_DIR", "import_dotted", "named_entries", "OFF_VALUES",
           "zoo_overrides", "scaled_warm_start", "RUN_KEYS", "RunSettings", "env_key", "linear_schedule", "load_hyperparams",
           "make_action_noise", "parse_normalize", "parse_policy_kwargs", "parse_value", "split_hyperparams"]

def _hyperparams_dir() -> Path:
    """The repository's ``hyperparams/`` in a checkout, else the copy installed as package data."""
    repo = Path(__file__).resolve().parents[1] / "hyperparams"
    if repo.is_dir():
        return repo
    from green_llm_env.assets import asset_dir

    return asset_dir("hyperparams")


HYPERPARAMS_DIR = _hyperparams_dir()
"""Where ``<algo>.yml`` files live (the repository's ``hyperparams/`` folder, or the installed copy)."""

RUN_KEYS = ("n_timesteps", "n_envs", "normalize", "policy", "noise_type", "noise_std", "obs_features", "residual",
            "residual_scale", "shield", "action_groups", "pretrain", "pretrain_episodes", "pretrain_epochs",
            "pretrain_dagger", "pretrain_lr", "pretrain_scale", "pretrain_threads",
            "analytic_iters", "analytic_envs", "analytic_lr",
            "env_wrapper", "callback", "extra_wrappers", "extra_callbacks")
"""Keys consumed by ``train.py`` rather than passed to the algorithm's constructor."""

_UNSUPPORTED = ("vec_env_wrapper", "frame_stack", "normalize_kwargs")


def import_dotted(name: str) -> Any:
    """The object ``package.module.Name`` names (RL Zoo's ``get_class_by_name``), with a clear error."""
    import importlib

    module, _, attr = name.rpartition(".")
    try:
        return getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise ValueError(f"{name!r} cannot be imported ({exc})") from None


def zoo_overrides(entry: dict[str, Any], overrides: dict[str, Any]) -> dict[str, Any]:
    """``overrides`` (train.py's ``--hyperparams``) as RL Zoo reads them over the YAML ``entry``: the flat
    warm-start keys (``pretrain``, ``pretrain_episodes``, ...) and analytic keys (``analytic_iters``, ...) folded
    into the ``callback`` list, so that ``pretrain:none`` (``analytic_iters:0``) drops `WARM_START_CALLBACK`
    (`ANALYTIC_CALLBACK`) there too (Zoo would hand a flat key to the algorithm)."""
    names = {v for keys, _, _ in STAGE_CALLBACKS.values() for v in keys.values()}
    flat_all = {k: v for k, v in overrides.items() if k in names}
    out = {k: v for k, v in overrides.items() if k not in flat_all}
    if not flat_all:
        return out
    entries = named_entries(out.get("callback", entry.get("callback")), "callback")
    for first, (name, (keys, arg, default)) in zip((True, False), STAGE_CALLBACKS.items()):
        switch = keys[arg]
        flat = {k: v for k, v in flat_all.items() if k in keys.values()}
        if not flat:
            continue
        at = next((i for i, (n, _) in enumerate(entries) if n == name), None)
        current = None if at is None else entries.pop(at)[1]
        if not _is_off(flat.get(switch, "" if current is None else current.get(arg, default))):
            kwargs = dict(current or {})
            back = {v: k for k, v in keys.items()}
            kwargs.update({back[k]: v for k, v in flat.items()})
            # in place; a new warm start goes first, a new analytic stage last (it follows the warm start)
            entries.insert(at if at is not None else 0 if first else len(entries), (name, kwargs))
    out["callback"] = [{n: kw} if kw else n for n, kw in entries] or None
    return out


def env_key(env_id: str) -> str:
    """The YAML key for an env id: ``green_llm_env:GreenLLM-v0`` -> ``GreenLLM-v0``."""
    return env_id.split(":", 1)[-1]


def load_hyperparams(algo: str, env_id: str = "GreenLLM-v0", path: str | Path | None = None,
                     overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Raw hyperparameters for ``algo`` on ``env_id``: ``default`` <- env entry <- ``overrides``.

    ``path`` defaults to ``HYPERPARAMS_DIR/<algo>.yml``. Values stay as written (strings such as
    ``lin_3e-4`` or policy_kwargs are parsed later by ``split_hyperparams``), so the result is what
    ``train.py`` stores as ``config.yml``.
    """
    path = Path(path) if path is not None else HYPERPARAMS_DIR / f"{algo}.yml"
    if not path.is_file():
        raise FileNotFoundError(f"hyperparameter file for algo={algo!r} not found: {path}")
    with open(path) as fh:
        try:
            data = yaml.safe_load(fh) or {}
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not valid YAML ({' '.join(str(exc).split())})") from None
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping of env ids to hyperparameters, got {type(data).__name__}")
    key = env_key(env_id)
    if key not in data and "default" not in data:
        raise ValueError(f"{path}: no entry for env {key!r} and no 'default' entry (keys: {sorted(data)})")
    merged: dict[str, Any] = dict(data.get("default") or {})
    merged.update(data.get(key) or {})
    merged.update(overrides or {})
    return merged


def linear_schedule(initial: float):
    """Linear decay ``progress_remaining * initial`` (RL Zoo's ``lin_``), as a picklable SB3 schedule."""
    from stable_baselines3.common.utils import LinearSchedule

    return LinearSchedule(float(initial), 0.0, 1.0)


class _SafeEval(ast.NodeVisitor):
    """Evaluates a policy_kwargs expression: literals, containers, ``dict(...)``, torch attributes."""

    def __init__(self, source: str):
        import torch

        self.source = source
        self.names = {"nn": torch.nn, "th": torch, "torch": torch, "True": True, "False": False, "None": None}

    def fail(self, node: ast.AST) -> None:
        raise ValueError(f"policy_kwargs={self.source!r}: unsupported expression {ast.unparse(node)!r} "
                         "(only literals, dict(...), lists and torch attributes such as nn.ReLU are allowed)")

    def visit(self, node: ast.AST) -> Any:  # noqa: C901 - one small interpreter
        if isinstance(node, ast.Expression):
            return self.visit(node.body)
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            value = self.visit(node.operand)
            return -value if isinstance(node.op, ast.USub) else value
        if isinstance(node, ast.List):
            return [self.visit(e) for e in node.elts]
        if isinstance(node, ast.Tuple):
            return tuple(self.visit(e) for e in node.elts)
        if isinstance(node, ast.Dict):
            return {self.visit(k): self.visit(v) for k, v in zip(node.keys, node.values)}
        if isinstance(node, ast.Name):
            if node.id not in self.names:
                self.fail(node)
            return self.names[node.id]
        if isinstance(node, ast.Attribute):
            base = self.visit(node.value)
            if not hasattr(base, node.attr) or node.attr.startswith("_"):
                self.fail(node)
            return getattr(base, node.attr)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "dict" and not node.args:
            return {kw.arg: self.visit(kw.value) for kw in node.keywords}
        self.fail(node)


def parse_policy_kwargs(value: str | dict | None) -> dict[str, Any]:
    """``policy_kwargs`` as a dict; a string is read by a safe evaluator (see module docstring)."""
    if value is None:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if not isinstance(value, str):
        raise ValueError(f"policy_kwargs={value!r}: expected a dict or a string")
    try:
        tree = ast.parse(value.strip(), mode="eval")
    except SyntaxError as exc:
        raise ValueError(f"policy_kwargs={value!r}: not an expression ({exc.msg})") from None
    result = _SafeEval(value).visit(tree)
    if not isinstance(result, dict):
        raise ValueError(f"policy_kwargs={value!r}: evaluates to {type(result).__name__}, expected a dict")
    return result


def parse_normalize(value: Any) -> dict[str, Any] | None:
    """``normalize`` as VecNormalize keyword arguments, or None for no normalisation."""
    if value is None or value is False:
        return None
    if value is True:
        return {}
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, str):
        if value.strip().lower() in ("true", "false"):
            return {} if value.strip().lower() == "true" else None
        try:
            parsed = ast.literal_eval(value)
        except (ValueError, SyntaxError):
            raise ValueError(f"normalize={value!r}: expected true, false or a dict such as "
                             "\"{'norm_obs': True, 'norm_reward': False}\"") from None
        return parse_normalize(parsed)
    raise ValueError(f"normalize={value!r}: expected true, false or a dict")


class RunSettings(dict):
    """The non-constructor settings (``RUN_KEYS``) with parsed values; a dict with attribute access. Its
    ``agent`` attribute is the run's `AgentSettings` (the agent-side and warm-start keys of the dict are its
    fields, with ``pretrain_episodes``/``pretrain_dagger`` scaled: `AgentSettings.warm_start_size`)."""

    agent: AgentSettings = AgentSettings()

    __getattr__ = dict.__getitem__


def split_hyperparams(raw: dict[str, Any]) -> tuple[dict[str, Any], RunSettings]:
    """Split raw hyperparameters into (constructor kwargs without ``policy``, run settings).

    Constructor kwargs get ``lin_`` schedules, parsed ``policy_kwargs`` and tuple ``train_freq``; the run
    settings hold ``n_timesteps`` (int or None), ``n_envs`` (int or None), ``normalize`` (VecNormalize kwargs
    or None), ``policy`` (str or None), ``noise_type``/``noise_std``.
    """
    kwargs = copy.deepcopy(raw)
    for key in _UNSUPPORTED:
        if key in kwargs:
            raise ValueError(f"hyperparameter {key!r} is not supported by train.py (value {kwargs[key]!r})")
    zoo = zoo_entries(kwargs)
    agent = read_agent_settings(kwargs)  # the agent-side options and the warm start, validated once
    given = {key for key in RUN_KEYS if key in kwargs}
    settings = RunSettings({key: kwargs.pop(key, None) for key in RUN_KEYS})
    for key in ("extra_wrappers", "extra_callbacks"):
        if key not in given:
            settings[key] = zoo[key]
    settings.update({key: getattr(agent, key) for key in AGENT_KEYS})
    settings["pretrain_episodes"], settings["pretrain_dagger"] = agent.warm_start_size
    settings.agent = agent
    if settings["n_timesteps"] is not None:
        try:
            settings["n_timesteps"] = int(float(settings["n_timesteps"]))
        except (TypeError, ValueError):
            raise ValueError(f"n_timesteps={settings['n_timesteps']!r}: expected a number of steps") from None
    if settings["n_envs"] is not None:
        settings["n_envs"] = _integer("n_envs", settings["n_envs"], 1)
    settings["normalize"] = parse_normalize(settings["normalize"])
    if settings["noise_type"] not in (None, "normal", "ornstein-uhlenbeck", "ou"):
        raise ValueError(f"noise_type={settings['noise_type']!r} is not 'normal', 'ornstein-uhlenbeck' or absent")
    value = settings["noise_std"]
    if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0):
        raise ValueError(f"noise_std={value!r}: expected a number >= 0")
    if "policy_kwargs" in kwargs:
        kwargs["policy_kwargs"] = parse_policy_kwargs(kwargs["policy_kwargs"])
    for key, value in list(kwargs.items()):
        if isinstance(value, str) and value.startswith("lin_"):
            try:
                kwargs[key] = linear_schedule(float(value[4:]))
            except ValueError:
                raise ValueError(f"{key}={value!r}: expected lin_<float>, e.g. lin_3e-4") from None
        elif isinstance(value, str) and key in ("learning_rate", "clip_range", "clip_range_vf", "gamma", "gae_lambda",
                                                "ent_coef_value", "tau", "vf_coef", "max_grad_norm"):
            try:
                kwargs[key] = float(value)
            except ValueError:
                raise ValueError(f"{key}={value!r}: expected a number or lin_<float>, e.g. 3e-4") from None
    if isinstance(kwargs.get("train_freq"), list):
        kwargs["train_freq"] = tuple(kwargs["train_freq"])
    for key, low in _INT_KEYS.items():
        if key in kwargs:
            kwargs[key] = _integer(key, kwargs[key], low)
    return kwargs, settings


_INT_KEYS = {"buffer_size": 1, "batch_size": 1, "n_steps": 1, "learning_starts": 0, "n_epochs": 1,
             "gradient_steps": -1}
"""Integer constructor arguments and their least value (``gradient_steps: -1``: as many as env steps)."""


def make_action_noise(noise_type: str | None, noise_std: float | None, n_actions: int):
    """SB3 action noise for off-policy algorithms, or None when ``noise_type`` is None."""
    if noise_type is None:
        return None
    from stable_baselines3.common.noise import NormalActionNoise, OrnsteinUhlenbeckActionNoise

    std = float(0.1 if noise_std is None else noise_std)
    mean, sigma = np.zeros(n_actions), std * np.ones(n_actions)
    if noise_type == "normal":
        return NormalActionNoise(mean=mean, sigma=sigma)
    if noise_type in ("ornstein-uhlenbeck", "ou"):
        return OrnsteinUhlenbeckActionNoise(mean=mean, sigma=sigma)
    raise ValueError(f"noise_type={noise_type!r} is not 'normal' or 'ornstein-uhlenbeck'")
