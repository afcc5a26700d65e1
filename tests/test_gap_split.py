"""`baselines.gap_split`: the oracle gap split into the loss within the hours (the hour's LP at the policy's own
water) and across them, over an evaluate.py folder."""

import csv

import pytest

import evaluate
from baselines.gap_split import main, split_folder


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    out = tmp_path_factory.mktemp("split") / "run"
    rc = evaluate.main(["--policies", "oracle,myopic,uniform", "--seeds", "1000-1001", "--out", str(out),
                        "--no-plots", "--no-progress"])
    assert rc == 0
    return out


def test_lp_hours_lose_nothing_within_and_the_parts_add_up(folder):
    split = split_folder(folder, ["oracle", "myopic", "uniform"])
    by = {(r["policy"], r["seed"]): r for r in split}
    for seed in (1000, 1001):
        oracle, myopic, uniform = by["oracle", seed], by["myopic", seed], by["uniform", seed]
        assert abs(oracle["within_pct"]) < 1e-5 and abs(oracle["across_pct"]) < 1e-5
        assert abs(myopic["within_pct"]) < 1e-5  # myopic plays each hour's LP: all its gap is across the hours
        assert myopic["across_pct"] > 1.0
        assert uniform["within_pct"] > 5.0  # an even split is far from the hour's optimum at its own water
        for r in (myopic, uniform):
            assert r["within_pct"] + r["across_pct"] == pytest.approx(r["gap_pct"], abs=1e-9)


def test_cli_writes_the_csv_and_the_table(folder, capsys):
    assert main([str(folder), "--policies", "myopic"]) == 0
    out = capsys.readouterr().out
    assert "| myopic | 2 |" in out
    with open(folder / "gap_split.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["policy"] for r in rows] == ["myopic", "myopic"]


def test_refuses_what_it_cannot_split(folder, tmp_path, capsys):
    assert main([str(tmp_path)]) == 2
    assert "not an evaluate.py output folder" in capsys.readouterr().err
    assert main([str(folder), "--policies", "nobody"]) == 2
    assert "policies ['nobody'] are not in" in capsys.readouterr().err
