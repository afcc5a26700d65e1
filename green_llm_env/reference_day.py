"""The reference day's facts (MODEL.md section 8) that the scenario generators draw around: DC names and order,
query types, mean carbon intensity, base prices, carbon price factors, populations, map positions, tokens,
delay and penalty shapes, resource needs; and the demand and time-of-use shapes. Shared by
`green_llm_env.generator` (v0/v1's `make_scenario`) and `green_llm_env.batch_generator` (v2's)."""

from __future__ import annotations

import numpy as np

__all__ = ["ALPHA_RANGE", "BASE_PRICE", "CARBON_FACTOR", "DC_NAMES", "DC_XY", "DELTA_BASE_S", "J_PER_KWH", "POPULATION",
           "QUERY_TYPES", "RHO_SHAPE", "THETA_MEAN", "TOKENS_IN", "TOKENS_OUT", "TYPE_FACTOR", "V_BASE_US", "cycle",
           "dc_names", "query_types", "tou_factor", "usage_shape"]

# DC order of dc_locations.csv; longer axes cycle through them.
DC_NAMES = ("us-central1", "us-east1", "us-east4", "us-east5", "us-south1", "us-west1", "us-west2",
             "us-west3", "us-west4")
QUERY_TYPES = ("chat", "summarization", "math", "code", "image")
THETA_MEAN = np.array([0.419, 0.197, 0.311, 0.834, 0.192, 0.169, 0.269, 0.534, 0.420])
BASE_PRICE = np.array([11.5, 13.8, 15.2, 14.5, 12.8, 11.0, 22.5, 12.5, 13.2]) / 100.0
CARBON_FACTOR = np.array([0.5, 0.2, 0.6, 0.6, 0.2, 0.4, 0.9, 0.25, 0.3])
POPULATION = np.array([0.62, 0.78, 1.05, 0.86, 1.52, 0.51, 1.69, 0.24, 0.70])  # LA (6) and Dallas (4) largest
# Rough map positions of the nine metros (x, y in ms of one-way delay), for distance-based network delay.
DC_XY = np.array([[0.0, 0.0], [30.0, -14.0], [33.0, -4.0], [20.0, -2.0], [-4.0, -24.0], [-52.0, 20.0],
                   [-50.0, -12.0], [-34.0, -2.0], [-42.0, -10.0]])
TOKENS_IN = np.array([80.0, 500.0, 50.0, 40.0, 30.0])
TOKENS_OUT = np.array([100.0, 300.0, 100.0, 500.0, 10.0])
TYPE_FACTOR = np.array([2.0, 1.8, 1.5, 1.2, 0.5])
V_BASE_US = np.array([1.0, 1.5, 20.0, 20.0, 50.0])
DELTA_BASE_S = np.array([5.0, 10.0, 15.0, 20.0, 30.0])
RHO_SHAPE = np.array([10.0, 12.0, 6.0, 4.0, 1.5])
ALPHA_RANGE = np.array([[0.001, 0.0015], [0.0015, 0.0025], [0.01, 0.015]])
J_PER_KWH = 3.6e6


def cycle(base: np.ndarray, n: int) -> np.ndarray:
    return base[np.arange(n) % len(base)]


def usage_shape(hour: np.ndarray) -> np.ndarray:
    """24-h demand shape: about 0.15 at night, 1.0 at noon."""
    return 0.15 + 0.85 * np.exp(-0.5 * ((hour - 12.5) / 3.6) ** 2)


def tou_factor(hour: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    lo = np.where((hour >= 14) & (hour <= 20), 1.8, np.where(((hour >= 8) & (hour <= 13)) | (hour == 21), 1.2, 0.7))
    return lo + rng.uniform(0.0, 0.2, size=hour.shape)


def dc_names(J: int) -> tuple[str, ...]:
    """Names of J DCs: the reference day's nine, then ``dc9``, ``dc10``, ..."""
    return tuple(DC_NAMES[j] if j < len(DC_NAMES) else f"dc{j}" for j in range(J))


def query_types(K: int) -> tuple[str, ...]:
    """Names of K query types: the reference day's five, then ``type5``, ``type6``, ..."""
    return tuple(QUERY_TYPES[k] if k < len(QUERY_TYPES) else f"type{k}" for k in range(K))
