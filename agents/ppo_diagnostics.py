"""PPO's own diagnostics for one or more train.py runs, per update, against the improvement sought.

    python -m agents.ppo_diagnostics RUN_DIR [RUN_DIR ...] [--label NAME ...] [--sought GAP_PCT ...] [--out DIR]

Each RUN_DIR is a train.py run folder holding SB3's tensorboard log (``tb_*/``, written unless
``--tensorboard-log ''``) and ``train.monitor.csv`` (one row per finished episode: its return). Per PPO update
(x: the env steps collected before it) the figure shows the value loss, the approximate KL, the clip fraction,
the policy's σ (SB3's ``train/std``) and the critic's explained variance; per rollout, the spread (standard
deviation) of the episodes' returns across the scenarios of the rollout, beside the improvement sought in the
same units. An update's values reach the log at the next dump, so the last update is there only when the run
evaluated at its end (``--eval-freq`` > 0, train.py's final evaluation).

``--sought`` is that improvement as an oracle gap in % (for example the whole gap left, an upper bound): a
return in the env's units is converted through each run's rollout mean (``-0.1 × day cost``: GreenLLM-v2's
reward; the gap in % of the mean day cost); a run trained on `agents.oracle_reward.OracleGapReward` (an
``env_wrapper`` of its config; its return is ``-scale ×`` the gap in %) gets ``scale ×`` the gap. Writes
``ppo-diagnostics.png`` and ``ppo-diagnostics.md`` (a table per run).
"""

from __future__ import annotations

import argparse
import csv
from pathlib import Path
from typing import Any, Sequence

import numpy as np

__all__ = ["SERIES", "load_diagnostics", "main", "rollout_returns"]

SERIES = {"train/value_loss": "value loss", "train/approx_kl": "approx. KL", "train/clip_fraction": "clip fraction",
          "train/std": "σ (policy std)", "train/explained_variance": "explained variance"}
"""The tensorboard scalars plotted, in order, with their titles."""


def _tb_scalars(run_dir: Path) -> dict[str, np.ndarray]:
    """Each `SERIES` scalar of the run's last tensorboard log, one value per PPO update in order: SB3 clears
    its logger at every dump, so an update's values are written once, at the next dump (the rollout's end, an
    evaluation's, or the final evaluation's for the last update), whatever step that dump carries."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    logs = sorted(run_dir.glob("tb_*"))
    if not logs:
        raise SystemExit(f"{run_dir}: no tensorboard log (tb_*/); train without --tensorboard-log ''")
    acc = EventAccumulator(str(logs[-1]), size_guidance={"scalars": 0})
    acc.Reload()
    out = {}
    for tag in SERIES:
        if tag in acc.Tags()["scalars"]:
            out[tag] = np.array([float(e.value) for e in acc.Scalars(tag)])
    return out


def rollout_returns(monitor_csv: Path, steps_per_rollout: int) -> list[np.ndarray]:
    """The returns of the episodes that ended in each rollout (episodes in the order they ended; a rollout is
    ``steps_per_rollout`` = n_steps × n_envs env steps, counted by the episodes' lengths)."""
    with open(monitor_csv) as fh:
        rows = [r for r in csv.DictReader(line for line in fh if not line.startswith("#"))]
    if not rows:
        raise SystemExit(f"{monitor_csv}: no finished episode")
    ret = np.array([float(r["r"]) for r in rows])
    ends = np.cumsum([int(r["l"]) for r in rows])
    which = (ends - 1) // steps_per_rollout
    return [ret[which == k] for k in range(int(which.max()) + 1) if np.any(which == k)]


def load_diagnostics(run_dir: str | Path) -> dict[str, Any]:
    """A run's scalars per update, its returns per rollout and the scale of its `OracleGapReward` (None: the
    env's own reward) (see the module docstring)."""
    from .registry import RunLayout, read_run_yaml
    from .settings import named_entries

    layout = RunLayout.find(str(run_dir))
    if not layout.config.is_file():
        raise SystemExit(f"{run_dir}: no <env>/config.yml (not a train.py run folder)")
    config = read_run_yaml(layout.config)
    n_steps, n_envs = int(config.get("n_steps", 2048)), int(config.get("n_envs", 1))
    per = n_steps * n_envs
    returns = rollout_returns(layout.run_dir / "train.monitor.csv", per)
    scalars = {tag: ((np.arange(len(v)) + 1.0) * per, v) for tag, v in _tb_scalars(layout.run_dir).items()}
    gap_scale = next((float(kw.get("scale", 1.0)) for name, kw in named_entries(config.get("env_wrapper"),
                      "env_wrapper") if name == "agents.oracle_reward.OracleGapReward"), None)
    return {"run": str(run_dir), "scalars": scalars, "returns": returns, "steps_per_rollout": per,
            "gap_scale": gap_scale}


def _sought_return(sought_pct: float, d: dict[str, Any]) -> float:
    """``sought_pct`` (an oracle gap in %) in the units of the run ``d``'s returns (see the module docstring)."""
    if d["gap_scale"] is not None:
        return d["gap_scale"] * sought_pct
    return sought_pct / 100.0 * abs(float(np.mean(np.concatenate(d["returns"]))))


def _table(label: str, d: dict[str, Any], sought: float | None) -> list[str]:
    lines = [f"## {label}", "", f"`{d['run']}`", "", "| | first update | last update | min | max |",
             "|---|---:|---:|---:|---:|"]
    for tag, title in SERIES.items():
        if tag in d["scalars"]:
            v = d["scalars"][tag][1]
            lines.append(f"| {title} | {v[0]:.4g} | {v[-1]:.4g} | {v.min():.4g} | {v.max():.4g} |")
    sd = np.array([np.std(r) for r in d["returns"]])
    every = np.concatenate(d["returns"])
    lines.append(f"| s.d. of returns in a rollout | {sd[0]:.4g} | {sd[-1]:.4g} | {sd.min():.4g} | {sd.max():.4g} |")
    lines += ["", f"{len(every)} episodes: mean return {every.mean():.4g}, s.d. {every.std():.4g}"
              + ("" if sought is None else f"; the improvement sought, in the same units: {sought:.4g} per episode"
                 f" ({sought / every.std():.2%} of the s.d.)"), ""]
    return lines


def main(argv: Sequence[str] | None = None) -> dict[str, Any]:
    p = argparse.ArgumentParser(prog="python -m agents.ppo_diagnostics", description=__doc__.split("\n\n")[0])
    p.add_argument("runs", nargs="+", metavar="RUN_DIR", help="train.py run folders")
    p.add_argument("--label", nargs="*", default=None, help="a name per run (default: the folder's)")
    p.add_argument("--sought", nargs="*", type=float, default=None, metavar="GAP_PCT",
                   help="per run, the improvement sought as an oracle gap in %% (see above)")
    p.add_argument("--out", default=".", help="folder for ppo-diagnostics.png and .md (default: here)")
    a = p.parse_args(argv)
    labels = a.label or [Path(r).name for r in a.runs]
    if len(labels) != len(a.runs):
        p.error(f"--label: {len(labels)} names for {len(a.runs)} runs")
    if a.sought is not None and len(a.sought) != len(a.runs):
        p.error(f"--sought: {len(a.sought)} values for {len(a.runs)} runs")
    data = [load_diagnostics(r) for r in a.runs]
    sought = [None if a.sought is None else _sought_return(s, d) for s, d in zip(a.sought or data, data)]
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    lines = ["# PPO diagnostics", ""]
    for label, d, s in zip(labels, data, sought):
        lines += _table(label, d, s)
    (out / "ppo-diagnostics.md").write_text("\n".join(lines))
    _plot(labels, data, sought, out / "ppo-diagnostics.png")
    print(f"wrote {out / 'ppo-diagnostics.png'} and {out / 'ppo-diagnostics.md'}")
    return {"labels": labels, "sought": sought}


def _plot(labels: list[str], data: list[dict[str, Any]], sought: list[float | None], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cols = len(SERIES) + 1
    fig, axes = plt.subplots(len(data), cols, figsize=(3.0 * cols, 2.6 * len(data)), squeeze=False)
    for row, (label, d, s) in enumerate(zip(labels, data, sought)):
        for col, (tag, title) in enumerate(SERIES.items()):
            ax = axes[row, col]
            if tag in d["scalars"]:
                x, y = d["scalars"][tag]
                ax.plot(x, y, marker=".", lw=1)
            ax.set_title(title if row == 0 else "", fontsize=9)
            ax.tick_params(labelsize=7)
            if col == 0:
                ax.set_ylabel(label, fontsize=9)
        ax = axes[row, -1]
        steps = (np.arange(len(d["returns"])) + 1) * d["steps_per_rollout"]
        ax.plot(steps, [np.std(r) for r in d["returns"]], marker=".", lw=1, label="s.d. of returns")
        if s is not None:
            ax.axhline(s, color="C3", ls="--", lw=1, label="improvement sought (--sought)")
        ax.set_yscale("log")
        ax.set_title("returns across scenarios" if row == 0 else "", fontsize=9)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    for ax in axes[-1]:
        ax.set_xlabel("env steps", fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


if __name__ == "__main__":
    main()
