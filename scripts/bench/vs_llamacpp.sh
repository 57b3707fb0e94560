#!/usr/bin/env bash
# kvbench vs llama.cpp CPU throughput (prefill tok/s at 512/2048/8192, decode tok/s after 2048) on the SmolLM2 GGUF.
# Follows llama-bench's pp/tg measurements (scripts/bench/vs_llamacpp.py does the llama.cpp side via llama-cpp-python).
# Run: scripts/bench/vs_llamacpp.sh [path/to/kvbench]   (default build/kvbench;
#   env: MODEL, PY, OUT (default build/bench), THREADS (nproc), REPS (3), LLAMACPP_ARGS)
#
# If the kvbench binary exists and `kvbench bench --help` succeeds, runs
#   kvbench bench --model $MODEL --json $OUT/kvbench.json [--threads $THREADS when its --help lists --threads]
# and prints both engines side by side with the kvbench / llama.cpp ratio; otherwise prints llama.cpp alone.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KVBENCH="${1:-$ROOT/build/kvbench}"
MODEL="${MODEL:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
PY="${PY:-$HOME/.venvs/parity/bin/python}"
OUT="${OUT:-$ROOT/build/bench}"
THREADS="${THREADS:-$(nproc)}"
REPS="${REPS:-3}"
read -r -a LLAMACPP_ARGS <<< "${LLAMACPP_ARGS:-}"   # extra vs_llamacpp.py flags, e.g. "--prefill 512" for a quick try

[[ -f "$MODEL" ]] || { echo "model not found: $MODEL (copy SmolLM2-135M-Instruct.Q4_1.gguf into models/)" >&2; exit 1; }
"$PY" -c "import llama_cpp" 2>/dev/null || { echo "$PY cannot import llama_cpp (pip install llama-cpp-python)" >&2; exit 1; }
mkdir -p "$OUT"

have_kvbench=0
if [[ -x "$KVBENCH" ]] && "$KVBENCH" bench --help >/dev/null 2>&1; then
  have_kvbench=1
else
  echo "note: '$KVBENCH bench' is not available; measuring llama.cpp only" >&2
fi

echo "== llama.cpp (llama-cpp-python), $THREADS threads" >&2
"$PY" "$ROOT/scripts/bench/vs_llamacpp.py" --model "$MODEL" --threads "$THREADS" --reps "$REPS" \
  --json "$OUT/llamacpp.json" "${LLAMACPP_ARGS[@]}" >/dev/null

if [[ $have_kvbench == 1 ]]; then
  echo "== kvbench: $KVBENCH" >&2
  extra=()
  if "$KVBENCH" bench --help 2>&1 | grep -q -- '--threads'; then extra+=(--threads "$THREADS"); fi
  if "$KVBENCH" bench --help 2>&1 | grep -q -- "--repeats"; then extra+=(--repeats "$REPS"); fi
  "$KVBENCH" bench --model "$MODEL" --json "$OUT/kvbench.json" "${extra[@]}" >&2
  "$PY" "$ROOT/scripts/bench/vs_llamacpp.py" --compare "$OUT/kvbench.json" "$OUT/llamacpp.json"
else
  "$PY" "$ROOT/scripts/bench/vs_llamacpp.py" --show "$OUT/llamacpp.json"
fi
results="$OUT/llamacpp.json"
if [[ $have_kvbench == 1 ]]; then results+=" $OUT/kvbench.json"; fi
echo "results: $results" >&2
