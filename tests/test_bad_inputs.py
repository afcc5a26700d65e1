"""One clear line for every bad input: a table of bad values for every command-line tool and public constructor.

Command-line cases: exit status 2, exactly one line on stderr, no "Traceback", and the culprit (the argument or
field) named in that line. Each tool's cases run in one Python process (its ``main(argv)``, as the command line
calls it), so that the table stays cheap; a few cases per tool also run as real command lines. Constructor
cases: ``ValueError`` (or a subclass) with a one-line message naming the culprit.

Add a row here whenever a new argument or field is added.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from green_llm_env import Scenario, make_scenario

ROOT = Path(__file__).resolve().parents[1]

# (tool, argv, culprit named in the message). Placeholders: {tmp} a scratch folder, {scen} a valid small
# scenario file, {file} an existing regular file, {json:NAME} a damaged scenario file (see DAMAGED).
ORACLE, SCEN, EVAL, TRAIN = "oracle", "scenario", "evaluate", "train"
CLI_CASES: list[tuple[str, list[str], str]] = [
    # python -m baselines.oracle
    (ORACLE, [], "--scenario"),
    (ORACLE, ["--scenario", "{tmp}/missing.json"], "missing.json"),
    (ORACLE, ["--scenario", "{file}"], "not valid JSON"),
    (ORACLE, ["--scenario", "{scen}", "--weights", ""], "--weights"),
    (ORACLE, ["--scenario", "{scen}", "--weights", "1,0"], "--weights"),
    (ORACLE, ["--scenario", "{scen}", "--weights", "a,b,c"], "--weights"),
    (ORACLE, ["--scenario", "{scen}", "--weights", "0.5,0.6,0"], "--weights"),
    (ORACLE, ["--scenario", "{scen}", "--lexicographic", ""], "--lexicographic"),
    (ORACLE, ["--scenario", "{scen}", "--lexicographic", "energy,bogus"], "--lexicographic"),
    (ORACLE, ["--scenario", "{scen}", "--lexicographic", "energy,energy"], "--lexicographic"),
    (ORACLE, ["--scenario", "{scen}", "--lexicographic", "energy", "--eps", "-1"], "--eps"),
    (ORACLE, ["--scenario", "{scen}", "--eps", "abc"], "--eps"),
    (ORACLE, ["--scenario", "{scen}", "--weights", "1,0,0", "--lexicographic", "energy"], "--lexicographic"),
    (ORACLE, ["--scenario", "{scen}", "--bogus"], "--bogus"),
    (ORACLE, ["tables", "--scenario", "{json:pue_low}"], "PUE"),
    (ORACLE, ["--scenario", "{json:lam_huge}"], "lam"),
    (ORACLE, ["--scenario", "{json:tau_huge}"], "tau_in"),
    (ORACLE, ["--scenario", "{json:nan_price}"], "'c'"),
    (ORACLE, ["--scenario", "{json:lam_short_t}"], "lambda"),
    (ORACLE, ["--scenario", "{json:lam_short_i}"], "lambda"),
    (ORACLE, ["--scenario", "{json:lam_short_t_nosizes}"], "lambda"),
    (ORACLE, ["--scenario", "{json:true_value}"], "PUE"),
    (ORACLE, ["--scenario", "{json:sizes_str}"], "sizes.I"),
    (ORACLE, ["--scenario", "{json:sizes_unknown}"], "sizes"),
    (ORACLE, ["--scenario", "{json:sizes_mismatch}"], "sizes.T"),
    (ORACLE, ["--scenario", "{json:start_hour_text}"], "start_hour"),
    (ORACLE, ["--scenario", "{json:z_true}"], "'Z'"),
    (ORACLE, ["--scenario", "{json:missing_theta}"], "theta"),
    (ORACLE, ["--scenario", "{json:infeasible_water}"], "water budget"),
    # python -m green_llm_env.scenario
    (SCEN, [], "--out"),
    (SCEN, ["--seed", "-1", "--out", "{tmp}/s.json"], "--seed"),
    (SCEN, ["--seed", "abc", "--out", "{tmp}/s.json"], "--seed"),
    (SCEN, ["--sizes", "9,9", "--out", "{tmp}/s.json"], "--sizes"),
    (SCEN, ["--sizes", "9,9,0,24,3", "--out", "{tmp}/s.json"], "--sizes: K"),
    (SCEN, ["--sizes", "9,x,5,24,3", "--out", "{tmp}/s.json"], "--sizes: J"),
    (SCEN, ["--water-fraction", "0.5", "--out", "{tmp}/s.json"], "--water-fraction"),
    (SCEN, ["--water-fraction", "-1", "--out", "{tmp}/s.json"], "--water-fraction"),
    (SCEN, ["--water-fraction", "nan", "--out", "{tmp}/s.json"], "--water-fraction"),
    (SCEN, ["--start", "2024-06-01T00", "--out", "{tmp}/s.json"], "--start"),
    (SCEN, ["--traces", "{tmp}/no_traces", "--out", "{tmp}/s.json"], "no_traces"),
    (SCEN, ["--out", "{file}/s.json"], "--out"),
    # evaluate.py
    (EVAL, ["--policies", "mpc:horizon"], "horizon"),
    (EVAL, ["--policies", "mpc:horizon=abc"], "horizon"),
    (EVAL, ["--policies", "mpc:horizon=0"], "horizon"),
    (EVAL, ["--policies", "nope"], "nope"),
    (EVAL, ["--policies", ""], "--policies"),
    (EVAL, ["--policies", "oracle,oracle"], "twice"),
    (EVAL, ["--seeds", "0-1000000000000"], "--seeds"),
    (EVAL, ["--seeds", "9-3"], "--seeds"),
    (EVAL, ["--seeds", "-1"], "--seeds"),
    (EVAL, ["--weights", ""], "--weights"),
    (EVAL, ["--weights", "1,0"], "--weights"),
    (EVAL, ["--workers", "0"], "--workers"),
    (EVAL, ["--workers", "abc"], "--workers"),
    (EVAL, ["--env-kwargs", "forecast_hours:1000000"], "forecast_hours"),
    (EVAL, ["--env-kwargs", "bogus"], "--env-kwargs"),
    (EVAL, ["--env-kwargs", "weights:1"], "weights"),
    (EVAL, ["--gen-kwargs", "T:0"], "T"),
    (EVAL, ["--gen-kwargs", "bogus:1"], "bogus"),
    (EVAL, ["--start", "2024-06-01T00"], "--start"),
    (EVAL, ["--traces", "{tmp}/no_traces"], "--traces"),
    (EVAL, ["--out", "{file}"], "--out"),
    (EVAL, ["--out", "{file}/sub"], "--out"),
    (EVAL, ["--policies", "ppo={tmp}/no_run"], "no_run"),
    # train.py
    (TRAIN, [], "--algo"),
    (TRAIN, ["--algo", "dqn"], "dqn"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "batch_size:-1"], "batch_size"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "n_steps:0"], "n_steps"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "learning_rate:abc"], "learning_rate"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "batch_size:1"], "batch_size"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "n_timesteps:abc"], "n_timesteps"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "noise_type:bogus"], "noise_type"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "normalize:maybe"], "normalize"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "policy_kwargs:os.system"], "policy_kwargs"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "bogus_key:1"], "bogus_key"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "batch_size"], "--hyperparams"),
    (TRAIN, ["--resume", "{tmp}/no_run"], "--resume"),
    (TRAIN, ["--algo", "ppo", "--device", "tpu"], "--device"),
    (TRAIN, ["--algo", "ppo", "--env", "Bogus-v0"], "--env"),
    (TRAIN, ["--algo", "ppo", "-conf", "{json:bad_yaml}"], "bad_yaml"),
    (TRAIN, ["--algo", "ppo", "-conf", "{tmp}/missing.yml"], "missing.yml"),
    (TRAIN, ["--algo", "ppo", "--n-envs", "0"], "--n-envs"),
    (TRAIN, ["--algo", "ppo", "--num-threads", "0"], "--num-threads"),
    (TRAIN, ["--algo", "ppo", "--seed", "-2"], "--seed"),
    (TRAIN, ["--algo", "ppo", "--eval-seeds", "-1"], "--eval-seeds"),
    (TRAIN, ["--algo", "ppo", "-n", "0"], "--n-timesteps"),
    (TRAIN, ["--algo", "ppo", "-n", "abc"], "--n-timesteps"),
    (TRAIN, ["--algo", "ppo", "--env-kwargs", "foo"], "--env-kwargs"),
    (TRAIN, ["--algo", "ppo", "--env-kwargs", "forecast_hours:1000000"], "forecast_hours"),
    (TRAIN, ["--algo", "ppo", "--env-kwargs", "no_such_arg:1"], "no_such_arg"),
    (TRAIN, ["--algo", "ppo", "--vec", "threads"], "--vec"),
]
# Tool -> (module run by the driver, fixed leading arguments that keep a case from doing real work).
TOOLS = {
    ORACLE: ("baselines.oracle", []),
    SCEN: ("green_llm_env.scenario_cli", []),  # python -m green_llm_env.scenario runs it (tested below)
    EVAL: ("evaluate", ["--seeds", "1", "--gen-kwargs", "T:2", "--out", "{tmp}/eval", "--no-progress",
                        "--no-plots"]),
    TRAIN: ("train", ["-f", "{tmp}/logs", "-n", "64", "--no-progress-bar", "--eval-freq", "0"]),
}
REAL = {ORACLE: 3, SCEN: 1, EVAL: 0, TRAIN: 9}  # the case (index within its tool) also run as a real command

DRIVER = r"""
import contextlib, importlib, io, json, sys, traceback
module, cases = json.loads(sys.stdin.read())
mod = importlib.import_module(module)
results = []
for argv in cases:
    err = io.StringIO()
    with contextlib.redirect_stderr(err), contextlib.redirect_stdout(io.StringIO()):
        try:
            code = mod.main(argv)
        except SystemExit as exc:
            code = exc.code if isinstance(exc.code, int) else 1
        except BaseException:
            traceback.print_exc()
            code = 1
    results.append({"code": code, "stderr": err.getvalue()})
print("@@RESULTS@@" + json.dumps(results))
"""


def _scenario_dict() -> dict:
    return make_scenario(0, I=2, J=2, K=1, T=2, R=1).to_dict()


def _damaged() -> dict[str, str]:
    """Damaged scenario files (name -> JSON text), each breaking one rule."""
    def edit(change) -> str:
        data = _scenario_dict()
        change(data)
        return json.dumps(data)

    arrays = lambda d: d["arrays"]  # noqa: E731
    return {
        "pue_low": edit(lambda d: arrays(d)["PUE"]["values"].__setitem__(0, 0.5)),
        "lam_huge": edit(lambda d: arrays(d)["lambda"]["values"][0][0].__setitem__(0, 1e300)),
        "tau_huge": edit(lambda d: arrays(d)["tau_in"]["values"].__setitem__(0, 1e308)),
        "nan_price": edit(lambda d: arrays(d)["c"]["values"][0].__setitem__(0, "x")),
        "lam_short_t": edit(lambda d: [row.__setitem__(slice(None), [v[:-1] for v in row])
                                       for row in arrays(d)["lambda"]["values"]]),
        "lam_short_i": edit(lambda d: arrays(d)["lambda"]["values"].pop()),
        "lam_short_t_nosizes": edit(lambda d: (d.pop("sizes"), [row.__setitem__(slice(None), [v[:-1] for v in row])
                                                                for row in arrays(d)["lambda"]["values"]])),
        "true_value": edit(lambda d: arrays(d)["PUE"]["values"].__setitem__(0, True)),
        "sizes_str": edit(lambda d: d["sizes"].__setitem__("I", "2")),
        "sizes_unknown": edit(lambda d: d["sizes"].__setitem__("X", 3)),
        "sizes_mismatch": edit(lambda d: d["sizes"].__setitem__("T", 5)),
        "start_hour_text": edit(lambda d: d.__setitem__("start_hour", "five")),
        "z_true": edit(lambda d: d["scalars"]["Z"].__setitem__("value", True)),
        "missing_theta": edit(lambda d: arrays(d).pop("theta")),
        "infeasible_water": edit(lambda d: d["scalars"]["Z"].__setitem__("value", 1e-3)),
        "bad_yaml": "default: {a: [1, 2\n",
    }


@pytest.fixture(scope="module")
def places(tmp_path_factory) -> dict[str, str]:
    tmp = tmp_path_factory.mktemp("bad_inputs")
    (tmp / "scen.json").write_text(json.dumps(_scenario_dict()))
    (tmp / "a_file").write_text("not json")
    out = {"{tmp}": str(tmp), "{scen}": str(tmp / "scen.json"), "{file}": str(tmp / "a_file")}
    for name, text in _damaged().items():
        path = tmp / (name + (".yml" if name.endswith("yaml") else ".json"))
        path.write_text(text)
        out["{json:" + name + "}"] = str(path)
    return out


def _fill(argv: list[str], places: dict[str, str]) -> list[str]:
    out = []
    for a in argv:
        for key, value in places.items():
            a = a.replace(key, value)
        out.append(a)
    return out


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")]),
            "OMP_NUM_THREADS": "1"}


def _argv(tool: str, argv: list[str], places: dict[str, str]) -> list[str]:
    """The tool's fixed arguments, then the case's (a later value of an option wins)."""
    return _fill(TOOLS[tool][1] + argv, places)


@pytest.fixture(scope="module")
def results(places) -> dict[tuple[str, int], dict]:
    """Every case's exit status and stderr: one driver process per tool."""
    out = {}
    for tool, (module, _) in TOOLS.items():
        cases = [_argv(tool, argv, places) for t, argv, _ in CLI_CASES if t == tool]
        proc = subprocess.run([sys.executable, "-c", DRIVER], input=json.dumps([module, cases]), text=True,
                              capture_output=True, timeout=600, cwd=ROOT, env=_env())
        line = next((ln for ln in proc.stdout.splitlines() if ln.startswith("@@RESULTS@@")), None)
        assert line is not None, f"driver for {tool} failed:\n{proc.stderr[-3000:]}"
        for q, res in enumerate(json.loads(line[len("@@RESULTS@@"):])):
            out[tool, q] = res
    return out


def _case_ids() -> list[tuple[str, int, list[str], str]]:
    seen: dict[str, int] = {}
    rows = []
    for tool, argv, culprit in CLI_CASES:
        q = seen.get(tool, 0)
        seen[tool] = q + 1
        rows.append((tool, q, argv, culprit))
    return rows


def _check_one_line(code: int, stderr: str, culprit: str, what: str) -> None:
    lines = [ln for ln in stderr.splitlines() if ln.strip()]
    assert code == 2, f"{what}: exit status {code}, stderr:\n{stderr}"
    assert "Traceback" not in stderr, f"{what}:\n{stderr}"
    assert len(lines) == 1, f"{what}: {len(lines)} lines on stderr:\n{stderr}"
    assert ": error: " in lines[0] and culprit in lines[0], f"{what}: {culprit!r} not named in {lines[0]!r}"


@pytest.mark.parametrize("tool, q, argv, culprit", _case_ids(),
                         ids=[f"{t}-{q}-{' '.join(a) or 'no-args'}"[:80] for t, q, a, _ in _case_ids()])
def test_cli_bad_input_is_one_line_exit_2(results, tool, q, argv, culprit):
    res = results[tool, q]
    _check_one_line(res["code"], res["stderr"], culprit, f"{tool} {argv}")


@pytest.mark.parametrize("tool", sorted(REAL))
def test_real_command_lines(places, tool):
    """A case of each tool as a real command line (python -m ... / script): the same one line, exit 2."""
    tool_cases = [(argv, culprit) for t, argv, culprit in CLI_CASES if t == tool]
    argv, culprit = tool_cases[REAL[tool]]
    module = TOOLS[tool][0]
    head = [sys.executable, str(ROOT / f"{module}.py")] if tool in (EVAL, TRAIN) else [sys.executable, "-m", module]
    proc = subprocess.run(head + _argv(tool, argv, places), capture_output=True, text=True, timeout=300, cwd=ROOT,
                          env=_env())
    _check_one_line(proc.returncode, proc.stderr, culprit, f"{tool} {argv}")


def test_scenario_module_runs_without_runpy_warning(tmp_path):
    proc = subprocess.run([sys.executable, "-W", "always", "-m", "green_llm_env.scenario", "--seed", "0", "--sizes",
                           "2,2,1,2,1", "--out", str(tmp_path / "s.json")], capture_output=True, text=True,
                          timeout=120, cwd=ROOT, env=_env())
    assert proc.returncode == 0 and proc.stderr == "", proc.stderr


# ------------------------------------------------------------------------------ public constructors
def _tiny(**changes):
    from .conftest import tiny_scenario

    return tiny_scenario(**changes)


def _from_json(name: str):
    return lambda: Scenario.from_json(_damaged()[name])


def _env_kwargs(**kw):
    from green_llm_env.env import GreenLLMEnv

    return lambda: GreenLLMEnv(**kw)


def _step(action, vector: bool = False):
    def run():
        if vector:
            from green_llm_env.vector import GreenLLMVectorEnv

            env = GreenLLMVectorEnv(num_envs=2, scenario_pool=1)
        else:
            from green_llm_env.env import GreenLLMEnv

            env = GreenLLMEnv(scenario_pool=1)
        env.reset(seed=0)
        env.step(action)
    return run


def _solve(**kw):
    from baselines import solve

    return lambda: solve(_tiny(), **kw)


S0 = None


def _base():
    global S0
    if S0 is None:
        S0 = make_scenario(0, I=2, J=2, K=1, T=2, R=1)
    return S0


CONSTRUCTOR_CASES = [  # (id, call, culprit)
    ("scenario-nan-price", lambda: _base().replace(c=np.full((2, 2), np.nan)), "Scenario.c"),
    ("scenario-pue-below-1", lambda: _base().replace(PUE=np.array([1.0, 0.5])), "Scenario.PUE"),
    ("scenario-tau-overflow", lambda: _base().replace(tau_in=np.array([1e308])), "Scenario.tau_in"),
    ("scenario-demand-overflow", lambda: _base().replace(lam=np.full((2, 2, 1), 1e306), alpha=np.full((1, 1), 1e10)),
     "Scenario."),
    ("scenario-B-tiny", lambda: _base().replace(B=np.full((2, 2), 1e-308)), "Scenario.B"),
    ("scenario-complex", lambda: _base().replace(c=np.ones((2, 2), complex)), "Scenario.c"),
    ("scenario-bool-Z", lambda: _base().replace(Z=True), "Scenario.Z"),
    ("scenario-inf-Z", lambda: _base().replace(Z=np.inf), "Scenario.Z"),
    ("scenario-text-start-hour", lambda: _base().replace(start_hour="5"), "start_hour"),
    ("scenario-names-not-text", lambda: _base().replace(dc_names=(1, 2)), "dc_names"),
    ("scenario-shape", lambda: _tiny(c=np.ones((3, 2))), "Scenario.c"),
    ("scale-tau-overflow", lambda: __import__("green_llm_env").scale(_base(), tau=1e308), "Scenario.tau"),
    ("scale-negative", lambda: __import__("green_llm_env").scale(_base(), rho=-1), "rho"),
    ("json-true", _from_json("true_value"), "PUE"),
    ("json-sizes-text", _from_json("sizes_str"), "sizes.I"),
    ("json-sizes-unknown", _from_json("sizes_unknown"), "sizes"),
    ("json-lam-short-t", _from_json("lam_short_t"), "Scenario.lam"),
    ("json-lam-short-i", _from_json("lam_short_i"), "Scenario.lam"),
    ("json-start-hour-text", _from_json("start_hour_text"), "start_hour"),
    ("json-z-true", _from_json("z_true"), "'Z'"),
    ("json-tau-overflow", _from_json("tau_huge"), "tau_in"),
    ("make-scenario-I0", lambda: make_scenario(0, I=0), "I"),
    ("make-scenario-water", lambda: make_scenario(0, water_fraction=-1), "water_fraction"),
    ("env-forecast-hours-huge", _env_kwargs(forecast_hours=10 ** 6), "forecast_hours"),
    ("env-temperature", _env_kwargs(temperature=0), "temperature"),
    ("env-weights", _env_kwargs(weights=(1, 0)), "weights"),
    ("env-complex-action", _step(np.zeros(405, complex)), "action"),
    ("env-nan-action", _step(np.full(405, np.nan)), "action"),
    ("env-shape", _step(np.zeros(7)), "action"),
    ("vector-complex-action", _step(np.zeros((2, 405), complex), vector=True), "actions"),
    ("vector-num-envs", lambda: __import__("green_llm_env.vector").vector.GreenLLMVectorEnv(num_envs=0), "num_envs"),
    ("solve-weights", _solve(weights=(1, 0)), "weights"),
    ("solve-time-limit", _solve(time_limit=0), "time_limit"),
    ("solve-lexicographic", lambda: __import__("baselines").solve_lexicographic(_tiny(), ("energy", "nope")),
     "order"),
]


@pytest.mark.parametrize("call, culprit", [c[1:] for c in CONSTRUCTOR_CASES], ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_constructor_bad_input_names_the_culprit(call, culprit):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and culprit in message, message


def test_the_table_is_large_enough():
    assert len(CLI_CASES) + len(CONSTRUCTOR_CASES) >= 60
    assert {t for t, _, _ in CLI_CASES} == set(TOOLS)
