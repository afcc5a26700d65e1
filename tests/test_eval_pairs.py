"""evaluate.py's paired differences (--paired A:B) and aggregates across training seeds (<name>_seed<k>)."""

from __future__ import annotations

import numpy as np
import pytest

from baselines.eval_config import CliError, parse_args
from baselines.eval_report import paired_difference, seed_groups


def _rows(gaps: dict[str, list[float]]) -> list[dict[str, str]]:
    return [{"policy": p, "seed": str(1000 + i), "gap_pct": str(g)} for p, gs in gaps.items() for i, g in enumerate(gs)]


def test_paired_difference_is_per_seed():
    rng = np.random.default_rng(0)
    base = rng.uniform(5, 50, 40)  # large spread across seeds, a small consistent improvement
    rows = _rows({"rl": list(base - 0.5), "clone": list(base)})
    d = paired_difference(rows, "rl", "clone")
    assert d["n"] == 40 and d["better"] == 40
    assert d["mean"] == pytest.approx(-0.5) and d["hi"] < 0  # the paired CI excludes 0 ...
    unpaired = np.std(base) / np.sqrt(40) * 1.96
    assert unpaired > 0.5  # ... where comparing the two means' CIs would not


def test_seed_groups_pool_training_seeds():
    rows = _rows({"ppo_seed0": [10, 20, 30], "ppo_seed1": [12, 22, 32], "ppo_seed2": [11, 21, 31], "myopic": [1, 2, 3],
                  "sac_seed0": [5, 5, 5]})
    g = seed_groups(rows)
    assert list(g) == ["ppo"]  # one seed alone is no group
    assert g["ppo"]["n_seeds"] == 3 and g["ppo"]["mean"] == pytest.approx(21.0)
    assert g["ppo"]["per_run_mean"] == pytest.approx([20, 22, 21])
    assert g["ppo"]["iqm_lo"] <= g["ppo"]["iqm"] <= g["ppo"]["iqm_hi"]


def test_a_groups_ci_does_not_move_when_other_groups_join():
    ppo = {"ppo_seed0": [10, 20, 30, 5], "ppo_seed1": [12, 22, 32, 6], "ppo_seed2": [11, 21, 31, 4]}
    alone = seed_groups(_rows(ppo))["ppo"]
    joined = seed_groups(_rows({"a2c_seed0": [1, 2, 3, 4], "a2c_seed1": [2, 3, 4, 5], **ppo}))
    assert set(joined) == {"a2c", "ppo"}
    for key in ("mean_lo", "mean_hi", "iqm_lo", "iqm_hi"):
        assert joined["ppo"][key] == alone[key]


def test_paired_flag_names_policies_it_knows(tmp_path):
    cfg = parse_args(["--policies", "myopic,uniform", "--out", str(tmp_path), "--paired", "myopic:uniform"])
    assert cfg.paired == [("myopic", "uniform")]
    with pytest.raises(CliError, match="not one of the policies"):
        parse_args(["--policies", "myopic,uniform", "--out", str(tmp_path), "--paired", "myopic:oracle"])
    with pytest.raises(CliError, match="A:B"):
        parse_args(["--policies", "myopic,uniform", "--out", str(tmp_path), "--paired", "myopic"])
    # repeated, the pairs add up (the last one does not replace the others)
    cfg = parse_args(["--policies", "myopic,uniform,oracle", "--out", str(tmp_path), "--paired", "myopic:uniform",
                      "--paired", "uniform:oracle,oracle:myopic"])
    assert cfg.paired == [("myopic", "uniform"), ("uniform", "oracle"), ("oracle", "myopic")]


def test_paired_labels_may_hold_colons(tmp_path):
    """A pair splits at the ':' where both sides are labels, so a spec with options can come first."""
    pol = "day_price:margin=0.1:cap=true,day_price:margin=0.1,myopic"
    cfg = parse_args(["--policies", pol, "--out", str(tmp_path), "--paired",
                      "day_price:margin=0.1:cap=true:day_price:margin=0.1,myopic:day_price:margin=0.1"])
    assert cfg.paired == [("day_price:margin=0.1:cap=true", "day_price:margin=0.1"),
                          ("myopic", "day_price:margin=0.1")]
    with pytest.raises(CliError, match="not one of the policies"):
        parse_args(["--policies", pol, "--out", str(tmp_path), "--paired", "day_price:margin=0.2:myopic"])
