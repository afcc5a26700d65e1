"""The algorithms ``train.py`` can train: Stable-Baselines3 and sb3-contrib classes by short name.

``ALGOS`` maps the CLI name (``--algo``) to the algorithm class. ``resolve_device`` turns ``--device`` into
a torch device string: ``auto`` picks the CPU for on-policy algorithms with MLP policies (PPO, A2C,
RecurrentPPO) because SB3's small MLPs run faster on the CPU than on a GPU, and CUDA (when present) for the
off-policy algorithms (SAC, TD3, DDPG, TQC), whose many small gradient steps on large batches gain from it.
"""

from __future__ import annotations

import hashlib
import json
import os
import zipfile
from pathlib import Path
from typing import Callable

from stable_baselines3 import A2C, DDPG, PPO, SAC, TD3
from stable_baselines3.common.base_class import BaseAlgorithm
from sb3_contrib import TQC, RecurrentPPO

__all__ = ["ALGOS", "DEFAULT_POLICY", "ON_POLICY", "RunLayout", "canonical_name", "get_algo", "is_off_policy",
           "fingerprint", "read_run_yaml", "resolve_device", "saved_steps"]

ALGOS: dict[str, type[BaseAlgorithm]] = {
    "a2c": A2C,
    "ddpg": DDPG,
    "ppo": PPO,
    "recurrentppo": RecurrentPPO,
    "sac": SAC,
    "td3": TD3,
    "tqc": TQC,
}
"""CLI name -> algorithm class."""

ON_POLICY: frozenset[str] = frozenset({"a2c", "ppo", "recurrentppo"})
"""Algorithms that learn from fresh rollouts (no replay buffer)."""

DEFAULT_POLICY: dict[str, str] = {name: "MlpLstmPolicy" if name == "recurrentppo" else "MlpPolicy" for name in ALGOS}
"""Policy class used when the hyperparameter file names none."""


def get_algo(name: str) -> type[BaseAlgorithm]:
    """The algorithm class for CLI name ``name`` (case-insensitive; ``recurrent_ppo``/``ppo_lstm`` accepted)."""
    key = name.lower().replace("-", "").replace("_", "")
    key = {"ppolstm": "recurrentppo"}.get(key, key)
    if key not in ALGOS:
        raise ValueError(f"algo={name!r} is not known; choose one of {sorted(ALGOS)}")
    return ALGOS[key]


def canonical_name(name: str) -> str:
    """The registry key for ``name`` (see ``get_algo``)."""
    algo = get_algo(name)
    return next(k for k, v in ALGOS.items() if v is algo)


def is_off_policy(name: str) -> bool:
    """True for replay-buffer algorithms (SAC, TD3, DDPG, TQC)."""
    return canonical_name(name) not in ON_POLICY


def resolve_device(device: str, algo: str, policy: str | None = None) -> str:
    """Torch device for ``--device`` (``auto``, ``cpu``, ``cuda`` or ``cuda:N``).

    ``auto``: ``cpu`` for PPO/A2C/RecurrentPPO with an MLP (or MLP-LSTM) policy, else ``cuda`` when
    ``torch.cuda.is_available()``, else ``cpu``. An explicit ``cuda`` without a usable GPU raises
    ``RuntimeError`` naming the device, rather than failing deep inside torch.
    """
    import torch

    name = canonical_name(algo)
    dev = device.lower()
    if dev == "auto":
        policy = policy or DEFAULT_POLICY[name]
        if name in ON_POLICY and policy.startswith("Mlp"):
            return "cpu"
        return "cuda" if torch.cuda.is_available() else "cpu"
    if dev == "cpu":
        return "cpu"
    if dev.startswith("cuda"):
        if not torch.cuda.is_available():
            built = "built without CUDA" if torch.version.cuda is None else f"CUDA {torch.version.cuda}, no GPU visible"
            raise RuntimeError(f"device={device!r}: CUDA is not available (torch {torch.__version__}, {built}); "
                               "use --device cpu or --device auto")
        if ":" in dev:
            index = int(dev.split(":", 1)[1])
            if index >= torch.cuda.device_count():
                raise RuntimeError(f"device={device!r}: only {torch.cuda.device_count()} CUDA device(s) visible")
        return dev
    raise ValueError(f"device={device!r} is not one of 'auto', 'cpu', 'cuda', 'cuda:N'")


def read_run_yaml(path: str | os.PathLike[str]) -> dict:
    """A run's ``args.yml`` / ``config.yml`` as a dict, whichever tool wrote it: ``train.py`` writes plain
    YAML, RL Zoo an ``OrderedDict`` (``!!python/object/apply:collections.OrderedDict``, a list of pairs),
    read here without ``yaml.unsafe_load`` (no other Python tag is accepted)."""
    import yaml

    class _RunLoader(yaml.SafeLoader):
        pass

    def _ordered(loader: yaml.SafeLoader, node: yaml.Node) -> dict:
        (pairs,) = loader.construct_sequence(node, deep=True)
        return {str(k): v for k, v in pairs}

    _RunLoader.add_constructor("tag:yaml.org,2002:python/object/apply:collections.OrderedDict", _ordered)
    with open(path) as fh:
        try:
            data = yaml.load(fh, Loader=_RunLoader)  # noqa: S506 - a SafeLoader with one extra tag
        except yaml.YAMLError as exc:
            raise ValueError(f"{path}: not a readable run YAML ({' '.join(str(exc).split())})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a mapping, got {type(data).__name__}")
    return data


def fingerprint(*paths: str | os.PathLike[str] | None) -> str:
    """sha256 (hex) over the bytes of ``paths`` in order (None: skipped, recorded as absent), e.g. a model zip
    and its VecNormalize pickle: equal fingerprints, equal trained policy."""
    digest = hashlib.sha256()
    for path in paths:
        if path is None:
            digest.update(b"\0none\0")
            continue
        with open(path, "rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                digest.update(block)
        digest.update(b"\0end\0")
    return digest.hexdigest()


def saved_steps(model: str | os.PathLike[str]) -> int:
    """``num_timesteps`` recorded in an SB3 model zip (its ``data`` JSON), after checking every member's CRC;
    ``ValueError`` saying why for a missing, empty, truncated or foreign file."""
    try:
        with zipfile.ZipFile(model) as zf:
            bad = zf.testzip()
            if bad is not None:
                raise ValueError(f"member {bad!r} is corrupt")
            steps = json.loads(zf.read("data")).get("num_timesteps")
    except FileNotFoundError:
        raise ValueError("missing") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError, json.JSONDecodeError, AttributeError) as exc:
        raise ValueError(f"not a readable SB3 model zip: {type(exc).__name__}: {exc}") from None
    if isinstance(steps, bool) or not isinstance(steps, int):
        raise ValueError(f"its data has no integer num_timesteps (got {steps!r})")
    return steps


class RunLayout:
    """Where a training run's files live: RL Baselines3 Zoo's layout ``LOGDIR/<algo>/<env>_<n>/``.

    ``<env>.zip`` (final or interrupted model), ``best_model.zip`` (best on the validation seeds),
    ``<env>/config.yml`` (resolved hyperparameters), ``<env>/args.yml`` (CLI arguments, seed included),
    ``<env>/vecnormalize.pkl`` (normalisation statistics matching ``<env>.zip``),
    ``<env>/best_vecnormalize.pkl`` (those matching ``best_model.zip``), ``command.txt``, ``evaluations.npz``,
    checkpoints ``rl_model_<steps>_steps.zip`` + ``rl_model_vecnormalize_<steps>_steps.pkl``, tensorboard
    event files under ``tb_1/``, monitor files ``*.monitor.csv``.
    """

    def __init__(self, run_dir: str | os.PathLike[str], env_key: str = "GreenLLM-v0"):
        self.run_dir = Path(run_dir)
        self.env_key = env_key
        self.model = self.run_dir / f"{env_key}.zip"
        self.best_model = self.run_dir / "best_model.zip"
        self.params_dir = self.run_dir / env_key
        self.config = self.params_dir / "config.yml"
        self.args = self.params_dir / "args.yml"
        self.vecnormalize = self.params_dir / "vecnormalize.pkl"
        self.best_vecnormalize = self.params_dir / "best_vecnormalize.pkl"
        self.command = self.run_dir / "command.txt"
        self.evaluations = self.run_dir / "evaluations.npz"
        self.replay_buffer = self.run_dir / "replay_buffer.pkl"
        self.checkpoint_prefix = "rl_model"

    def __repr__(self) -> str:
        return f"RunLayout({str(self.run_dir)!r}, env_key={self.env_key!r})"

    @classmethod
    def new(cls, log_folder: str, algo: str, env_key: str, uuid: bool = False) -> "RunLayout":
        """A fresh run folder ``log_folder/algo/env_key_<n>`` with n one above the highest existing
        (``uuid``: ``env_key_<n>_<uuid4>``, RL Zoo's ``-uuid``)."""
        base = Path(log_folder) / algo
        ids = [0]
        if base.is_dir():
            for child in base.iterdir():
                head, _, tail = child.name.rpartition("_")
                if len(tail) == 36 and tail.count("-") == 4:  # a -uuid run: env_key_<n>_<uuid4>
                    head, _, tail = head.rpartition("_")
                if head == env_key and tail.isdigit():
                    ids.append(int(tail))
        suffix = ""
        if uuid:
            import uuid as _uuid

            suffix = f"_{_uuid.uuid4()}"
        return cls(base / f"{env_key}_{max(ids) + 1}{suffix}", env_key)

    @classmethod
    def find(cls, run_dir: str) -> "RunLayout":
        """The layout of an existing run folder (its env key read from the ``<env>/args.yml`` subfolder)."""
        path = Path(run_dir)
        if not path.is_dir():
            raise FileNotFoundError(f"run_dir={str(run_dir)!r} is not a directory")
        keys = [p.parent.name for p in path.glob("*/args.yml")] + [p.parent.name for p in path.glob("*/config.yml")]
        if keys:
            return cls(path, keys[0])
        zips = [p.stem for p in path.glob("*.zip") if p.stem != "best_model" and not p.stem.startswith("rl_model")]
        if zips:
            return cls(path, zips[0])
        head = path.name.rpartition("_")[0]
        return cls(path, head or "GreenLLM-v0")

    def checkpoints(self) -> list[tuple[int, os.PathLike[str]]]:
        """(num_timesteps, path) of the checkpoint models, oldest first."""
        found = []
        for p in self.run_dir.glob(f"{self.checkpoint_prefix}_*_steps.zip"):
            middle = p.name[len(self.checkpoint_prefix) + 1:-len("_steps.zip")]
            if middle.isdigit():
                found.append((int(middle), p))
        return sorted(found)

    def checkpoint_vecnormalize(self, steps: int):
        """The VecNormalize statistics saved with checkpoint ``steps``."""
        return self.run_dir / f"{self.checkpoint_prefix}_vecnormalize_{steps}_steps.pkl"

    def checkpoint_replay_buffer(self, steps: int):
        """The replay buffer saved with checkpoint ``steps``."""
        return self.run_dir / f"{self.checkpoint_prefix}_replay_buffer_{steps}_steps.pkl"

    def saved_states(self) -> list[tuple[os.PathLike[str], os.PathLike[str], os.PathLike[str]]]:
        """(model, vecnormalize, replay buffer) of the final/interrupted model and every checkpoint, by step
        count, most steps first (a checkpoint saved with the final model's step count after it): the step
        count of the final model is read from its zip (unreadable: first, so that `latest_state` reports
        it), a checkpoint's from its name. Paths other than the model may not exist."""
        candidates = []
        if self.model.is_file():
            try:
                steps = saved_steps(self.model)
            except ValueError:
                steps = float("inf")  # damaged, and usually the last file written: tried (and reported) first
            candidates.append((steps, 1, self.model, self.vecnormalize, self.replay_buffer))
        for steps, path in self.checkpoints():
            candidates.append((steps, 0, path, self.checkpoint_vecnormalize(steps),
                               self.checkpoint_replay_buffer(steps)))
        return [c[2:] for c in sorted(candidates, key=lambda c: (c[0], c[1]), reverse=True)]

    def latest_state(self, on_damaged: Callable[[os.PathLike[str], str], None] | None = None
                     ) -> tuple[os.PathLike[str], os.PathLike[str], os.PathLike[str]]:
        """(model, vecnormalize, replay buffer) of the state with the most steps (`saved_states`) whose model
        zip is intact (`saved_steps`); each damaged (truncated, empty) zip passed over is reported to
        ``on_damaged(path, reason)``. ``FileNotFoundError`` when no model or none intact."""
        states = self.saved_states()
        if not states:
            raise FileNotFoundError(f"run_dir={str(self.run_dir)!r} holds no model ({self.model.name} or "
                                    f"{self.checkpoint_prefix}_<steps>_steps.zip)")
        for model, vecnorm, buffer in states:
            try:
                saved_steps(model)
            except ValueError as exc:
                if on_damaged is not None:
                    on_damaged(model, str(exc))
                continue
            return model, vecnorm, buffer
        raise FileNotFoundError(f"run_dir={str(self.run_dir)!r}: every model zip is damaged "
                                f"({', '.join(Path(m).name for m, _, _ in states)})")
