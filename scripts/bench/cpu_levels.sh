#!/usr/bin/env bash
# kvbench vs llama.cpp at each SIMD level this CPU runs, both --matmul modes (issue 21's tables):
#   scripts/bench/cpu_levels.sh [kvbench]   env: LEVELS ("avx512 avx2"), LLAMA_<LEVEL> (python of a venv whose
#   llama-cpp-python was built for that level, e.g. ~/.venvs/llama-avx2/bin/python), REPS (3), OUT (build/bench)
# kvbench runs with KVB_SIMD=<level> (its kernels and OpenBLAS's follow); llama.cpp is the build named for the
# level (GGML_NATIVE=ON for the CPU's own level; GGML_AVX2/FMA/F16C with AVX-512 off for avx2). Prints one
# vs_llamacpp.py --compare table per level and mode; every JSON stays in $OUT.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KVBENCH="${1:-$ROOT/build/kvbench}"
MODEL="${MODEL:-$ROOT/models/SmolLM2-135M-Instruct.Q4_1.gguf}"
OUT="${OUT:-$ROOT/build/bench}"
REPS="${REPS:-3}"
LEVELS="${LEVELS:-avx512 avx2}"
THREADS="${THREADS:-$(nproc)}"
mkdir -p "$OUT"
echo "cpu: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2-) | flags: $(grep -m1 '^flags' /proc/cpuinfo | tr ' ' '\n' | grep -E '^(avx2|fma|f16c|avx512f|avx512bw|avx512vl|avx512_vnni|avx_vnni)$' | tr '\n' ' ')"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg) | threads $THREADS | reps $REPS | $(date -u +%FT%TZ)"
for level in $LEVELS; do
  var="LLAMA_$(echo "$level" | tr a-z A-Z)"
  py="${!var:-}"
  if [[ -n "$py" ]]; then
    "$py" "$ROOT/scripts/bench/vs_llamacpp.py" --model "$MODEL" --threads "$THREADS" --reps "$REPS" \
      --json "$OUT/llamacpp_$level.json" >/dev/null
  fi
  for mode in f32 int8; do
    KVB_SIMD=$level "$KVBENCH" bench -q --model "$MODEL" --prefill 512,2048,8192 --decode-context 2048 \
      --decode-tokens 64 --repeats "$REPS" -t "$THREADS" --matmul "$mode" --json "$OUT/kvbench_${level}_$mode.json" >/dev/null
    echo "== KVB_SIMD=$level --matmul $mode: $(KVB_SIMD=$level "$KVBENCH" list backends | head -1 | sed 's/^.*OpenMP); //')"
    if [[ -n "$py" ]]; then
      "$py" "$ROOT/scripts/bench/vs_llamacpp.py" --compare "$OUT/kvbench_${level}_$mode.json" "$OUT/llamacpp_$level.json"
    else
      cat "$OUT/kvbench_${level}_$mode.json"
    fi
  done
done
echo "load at the end: $(cut -d' ' -f1-3 /proc/loadavg)"
