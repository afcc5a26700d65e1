"""Torch's thread count per training stage: `agents.threads.torch_threads`, the warm start's
``pretrain_threads`` setting (``threads`` in the Zoo callback entry) and RL's `agents.callbacks.TorchThreads`."""

import pytest
import torch

from agents.settings import WARM_START_CALLBACK, AgentSettings, SettingError, read_agent_settings
from agents.threads import torch_threads


def test_sets_then_restores_even_on_error():
    before = torch.get_num_threads()
    with torch_threads(before + 1):
        assert torch.get_num_threads() == before + 1
    assert torch.get_num_threads() == before
    with pytest.raises(RuntimeError, match="boom"):
        with torch_threads(before + 1):
            raise RuntimeError("boom")
    assert torch.get_num_threads() == before
    with torch_threads(None):  # None: left as it is
        assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -2, True, 1.5, "2"])
def test_refuses_what_is_not_a_thread_count(bad):
    with pytest.raises(ValueError, match=r"threads must be an integer >= 1 or None; got"):
        with torch_threads(bad):
            pass


def test_the_warm_start_setting_reads_and_names_the_argument():
    s = read_agent_settings({"callback": [{WARM_START_CALLBACK: {"expert": "oracle_plan", "threads": 2}}]})
    assert s.pretrain_threads == 2
    plain = read_agent_settings({"callback": [{WARM_START_CALLBACK: {"expert": "oracle_plan"}}]})
    assert plain.pretrain_threads is None
    with pytest.raises(SettingError, match=r"pretrain_threads=0: expected an integer >= 1"):
        AgentSettings(pretrain_threads=0)


def test_the_v2_recipe_clones_on_two_threads():
    from agents.hyperparams import load_hyperparams

    entry = load_hyperparams("ppo", "GreenLLM-v2")
    assert read_agent_settings(entry).pretrain_threads == 2


def test_torch_threads_callback_holds_the_count_while_learning_and_restores_it():
    from stable_baselines3 import PPO
    from stable_baselines3.common.callbacks import BaseCallback

    from agents.callbacks import TorchThreads

    seen = []

    class Record(BaseCallback):
        def _on_rollout_start(self) -> None:
            seen.append(torch.get_num_threads())

        def _on_step(self) -> bool:
            seen.append(torch.get_num_threads())
            return True

    before = torch.get_num_threads()
    model = PPO("MlpPolicy", "CartPole-v1", n_steps=16, batch_size=16, n_epochs=1, seed=0, device="cpu")
    model.learn(48, callback=[TorchThreads(before + 1), Record()])
    assert seen and set(seen) == {before + 1}
    assert torch.get_num_threads() == before


@pytest.mark.parametrize("bad", [0, -1, True, 2.0, "2"])
def test_torch_threads_callback_names_its_argument(bad):
    from agents.callbacks import TorchThreads

    with pytest.raises(ValueError, match=r"TorchThreads threads=.*: expected an integer >= 1"):
        TorchThreads(bad)


def test_the_v2_recipe_learns_on_two_threads_unless_the_cli_says_otherwise():
    from agents.callbacks import TorchThreads
    from agents.hyperparams import load_hyperparams, split_hyperparams
    from agents.training import TrainRun, make_callbacks

    _, settings = split_hyperparams(load_hyperparams("ppo", "GreenLLM-v2"))
    assert ("agents.callbacks.TorchThreads", {"threads": 2}) in settings["extra_callbacks"]
    for cli, want in ((None, 2), (3, 3)):
        run = TrainRun(error=pytest.fail, args={"eval_freq": 0, "save_freq": 0, "num_threads": cli}, resume=None,
                       settings=settings)
        callbacks, _ = make_callbacks(run, guard=None)
        assert [cb.threads for cb in callbacks if isinstance(cb, TorchThreads)] == [want]
