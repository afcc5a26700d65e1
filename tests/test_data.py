"""The data a library user needs (the letter's scenario, the 2024 carbon traces) is read by path, never shipped:
`green_llm_env.assets.data_file` looks in ``$GREEN_LLM_DATA``, then a checkout's ``../shared/data``, and
otherwise gives one line saying where to get it (the CLIs: exit status 2, no traceback)."""

from __future__ import annotations

import os
import subprocess
import sys
import zipfile
from pathlib import Path

import numpy as np
import pytest

from green_llm_env import assets, scenario_from_traces
from green_llm_env.scenario import CARBON_TRACE_FILE

from .conftest import REPO

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason=f"{SHARED} not found (the shared data folder)")

# ``python -m MODULE ARGS`` as a library user runs it, except that the checkout's ../shared/data is hidden
# (an installed package has none beside it): argv[1] is the module, the rest its arguments.
_RUN_HIDDEN = ("import runpy, sys; from pathlib import Path; import green_llm_env.assets as a; "
               "a._SHARED_DATA = Path('/nonexistent/shared/data'); sys.argv = sys.argv[1:]; "
               "runpy.run_module(sys.argv[0], run_name='__main__', alter_sys=True)")


def _clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", assets.DATA_ENV_VAR)}
    return {**env, **extra}


def _run_outside(module: str, *args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-c", _RUN_HIDDEN, module, *args], cwd=cwd, env=_clean_env(**env),
                          capture_output=True, text=True, timeout=300)


def _assert_pointer(proc: subprocess.CompletedProcess, name: str) -> None:
    """The one-line pointer: exit 2, no traceback, the file, the variable, the flag and the sources named."""
    assert proc.returncode == 2, (proc.stdout, proc.stderr)
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr
    for part in (name, "GREEN_LLM_DATA=/path/to/folder", "github.com/JJmingcc/Green_LLM", "Electricity Maps", "ODbL"):
        assert part in lines[0], (part, lines[0])


def test_no_data_in_the_package() -> None:
    """The project's rule: ../shared/data is read by path, never copied into the repository or the wheel."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        tomllib = pytest.importorskip("tomli")
    assert assets.CARBON_TRACES == CARBON_TRACE_FILE
    assert not (REPO / "green_llm_env" / "data").exists()
    copies = [p for pattern in (*assets.DATA_FILES, "*.csv", "DATA_LICENSE.md")
              for package in ("green_llm_env", "baselines", "agents") for p in (REPO / package).rglob(pattern)]
    assert not copies, copies
    meta = tomllib.loads((REPO / "pyproject.toml").read_text())
    assert meta["project"]["license"] == "MIT" and meta["project"]["license-files"] == ["LICENSE"]
    setuptools = meta["tool"]["setuptools"]
    assert not any(p.endswith(".data") for p in setuptools["packages"])
    assert not any("data" in key.split(".")[-1] for key in setuptools.get("package-data", {}))


def test_data_search_order(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    shared, mine = tmp_path / "shared", tmp_path / "mine"
    shared.mkdir()
    mine.mkdir()
    for name in assets.DATA_FILES:
        (shared / name).write_text("shared")
    (mine / assets.REFERENCE_SCENARIO).write_text("mine")
    monkeypatch.delenv(assets.DATA_ENV_VAR, raising=False)
    monkeypatch.setattr(assets, "_SHARED_DATA", shared)
    assert assets.reference_scenario_path() == shared / assets.REFERENCE_SCENARIO  # the checkout's folder
    monkeypatch.setenv(assets.DATA_ENV_VAR, str(mine))
    assert assets.reference_scenario_path() == mine / assets.REFERENCE_SCENARIO  # the variable comes first
    assert assets.traces_dir() == shared  # a file the variable's folder lacks is still found further on
    monkeypatch.setattr(assets, "_SHARED_DATA", tmp_path / "no-shared")
    with pytest.raises(FileNotFoundError) as err:
        assets.traces_dir()
    message = str(err.value)
    assert "\n" not in message and assets.CARBON_TRACES in message and str(mine) in message
    assert "GREEN_LLM_DATA=/path/to/folder" in message and "--traces DIR" in message
    assert "github.com/JJmingcc/Green_LLM" in message and "Electricity Maps" in message
    monkeypatch.delenv(assets.DATA_ENV_VAR)
    with pytest.raises(FileNotFoundError, match=r"scenario.json not found.*\(or pass --scenario FILE\)"):
        assets.reference_scenario_path()
    with pytest.raises(ValueError, match="not one of"):
        assets.data_file("nope.csv")


def test_outside_the_repo_without_data_one_line(tmp_path: Path) -> None:
    """From a folder outside the repo, no $GREEN_LLM_DATA and no ../shared/data: the one-line pointer."""
    _assert_pointer(_run_outside("baselines.oracle", "tables", cwd=tmp_path), assets.REFERENCE_SCENARIO)
    _assert_pointer(_run_outside("green_llm_env.scenario", "--traces", "--start", "2024-06-01T00", "--out",
                                 str(tmp_path / "s.json"), cwd=tmp_path), assets.CARBON_TRACES)
    assert not (tmp_path / "s.json").exists()


@needs_shared
def test_oracle_tables_from_outside_the_repo(tmp_path: Path) -> None:
    """``GREEN_LLM_DATA=../shared/data python -m baselines.oracle tables`` from a folder outside the repo (the
    checkout's own ../shared/data hidden): the letter's tables, every row within 0.01 of the letter."""
    (tmp_path / "shared").mkdir()
    (tmp_path / "shared" / "data").symlink_to(SHARED)
    (tmp_path / "work").mkdir()
    proc = _run_outside("baselines.oracle", "tables", cwd=tmp_path / "work", GREEN_LLM_DATA="../shared/data")
    assert proc.returncode == 0, proc.stderr
    assert "Table II: weighted method" in proc.stdout and "Table I: lexicographic method" in proc.stdout
    diffs = [float(line.split()[-1]) for line in proc.stdout.splitlines() if line[:1] in "(EDC" and "(" in line[1:]]
    assert len(diffs) == 12 and max(diffs) < 0.01, proc.stdout


@needs_shared
def test_trace_window_from_green_llm_data(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """``python -m green_llm_env.scenario --traces`` (no folder) reads the traces from $GREEN_LLM_DATA."""
    from green_llm_env.scenario import Scenario
    from green_llm_env.scenario_cli import main

    data = tmp_path / "data"
    data.mkdir()
    (data / assets.CARBON_TRACES).symlink_to(SHARED / assets.CARBON_TRACES)
    monkeypatch.setattr(assets, "_SHARED_DATA", tmp_path / "no-shared")
    monkeypatch.setenv(assets.DATA_ENV_VAR, str(data))
    assert assets.traces_dir() == data
    assert main(["--seed", "7", "--traces", "--start", "2024-06-01T00", "--out", str(tmp_path / "s.json")]) == 0
    expected = scenario_from_traces(SHARED, "2024-06-01T00", seed=7)
    np.testing.assert_allclose(Scenario.from_json(tmp_path / "s.json").theta, expected.theta)


@pytest.mark.slow
def test_wheel_carries_no_data(tmp_path: Path) -> None:
    """A non-editable wheel holds no data file; unpacked on ``sys.path`` outside the repo it gives the one-line
    pointer without data and the letter's tables with $GREEN_LLM_DATA (a minute or so: the wheel carries the
    trained agents; it builds in the repo's ignored build/)."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(REPO), "--no-deps", "--no-build-isolation", "-q",
                    "-w", str(tmp_path / "whl")], check=True, capture_output=True, timeout=600)
    wheel = next((tmp_path / "whl").glob("green_llm_env-*.whl"))
    with zipfile.ZipFile(wheel) as z:
        names = z.namelist()
        z.extractall(tmp_path / "site")
    data = [n for n in names if Path(n).name in (*assets.DATA_FILES, "DATA_LICENSE.md")
            or n.startswith("green_llm_env/data/") or "carbon_intensity" in n]
    assert not data, data
    site = str(tmp_path / "site")
    code = ("import green_llm_env, runpy, sys; print('PKG', green_llm_env.__file__, flush=True); "
            "sys.argv = ['oracle', 'tables']; runpy.run_module('baselines.oracle', run_name='__main__')")
    proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=300,
                          env=_clean_env(PYTHONPATH=site))
    assert f"PKG {site}" in proc.stdout
    _assert_pointer(proc, assets.REFERENCE_SCENARIO)
    if SHARED.is_dir():
        proc = subprocess.run([sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True,
                              timeout=300, env=_clean_env(PYTHONPATH=site, GREEN_LLM_DATA=str(SHARED)))
        assert proc.returncode == 0, proc.stderr
        assert "Table I: lexicographic method" in proc.stdout
