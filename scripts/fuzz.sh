#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/, clang, AddressSanitizer + UndefinedBehaviorSanitizer) and
# runs each for SECONDS over a copy of its seed corpus (tests/fuzz/corpus/<target>), JOBS at a time.
# Any crash, hang (-timeout), out-of-memory, leak or sanitizer report fails the run; the input is kept
# in $BUILD_DIR/fuzz-artifacts/<target>/ (replay: $BUILD_DIR/tests/fuzz/fuzz_<target> FILE; add it to
# tests/fuzz/regressions/<target>/ with the fix, or to make_seeds.py's regression() for .gguf/.safetensors). Prints a table: target, executions, corpus, result.
# Usage: scripts/fuzz.sh [SECONDS=20] [TARGET...]   (BUILD_DIR=build-fuzz; RUNS=N also caps executions;
#        KVB_FUZZ_NO_BUILD=1 uses the binaries already built; KVB_FUZZ_SCRATCH=DIR holds the scratch files,
#        default /dev/shm; KVB_FUZZ_PARALLEL=N fuzzes N targets at a time, default JOBS = nproc).
#        docs/reliability.md has the long runs.
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-20}
shift || true
BUILD_DIR=${BUILD_DIR:-build-fuzz}
JOBS=${JOBS:-$(nproc)}
ALL_TARGETS=(gguf safetensors tokenizer_json chat_template sweep_yaml sweep_json dataset_rows duo_pattern minference_pattern results_db)
TARGETS=("$@")
[ ${#TARGETS[@]} -gt 0 ] || TARGETS=("${ALL_TARGETS[@]}")
for t in "${TARGETS[@]}"; do
  [[ " ${ALL_TARGETS[*]} " == *" $t "* ]] || { echo "fuzz: unknown target '$t' (targets: ${ALL_TARGETS[*]})" >&2; exit 2; }
done
command -v clang++ >/dev/null || { echo "fuzz: clang++ not found (apt-get install clang libclang-rt-dev; scripts/setup.sh)" >&2; exit 2; }

if [ "${KVB_FUZZ_NO_BUILD:-0}" != "1" ]; then
  # -O1 keeps the build short; one build folder also serves scripts/sanitize.sh (KVB_BUILD_TESTS=ON).
  CC=clang CXX=clang++ cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_CXX_FLAGS_RELEASE="-O1 -gline-tables-only -DNDEBUG" -DCMAKE_C_FLAGS_RELEASE="-O1" \
    -DKVB_BUILD_TESTS=ON -DKVB_BUILD_BENCH=OFF -DKVB_CUDA=OFF -DKVB_FUZZ=ON -DKVB_SANITIZE=address,undefined >/dev/null
  cmake --build "$BUILD_DIR" -j "$JOBS" --target $(printf 'fuzz_%s ' "${TARGETS[@]}")
fi

export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1:allocator_may_return_null=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
# The targets whose parsers take a path write each input to a scratch file: on a disk that write (and
# its journal) costs more than the parse, so the scratch folder goes on a tmpfs when there is one
# (4.4x more executions per second for duo_pattern, docs/reliability.md). KVB_FUZZ_SCRATCH overrides.
if [ -n "${KVB_FUZZ_SCRATCH:-}" ]; then
  export TMPDIR=$KVB_FUZZ_SCRATCH
elif [ -d /dev/shm ] && [ -w /dev/shm ]; then
  export TMPDIR=/dev/shm
else
  export TMPDIR=${TMPDIR:-/tmp}
fi
# The binary model-format seeds (.gguf, .safetensors) are written here, not committed.
python3 scripts/fuzz/make_seeds.py --binary-only "$BUILD_DIR/fuzz-seeds" >/dev/null
# One target: fuzzes it and writes its table row to $BUILD_DIR/fuzz-<target>.row ("ok" or "FAILED ...").
fuzz_one() {
  local t=$1
  local corpus="$BUILD_DIR/fuzz-corpus/$t" artifacts="$BUILD_DIR/fuzz-artifacts/$t" log="$BUILD_DIR/fuzz-$t.log"
  mkdir -p "$corpus" "$artifacts"
  cp -n tests/fuzz/corpus/"$t"/* "$BUILD_DIR/fuzz-seeds/$t"/* "$corpus"/ 2>/dev/null || true
  # The header of the shared stories260K GGUF (metadata + tensor directory, no weights) as one more gguf
  # seed, cut at run time: the project commits only the seeds it wrote itself.
  local stories=../shared/models/stories260K/stories260K.gguf
  if [ "$t" = gguf ] && [ -f "$stories" ]; then head -c 14176 "$stories" > "$corpus/stories260K_header.gguf"; fi
  local extra=()
  [ -n "${RUNS:-}" ] && extra+=(-runs="$RUNS")
  local rc=0
  "$BUILD_DIR/tests/fuzz/fuzz_$t" "$corpus" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -malloc_limit_mb=1024 -max_len=65536 -artifact_prefix="$artifacts/" -print_final_stats=1 "${extra[@]}" \
    >"$log" 2>&1 || rc=$?
  local execs size result
  # (a crash may end the log before libFuzzer's final stats: no count then, but still this row)
  execs=$(grep -o 'stat::number_of_executed_units: [0-9]*' "$log" | tail -1 | awk '{print $2}' || true)
  size=$(find "$corpus" -type f | wc -l)
  if [ $rc -eq 0 ]; then result=ok; else result="FAILED (exit $rc; $(ls -t "$artifacts" 2>/dev/null | head -1))"; fi
  printf '%-16s %12s %8s %s\n' "$t" "${execs:-?}" "$size" "$result" > "$BUILD_DIR/fuzz-$t.row"
  [ $rc -eq 0 ] || grep -E 'ERROR|SUMMARY|terminate|what\(\)|runtime error' "$log" | head -5 >&2
}

# KVB_FUZZ_PARALLEL targets at a time (default: JOBS; each fuzzer is one process on one core).
PARALLEL=${KVB_FUZZ_PARALLEL:-$JOBS}
running=0
for t in "${TARGETS[@]}"; do
  rm -f "$BUILD_DIR/fuzz-$t.row"
  fuzz_one "$t" &
  running=$((running + 1))
  if [ "$running" -ge "$PARALLEL" ]; then
    wait -n || true
    running=$((running - 1))
  fi
done
wait || true
failed=()
printf '%-16s %12s %8s %s\n' target executions corpus result > "$BUILD_DIR/fuzz-summary.txt"
for t in "${TARGETS[@]}"; do
  row=$(cat "$BUILD_DIR/fuzz-$t.row" 2>/dev/null || printf '%-16s %12s %8s %s' "$t" '?' '?' 'FAILED (no result)')
  echo "$row" | tee -a "$BUILD_DIR/fuzz-summary.txt"
  [[ "$row" == *" ok" ]] || failed+=("$t")
done
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: findings in ${failed[*]} (logs: $BUILD_DIR/fuzz-<target>.log, inputs: $BUILD_DIR/fuzz-artifacts/)" >&2
  exit 1
fi
echo "fuzz: ${#TARGETS[@]} targets, ${SECONDS_PER_TARGET}s each ($PARALLEL at a time), no findings"
