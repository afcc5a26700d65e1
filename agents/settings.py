"""The agent-side settings of a run, one frozen object: `AgentSettings`.

The agent-side options (``obs_features``, ``residual``/``residual_scale``, ``shield``, ``action_groups``:
the wrappers of `agents.policy.AGENT_CHAIN`), the warm-start settings (``pretrain*``, `agents.imitation`) and
the analytic stage's (``analytic_*``, `agents.analytic`) have one name and one default each, here, and are
validated once, in the constructor. `read_agent_settings`
builds them from a mapping, the same way for every route:

- a YAML entry of ``hyperparams/<algo>.yml`` after train.py's ``--hyperparams`` overrides (`split_hyperparams`),
- a run's ``<env>/config.yml`` when evaluate.py loads it (`agents.policy.TrainedPolicy.load`),
- the RL Zoo ``callback:`` kwargs of `agents.imitation.ImitationWarmStart` and `agents.analytic.AnalyticGradient`.

A mapping may write a setting flat (``shield: water``, ``pretrain_episodes: 40``) or the RL Zoo way
(``env_wrapper:`` entries of `AGENT_WRAPPERS`, a ``callback:`` entry of `WARM_START_CALLBACK` whose kwargs are
the legacy names of `WARM_START_KEYS`, an entry of `ANALYTIC_CALLBACK` with those of `ANALYTIC_KEYS`); a flat
key set beside the Zoo form overrides it, "off" values
(`OFF_VALUES`) included. This module imports nothing of ``agents`` (no import cycle).
"""

from __future__ import annotations

import dataclasses
from typing import Any, Mapping

__all__ = ["AGENT_KEYS", "AGENT_WRAPPERS", "ANALYTIC_CALLBACK", "ANALYTIC_ITERATIONS", "ANALYTIC_KEYS", "AgentSettings",
           "OFF_VALUES", "STAGE_CALLBACKS", "SettingError", "WARM_START_CALLBACK",
           "WARM_START_EXPERT", "WARM_START_KEYS", "WRAPPER_KEYS", "is_off", "named_entries", "read_agent_settings",
           "scaled_warm_start", "stage_settings", "zoo_entries"]

AGENT_WRAPPERS = {"agents.policy.ShieldAction": ("shield", "shield"),
                  "agents.policy.ResidualAction": ("residual", "base"),
                  "agents.policy.FeatureObservation": ("obs_features", "features"),
                  "agents.policy.GroupedAction": ("action_groups", "groups")}
"""Zoo ``env_wrapper`` class -> (setting, the wrapper's keyword holding its value)."""

_WRAPPER_VALUE = {"shield": "water", "obs_features": "dc", "action_groups": "j"}
"""The value an `AGENT_WRAPPERS` entry stands for when its keyword is not written."""

WARM_START_CALLBACK = "agents.imitation.ImitationWarmStart"
"""The Zoo ``callback`` that is train.py's warm start; its kwargs are the settings' legacy names, `WARM_START_KEYS`."""

WARM_START_KEYS = {"expert": "pretrain", "episodes": "pretrain_episodes", "epochs": "pretrain_epochs",
                   "dagger_episodes": "pretrain_dagger", "learning_rate": "pretrain_lr", "scale": "pretrain_scale",
                   "threads": "pretrain_threads"}
"""`WARM_START_CALLBACK` keyword (legacy alias) -> setting."""

ANALYTIC_CALLBACK = "agents.analytic.AnalyticGradient"
"""The Zoo ``callback`` that is train.py's analytic stage (after the warm start); its kwargs: `ANALYTIC_KEYS`."""

ANALYTIC_KEYS = {"iterations": "analytic_iters", "envs": "analytic_envs", "learning_rate": "analytic_lr"}
"""`ANALYTIC_CALLBACK` keyword -> setting."""

ANALYTIC_ITERATIONS = 600
"""The iterations of an `ANALYTIC_CALLBACK` entry that names none."""

WARM_START_EXPERT = "oracle_price"
"""The expert of a `WARM_START_CALLBACK` entry that names none."""

STAGE_CALLBACKS = {WARM_START_CALLBACK: (WARM_START_KEYS, "expert", WARM_START_EXPERT),
                   ANALYTIC_CALLBACK: (ANALYTIC_KEYS, "iterations", ANALYTIC_ITERATIONS)}
"""The Zoo callbacks that are train.py's stages, in their order: class -> (keyword -> setting, the keyword that
switches the stage on, its value when the entry does not write it)."""

OFF_VALUES = ("none", "null", "false", "off", "no", "0", "")
"""Spellings of "off" (case-insensitive), besides ``None``, ``False`` and ``0``."""

WRAPPER_KEYS = ("obs_features", "residual", "residual_scale", "shield", "action_groups")
"""The agent-side options (the wrapper chain's settings)."""


def is_off(value: Any) -> bool:
    """Whether ``value`` means "off": None, False, 0 or one of `OFF_VALUES` (``pretrain:none``, ``shield:false``)."""
    if value is None or value is False or (type(value) is int and value == 0):
        return True
    return isinstance(value, str) and value.strip().lower() in OFF_VALUES


def scaled_warm_start(episodes: int, dagger_episodes: int, scale: float) -> tuple[int, int]:
    """The warm start's size times ``scale`` (``pretrain_scale``: one setting for all of it): expert episodes
    (at least 1) and DAgger episodes, rounded; ``scale=1`` leaves them as they are."""
    if scale == 1:
        return episodes, dagger_episodes
    return max(1, round(episodes * scale)), round(dagger_episodes * scale)


class SettingError(ValueError):
    """An invalid setting: ``key``, ``value`` and the ``rule`` it breaks; the message is ``key=value`` + rule."""

    def __init__(self, key: str, value: Any, rule: str):
        self.key, self.value, self.rule = key, value, rule
        super().__init__(f"{key}={value!r}{rule}")

    def renamed(self, key: str) -> "SettingError":
        """The same error under another name (a legacy alias the caller wrote)."""
        return SettingError(key, self.value, self.rule)


def _integer(key: str, value: Any, low: int) -> int:
    """``value`` (an int, or an integral float such as ``1e6``) as an int >= ``low``; else `SettingError`."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or value < low:
        raise SettingError(key, value, f": expected an integer >= {low}")
    return value


def _number(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float))


_OFF_KEYS = ("obs_features", "residual", "shield", "action_groups", "pretrain")
"""Settings that a value meaning "off" (`OFF_VALUES`) switches off, also over the YAML's Zoo form."""

_CHOICES = {"obs_features": ("dc",), "shield": ("water",), "action_groups": ("j", "kj"),
            "pretrain": ("oracle_price", "oracle_plan")}


@dataclasses.dataclass(frozen=True)
class AgentSettings:
    """A run's agent-side options and warm start, validated once (a `SettingError` names the key, the rule
    and the value). Off (None) unless set; ``pretrain_episodes``/``pretrain_dagger`` are as written, before
    ``pretrain_scale`` (`warm_start_size` is what the warm start plays)."""

    obs_features: str | None = None
    """``dc`` or None: agent-side observation features (`agents.policy.OBS_FEATURES`)."""
    residual: str | None = None
    """A baselines policy spec the action corrects (`agents.policy.ResidualAction`), or None."""
    residual_scale: float = 0.5
    """The residual correction's factor."""
    shield: str | None = None
    """``water`` or None: the safety shield on the allocation (`agents.policy.SHIELDS`)."""
    action_groups: str | None = None
    """``j``, ``kj`` or None: a low-dimensional action (`agents.policy.ACTION_GROUPS`)."""
    pretrain: str | None = None
    """``oracle_price``, ``oracle_plan`` or None: the expert of the warm start (`agents.imitation.EXPERTS`)."""
    pretrain_episodes: int = 300
    """Expert episodes of the warm start (before ``pretrain_scale``)."""
    pretrain_epochs: int = 60
    """Behaviour-cloning epochs per fit."""
    pretrain_dagger: int = 0
    """DAgger episodes after the expert's (before ``pretrain_scale``)."""
    pretrain_lr: float = 1e-3
    """Adam's step of behaviour cloning."""
    pretrain_scale: float = 1.0
    """One factor on both episode counts."""
    pretrain_threads: int | None = None
    """Torch CPU threads while the warm start runs (restored after; None: as they are, train.py's one)."""
    analytic_iters: int = 0
    """Iterations of the analytic stage after the warm start (`agents.analytic`; 0: none)."""
    analytic_envs: int = 32
    """Training scenarios per iteration of the analytic stage."""
    analytic_lr: float = 3e-4
    """Adam's initial step in the analytic stage (decayed along a cosine to 5% of it)."""

    def __post_init__(self) -> None:
        put = lambda key, value: object.__setattr__(self, key, value)  # noqa: E731 - frozen: set once here
        for key in _OFF_KEYS:
            if is_off(getattr(self, key)):
                put(key, None)
        for key in ("obs_features", "shield", "action_groups", "pretrain"):
            value = getattr(self, key)
            if value is not None and value not in _CHOICES[key]:
                raise SettingError(key, value, f" is not {', '.join(repr(c) for c in _CHOICES[key])} or none")
        if not _number(self.residual_scale) or self.residual_scale < 0:
            raise SettingError("residual_scale", self.residual_scale, ": expected a number >= 0")
        put("residual_scale", float(self.residual_scale))
        put("pretrain_episodes", _integer("pretrain_episodes", self.pretrain_episodes, 1))
        put("pretrain_epochs", _integer("pretrain_epochs", self.pretrain_epochs, 1))
        put("pretrain_dagger", _integer("pretrain_dagger", self.pretrain_dagger, 0))
        if not _number(self.pretrain_scale) or not 0 < self.pretrain_scale <= 100:
            raise SettingError("pretrain_scale", self.pretrain_scale,
                               ": expected a factor in (0, 100] on the warm start's episodes")
        put("pretrain_scale", float(self.pretrain_scale))
        if not _number(self.pretrain_lr) or not 0 < self.pretrain_lr < 1:
            raise SettingError("pretrain_lr", self.pretrain_lr, ": expected a learning rate in (0, 1)")
        put("pretrain_lr", float(self.pretrain_lr))
        if self.pretrain_threads is not None:
            put("pretrain_threads", _integer("pretrain_threads", self.pretrain_threads, 1))
        put("analytic_iters", 0 if is_off(self.analytic_iters) else _integer("analytic_iters", self.analytic_iters, 0))
        put("analytic_envs", _integer("analytic_envs", self.analytic_envs, 1))
        if not _number(self.analytic_lr) or not 0 < self.analytic_lr < 1:
            raise SettingError("analytic_lr", self.analytic_lr, ": expected a learning rate in (0, 1)")
        put("analytic_lr", float(self.analytic_lr))

    @property
    def warm_start_size(self) -> tuple[int, int]:
        """(expert episodes, DAgger episodes) the warm start plays: the written ones times ``pretrain_scale``."""
        return scaled_warm_start(self.pretrain_episodes, self.pretrain_dagger, self.pretrain_scale)

    def wrappers(self) -> dict[str, Any]:
        """The agent-side options (`WRAPPER_KEYS`) as a dict."""
        return {key: getattr(self, key) for key in WRAPPER_KEYS}


AGENT_KEYS = tuple(f.name for f in dataclasses.fields(AgentSettings))
"""The settings' one name each, in `AgentSettings` order."""


def named_entries(value: Any, key: str) -> list[tuple[str, dict[str, Any]]]:
    """Zoo's ``env_wrapper`` / ``callback`` value (a name, ``{name: kwargs}`` or a list of them) as
    [(dotted name, kwargs)]."""
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    out = []
    for item in items:
        if isinstance(item, str):
            out.append((item, {}))
        elif isinstance(item, dict) and len(item) == 1:
            name, kwargs = next(iter(item.items()))
            if kwargs is not None and not isinstance(kwargs, dict):
                raise ValueError(f"{key}: {name!r} takes a mapping of keyword arguments, got {kwargs!r}")
            out.append((str(name), dict(kwargs or {})))
        else:
            raise ValueError(f"{key}={item!r}: expected a dotted class name or {{name: kwargs}}")
        if "." not in out[-1][0]:
            raise ValueError(f"{key}={out[-1][0]!r}: expected a dotted class name such as "
                             "agents.policy.ShieldAction")
    return out


def zoo_entries(raw: Mapping[str, Any]) -> dict[str, Any]:
    """The flat settings that ``env_wrapper`` / ``callback`` entries of `AGENT_WRAPPERS`, `WARM_START_CALLBACK`
    and `ANALYTIC_CALLBACK` stand for (legacy kwarg names mapped to the settings' names), plus
    ``extra_wrappers`` / ``extra_callbacks`` for the other entries."""
    out: dict[str, Any] = {"extra_wrappers": [], "extra_callbacks": []}
    for name, kwargs in named_entries(raw.get("env_wrapper"), "env_wrapper"):
        if name in AGENT_WRAPPERS:
            setting, arg = AGENT_WRAPPERS[name]
            out[setting] = kwargs.get(arg, _WRAPPER_VALUE.get(setting))
            if setting == "residual":
                if out[setting] is None:
                    raise ValueError(f"env_wrapper {name}: needs its 'base' policy spec")
                out["residual_scale"] = kwargs.get("scale", AgentSettings.residual_scale)
        else:
            out["extra_wrappers"].append((name, kwargs))
    for name, kwargs in named_entries(raw.get("callback"), "callback"):
        if name in STAGE_CALLBACKS:
            keys, switch, default = STAGE_CALLBACKS[name]
            unknown = sorted(set(kwargs) - set(keys) - {"verbose"})
            if unknown:
                raise ValueError(f"callback {name}: unknown keyword(s) {unknown} (known: {sorted(keys)})")
            out[keys[switch]] = kwargs.get(switch, default)
            out.update({keys[k]: v for k, v in kwargs.items() if k in keys and k != switch})
        else:
            out["extra_callbacks"].append((name, kwargs))
    return out


def stage_settings(name: str, given: Mapping[str, Any]) -> AgentSettings:
    """The settings the kwargs ``given`` of the stage callback ``name`` (a key of `STAGE_CALLBACKS`) stand for,
    read and validated by `read_agent_settings`; a `SettingError` names the keyword as the caller wrote it."""
    try:
        return read_agent_settings({"callback": [{name: dict(given)}]})
    except SettingError as exc:
        back = {v: k for k, v in STAGE_CALLBACKS[name][0].items()}
        raise exc.renamed(back.get(exc.key, exc.key)) from None


def read_agent_settings(raw: Mapping[str, Any]) -> AgentSettings:
    """`AgentSettings` from a YAML entry (after CLI overrides), a run's ``config.yml`` or a Zoo callback's form:
    flat keys (`AGENT_KEYS`) over the Zoo ``env_wrapper`` / ``callback`` entries (`zoo_entries`); a key set to
    None (``null`` in YAML) takes its default, an "off" value switches an option off."""
    zoo = zoo_entries(raw)
    values = {key: raw[key] if key in raw else zoo.get(key) for key in AGENT_KEYS}
    return AgentSettings(**{key: value for key, value in values.items() if value is not None})
