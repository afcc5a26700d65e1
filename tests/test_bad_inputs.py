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
ORACLE, SCEN, EVAL, TRAIN, RESUME = "oracle", "scenario", "evaluate", "train", "train-resume"
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
    (ORACLE, ["--scenario", "{scen}", "--lexicographic", "energy", "--method", "decomposed"], "--method"),
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
    # issue 19: a trained agent is played as it was trained or refused ({run:NAME}: a tampered copy of the shipped
    # hybrid agent, see TAMPERED); T:24 because the hybrid env reads 23 forecast hours
    (EVAL, ["--policies", "ppo={run:no_vecnorm}", "--gen-kwargs", "T:24"], "statistics are missing"),
    (EVAL, ["--policies", "ppo={run:bad_vecnorm}", "--gen-kwargs", "T:24"], "are damaged"),
    (EVAL, ["--policies", "ppo={run:empty_vecnorm}", "--gen-kwargs", "T:24"], "are damaged"),
    (EVAL, ["--policies", "ppo={run:foreign_vecnorm}", "--gen-kwargs", "T:24"], "not this model's"),
    (EVAL, ["--policies", "ppo={run:no_model}", "--gen-kwargs", "T:24"], "GreenLLM-hybrid-v1.zip is missing"),
    (EVAL, ["--policies", "ppo={run:bad_model}", "--gen-kwargs", "T:24"], "is damaged"),
    (EVAL, ["--policies", "ppo={run:empty_model}", "--gen-kwargs", "T:24"], "is damaged"),
    (EVAL, ["--policies", "ppo={run:bad_config}", "--gen-kwargs", "T:24"], "config.yml"),
    (EVAL, ["--policies", "ppo={run:no_config}", "--gen-kwargs", "T:24"], "config.yml"),
    (EVAL, ["--policies", "ppo={run:config_list}", "--gen-kwargs", "T:24"], "config.yml"),
    (EVAL, ["--policies", "ppo={run:config_bad_normalize}", "--gen-kwargs", "T:24"], "normalize"),
    (EVAL, ["--policies", "ppo={run:config_bad_shield}", "--gen-kwargs", "T:24"], "shield"),
    (EVAL, ["--policies", "ppo={run:unknown_env}", "--gen-kwargs", "T:24"], "GreenLLM-v9"),
    (EVAL, ["--policies", "ppo={run:other_env}", "--gen-kwargs", "T:24"], "observations of shape"),
    (EVAL, ["--policies", "ppo={run:ok}/rl_model_9_steps.zip", "--gen-kwargs", "T:24"], "rl_model_9_steps.zip"),
    (EVAL, ["--policies", "ppo={run:ok}", "--gen-kwargs", "T:24", "--env", "GreenLLM-v2"], "GreenLLM-hybrid-v1"),
    (EVAL, ["--policies", "ppo={run:ok}", "--gen-kwargs", "T:24", "--env", "GreenLLM-v0"], "GreenLLM-hybrid-v1"),
    # a baseline on an env whose action it does not speak; "off" settings below the exact bound
    (EVAL, ["--env", "GreenLLM-hybrid-v1", "--policies", "uniform", "--gen-kwargs", "T:24"], "GreenLLM-hybrid-v1"),
    (EVAL, ["--env", "GreenLLM-hybrid-v1", "--policies", "myopic", "--gen-kwargs", "T:24"], "GreenLLM-hybrid-v1"),
    (EVAL, ["--env", "GreenLLM-hybrid-v2", "--policies", "cheapest"], "GreenLLM-hybrid-v2"),
    (EVAL, ["--env", "GreenLLM-v0", "--env-kwargs", "penalty_factor:0.5"], "penalty_factor"),
    (EVAL, ["--env", "GreenLLM-v0", "--env-kwargs", "penalty_factor:0.999"], "penalty_factor"),
    (EVAL, ["--env", "GreenLLM-v1", "--env-kwargs", "constraint_mode:penalty", "penalty_factor:0.5"],
     "penalty_factor"),
    (EVAL, ["--env", "GreenLLM-hybrid-v1", "--gen-kwargs", "T:24", "--env-kwargs", "price_range:[1e-300,1e300]"],
     "price_range"),
    (EVAL, ["--env", "GreenLLM-hybrid-v2", "--env-kwargs", "price_range:[1e-300,1e300]"], "price_range"),
    (EVAL, ["--env", "GreenLLM-hybrid-v2", "--env-kwargs", "price_range:[.nan,1.0]"], "price_range"),
    (EVAL, ["--env", "GreenLLM-hybrid-v2", "--env-kwargs", "price_range:[0.0,1.0]"], "price_range"),
    (EVAL, ["--env", "GreenLLM-hybrid-v2", "--env-kwargs", "price_range:[1.0,0.5]"], "price_range"),
    (EVAL, ["--env", "GreenLLM-hybrid-v2", "--env-kwargs", "price_range:abc"], "price_range"),
    (EVAL, ["--gen-kwargs", "T:10000000"], "T"),
    (EVAL, ["--gen-kwargs", "demand_scale:1e300"], "demand_scale"),
    (EVAL, ["--env", "GreenLLM-v1", "--gen-kwargs", "T:10000000"], "T"),
    (EVAL, ["--env", "GreenLLM-v1", "--env-kwargs", "forecast_noise:1e308"], "forecast_noise"),
    # Ray: a bad or dead --address is one line within a bounded time (nothing listens on port 1)
    (EVAL, ["--backend", "ray", "--address", "bogus"], "--address"),
    (EVAL, ["--backend", "ray", "--address", "ray://"], "--address"),
    (EVAL, ["--backend", "ray", "--address", "localhost:0"], "--address"),
    (EVAL, ["--backend", "ray", "--address", "localhost:99999"], "--address"),
    (EVAL, ["--backend", "ray", "--address", "http://localhost:6379"], "--address"),
    (EVAL, ["--backend", "ray", "--address", "127.0.0.1:1"], "127.0.0.1:1"),
    (EVAL, ["--backend", "ray", "--address", "ray://127.0.0.1:1"], "127.0.0.1:1"),
    # train.py: "off" honoured, unknown keys refused before anything is built, damaged runs on --resume
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain_epoch:3"], "pretrain_epoch"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain:bogus"], "pretrain"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain_episodes:0"], "pretrain_episodes"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain_lr:5"], "pretrain_lr"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain_dagger:-1"], "pretrain_dagger"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "shield:lava"], "shield"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain_scale:0"], "pretrain_scale"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "pretrain_scale:abc"], "pretrain_scale"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "n_epoch:3"], "n_epoch"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "clip_range:abc"], "clip_range"),
    (TRAIN, ["--algo", "ppo", "--hyperparams", "callback:[{agents.imitation.ImitationWarmStart: {episode: 3}}]"],
     "episode"),
    (TRAIN, ["--algo", "ppo", "--env", "GreenLLM-v0", "--env-kwargs", "penalty_factor:0.5"], "penalty_factor"),
    (TRAIN, ["--algo", "ppo", "--env", "GreenLLM-hybrid-v1", "--env-kwargs", "price_range:[1e-300,1e300]"],
     "price_range"),
    (RESUME, ["--resume", "{run:bad_config}"], "config.yml"),
    (RESUME, ["--resume", "{run:bad_args}"], "args.yml"),
    (RESUME, ["--resume", "{run:args_bad_algo}"], "algo"),
    (RESUME, ["--resume", "{run:unknown_env}"], "GreenLLM-v9"),
    (RESUME, ["--resume", "{run:other_env}"], "do not fit env"),
    (RESUME, ["--resume", "{run:ok}", "--env", "GreenLLM-v1"], "--resume keeps the run's env"),
    (TRAIN, ["--algo", "ppo", "-optimize", "--hyperparams", "pretrain_episodes:4", "-conf", "{json:bad_yaml}"],
     "-optimize"),
]
# Tool -> (module run by the driver, fixed leading arguments that keep a case from doing real work).
TOOLS = {
    ORACLE: ("baselines.oracle", []),
    SCEN: ("green_llm_env.scenario_cli", []),  # python -m green_llm_env.scenario runs it (tested below)
    EVAL: ("evaluate", ["--seeds", "1", "--gen-kwargs", "T:2", "--out", "{tmp}/eval", "--no-progress",
                        "--no-plots"]),
    TRAIN: ("train", ["-f", "{tmp}/logs", "-n", "64", "--no-progress-bar", "--eval-freq", "0"]),
    RESUME: ("train", []),  # --resume keeps the run's own arguments: no fixed ones
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


SHIPPED_RUN = ROOT / "rl-trained-agents/ppo/GreenLLM-hybrid-v1_1"
"""The run the tampered copies start from (small; its observations are normalised)."""


def _tamper(run: Path, name: str) -> None:
    """Break one thing of the run folder ``run`` (a copy of `SHIPPED_RUN`), as its name says."""
    params = run / "GreenLLM-hybrid-v1"
    vec, model, config, args = params / "vecnormalize.pkl", run / "GreenLLM-hybrid-v1.zip", params / "config.yml", \
        params / "args.yml"
    if name == "no_vecnorm":
        vec.unlink()
    elif name == "bad_vecnorm":
        vec.write_bytes(vec.read_bytes()[:100])
    elif name == "empty_vecnorm":
        vec.write_bytes(b"")
    elif name == "foreign_vecnorm":
        vec.write_bytes((ROOT / "rl-trained-agents/ppo/GreenLLM-v1_3/GreenLLM-v1/vecnormalize.pkl").read_bytes())
    elif name == "no_model":
        model.unlink()
    elif name == "bad_model":
        model.write_bytes(model.read_bytes()[:2000])
    elif name == "empty_model":
        model.write_bytes(b"")
    elif name == "bad_config":
        config.write_text("policy: [MlpPolicy\n")
    elif name == "no_config":
        config.unlink()
    elif name == "config_list":
        config.write_text("- 1\n- 2\n")
    elif name == "config_bad_normalize":
        config.write_text(config.read_text().replace("normalize: '{", "normalize: 'maybe{"))
    elif name == "config_bad_shield":
        config.write_text(config.read_text() + "shield: lava\n")
    elif name == "bad_args":
        args.write_text("algo: [ppo\n")
    elif name == "args_bad_algo":
        args.write_text(args.read_text().replace("algo: ppo", "algo: dqn"))
    elif name == "unknown_env":
        args.write_text(args.read_text().replace("env: GreenLLM-hybrid-v1", "env: GreenLLM-v9"))
    elif name == "other_env":
        args.write_text(args.read_text().replace("env: GreenLLM-hybrid-v1", "env: GreenLLM-v1"))
    elif name != "ok":
        raise KeyError(name)


TAMPERED = ("ok", "no_vecnorm", "bad_vecnorm", "empty_vecnorm", "foreign_vecnorm", "no_model", "bad_model",
            "empty_model", "bad_config", "no_config", "config_list", "config_bad_normalize", "config_bad_shield",
            "bad_args", "args_bad_algo", "unknown_env", "other_env")


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
    import shutil

    for name in TAMPERED:
        run = tmp / "runs" / "ppo" / f"GreenLLM-hybrid-v1_{name}"
        shutil.copytree(SHIPPED_RUN, run)
        _tamper(run, name)
        out["{run:" + name + "}"] = str(run)
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


_HYBRID: dict[str, object] = {}


def _hybrid(version: str):
    """One reset hybrid env per version (GreenLLM-hybrid-v1 / -v2), shared by the cases (a reset solves LPs)."""
    if version not in _HYBRID:
        import gymnasium as gym

        env = gym.make(f"green_llm_env:GreenLLM-hybrid-{version}")
        env.reset(seed=0)
        _HYBRID[version] = env
    return _HYBRID[version]


def _hybrid_step(version: str, action):
    return lambda: _hybrid(version).step(action)


def _hybrid_make(version: str, **kw):
    def run():
        import gymnasium as gym

        gym.make(f"green_llm_env:GreenLLM-hybrid-{version}", **kw)
    return run


def _hourly(**kw):
    def run():
        from green_llm_env import cost
        from green_llm_env.hourly import HourlyLP

        HourlyLP(cost.coefficients(_base()), **kw)
    return run


def _ray_address(address: str):
    def run():
        from baselines.backends import check_ray_address

        check_ray_address(address, timeout_s=1.0)
    return run


def _warm_start(**kw):
    def run():
        from agents.imitation import ImitationWarmStart

        ImitationWarmStart(**kw)
    return run


def _env_v1(**kw):
    def run():
        from green_llm_env.env_v1 import GreenLLMEnvV1

        GreenLLMEnvV1(**kw)
    return run


_BAD_PRICE_RANGES = {"huge": (1e-300, 1e300), "nan": (float("nan"), 1.0), "zero": (0.0, 1.0), "reversed": (1.0, 0.5),
                     "text": "ab", "bool": (True, 2.0), "inf": (1e-3, float("inf")), "one": (1.0,)}
_BAD_PRICE_ACTIONS = {"nan": np.array([np.nan], np.float32), "inf": np.array([np.inf], np.float32),
                      "minus-inf": np.array([-np.inf]), "allocation": np.full(405, 1 / 9, np.float32),
                      "complex": np.array([0.5 + 1j]), "text": "a", "empty": np.zeros(0, np.float32)}

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
    # issue 19: penalty factors below the exact bound, price ranges that hung reset, actions that hung a step
    ("env-v0-penalty-factor-half", _env_kwargs(penalty_factor=0.5), "penalty_factor"),
    ("env-v0-penalty-factor-0", _env_kwargs(penalty_factor=0.0), "penalty_factor"),
    ("env-v1-penalty-factor", _env_v1(constraint_mode="penalty", penalty_factor=0.9), "penalty_factor"),
    ("env-v1-penalty-factor-nan", _env_v1(constraint_mode="penalty", penalty_factor=float("nan")), "penalty_factor"),
    *[(f"hybrid-{v}-price-range-{k}", _hybrid_make(v, price_range=r), "price_range")
      for v in ("v1", "v2") for k, r in _BAD_PRICE_RANGES.items()],
    *[(f"hybrid-{v}-action-{k}", _hybrid_step(v, a), "action")
      for v in ("v1", "v2") for k, a in _BAD_PRICE_ACTIONS.items()],
    *[(f"hourly-time-limit-{k}", _hourly(time_limit_s=v), "time_limit_s")
      for k, v in {"zero": 0, "negative": -1, "nan": float("nan"), "inf": float("inf"), "bool": True}.items()],
    *[(f"ray-address-{k}", _ray_address(a), "--address")
      for k, a in {"word": "bogus", "scheme-only": "ray://", "port-0": "h:0", "port-big": "h:99999",
                   "http": "http://h:1", "no-host": ":6379", "path": "ray://h:1/x"}.items()],
    # numeric kwargs range-checked (a size or a scale that hung a reset or overflowed a reward)
    ("env-forecast-noise-huge", _env_kwargs(forecast_noise=1e308), "forecast_noise"),
    ("env-reward-scale-huge", _env_kwargs(reward_scale=1e300), "reward_scale"),
    ("env-reward-scale-tiny", _env_kwargs(reward_scale=1e-300), "reward_scale"),
    ("env-penalty-factor-huge", _env_kwargs(penalty_factor=1e300), "penalty_factor"),
    ("env-generator-T-huge", _env_kwargs(generator_kwargs={"T": 10 ** 7}), "T"),
    ("env-generator-shares-huge", _env_kwargs(generator_kwargs={"I": 50, "J": 50, "T": 8000}), "I·K·J·T"),
    ("env-generator-demand-huge", _env_kwargs(generator_kwargs={"demand_scale": 1e300}), "demand_scale"),
    ("env-v1-forecast-noise-huge", _env_v1(forecast_noise=1e308), "forecast_noise"),
    ("make-scenario-T-huge", lambda: make_scenario(0, T=10 ** 7), "T"),
    ("make-scenario-psi-huge", lambda: make_scenario(0, psi_rho=1e300), "psi_rho"),
    ("draw-batch-T-huge", lambda: __import__("green_llm_env.batch_generator").batch_generator.draw_batch(
        [0], T=10 ** 7), "T"),
    ("draw-batch-demand-huge", lambda: __import__("green_llm_env.batch_generator").batch_generator.draw_batch(
        [0], demand_scale=1e300), "demand_scale"),
    ("v2-generator-T-huge", lambda: __import__("green_llm_env.core.config").core.config.EnvConfig.make(
        generator_kwargs={"T": 10 ** 7}), "T"),
    ("v2-reward-scale-huge", lambda: __import__("green_llm_env.core.config").core.config.EnvConfig.make(
        reward_scale=1e300), "reward_scale"),
    ("v2-water-price-factor-huge", lambda: __import__("green_llm_env.core.config").core.config.EnvConfig.make(
        water_price_factor=1e300), "water_price_factor"),
    ("warm-start-episodes", _warm_start(episodes=0), "episodes"),
    ("warm-start-expert", _warm_start(expert="guru"), "expert"),
    ("warm-start-lr", _warm_start(learning_rate=2.0), "learning_rate"),
    ("warm-start-dagger", _warm_start(dagger_episodes=-1), "dagger_episodes"),
    ("warm-start-scale", _warm_start(scale=0), "scale"),
]


@pytest.mark.parametrize("call, culprit", [c[1:] for c in CONSTRUCTOR_CASES], ids=[c[0] for c in CONSTRUCTOR_CASES])
def test_constructor_bad_input_names_the_culprit(call, culprit):
    with pytest.raises(ValueError) as info:
        call()
    message = str(info.value)
    assert "\n" not in message and culprit in message, message


def test_the_table_is_large_enough():
    assert len(CLI_CASES) + len(CONSTRUCTOR_CASES) >= 200
    assert {t for t, _, _ in CLI_CASES} == set(TOOLS)
