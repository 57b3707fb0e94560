#!/usr/bin/env bash
# Builds the CPU harness and tests with AddressSanitizer + UndefinedBehaviorSanitizer in a separate
# build folder and runs the tests that touch cache storage directly: KV cache row views, KIVI packing,
# every method's contract, compositions (quest+kivi, decoding+kivi, ...), the compression protocol and
# shared prefill (copies of one recorded prefill per method), batched decoding and the int8 kernels.
# Usage: scripts/sanitize.sh [gtest filter]   (BUILD_DIR=build-asan by default)
# Any sanitizer report fails the run (halt_on_error), so the exit code is the verdict.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD_DIR=${BUILD_DIR:-build-asan}
JOBS=${JOBS:-$(nproc)}
FILTER=${1:-'KVCache*:Kivi*:Quest*:*MethodContract*:MethodProtection*:MethodRegistry*:MethodRoles*:MethodComposition*:MethodSchedule*:Engine*:SharedPrefill*:BatchedDecode*:Int8Gemm*'}
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DKVB_BUILD_TESTS=ON -DKVB_BUILD_BENCH=OFF \
  -DKVB_CUDA=OFF -DKVB_SANITIZE=address,undefined >/dev/null
cmake --build "$BUILD_DIR" -j "$JOBS" --target kvb_tests
export ASAN_OPTIONS=halt_on_error=1:detect_leaks=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1
"$BUILD_DIR/tests/kvb_tests" --gtest_filter="$FILTER" --gtest_brief=1
echo "sanitize: no AddressSanitizer or UndefinedBehaviorSanitizer report for: $FILTER"
