"""A thin adapter to HiGHS shared by the safety layer and the LP baselines."""

from __future__ import annotations

import os
import sys

import highspy

__all__ = ["PRIMAL_FEASIBILITY_TOL", "pass_lp", "silent_highs"]

_BANNER_SHOWN = False

PRIMAL_FEASIBILITY_TOL = 1e-10
"""HiGHS's primal feasibility tolerance (on the scaled rows) for the oracle and the hourly LPs, below the default
1e-7: a row scaled by 1 / its largest coefficient may then miss its bound by about 1e-10 of that coefficient,
so that the plans meet the environments' rows within the round-off they forgive (1e-11 of a family's bound)."""


def silent_highs() -> highspy.Highs:
    """A HiGHS instance with logging off. The first instance of a process prints a banner on stdout; it is
    hidden, so that ``--json`` output stays valid JSON."""
    global _BANNER_SHOWN
    if _BANNER_SHOWN:
        h = highspy.Highs()
    else:
        sys.stdout.flush()
        saved = os.dup(1)
        try:
            with open(os.devnull, "w") as null:
                os.dup2(null.fileno(), 1)
                h = highspy.Highs()
        finally:
            os.dup2(saved, 1)
            os.close(saved)
        _BANNER_SHOWN = True
    h.setOptionValue("output_flag", False)
    return h


def pass_lp(highs: highspy.Highs, lp, col_cost) -> None:
    """Hand a `green_llm_env.constraints.LinearProgram` with objective ``col_cost`` to a HiGHS instance in one
    call (continuous columns)."""
    import numpy as np

    status = highs.passModel(lp.num_col, lp.num_row, lp.nnz, 1, 1, 0.0, col_cost, lp.col_lower, lp.col_upper,
                             lp.row_lower, lp.row_upper, lp.a_start, lp.a_index, lp.a_value,
                             np.zeros(lp.num_col, np.int32))
    if status != highspy.HighsStatus.kOk:
        raise RuntimeError(f"HiGHS rejected the LP ({status}); this is a bug in green_llm_env.constraints")
