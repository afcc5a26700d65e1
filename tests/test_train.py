"""train.py end to end (subprocesses): every algorithm, the RL-Zoo layout, kill-and-resume, evaluate.py on the
trained model, and same seed -> same model on the CPU. Budgets are tiny (-n 512) so the file runs in about a
minute or two on two cores; nothing here checks that an agent learns (see benchmarks/ and the README)."""

from __future__ import annotations

import json
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml

pytest.importorskip("stable_baselines3")
pytest.importorskip("sb3_contrib")

ROOT = Path(__file__).resolve().parents[1]
TRAIN = str(ROOT / "train.py")
EVALUATE = str(ROOT / "evaluate.py")
ENV_KEY = "GreenLLM-v0"

# Tiny per-algorithm settings so that 512 steps include some learning updates.
SMALL = {
    "ppo": ["n_steps:64", "batch_size:64", "n_epochs:2"],
    "a2c": ["n_steps:8"],
    "recurrentppo": ["n_steps:64", "batch_size:64", "n_epochs:1"],
    "sac": ["buffer_size:2000", "learning_starts:256", "batch_size:32", "gradient_steps:1"],
    "td3": ["buffer_size:2000", "learning_starts:256", "batch_size:32", "gradient_steps:1"],
    "ddpg": ["buffer_size:2000", "learning_starts:256", "batch_size:32", "gradient_steps:1"],
    "tqc": ["buffer_size:2000", "learning_starts:256", "batch_size:32", "gradient_steps:1"],
}
VEC = {"a2c": "dummy", "ddpg": "subproc"}  # the other algorithms use the default (native batched env)


def _cmd(algo: str, folder: Path, *extra: str, n: int = 512, seed: int = 0) -> list[str]:
    return [sys.executable, TRAIN, "--algo", algo, "--env", ENV_KEY, "-n", str(n), "-f", str(folder), "--seed", str(seed),
            "--n-envs", "2", "--eval-freq", "256", "--eval-seeds", "900", "--save-freq", "256",
            "--no-progress-bar", "-v", "0", "--num-threads", "1", "--hyperparams", *SMALL[algo], *extra]


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONHASHSEED": "0", "OMP_NUM_THREADS": "1"}


def _summary(stdout: str) -> dict:
    """The JSON object on train.py's last line."""
    return json.loads(stdout.strip().splitlines()[-1])


def _train(algo: str, folder: Path, *extra: str, **kw) -> dict:
    proc = subprocess.run(_cmd(algo, folder, *extra, **kw), capture_output=True, text=True, timeout=300,
                          cwd=ROOT, env=_env())
    assert proc.returncode == 0, f"train.py --algo {algo} failed:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return _summary(proc.stdout)


@pytest.fixture(scope="module")
def ppo_run(tmp_path_factory) -> dict:
    """One tiny PPO run shared by the layout, evaluate.py and determinism tests."""
    return _train("ppo", tmp_path_factory.mktemp("ppo"))


def _check_layout(summary: dict, algo: str, vec: str) -> None:
    run = Path(summary["run_dir"])
    assert run.name == f"{ENV_KEY}_1" and run.parent.name == algo
    assert summary["num_timesteps"] >= 512 and not summary["interrupted"] and summary["algo"] == algo
    for name in (f"{ENV_KEY}.zip", "best_model.zip", "command.txt", "evaluations.npz", "train.monitor.csv",
                 f"{ENV_KEY}/config.yml", f"{ENV_KEY}/args.yml", f"{ENV_KEY}/vecnormalize.pkl",
                 f"{ENV_KEY}/best_vecnormalize.pkl", "rl_model_256_steps.zip"):
        assert (run / name).is_file(), f"{name} missing in {sorted(p.name for p in run.iterdir())}"
    assert list((run / "tb_1").glob("events.out.tfevents.*")), "no tensorboard events"
    config = yaml.safe_load((run / ENV_KEY / "config.yml").read_text())
    args = yaml.safe_load((run / ENV_KEY / "args.yml").read_text())
    assert config["n_timesteps"] == 512 and config["n_envs"] == 2 and config["device"] == "cpu"
    key, value = SMALL[algo][0].split(":")
    assert config[key] == int(value)  # CLI override reached the resolved config
    assert args["algo"] == algo and args["seed"] == 0 and args["vec"] == vec
    assert f"--algo {algo}" in (run / "command.txt").read_text()
    with np.load(run / "evaluations.npz") as ev:
        assert ev["gap_pct"].shape == (len(ev["timesteps"]), 1) and len(ev["timesteps"]) >= 2
        assert ev["timesteps"][-1] == summary["num_timesteps"]  # a final evaluation of the final model
    assert np.isfinite(summary["best_oracle_gap_pct"]) and summary["best_oracle_gap_pct"] >= -1e-6


def test_ppo_smoke_layout(ppo_run):
    _check_layout(ppo_run, "ppo", "native")


@pytest.mark.parametrize("algo", ["a2c"] + [pytest.param(a, marks=pytest.mark.slow)
                                             for a in ("recurrentppo", "sac", "td3", "ddpg", "tqc")])
def test_smoke_every_algorithm(algo, tmp_path):
    vec = VEC.get(algo, "native")
    extra = ("--vec", vec) if vec != "native" else ()
    _check_layout(_train(algo, tmp_path, *extra), algo, vec)


def test_same_seed_same_model(ppo_run, tmp_path):
    import torch
    from stable_baselines3 import PPO

    again = _train("ppo", tmp_path / "again")
    other = _train("ppo", tmp_path / "other", seed=1)
    params = [PPO.load(Path(s["run_dir"]) / f"{ENV_KEY}.zip", device="cpu").policy.state_dict()
              for s in (ppo_run, again, other)]
    assert params[0].keys() == params[1].keys()
    assert all(torch.equal(params[0][k], params[1][k]) for k in params[0])
    assert again["last_oracle_gap_pct"] == ppo_run["last_oracle_gap_pct"]
    assert not all(torch.equal(params[0][k], params[2][k]) for k in params[0])  # the seed matters


def _vecnorm_count(path: Path) -> float:
    with open(path, "rb") as fh:
        return float(pickle.load(fh).obs_rms.count)


def test_sigterm_saves_and_resume_continues(tmp_path):
    from stable_baselines3 import PPO

    proc = subprocess.Popen(_cmd("ppo", tmp_path, n=1_000_000), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                            text=True, cwd=ROOT, env=_env())
    run = tmp_path / "ppo" / f"{ENV_KEY}_1"
    deadline = time.monotonic() + 120
    while not (run / "rl_model_512_steps.zip").is_file():  # training is under way
        assert proc.poll() is None, proc.communicate()[1][-3000:]
        assert time.monotonic() < deadline, "no checkpoint within 120 s"
        time.sleep(0.2)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 128 + signal.SIGTERM, err[-3000:]
    first = _summary(out)
    assert first["interrupted"] and 512 <= first["num_timesteps"] < 1_000_000
    assert "--resume" in out and (run / f"{ENV_KEY}.zip").is_file()
    assert PPO.load(run / f"{ENV_KEY}.zip", device="cpu").num_timesteps == first["num_timesteps"]
    count = _vecnorm_count(run / ENV_KEY / "vecnormalize.pkl")

    target = first["num_timesteps"] + 512
    proc = subprocess.run([sys.executable, TRAIN, "--resume", str(run), "-n", str(target), "--no-progress-bar",
                           "-v", "0"], capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    second = _summary(proc.stdout)
    assert second["run_dir"] == str(run) and second["seed"] == first["seed"]
    assert target <= second["num_timesteps"] < target + 256  # continued the step count, not restarted
    assert PPO.load(run / f"{ENV_KEY}.zip", device="cpu").num_timesteps == second["num_timesteps"]
    assert _vecnorm_count(run / ENV_KEY / "vecnormalize.pkl") >= count + 512  # statistics carried over
    assert not (tmp_path / "ppo" / f"{ENV_KEY}_2").exists() and not (run / "tb_2").exists()
    assert (run / "command.txt").read_text().count("python ") == 2

    # the run's settings cannot change on resume
    bad = subprocess.run([sys.executable, TRAIN, "--resume", str(run), "--seed", "5"], capture_output=True,
                         text=True, timeout=120, cwd=ROOT, env=_env())
    assert bad.returncode == 2 and "--resume keeps the run's seed" in bad.stderr


def test_a_model_given_with_i_trains_with_the_new_runs_hyperparameters(ppo_run, tmp_path):
    """-i: the YAML entry and --hyperparams apply to the loaded model (RL Zoo's behaviour), not the saved ones."""
    from stable_baselines3 import PPO

    model = Path(ppo_run["run_dir"]) / f"{ENV_KEY}.zip"
    out = _train("ppo", tmp_path, "learning_rate:0.000123", "clip_range:0.05", "-i", str(model), n=128)
    trained = PPO.load(Path(out["run_dir"]) / f"{ENV_KEY}.zip", device="cpu")
    assert trained.learning_rate == pytest.approx(0.000123) and trained.clip_range(1.0) == pytest.approx(0.05)
    assert trained.n_steps == 64 and trained.n_epochs == 2
    before = PPO.load(model, device="cpu")
    assert before.learning_rate != pytest.approx(0.000123)


def test_evaluate_scores_the_trained_model(ppo_run, tmp_path):
    if not Path(EVALUATE).is_file():
        pytest.skip("evaluate.py not present")
    out = tmp_path / "eval"
    proc = subprocess.run([sys.executable, EVALUATE, "--policies", f"oracle,ppo={ppo_run['run_dir']}",
                           "--seeds", "1000,1001", "--no-plots", "--no-progress", "--out", str(out)],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    import csv

    with open(out / "results.csv") as fh:
        rows = [r for r in csv.DictReader(fh) if r["policy"] == "ppo"]
    assert sorted(int(r["seed"]) for r in rows) == [1000, 1001]
    assert all(np.isfinite(float(r["gap_pct"])) and float(r["gap_pct"]) > -1e-6 for r in rows)
    assert "ppo" in (out / "summary.md").read_text()


def test_cuda_request_without_gpu_fails_clearly(tmp_path):
    import torch

    if torch.cuda.is_available():
        pytest.skip("CUDA present: --device cuda is valid here")
    proc = subprocess.run(_cmd("ppo", tmp_path, "--device", "cuda"), capture_output=True, text=True, timeout=120,
                          cwd=ROOT, env=_env())
    assert proc.returncode == 2 and "CUDA is not available" in proc.stderr
    assert not (tmp_path / "ppo").exists()  # failed before creating a run folder


def test_residual_agent_trains_on_dummy_envs_and_loads(tmp_path):
    import gymnasium as gym

    from agents.callbacks import evaluate_oracle_gap
    from agents.policy import TrainedPolicy

    summary = _train("ppo", tmp_path, "residual:uniform", "residual_scale:0.1", "obs_features:dc", n=256)
    run = Path(summary["run_dir"])
    assert yaml.safe_load((run / ENV_KEY / "args.yml").read_text())["vec"] == "dummy"  # chosen for the wrapper
    policy = TrainedPolicy.load(run)
    assert policy.residual == "uniform" and policy.residual_scale == 0.1 and policy.features == "dc"
    result = evaluate_oracle_gap(policy, gym.make("green_llm_env:GreenLLM-v0"), [900])
    assert np.isfinite(result["gap_pct"][0])
    native = subprocess.run(_cmd("ppo", tmp_path / "n", "residual:uniform", "--vec", "native", n=64),
                            capture_output=True, text=True, timeout=120, cwd=ROOT, env=_env())
    assert native.returncode != 0 and "residual='uniform' needs per-env wrappers" in native.stderr


def test_bad_arguments_name_the_value(tmp_path):
    proc = subprocess.run([sys.executable, TRAIN, "--algo", "dqn", "-f", str(tmp_path)], capture_output=True,
                          text=True, timeout=120, cwd=ROOT, env=_env())
    assert proc.returncode != 0 and "algo='dqn'" in proc.stderr
    proc = subprocess.run([sys.executable, TRAIN, "--algo", "ppo", "-n", "64", "-f", str(tmp_path),
                           "--env-kwargs", "no_such_arg:1", "--no-progress-bar"], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=_env())
    assert proc.returncode != 0 and "no_such_arg" in proc.stderr


@pytest.mark.parametrize("env_key", ["GreenLLM-v1", "GreenLLM-hybrid-v1"])
def test_v1_and_the_hybrid_train_and_evaluate(env_key, tmp_path):
    """GreenLLM-v1 (per-env vec: it has no native batched version) and its hybrid train from hyperparams/ppo.yml's
    entries, and evaluate.py plays each run on the env it was trained on."""
    cmd = [sys.executable, TRAIN, "--algo", "ppo", "-n", "192", "-f", str(tmp_path), "--seed", "0", "--n-envs", "2",
           "--eval-freq", "0", "--save-freq", "0", "--no-progress-bar", "-v", "0", "--hyperparams", "n_steps:48",
           "batch_size:48", "n_epochs:1", "pretrain_episodes:2", "pretrain_dagger:1", "pretrain_epochs:2",
           "--env", env_key]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = Path(_summary(proc.stdout)["run_dir"])
    assert run.name == f"{env_key}_1" and (run / f"{env_key}.zip").is_file()
    assert "(dummy," in proc.stdout
    # both entries warm-start by imitation (the oracle's plan, the oracle's price) and keep the step-0 checkpoint
    assert "warm start done" in proc.stdout and (run / "rl_model_0_steps.zip").is_file()
    assert (run / env_key / "pretrain.yml").is_file()
    expert = yaml.safe_load((run / env_key / "pretrain.yml").read_text())["expert"]
    assert expert == ("oracle_plan" if env_key == "GreenLLM-v1" else "oracle_price")
    out = tmp_path / "eval"
    proc = subprocess.run([sys.executable, EVALUATE, "--policies", f"oracle,ppo={run}", "--seeds", "1000",
                           "--env", "GreenLLM-v1", "--out", str(out), "--no-plots", "--no-progress"],
                          capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    rows = (out / "results.csv").read_text().splitlines()
    assert len(rows) == 3 and all(",nan" not in r for r in rows)
    policies = json.loads((out / "policies.json").read_text())
    assert policies["ppo"]["env"] == env_key and policies["oracle"]["env"] == "GreenLLM-v1"


def test_the_default_trains_v2_natively_and_evaluates(tmp_path):
    """``python train.py --algo ppo`` trains GreenLLM-v2 (the default: the equivariant policy, warm-started on the
    batched env) on its batched env, and evaluate.py scores the run against v2's oracle."""
    cmd = [sys.executable, TRAIN, "--algo", "ppo", "-n", "192", "-f", str(tmp_path), "--seed", "0", "--n-envs", "2",
           "--eval-freq", "0", "--save-freq", "0", "--no-progress-bar", "-v", "0", "--hyperparams", "n_steps:48",
           "batch_size:48", "n_epochs:1", "pretrain_episodes:2", "pretrain_dagger:1", "pretrain_epochs:2",
           "analytic_iters:2", "analytic_envs:2"]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=300, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    run = Path(_summary(proc.stdout)["run_dir"])
    assert run.name == "GreenLLM-v2_1" and (run / "GreenLLM-v2.zip").is_file() and "(native," in proc.stdout
    assert "warm start done" in proc.stdout and (run / "rl_model_0_steps.zip").is_file()
    # the analytic stage after the warm start: its model, curve and summary
    assert "[analytic] 2 iterations on 4 training scenarios" in proc.stdout and (run / "analytic_model.zip").is_file()
    assert yaml.safe_load((run / "GreenLLM-v2" / "analytic.yml").read_text())["iterations"] == 2
    assert len((run / "GreenLLM-v2" / "analytic.csv").read_text().splitlines()) == 3
    out = tmp_path / "eval"
    proc = subprocess.run([sys.executable, EVALUATE, "--policies",
                           f"oracle,ppo={run},ppo_analytic={run / 'analytic_model.zip'}", "--seeds", "1000",
                           "--out", str(out), "--no-plots", "--no-progress"], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=_env())
    assert proc.returncode == 0, proc.stderr[-3000:]
    policies = json.loads((out / "policies.json").read_text())
    assert policies["ppo"]["env"] == "GreenLLM-v2" and policies["oracle"]["env"] == "GreenLLM-v2"
    assert policies["ppo_analytic"]["env"] == "GreenLLM-v2"
    gaps = [float(r.split(",")[-1]) for r in (out / "results.csv").read_text().splitlines()[1:]]
    assert abs(min(gaps)) < 1e-9 and max(gaps) > 0.0  # the oracle replays to round-off; the brief run does not


def test_seed_default_and_random() -> None:
    """No --seed: seed 0 (the shipped default agent's, so the default run reproduces it); --seed 7: 7; --seed -1:
    a seed >= 0 drawn afresh on each run (two runs differ)."""
    from agents.train_cli import build_parser
    from agents.training import DEFAULT_SEED, run_arguments

    def error(msg: str) -> None:
        raise AssertionError(msg)

    def seed_of(*flag: str) -> int:
        return run_arguments(vars(build_parser().parse_args(["--algo", "ppo", *flag])), error).args["seed"]

    assert seed_of() == DEFAULT_SEED == 0
    assert seed_of("--seed", "7") == 7
    drawn = seed_of("--seed", "-1"), seed_of("--seed", "-1")
    assert all(isinstance(s, int) and s >= 0 for s in drawn) and drawn[0] != drawn[1]
