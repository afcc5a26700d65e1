"""`agents.ppo_diagnostics`: PPO's per-update scalars and the spread of returns per rollout, from a run folder."""

from __future__ import annotations

import pytest
import yaml

torch = pytest.importorskip("torch")
pytest.importorskip("tensorboard")

from agents.ppo_diagnostics import load_diagnostics, main, rollout_returns  # noqa: E402


def _run(tmp_path, returns, n_steps=4, n_envs=2, length=4, wrappers=None):
    """A run folder as train.py writes one: <env>/config.yml, train.monitor.csv, tb_1/ (the last two updates
    dumped at the same step, as the final evaluation does)."""
    from torch.utils.tensorboard import SummaryWriter

    run = tmp_path / "ppo" / "GreenLLM-v2_1"
    (run / "GreenLLM-v2").mkdir(parents=True)
    config = {"n_steps": n_steps, "n_envs": n_envs, **({"env_wrapper": wrappers} if wrappers else {})}
    (run / "GreenLLM-v2" / "config.yml").write_text(yaml.safe_dump(config))
    lines = ['#{"t_start": 0, "env_id": "None"}', "r,l,t"] + [f"{r},{length},{i}" for i, r in enumerate(returns)]
    (run / "train.monitor.csv").write_text("\n".join(lines) + "\n")
    writer = SummaryWriter(str(run / "tb_1"))
    for k, step in enumerate((8, 16, 16)):
        writer.add_scalar("train/approx_kl", 0.1 / (k + 1), step)
        writer.add_scalar("train/value_loss", 3.0 - k, step)
    writer.close()
    return run


def test_returns_are_grouped_by_the_rollout_they_ended_in(tmp_path):
    run = _run(tmp_path, [-1.0, -3.0, -2.0, -2.0])
    groups = rollout_returns(run / "train.monitor.csv", 8)  # 2 episodes of 4 steps per rollout of 8 steps
    assert [g.tolist() for g in groups] == [[-1.0, -3.0], [-2.0, -2.0]]


def test_the_report_reads_one_value_per_update_and_sets_the_sought_gain_in_return_units(tmp_path):
    run = _run(tmp_path, [-100.0, -120.0, -110.0, -100.0])
    d = load_diagnostics(run)
    steps, kl = d["scalars"]["train/approx_kl"]  # one value per update, at the steps collected before it
    assert steps.tolist() == [8.0, 16.0, 24.0] and kl.tolist() == pytest.approx([0.1, 0.05, 0.1 / 3])
    out = main([str(run), "--label", "pure", "--sought", "5", "--out", str(tmp_path / "out")])
    assert out["sought"] == [pytest.approx(5.375)]  # 5% of the mean return's size (107.5, the env's units)
    assert (tmp_path / "out" / "ppo-diagnostics.png").stat().st_size > 0
    assert "value loss" in (tmp_path / "out" / "ppo-diagnostics.md").read_text()
    gaps = _run(tmp_path / "gap", [-0.5, -0.3, -0.4, -0.1],  # returns already in gap points (oracle_reward)
                wrappers=[{"agents.oracle_reward.OracleGapReward": {"scale": 1.0}}])
    assert main([str(gaps), "--sought", "0.1", "--out", str(tmp_path / "out2")])["sought"] == [pytest.approx(0.1)]
    with pytest.raises(SystemExit):  # one --sought per run
        main([str(run), str(gaps), "--sought", "5", "--out", str(tmp_path / "out3")])


def test_a_folder_without_a_log_is_named(tmp_path):
    run = _run(tmp_path, [-1.0])
    for tb in run.glob("tb_*"):
        for f in tb.iterdir():
            f.unlink()
        tb.rmdir()
    with pytest.raises(SystemExit, match="no tensorboard log"):
        load_diagnostics(run)
    with pytest.raises(SystemExit, match="no <env>/config.yml"):
        load_diagnostics(tmp_path)
