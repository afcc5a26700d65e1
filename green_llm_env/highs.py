"""A thin adapter to HiGHS shared by the safety layer and the LP baselines."""

from __future__ import annotations

import os
import sys

import highspy

__all__ = ["silent_highs"]

_BANNER_SHOWN = False


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
