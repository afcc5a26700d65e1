"""Torch's CPU thread count for one stage of training, restored after it."""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

__all__ = ["torch_threads"]


@contextmanager
def torch_threads(threads: int | None) -> Iterator[None]:
    """Run the block on ``threads`` torch CPU threads (``torch.set_num_threads``) and put the count back after it,
    also on an exception; None leaves the count as it is. train.py runs on one thread (PPO's minibatches run
    fastest so); the warm start's and the analytic stage's larger batches pay for a second one."""
    if threads is None:
        yield
        return
    import torch

    if isinstance(threads, bool) or not isinstance(threads, int) or threads < 1:
        raise ValueError(f"threads must be an integer >= 1 or None; got {threads!r}")
    before = torch.get_num_threads()
    torch.set_num_threads(threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)
