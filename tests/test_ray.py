"""The Ray backend (the ``scale`` extra) on a local Ray instance started here: the same results files as the
local backend, the sweep as Ray tasks, the decomposed oracle's hours on actors. Skipped without Ray."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ray = pytest.importorskip("ray")

import evaluate  # noqa: E402
from baselines import solve  # noqa: E402
from baselines.sweep import sweep  # noqa: E402
from green_llm_env import cost, make_scenario  # noqa: E402

from .conftest import REPO  # noqa: E402


@pytest.fixture(scope="module")
def local_ray():
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH", "")) if p)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": path}})
    yield ray
    ray.shutdown()


def test_evaluate_ray_backend_writes_the_same_files(local_ray, capsys, tmp_path):
    args = ["--policies", "oracle,myopic,nearest", "--seeds", "1000-1003", "--gen-kwargs", "T:8", "--no-plots",
            "--no-progress"]
    assert evaluate.main([*args, "--out", str(tmp_path / "local")]) == 0
    assert evaluate.main([*args, "--backend", "ray", "--out", str(tmp_path / "ray")]) == 0
    for name in ("results.csv", "hourly/seed_1000.csv", "hourly/seed_1003.csv", "summary.md"):
        local = (tmp_path / "local" / name).read_text()
        assert local and (tmp_path / "ray" / name).read_text() == local, name


def test_sweep_and_decomposed_oracle_on_ray(local_ray):
    s = make_scenario(0, T=6)
    args = dict(psi=(0.5, 1.0, 1.5), parameters=("theta", "rho"), progress=False)
    assert sweep(s, backend="ray", **args).equals(sweep(s, **args))
    coef = cost.coefficients(make_scenario(2))
    on_ray = solve(coef, method="decomposed", engine="ray", workers=2)
    assert on_ray.objective == pytest.approx(solve(coef).objective, rel=1e-7)


def test_address_needs_the_ray_backend(capsys, tmp_path):
    assert evaluate.main(["--address", "auto", "--out", str(tmp_path)]) == 2
    assert "--address needs --backend ray" in capsys.readouterr().err


def test_docs_show_the_cluster_commands():
    text = Path(REPO / "docs" / "training.md").read_text()  # the README links to it
    assert "--backend ray --address" in text and 'pip install -e ".[scale]"' in text
