"""The full-horizon LP of MODEL.md section 4: its rows are written once, in `green_llm_env.constraints`.

This module keeps the names the baselines import (`build_lp`, `LinearProgram`, `ROW_FAMILIES`,
`objective_vector`, `pass_lp`); see `green_llm_env.constraints` for the column and row layout.
"""

from __future__ import annotations

from green_llm_env.constraints import ROW_FAMILIES, LinearProgram, build_lp, objective_vector
from green_llm_env.highs import pass_lp

__all__ = ["LinearProgram", "build_lp", "objective_vector", "pass_lp", "ROW_FAMILIES"]
