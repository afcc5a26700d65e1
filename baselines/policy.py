"""The one `Policy` protocol of the project, and the registry that turns a spec string into a policy.

Every policy that `evaluate.py` runs - heuristics, LP baselines, the oracle's replay and trained RL agents -
is an object with three members::

    class Policy(Protocol):
        name: str                               # label used in results tables
        def reset(self, env) -> None: ...       # once per episode, after env.reset(...)
        def act(self, obs, env) -> np.ndarray:  # once per step; returns the action for env.step

The episode loop (the whole contract)::

    obs, info = env.reset(seed=seed, options={"scenario": s})
    policy.reset(env.unwrapped)
    while True:
        obs, reward, terminated, truncated, info = env.step(policy.act(obs, env.unwrapped))
        if terminated or truncated:
            break

``env`` is always the *unwrapped* `GreenLLMEnv`: a policy may read ``env.scenario``, ``env.coef``
(`green_llm_env.cost.Coefficients`), ``env.weights``, ``env.t`` (the slot about to be played),
``env.water_left_l`` and call ``env.forecast(hours)``; an RL agent may ignore ``env`` and use ``obs`` only.
``act`` returns a flat float array of length I*K*J read as (I, K, J). LP and heuristic policies return an
allocation (each (i, k) row on the simplex), which the default ``action_mode="project"`` applies exactly.

Optional attributes, read with ``getattr`` by `evaluate.py`:

- ``kind: str`` - category for the summary's split: ``"oracle"``, ``"mpc"``, ``"mpc_noisy"``, ``"lp"``,
  ``"heuristic"`` or ``"learned"`` (the default for policies built by a loader).
- ``env_kwargs: dict`` - keyword arguments of `GreenLLMEnv` this policy needs (for example the
  forecast noise of ``mpc_noisy``, or the observation settings an agent was trained with); they override
  the user's ``--env-kwargs`` for this policy's environment.

Spec strings (`make_policy`)::

    "mpc"                      a registered name
    "mpc:horizon=6"            a registered name with keyword options (``:key=value``, repeatable;
                               values parsed as int, float, bool, None or str)
    "ppo=logs/ppo/GreenLLM-v0_1"   ``name=path``: resolved by a loader registered for ``name`` (exact) or
                               for the longest registered prefix of ``name``

Loaders are registered by other packages (``agents`` registers its SB3 adapter) through
`register_policy_loader`; ``baselines`` never imports ``agents``.
"""

from __future__ import annotations

import importlib
from typing import Any, Callable, Protocol, runtime_checkable

import numpy as np

__all__ = ["Policy", "PolicySpecError", "available_policies", "make_policy", "parse_spec", "register_policy",
           "register_policy_loader", "spec_label", "to_action"]


@runtime_checkable
class Policy(Protocol):
    """A decision rule for the GreenLLM envs (see the module docstring for the episode loop)."""

    name: str

    def reset(self, env: Any) -> None:
        """Prepare for a new episode; ``env`` is the unwrapped env, already reset (slot 0)."""

    def act(self, obs: Any, env: Any) -> np.ndarray:
        """The action for slot ``env.t``: a flat float array of length I*K*J, read as (I, K, J)."""


class PolicySpecError(ValueError):
    """A policy spec that names no registered policy or loader, or has malformed options."""


# name -> (module, attribute) of a factory, imported lazily so that `baselines.policy` stays light.
_BUILTIN: dict[str, tuple[str, str, dict[str, Any]]] = {
    "oracle": ("baselines.oracle_policy", "OraclePolicy", {}),
    "mpc": ("baselines.mpc", "MPCPolicy", {}),
    "mpc_noisy": ("baselines.mpc", "MPCPolicy", {"forecast": "env"}),
    "myopic": ("baselines.myopic", "MyopicPolicy", {}),
    "uniform": ("baselines.heuristics", "UniformPolicy", {}),
    "nearest": ("baselines.heuristics", "NearestPolicy", {}),
    "cheapest": ("baselines.heuristics", "CheapestPolicy", {}),
    "greenest": ("baselines.heuristics", "GreenestPolicy", {}),
    "renewable_first": ("baselines.heuristics", "RenewableFirstPolicy", {}),
    "day_price": ("baselines.hybrid_rules", "DayPricePolicy", {}),
    "constant_price": ("baselines.hybrid_rules", "ConstantPricePolicy", {}),
    "forecast_lp": ("baselines.hybrid_rules", "ForecastLPPolicy", {}),
    "sampled_price": ("baselines.hybrid_rules", "SampledPricePolicy", {}),
}
_FACTORIES: dict[str, Callable[..., Policy]] = {}
_LOADERS: dict[str, Callable[..., Policy]] = {}


def register_policy(name: str, factory: Callable[..., Policy]) -> None:
    """Make ``make_policy(name, **kw)`` call ``factory(name=name, **kw)``. Replaces an earlier entry."""
    if not name or any(ch in name for ch in ",:= "):
        raise ValueError(f"policy name must be non-empty without ',', ':', '=' or spaces; got {name!r}")
    _FACTORIES[name] = factory


def register_policy_loader(prefix_or_name: str, loader: Callable[..., Policy]) -> None:
    """Resolve specs ``name=path`` whose ``name`` equals, or starts with, ``prefix_or_name``.

    ``loader(path, name=name, **kw)`` must return a `Policy` (for example a trained SB3 model wrapped in an
    adapter). The longest matching prefix wins; an exact match beats any prefix.
    """
    if not prefix_or_name or any(ch in prefix_or_name for ch in ",:= "):
        raise ValueError(f"loader prefix must be non-empty without ',', ':', '=' or spaces; got {prefix_or_name!r}")
    _LOADERS[prefix_or_name] = loader


def available_policies() -> list[str]:
    """Registered policy names (built-in and added), then ``prefix=...`` for each registered loader."""
    return sorted(set(_BUILTIN) | set(_FACTORIES)) + [f"{p}=PATH" for p in sorted(_LOADERS)]


def parse_value(text: Any) -> Any:
    """A CLI value: int, float (``3e-4`` included), bool, None, a JSON/YAML list or dict, else the string."""
    if not isinstance(text, str):
        return text
    low = text.strip().lower()
    if low in ("true", "false"):
        return low == "true"
    if low in ("none", "null"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.strip()[:1] in "[{":
        try:
            import yaml  # YAML is a superset of JSON; pyyaml comes with the train/test extras

            return yaml.safe_load(text)
        except ImportError:
            import json

            try:
                return json.loads(text)
            except ValueError:
                pass
        except Exception:  # yaml.YAMLError
            pass
    return text


def parse_spec(spec: str) -> tuple[str, str | None, dict[str, Any]]:
    """Split a spec into ``(name, path or None, options)``; see the module docstring for the grammar."""
    spec = str(spec).strip()
    if not spec:
        raise PolicySpecError("policy spec is empty")
    head, _, rest = spec.partition(":")
    if "=" in head:  # name=path (the path may contain ':')
        name, _, path = spec.partition("=")
        if not name or not path:
            raise PolicySpecError(f"policy spec {spec!r} must be name=path with both parts non-empty")
        return name, path, {}
    options: dict[str, Any] = {}
    for part in rest.split(":") if rest else ():
        key, eq, val = part.partition("=")
        if not eq or not key:
            raise PolicySpecError(f"policy spec {spec!r}: option {part!r} must be key=value")
        options[key] = parse_value(val)
    return head, None, options


def spec_label(spec: str) -> str:
    """The label a spec's policy reports: ``name`` for ``name=path``, else the spec itself."""
    name, path, _ = parse_spec(spec)
    return name if path is not None else str(spec).strip()


def _loader_for(name: str) -> Callable[..., Policy] | None:
    if name in _LOADERS:
        return _LOADERS[name]
    hits = [p for p in _LOADERS if name.startswith(p)]
    return _LOADERS[max(hits, key=len)] if hits else None


def make_policy(spec: str, **kw: Any) -> Policy:
    """Build the policy a spec names (``"mpc"``, ``"mpc:horizon=6"``, ``"ppo=PATH"``); ``kw`` are extra
    keyword arguments for its factory (spec options win). ``PolicySpecError`` for an unknown name."""
    name, path, options = parse_spec(spec)
    label = spec_label(spec)
    if path is not None:
        loader = _loader_for(name)
        if loader is None:
            raise PolicySpecError(
                f"policy spec {spec!r}: no loader registered for {name!r} (registered: {sorted(_LOADERS) or 'none'};"
                " import the package that registers it, e.g. agents)")
        policy = loader(path, name=label, **kw)
    elif name in _FACTORIES:
        policy = _FACTORIES[name](name=label, **{**kw, **options})
    elif name in _BUILTIN:
        module, attr, defaults = _BUILTIN[name]
        factory = getattr(importlib.import_module(module), attr)
        try:
            policy = factory(name=label, **{**defaults, **kw, **options})
        except TypeError as exc:
            raise PolicySpecError(f"policy spec {spec!r}: {exc}") from None
        except ValueError as exc:  # a bad option value: name the options, whatever the factory's message
            given = ", ".join(f"{k}={v!r}" for k, v in options.items())
            raise PolicySpecError(f"policy spec {spec!r}" + (f" (options {given})" if given else "")
                                  + f": {exc}") from None
    else:
        raise PolicySpecError(f"unknown policy {name!r} in spec {spec!r}; known: {', '.join(available_policies())}")
    if not isinstance(policy, Policy):
        raise PolicySpecError(f"policy spec {spec!r} built {type(policy).__name__}, which lacks name/reset/act")
    return policy


def to_action(x: np.ndarray) -> np.ndarray:
    """An allocation (..., I, K, J) clipped to [0, 1] with rows renormalised, flattened for ``env.step``."""
    x = np.clip(np.asarray(x, dtype=np.float64), 0.0, None)
    total = x.sum(-1, keepdims=True)
    x = np.where(total > 0, x / np.where(total > 0, total, 1.0), 1.0 / x.shape[-1])
    return x.reshape(-1)
