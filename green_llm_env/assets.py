"""Files the project ships beside its packages: the RL Zoo hyperparameters and the trained agents.

In a checkout they are the repository's ``hyperparams/`` and ``rl-trained-agents/`` folders; an installed
wheel carries copies as package data (``green_llm_env/_hyperparams``, ``green_llm_env/_trained_agents``, see
pyproject.toml), so ``load_hyperparams("ppo")`` and ``--policies ppo=rl-trained-agents/...`` work without the
repository.
"""

from __future__ import annotations

from pathlib import Path

__all__ = ["ASSETS", "asset_dir", "resolve_asset_path"]

ASSETS = {"hyperparams": ("hyperparams", "_hyperparams"), "rl-trained-agents": ("rl-trained-agents", "_trained_agents")}
"""Asset name -> (folder in the repository, folder inside the installed ``green_llm_env`` package)."""

_HERE = Path(__file__).resolve().parent


def asset_dir(name: str) -> Path:
    """The folder of asset ``name`` (one of `ASSETS`): the repository's when present, else the installed copy."""
    if name not in ASSETS:
        raise ValueError(f"name={name!r} is not one of {sorted(ASSETS)}")
    repo, packaged = ASSETS[name]
    for path in (_HERE.parent / repo, _HERE / packaged):
        if path.is_dir():
            return path
    raise FileNotFoundError(f"asset {name!r}: neither {_HERE.parent / repo} nor {_HERE / packaged} exists "
                            "(a wheel built without package data?)")


def resolve_asset_path(path: str | Path) -> Path:
    """``path`` itself when it exists; else, for a relative path under ``rl-trained-agents/`` or
    ``hyperparams/``, the same file in the shipped assets (so the README's paths work from any folder)."""
    path = Path(path)
    if path.exists() or path.is_absolute() or not path.parts or path.parts[0] not in ASSETS:
        return path
    try:
        candidate = asset_dir(path.parts[0]).joinpath(*path.parts[1:])
    except FileNotFoundError:
        return path
    return candidate if candidate.exists() else path
