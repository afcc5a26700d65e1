"""green-llm-env: geo-distributed LLM inference allocation (the Green-LLM letter) as an RL benchmark."""

from .scenario import Scenario, ScenarioFileError, scale
from .generator import DEFAULT_WATER_FRACTION, make_scenario, scenario_from_traces
from . import cost

__all__ = ["DEFAULT_WATER_FRACTION", "Scenario", "ScenarioFileError", "cost", "make_scenario", "scale",
           "scenario_from_traces"]
__version__ = "0.1.0"
