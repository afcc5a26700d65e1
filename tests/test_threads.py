"""Torch's thread count per training stage: `agents.threads.torch_threads` and the warm start's
``pretrain_threads`` setting (``threads`` in the Zoo callback entry)."""

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
