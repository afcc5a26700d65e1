"""The ``rgb_array`` frame of the GreenLLM envs: per data centre, its share of the hour's demand and its grid
draw, with the hour, the DC names, a legend and the water left written on it.

`labelled_frame` draws it with matplotlib (the ``plots`` extra) on an off-screen canvas; without matplotlib
`bar_frame` draws the same bars without text (a frame is always returned, headless either way).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["FRAME_SIZE", "bar_frame", "labelled_frame"]

FRAME_SIZE = (360, 640)
"""(height, width) in pixels of a labelled frame."""

SHARE_COLOR = (40, 90, 200)
GRID_COLOR = (200, 50, 40)


def bar_frame(share: np.ndarray, grid_frac: np.ndarray) -> np.ndarray:
    """(200, 40·J + 20, 3) uint8 without text: per DC its demand share (blue) and grid kW / peak facility kW (red)."""
    J = len(share)
    height, bar, gap = 200, 16, 8
    img = np.full((height, (2 * bar + gap) * J + 20, 3), 255, np.uint8)
    for j in range(J):
        x0 = 10 + j * (2 * bar + gap)
        h1 = int(round((height - 20) * min(max(float(share[j]), 0.0), 1.0)))
        h2 = int(round((height - 20) * min(max(float(grid_frac[j]), 0.0), 1.0)))
        img[height - 10 - h1:height - 10, x0:x0 + bar] = SHARE_COLOR
        img[height - 10 - h2:height - 10, x0 + bar:x0 + 2 * bar] = GRID_COLOR
    img[height - 10, :] = 0
    return img


def labelled_frame(share: np.ndarray, grid_frac: np.ndarray, names: Sequence[str], title: str,
                   footer: str) -> np.ndarray:
    """`FRAME_SIZE` uint8 RGB frame: grouped bars per DC (share of demand, grid / peak facility power), DC
    names, a legend, ``title`` (the env, the hour) and ``footer`` (water left, the hour's cost); falls back
    to `bar_frame` when matplotlib is missing."""
    try:
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        from matplotlib.figure import Figure
    except ImportError:
        return bar_frame(share, grid_frac)
    height, width = FRAME_SIZE
    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    x = np.arange(len(share))
    ax.bar(x - 0.2, share, 0.4, color=np.array(SHARE_COLOR) / 255, label="share of demand")
    ax.bar(x + 0.2, grid_frac, 0.4, color=np.array(GRID_COLOR) / 255, label="grid / peak facility kW")
    ax.set_xticks(x, [str(n)[:14] for n in names], rotation=20, ha="right", fontsize=7)
    ax.set_ylim(0.0, 1.05)
    ax.tick_params(axis="y", labelsize=7)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, loc="upper right")
    ax.set_title(title.replace("$", r"\$"), fontsize=9)  # a literal $, not mathtext
    fig.text(0.01, 0.01, footer.replace("$", r"\$"), fontsize=7)
    fig.tight_layout(rect=(0, 0.04, 1, 1))
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()
