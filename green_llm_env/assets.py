"""Files the project ships beside its packages (the RL Zoo hyperparameters, the trained agents) and the data it
reads by path (not shipped).

In a checkout they are the repository's ``hyperparams/`` and ``rl-trained-agents/`` folders; an installed
wheel carries copies as package data (``green_llm_env/_hyperparams``, ``green_llm_env/_trained_agents``, see
pyproject.toml), so ``load_hyperparams("ppo")`` and ``--policies ppo=rl-trained-agents/...`` work without the
repository.

The data the code reads (the letter's reference scenario and the 2024 hourly carbon traces per DC) is **not**
shipped: it is read by path. `data_file` looks in the folder named by ``$GREEN_LLM_DATA``, then (in a checkout
only) the ``../shared/data`` folder beside the repository; when neither holds the file it raises one line that
names the file, the variable to set and where to get the data (see docs/data.md)::

    export GREEN_LLM_DATA=/path/to/folder     # holding paper_reference_scenario.json and the carbon traces

    from green_llm_env.assets import reference_scenario_path, traces_dir
    Scenario.from_json(reference_scenario_path())
    gymnasium.make("green_llm_env:GreenLLM-v2", traces=traces_dir())
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["ASSETS", "CARBON_TRACES", "DATA_ENV_VAR", "DATA_FILES", "DATA_SOURCE", "REFERENCE_SCENARIO", "asset_dir",
           "data_dirs", "data_file", "reference_scenario_path", "resolve_asset_path", "traces_dir"]

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


# ------------------------------------------------------------------------------- data
DATA_ENV_VAR = "GREEN_LLM_DATA"
"""Environment variable naming a folder that holds the data files (searched first)."""
REFERENCE_SCENARIO = "paper_reference_scenario.json"
"""The letter's reference scenario (every parameter behind its Tables I and II)."""
CARBON_TRACES = "carbon_intensity_2024_hourly_by_dc.csv"
"""2024 hourly life-cycle carbon intensity per DC, g/kWh (Electricity Maps, ODbL)."""
DATA_FILES = (REFERENCE_SCENARIO, CARBON_TRACES)
"""The data files the code reads (none of them ships with the package)."""
DATA_SOURCE = ("the Green_LLM authors' public repo https://github.com/JJmingcc/Green_LLM (folder Dataset/) and "
               "Electricity Maps' data portal https://www.electricitymaps.com/data-portal (ODbL)")
"""Where the raw data comes from, for the message of a missing file."""

_SHARED_DATA = _HERE.parent.parent / "shared" / "data"


def data_dirs() -> list[Path]:
    """The folders searched for data files, in order: ``$GREEN_LLM_DATA`` (when set), then a checkout's
    ``../shared/data`` (only in a checkout, never beside an installed package)."""
    dirs = []
    if os.environ.get(DATA_ENV_VAR):
        dirs.append(Path(os.environ[DATA_ENV_VAR]).expanduser())
    if (_HERE.parent / "pyproject.toml").is_file():
        dirs.append(_SHARED_DATA)
    return dirs


def data_file(name: str) -> Path:
    """The path of data file ``name`` (one of `DATA_FILES`) in the first of `data_dirs` that holds it.

    Raises ``FileNotFoundError`` with one line: the file, the folders searched, the variable to set (or the CLI
    flag to pass) and where to get the data.
    """
    if name not in DATA_FILES:
        raise ValueError(f"name={name!r} is not one of {list(DATA_FILES)}")
    for folder in data_dirs():
        if (folder / name).is_file():
            return folder / name
    searched = ", ".join(str(d) for d in data_dirs()) or f"nowhere: {DATA_ENV_VAR} is not set"
    flag = "--scenario FILE" if name == REFERENCE_SCENARIO else "--traces DIR"
    raise FileNotFoundError(f"{name} not found (searched {searched}); set {DATA_ENV_VAR}=/path/to/folder holding "
                            f"it (or pass {flag}); the data is not shipped with the package: get it from "
                            f"{DATA_SOURCE}")


def reference_scenario_path() -> Path:
    """Path of ``paper_reference_scenario.json`` (see `data_file`)."""
    return data_file(REFERENCE_SCENARIO)


def traces_dir() -> Path:
    """The folder holding the 2024 carbon traces, ready for ``traces=`` / ``--traces`` (see `data_file`)."""
    return data_file(CARBON_TRACES).parent
