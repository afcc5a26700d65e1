"""The command line of ``python -m green_llm_env.scenario`` (also ``python -m green_llm_env.scenario_cli``): write
a seeded synthetic scenario, or a 2024 trace window, as JSON. Kept apart from `green_llm_env.scenario` so that
the data model does not import the generator built on it."""

from __future__ import annotations

import math
import sys

from .scenario import SIZE_KEYS as _SIZE_KEYS

def _parse_sizes(text: str) -> tuple[int, int, int, int, int]:
    parts = [p.strip() for p in str(text).split(",")]
    if len(parts) != 5:
        raise ValueError(f"--sizes must be five integers I,J,K,T,R (e.g. 9,9,5,24,3); got {text!r}")
    for letter, part in zip(_SIZE_KEYS, parts):
        if not (part.isdigit() and int(part) >= 1):
            raise ValueError(f"--sizes: {letter} must be an integer >= 1; got {part!r} (I,J,K,T,R = {text!r})")
    return tuple(int(p) for p in parts)  # type: ignore[return-value]


def _body(argv: list[str] | None) -> int:
    from .cli import CliError, OneLineParser, int_at_least

    parser = OneLineParser(prog="python -m green_llm_env.scenario",
                           description="Write a seeded synthetic scenario as JSON.")
    parser.add_argument("--seed", type=int_at_least(0), default=0, help="generator seed (>= 0)")
    parser.add_argument("--traces", nargs="?", const="", metavar="DIR",
                        help="folder holding carbon_intensity_2024_hourly_by_dc.csv; without DIR, the folder "
                             "found by green_llm_env.assets.traces_dir ($GREEN_LLM_DATA, a checkout's ../shared/data)")
    parser.add_argument("--start", help="UTC start hour with --traces, e.g. 2024-06-01T00")
    parser.add_argument("--sizes", default="9,9,5,24,3", help="I,J,K,T,R (default 9,9,5,24,3)")
    parser.add_argument("--water-fraction", type=float, default=None,
                        help="water budget as a fraction of the greedy plan's water use (default 0.95); a budget "
                             "below the least water any plan needs is refused")
    parser.add_argument("--out", required=True, help="output JSON file")
    args = parser.parse_args(argv)
    from . import cost
    from .generator import DEFAULT_WATER_FRACTION, make_scenario, scenario_from_traces

    fraction = DEFAULT_WATER_FRACTION if args.water_fraction is None else args.water_fraction
    if not (math.isfinite(fraction) and fraction > 0):
        raise CliError(f"--water-fraction must be a finite number > 0; got {args.water_fraction}")
    if args.start and args.traces is None:
        raise CliError("--start needs --traces")
    if args.traces == "":
        from .assets import traces_dir

        try:
            args.traces = str(traces_dir())
        except FileNotFoundError as exc:
            raise CliError(f"--traces: {exc}") from None
    try:
        I, J, K, T, R = _parse_sizes(args.sizes)
        kw = dict(I=I, J=J, K=K, T=T, R=R, water_fraction=fraction)
        if args.traces:
            scen = scenario_from_traces(args.traces, args.start or "2024-01-01T00", args.seed, **kw)
        else:
            scen = make_scenario(args.seed, **kw)
    except ValueError as exc:  # ScenarioFileError included
        raise CliError(str(exc)) from None
    least = cost.least_water_bound_l(cost.coefficients(scen))
    if scen.Z < least:
        raise CliError(f"--water-fraction {fraction:g} gives a water budget Z = {scen.Z:.1f} L, below the least "
                       f"water any plan needs ({least:.1f} L): the scenario would be infeasible")
    try:
        scen.to_json(args.out)
    except OSError as exc:
        raise CliError(f"--out {args.out}: cannot write ({exc.strerror or exc})") from None
    s = scen.sizes
    print(f"wrote {args.out}: I={s['I']} J={s['J']} K={s['K']} T={s['T']} R={s['R']}, Z={scen.Z:.1f} L")
    return 0


def main(argv: list[str] | None = None) -> int:
    """The command line (module docstring); a bad value is one line on stderr and exit status 2."""
    from .cli import run_cli

    return run_cli("python -m green_llm_env.scenario", _body, argv)


if __name__ == "__main__":
    sys.exit(main())
