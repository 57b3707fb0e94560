#!/usr/bin/env bash
# One-call GPU check for a fresh machine with an NVIDIA GPU (no network needed): configures and
# builds kvbench with the CUDA backend in build-gpu/, runs the CUDA tests (every CUDA op against
# the CPU reference, the forward pass and every method's keep sets against the CPU engine), then
# `kvbench bench --backend cuda` (engine throughput and GPU memory), then the attention benchmark
# (decode GB/s vs device copy bandwidth, prefill vs PyTorch SDPA when torch is importable) and
# writes the Markdown report.
# Usage: scripts/gpu-check.sh [--quick]
#   env: BUILD_DIR (build-gpu), OUT_DIR (where gpu-check.md and logs go; default $BUILD_DIR),
#        CUDA_ARCHS (default: the GPU's own, from nvidia-smi; else "80;90"), JOBS (nproc)
# Uses whatever cmake / ninja (or make) / C++ compiler / nvcc exist; fails with a clear message
# when one is missing. Exit status: 0 when everything passed, 1 when a test failed, 2 on setup errors.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 2
ROOT=$(pwd)
BUILD_DIR=${BUILD_DIR:-build-gpu}
OUT_DIR=${OUT_DIR:-$BUILD_DIR}
JOBS=${JOBS:-$(nproc 2>/dev/null || echo 4)}
QUICK=0
[ "${1:-}" = "--quick" ] && QUICK=1
mkdir -p "$BUILD_DIR" "$OUT_DIR"
REPORT="$OUT_DIR/gpu-check.md"

die() { echo "gpu-check: $*" >&2; exit 2; }
section() { echo; echo "==== $* ===="; }

# ---- tools --------------------------------------------------------------------------------------
section "tools"
CMAKE=$(command -v cmake || true)
[ -n "$CMAKE" ] || die "cmake not found on PATH (need >= 3.25; e.g. apt-get install cmake, or pip install cmake)"
CMAKE_VERSION=$("$CMAKE" --version | head -1 | awk '{print $3}')
if [ "$(printf '%s\n3.25\n' "$CMAKE_VERSION" | sort -V | head -1)" != "3.25" ]; then
  die "cmake $CMAKE_VERSION is too old (need >= 3.25)"
fi
if command -v ninja >/dev/null; then GENERATOR=Ninja
elif command -v make >/dev/null; then GENERATOR="Unix Makefiles"
else die "neither ninja nor make found on PATH"; fi
CXX_FOUND=${CXX:-$(command -v c++ || command -v g++ || command -v clang++ || true)}
[ -n "$CXX_FOUND" ] || die "no C++ compiler found (c++, g++ or clang++ on PATH, or set CXX)"
NVCC=$(command -v nvcc || true)
[ -z "$NVCC" ] && [ -x /usr/local/cuda/bin/nvcc ] && NVCC=/usr/local/cuda/bin/nvcc
[ -n "$NVCC" ] || die "nvcc not found (looked on PATH and in /usr/local/cuda/bin); install the CUDA toolkit"
echo "cmake $CMAKE_VERSION ($CMAKE), generator $GENERATOR, C++ $CXX_FOUND, nvcc $("$NVCC" --version | tail -1)"

GPU_PRESENT=0
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,compute_cap,memory.total --format=csv || true
  nvidia-smi -L >/dev/null 2>&1 && GPU_PRESENT=1
else
  echo "nvidia-smi not found: the tests will report whether the CUDA runtime sees a device"
fi
if [ -z "${CUDA_ARCHS:-}" ]; then
  CC=$(nvidia-smi --query-gpu=compute_cap --format=csv,noheader 2>/dev/null | head -1 | tr -d ' .')
  CUDA_ARCHS=${CC:-"80;90"}
fi
echo "CUDA architectures: $CUDA_ARCHS"

# ---- configure and build -------------------------------------------------------------------------
section "configure ($BUILD_DIR)"
CONFIG_ARGS=(-S . -B "$BUILD_DIR" -G "$GENERATOR" -DCMAKE_BUILD_TYPE=Release -DKVB_BUILD_TESTS=ON -DKVB_CUDA=ON
             -DCMAKE_CUDA_COMPILER="$NVCC" -DCMAKE_CUDA_ARCHITECTURES="$CUDA_ARCHS")
[ -n "${CXX:-}" ] && CONFIG_ARGS+=(-DCMAKE_CXX_COMPILER="$CXX")
if ! "$CMAKE" "${CONFIG_ARGS[@]}" >"$OUT_DIR/configure.log" 2>&1; then
  tail -30 "$OUT_DIR/configure.log"
  echo
  echo "gpu-check: configure failed (full log: $OUT_DIR/configure.log)." >&2
  grep -E "Could NOT find|not found|No package" "$OUT_DIR/configure.log" | sed 's/^/  missing: /' >&2
  echo "  kvbench needs: fmt, nlohmann-json, SQLite3, yaml-cpp, OpenMP, OpenBLAS (openmp build), utf8proc," >&2
  echo "  GoogleTest (Debian: scripts/setup.sh lists the apt packages)." >&2
  exit 2
fi
tail -3 "$OUT_DIR/configure.log"
grep -q "CUDA backend ON" "$OUT_DIR/configure.log" || die "configure did not enable the CUDA backend (see $OUT_DIR/configure.log)"

section "build (-j$JOBS)"
START=$(date +%s)
if ! "$CMAKE" --build "$BUILD_DIR" -j "$JOBS" --target kvbench kvb_tests kvb_gpu_attention_bench >"$OUT_DIR/build.log" 2>&1; then
  grep -E "error|Error" "$OUT_DIR/build.log" | head -40
  die "build failed (full log: $OUT_DIR/build.log)"
fi
echo "built in $(( $(date +%s) - START )) s"
grep -E "warning" "$OUT_DIR/build.log" | grep -E "backends/cuda|test_cuda_ops|gpu_attention_bench" | head -20

# ---- tests ---------------------------------------------------------------------------------------
section "CUDA tests"
TEST_STATUS=0
"$BUILD_DIR/tests/kvb_tests" --gtest_filter='Cuda*:*/CudaMethods.*:Backends.*' 2>&1 | tee "$OUT_DIR/cuda-tests.log"
[ "${PIPESTATUS[0]}" -eq 0 ] || TEST_STATUS=1
if grep -q "no CUDA device" "$OUT_DIR/cuda-tests.log"; then
  if [ "$GPU_PRESENT" = 1 ]; then
    echo "gpu-check: nvidia-smi lists a GPU but the tests skipped (see the reason above)" >&2
    TEST_STATUS=1
  else
    echo "gpu-check: no usable CUDA device; the tests skipped and the benchmark cannot run" >&2
    exit 2
  fi
fi

# ---- engine ---------------------------------------------------------------------------------------
section "engine (kvbench bench --backend cuda)"
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -f "$MODEL" ] || MODEL=../shared/models/stories260K/stories260K.gguf
[ -f "$MODEL" ] || MODEL=""
ENGINE_STATUS=0
: >"$OUT_DIR/engine.md"
if [ -n "$MODEL" ]; then
  for DT in bf16 f32; do
    echo "### $MODEL, --device-dtype $DT" | tee -a "$OUT_DIR/engine.md"
    "$BUILD_DIR/kvbench" bench --model "$MODEL" --backend cuda --device-dtype "$DT" --prefill 512,2048,8192 \
      --repeats 3 --decode-context 2048 --decode-tokens 64 2>&1 | tee -a "$OUT_DIR/engine.md"
    [ "${PIPESTATUS[0]}" -eq 0 ] || ENGINE_STATUS=1
  done
else
  echo "no model found (run scripts/setup.sh for SmolLM2): engine benchmark skipped" | tee "$OUT_DIR/engine.md"
fi

# ---- benchmark -----------------------------------------------------------------------------------
section "benchmark"
if [ "$QUICK" = 1 ]; then
  PREFILL=8192; BENCH_ARGS=(--tokens 8192 --prefill-tokens 8192 --reps 5)
else
  PREFILL=8192,32768,131072; BENCH_ARGS=()
fi
SDPA="$OUT_DIR/sdpa.txt"
if command -v python3 >/dev/null; then
  python3 scripts/bench/sdpa_bench.py "$SDPA" "$PREFILL" || echo "# sdpa_bench.py failed" >"$SDPA"
else
  echo "# python3 not found" >"$SDPA"
  echo "python3 not found: no PyTorch SDPA column"
fi
"$BUILD_DIR/kvb_gpu_attention_bench" --sdpa "$SDPA" "${BENCH_ARGS[@]}" 2>&1 | tee "$OUT_DIR/bench.md"
BENCH_STATUS=${PIPESTATUS[0]}
{
  echo "# kvbench gpu-check $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)"
  echo
  echo "CUDA tests: $(grep -E '^\[  (PASSED|FAILED) ' "$OUT_DIR/cuda-tests.log" | tr '\n' ' ')"
  echo
  echo "## Engine"
  echo
  cat "$OUT_DIR/engine.md"
  echo
  echo "## Attention kernels"
  echo
  cat "$OUT_DIR/bench.md"
  echo
  echo "SDPA source: $(head -1 "$SDPA")"
} >"$REPORT"
section "done"
echo "report: $REPORT; logs: $OUT_DIR/{configure,build,cuda-tests}.log"
[ "$TEST_STATUS" = 0 ] || { echo "gpu-check: CUDA tests FAILED" >&2; exit 1; }
[ "$ENGINE_STATUS" = 0 ] || { echo "gpu-check: kvbench bench --backend cuda failed" >&2; exit 1; }
[ "$BENCH_STATUS" = 0 ] || { echo "gpu-check: benchmark failed (status $BENCH_STATUS)" >&2; exit 1; }
exit 0
