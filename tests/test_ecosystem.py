"""The project beside the field's tools: RL Zoo's file formats both ways, package data, the MO and flat views."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import yaml

import green_llm_env  # noqa: F401 - registers the ids
from green_llm_env import cost
from green_llm_env.assets import asset_dir, resolve_asset_path
from green_llm_env.wrappers import FLAT_INFO_KEYS

pytest.importorskip("stable_baselines3")

from agents.hyperparams import HYPERPARAMS_DIR, load_hyperparams, split_hyperparams  # noqa: E402
from agents.registry import read_run_yaml  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]
ROUND_TRIPS = pytest.mark.skipif(os.environ.get("ECOSYSTEM_TESTS") != "1",
                                 reason="the tool round trips take minutes: run with ECOSYSTEM_TESTS=1")


def test_yaml_entries_use_zoo_keys_only():
    """No entry of hyperparams/*.yml holds a key RL Zoo would hand to the algorithm and fail on."""
    flat = {"obs_features", "shield", "residual", "residual_scale", "action_groups", "pretrain",
            "pretrain_episodes", "pretrain_epochs", "pretrain_dagger", "analytic_iters", "analytic_envs", "analytic_lr"}
    for path in HYPERPARAMS_DIR.glob("*.yml"):
        data = yaml.safe_load(path.read_text())
        for env, entry in data.items():
            assert not flat & set(entry), (path.name, env, sorted(flat & set(entry)))
            if env != "default":
                assert "policy" in entry, (path.name, env)  # Zoo does not lay the entry over `default`


def test_zoo_wrappers_and_callback_read_as_settings():
    _, v0 = split_hyperparams(load_hyperparams("ppo", "GreenLLM-v0"))
    assert v0["shield"] == "water" and v0["obs_features"] == "dc" and v0["extra_wrappers"] == []
    _, hybrid = split_hyperparams(load_hyperparams("ppo", "GreenLLM-hybrid-v1"))
    assert (hybrid["pretrain"], hybrid["pretrain_episodes"], hybrid["pretrain_epochs"], hybrid["pretrain_dagger"]) \
        == ("oracle_price", 400, 60, 300)
    # run.sh's brief recipe: flat overrides laid over the callback's kwargs
    _, brief = split_hyperparams(load_hyperparams("ppo", "GreenLLM-hybrid-v1", None,
                                                  {"pretrain_episodes": 40, "pretrain_dagger": 0}))
    assert (brief["pretrain_episodes"], brief["pretrain_dagger"], brief["pretrain_epochs"]) == (40, 0, 60)
    _, off = split_hyperparams(load_hyperparams("ppo", "GreenLLM-v0", None, {"shield": "none"}))
    assert off["shield"] is None and off["obs_features"] == "dc"
    _, other = split_hyperparams({"env_wrapper": [{"gymnasium.wrappers.ClipAction": None}],
                                  "callback": "stable_baselines3.common.callbacks.StopTrainingOnMaxEpisodes"})
    assert other["extra_wrappers"] == [("gymnasium.wrappers.ClipAction", {})]
    assert other["extra_callbacks"] == [("stable_baselines3.common.callbacks.StopTrainingOnMaxEpisodes", {})]
    with pytest.raises(ValueError, match="env_wrapper"):
        split_hyperparams({"env_wrapper": ["NoDots"]})
    with pytest.raises(ValueError, match="unknown keyword"):
        split_hyperparams({"callback": [{"agents.imitation.ImitationWarmStart": {"episode": 3}}]})


def test_zoo_ordered_dict_yaml_is_read(tmp_path):
    from collections import OrderedDict

    path = tmp_path / "args.yml"
    with open(path, "w") as fh:  # what RL Zoo's ExperimentManager writes
        yaml.dump(OrderedDict([("algo", "ppo"), ("env", "GreenLLM-v1"), ("env_kwargs", None)]), fh)
    assert "OrderedDict" in path.read_text()
    assert read_run_yaml(path) == {"algo": "ppo", "env": "GreenLLM-v1", "env_kwargs": None}
    (tmp_path / "bad.yml").write_text("!!python/object/apply:os.system ['true']\n")
    with pytest.raises(ValueError, match="bad.yml"):
        read_run_yaml(tmp_path / "bad.yml")


def test_assets_found_in_the_checkout():
    assert asset_dir("hyperparams") == ROOT / "hyperparams"
    assert (asset_dir("rl-trained-agents") / "ppo" / "GreenLLM-v1_1").is_dir()
    away = Path("rl-trained-agents/ppo/GreenLLM-v1_1")
    assert resolve_asset_path(away).is_dir()
    assert resolve_asset_path("no/such/path") == Path("no/such/path")
    with pytest.raises(ValueError, match="name="):
        asset_dir("models")


@pytest.mark.parametrize("weights", [(1 / 3, 1 / 3, 1 / 3), (0.6, 0.2, 0.2)])
def test_mo_view_weighted_sum_is_v1_reward(weights):
    kw = dict(weights=weights, constraint_mode="penalty")  # penalties paid: the identity must hold with them
    v1, mo = gym.make("GreenLLM-v1", **kw), gym.make("green_llm_env:GreenLLM-mo-v1", **kw)
    assert mo.unwrapped is not None and mo.get_wrapper_attr("reward_space").shape == (3,)
    v1.reset(seed=5)
    mo.reset(seed=5)
    rng = np.random.default_rng(0)
    paid = 0.0
    for _ in range(24):
        action = rng.uniform(-1, 1, v1.action_space.shape).astype(np.float32)
        _, r, term, _, info = v1.step(action)
        _, vec, _, _, info_mo = mo.step(action)
        assert vec.shape == (3,)
        assert float(np.dot(weights, info_mo["vector_reward"])) == pytest.approx(r, rel=1e-12, abs=1e-12)
        paid += info["penalty"]
        if term:
            break
    assert paid > 0


def test_flat_info_has_fixed_keys():
    env = gym.make("green_llm_env:GreenLLM-flat-v1")
    _, info = env.reset(seed=1)
    assert tuple(info) == FLAT_INFO_KEYS and all(isinstance(v, float) for v in info.values())
    plain = gym.make("GreenLLM-v1")
    plain.reset(seed=1)
    for t in range(24):
        action = env.action_space.sample()
        _, r, term, _, info = env.step(action)
        _, r0, _, _, ref = plain.step(action)
        assert tuple(info) == FLAT_INFO_KEYS and r == r0
        assert [info[f"violation_{f}"] for f in cost.FAMILIES] == [ref["violations"][f] for f in cost.FAMILIES]
        assert info["episode_done"] == float(term)
        if term:
            break


def _zoo(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run([sys.executable, "-m", *args], cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=600)


@pytest.mark.slow
@ROUND_TRIPS
def test_zoo_and_train_runs_read_each_other(tmp_path):
    """rl_zoo3.train on the shipped YAML, train.py, then rl_zoo3.enjoy and evaluate.py on both runs."""
    pytest.importorskip("rl_zoo3")
    tiny = "policy_kwargs:dict(net_arch=[8])"
    zoo = _zoo("rl_zoo3.train", "--algo", "ppo", "--env", "GreenLLM-v0", "--gym-packages", "green_llm_env",
               "--conf-file", str(HYPERPARAMS_DIR / "ppo.yml"), "-n", "64", "-f", "logs", "--eval-freq", "-1",
               "-params", "n_envs:2", "n_steps:32", "batch_size:32", tiny, cwd=tmp_path)
    assert zoo.returncode == 0, zoo.stderr[-2000:]
    train = subprocess.run([sys.executable, str(ROOT / "train.py"), "--algo", "ppo", "--env", "GreenLLM-v0",
                            "-n", "64", "-f", "logs", "--eval-freq", "64", "--eval-episodes", "2", "-P",
                            "--save-freq", "-1", "--hyperparams", "n_envs:2", "n_steps:32", "batch_size:32", tiny],
                           cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert train.returncode == 0, train.stderr[-2000:]
    with np.load(tmp_path / "logs/ppo/GreenLLM-v0_2/evaluations.npz") as ev:  # SB3's keys beside the gap's
        assert ev["results"].shape == ev["ep_lengths"].shape == ev["gap_pct"].shape == (len(ev["timesteps"]), 2)
    for exp in ("1", "2"):  # both runs carry the feature wrapper: Zoo's enjoy sees the 113-float observation
        enjoy = _zoo("rl_zoo3.enjoy", "--algo", "ppo", "--env", "GreenLLM-v0", "--gym-packages", "green_llm_env",
                     "-f", "logs", "--exp-id", exp, "-n", "30", "--no-render", cwd=tmp_path)
        assert enjoy.returncode == 0 and "Mean reward" in enjoy.stdout, enjoy.stderr[-2000:]
    out = subprocess.run([sys.executable, str(ROOT / "evaluate.py"), "--env", "GreenLLM-v0", "--policies",
                          "ppo_zoo=logs/ppo/GreenLLM-v0_1,ppo=logs/ppo/GreenLLM-v0_2", "--seeds", "1000",
                          "--out", "ev", "--no-progress"], cwd=tmp_path, capture_output=True, text=True, timeout=600)
    assert out.returncode == 0, out.stderr[-2000:]
    assert (tmp_path / "ev/summary.md").read_text().count("| learned |") == 2


@pytest.mark.slow
@ROUND_TRIPS
def test_torchrl_vector_and_parallel_envs(tmp_path):
    pytest.importorskip("torchrl")
    script = tmp_path / "t.py"
    script.write_text(
        "from torchrl.envs import GymEnv, ParallelEnv\n"
        "if __name__ == '__main__':\n"
        "    e = GymEnv('green_llm_env:GreenLLM-flat-v1', num_envs=4)\n"
        "    td = e.rollout(30, break_when_any_done=False)\n"
        "    assert tuple(td.batch_size) == (4, 30), td.batch_size\n"
        "    e.close()\n"
        "    p = ParallelEnv(2, lambda: GymEnv('green_llm_env:GreenLLM-flat-v1'))\n"
        "    assert tuple(p.rollout(5).batch_size) == (2, 5)\n"
        "    p.close()\n"
        "    # plain v1 without num_envs: TorchRL reads no info there, so its nested info is no obstacle\n"
        "    e = GymEnv('green_llm_env:GreenLLM-v1')\n"
        "    assert tuple(e.rollout(30, break_when_any_done=False).batch_size) == (30,)\n"
        "    e.close()\n"
        "    p = ParallelEnv(2, lambda: GymEnv('green_llm_env:GreenLLM-v1'))\n"
        "    assert tuple(p.rollout(30, break_when_any_done=False).batch_size) == (2, 30)\n"
        "    p.close()\n"
        "    print('ok')\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]


def test_rliable_aggregates():
    import evaluate

    gaps = np.array([0.0, 0.2, 0.4, 3.0, 8.0, 60.0, 0.05, 1.5])
    assert evaluate.performance_profile(gaps, (0.1, 1.0, 10.0)).tolist() == [0.25, 0.5, 0.875]
    lo, hi = evaluate.bootstrap_ci(gaps, statistic="iqm")
    assert lo <= evaluate.iqm(gaps) <= hi
    mean_lo, mean_hi = evaluate.bootstrap_ci(gaps)
    assert hi < mean_hi and lo < mean_lo  # the IQM's resamples trim the 60% outlier


def test_rgb_frame_is_labelled():
    pytest.importorskip("matplotlib")
    from green_llm_env.render import FRAME_SIZE, bar_frame

    env = gym.make("GreenLLM-v1", render_mode="rgb_array")
    env.reset(seed=0)
    env.step(env.action_space.sample())
    img = env.render()
    assert img.shape == (*FRAME_SIZE, 3) and img.dtype == np.uint8
    plain = bar_frame(np.full(3, 0.3), np.full(3, 0.5))
    assert plain.shape == (200, 40 * 3 + 20, 3)
    # text makes the labelled frame far busier than the bars alone: many distinct grey levels (anti-aliased glyphs)
    assert len(np.unique(img.reshape(-1, 3), axis=0)) > 50


def test_summary_states_training_budget_and_constraints():
    from agents.policy import TrainedPolicy

    pol = TrainedPolicy.load(ROOT / "rl-trained-agents/ppo/GreenLLM-hybrid-v1_1")
    assert "warm start cloning oracle_price on 400 scenarios" in pol.training["budget"]
    assert "hourly LP" in pol.training["constraints"] and "guard" in pol.training["constraints"]
    raw = TrainedPolicy.load(ROOT / "rl-trained-agents/ppo/GreenLLM-v1_3")
    assert raw.training["budget"].startswith("100,608 env steps of PPO")
    eq = TrainedPolicy.load(ROOT / "rl-trained-agents/ppo/GreenLLM-v1_1")
    assert "oracle_plan on 300 scenarios" in eq.training["budget"] and "guard" in eq.training["constraints"]


def test_optimize_is_handed_to_rl_zoo():
    import train

    cmd = train.zoo_command({"algo": "ppo", "env": "GreenLLM-v1", "n_trials": 3, "storage": "sqlite:///s.db",
                             "study_name": "s", "n_timesteps": 256, "hyperparams": ["n_envs:1"], "vec": "native",
                             "no_optim_plots": True})
    assert cmd[1:3] == ["-m", "rl_zoo3.train"] and "-optimize" in cmd and "--no-optim-plots" in cmd
    assert cmd[cmd.index("--conf-file") + 1] == str(HYPERPARAMS_DIR / "ppo.yml")
    assert cmd[cmd.index("--gym-packages") + 1] == "green_llm_env" and "--vec-env" not in cmd  # Zoo has no native
    for flag, value in (("--n-trials", "3"), ("--storage", "sqlite:///s.db"), ("--study-name", "s"), ("-n", "256"),
                        ("-params", "n_envs:1")):
        assert cmd[cmd.index(flag) + 1] == value


@pytest.mark.slow
def test_torchrl_reads_greenllm_v2(tmp_path):
    """TorchRL on GreenLLM-v2 as it is (no flat view needed): GymEnv with num_envs=4 rolls out, and its documented
    info readers (default_info_dict_reader, auto_register_info_dict) read v2's fixed numpy-scalar info."""
    pytest.importorskip("torchrl")
    script = tmp_path / "t2.py"
    script.write_text(
        "import torch\n"
        "from torchrl.envs import GymEnv\n"
        "from torchrl.envs.gym_like import default_info_dict_reader\n"
        "if __name__ == '__main__':\n"
        "    e = GymEnv('green_llm_env:GreenLLM-v2', num_envs=4)\n"
        "    td = e.rollout(30, break_when_any_done=False)\n"
        "    assert tuple(td.batch_size) == (4, 30), td.batch_size\n"
        "    e.close()\n"
        "    e = GymEnv('green_llm_env:GreenLLM-v2')\n"
        "    e.set_info_dict_reader(default_info_dict_reader(['cost_weighted', 'penalty', 'water_left_l']))\n"
        "    td = e.rollout(30, break_when_any_done=False)\n"
        "    assert td['next', 'cost_weighted'].shape[0] == 30 and td['next', 'penalty'].dtype == torch.float64\n"
        "    e = GymEnv('green_llm_env:GreenLLM-v2')\n"
        "    e.auto_register_info_dict()\n"
        "    td = e.rollout(5)\n"
        "    assert ('next', 'episode_penalty') in td.keys(True) and ('next', 'scenario_seed') in td.keys(True)\n"
        "    print('ok')\n")
    run = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=600,
                         env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert run.returncode == 0 and "ok" in run.stdout, run.stderr[-2000:]
