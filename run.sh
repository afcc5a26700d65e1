#!/usr/bin/env bash
# green-llm-env: the two README commands.
#   ./run.sh         the main job: install if needed, then the short end-to-end demo (oracle tables,
#                    sensitivity plots, a brief training of the hybrid agent, the oracle-gap table of the
#                    baselines and the shipped v2 agents on GreenLLM-v2, then that agent and the shipped (v1)
#                    agents on GreenLLM-v1, plots)
#   ./run.sh test    install if needed, then the test suite (the command CI runs)
# Environment: VENV (default .venv), DEMO_OUT (default runs/demo-<time>), HYBRID_STEPS, EVAL_SEEDS, PYTEST_ARGS.
set -euo pipefail
cd "$(dirname "$0")"
VENV=${VENV:-.venv}
PY="$VENV/bin/python"

install() {
    local stamp="$VENV/.green-llm-env-installed" want
    want=$(cat pyproject.toml | sha256sum | cut -c1-16)
    if [ -x "$PY" ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then
        return 0
    fi
    echo "== installing into $VENV (torch==2.13.0 first, then the project with all extras)"
    [ -x "$PY" ] || python3 -m venv "$VENV"
    "$PY" -m pip install -q --disable-pip-version-check --upgrade pip
    # torch first: 2.13.0 is a local CPU wheel; any other torch request pulls a multi-GB CUDA build.
    "$PY" -m pip install -q --disable-pip-version-check torch==2.13.0
    "$PY" -m pip install -q --disable-pip-version-check -e ".[all]"
    echo "$want" > "$stamp"
}

# The compiled kernels (numba): built once per machine (about 40 s on 2 cores), then loaded from the cache.
warm_kernels() {
    "$PY" -c "from green_llm_env.compile import warm_up; s = warm_up(); print(f'== kernels ready ({s:.1f} s)')"
}

run_tests() {
    install
    warm_kernels
    local args=(-q)
    if "$PY" -c "import xdist" 2>/dev/null; then args+=(-n "${PYTEST_WORKERS:-2}"); fi
    # shellcheck disable=SC2086
    exec "$PY" -m pytest "${args[@]}" ${PYTEST_ARGS:-}
}

run_demo() {
    install
    warm_kernels
    local out=${DEMO_OUT:-runs/demo-$(date +%Y%m%d-%H%M%S)}
    local ref=../shared/data/paper_reference_scenario.json
    mkdir -p "$out"
    if [ ! -f "$ref" ]; then
        echo "== $ref not found: using the generator's scenario (seed 0) instead of the letter's"
        "$PY" -m green_llm_env.scenario --seed 0 --out "$out/scenario.json"
        ref="$out/scenario.json"
    fi
    echo "== 1/5 oracle: the letter's Tables I and II (ours beside the letter's)"
    "$PY" -m baselines.oracle tables --scenario "$ref" | tee "$out/tables.txt"
    "$PY" -m baselines.oracle tables --scenario "$ref" --json > "$out/tables.json"
    echo "== 2/5 sensitivity sweeps (Figs. 2-4)"
    "$PY" -m baselines.sweep --scenario "$ref" --out "$out/sweep"
    echo "== 3/5 brief training of the hybrid agent (a learned hourly water price; about a minute)"
    # The shipped agent's recipe (hyperparams/ppo.yml), shortened: clone the oracle's price on 40 training
    # scenarios (not 400, no DAgger rounds), then HYBRID_STEPS of PPO.
    "$PY" train.py --algo ppo --env GreenLLM-hybrid-v1 -n "${HYBRID_STEPS:-2048}" --seed 0 -f "$out/logs" -v 0 \
        --eval-freq 0 --save-freq 0 --no-progress-bar --hyperparams pretrain_episodes:40 pretrain_dagger:0
    local run_dir policies
    run_dir=$(ls -d "$out"/logs/ppo/GreenLLM-hybrid-v1_* | sort -V | tail -n 1)
    echo "== 4/5 oracle gap of the baselines and the shipped v2 agents on GreenLLM-v2 (the default env), held-out seeds"
    policies="oracle,mpc,myopic,uniform,nearest,cheapest,greenest,renewable_first,day_price:margin=0.1"
    for shipped in rl-trained-agents/ppo/GreenLLM-v2_10:ppo_equivariant rl-trained-agents/ppo/GreenLLM-hybrid-v2_9:ppo_hybrid \
            rl-trained-agents/sac/GreenLLM-hybrid-v2_1:sac_hybrid_scratch rl-trained-agents/sac/GreenLLM-price-v2_1:sac_price; do
        if [ -d "${shipped%%:*}" ]; then policies="$policies,${shipped##*:}=${shipped%%:*}"; fi
    done
    "$PY" evaluate.py --policies "$policies" --seeds "${EVAL_SEEDS:-1000-1019}" --workers 2 --out "$out/eval"
    cat "$out/eval/summary.md"
    policies="oracle,mpc,mpc_noisy,myopic,uniform,ppo_brief=$run_dir"
    for shipped in rl-trained-agents/ppo/GreenLLM-v1_1:ppo_equivariant rl-trained-agents/ppo/GreenLLM-hybrid-v1_1:ppo_hybrid \
            rl-trained-agents/ppo/GreenLLM-v1_3:ppo_raw; do
        if [ -d "${shipped%%:*}" ]; then policies="$policies,${shipped##*:}=${shipped%%:*}"; fi
    done
    echo "== 5/5 the brief run and the shipped (GreenLLM-v1) agents on GreenLLM-v1, beside v1's baselines"
    "$PY" evaluate.py --env GreenLLM-v1 --policies "$policies" --seeds "${EVAL_SEEDS:-1000-1019}" --workers 2 \
        --out "$out/eval-v1"
    cat "$out/eval-v1/summary.md"
    echo "== done: results and plots in $out"
}

case "${1:-demo}" in
    demo) run_demo ;;
    test) run_tests ;;
    install) install; warm_kernels ;;
    *) echo "usage: ./run.sh [demo|test|install]" >&2; exit 2 ;;
esac
