#!/usr/bin/env bash
# Sets up (apt packages, default model), configures, builds and runs the whole test suite with ctest.
# Before ctest, the hardening steps (docs/reliability.md): every fuzz target for KVB_FUZZ_SECONDS (default 15)
# each, two at a time (clang; build-fuzz), then the suite again under AddressSanitizer +
# UndefinedBehaviorSanitizer minus the slow tests scripts/sanitize.sh names (same build folder;
# KVB_SANITIZE_SUITE=0 skips it; its time: docs/reliability.md).
# Usage: scripts/test.sh [extra cmake args...]   (BUILD_DIR=build by default; KVB_SKIP_SETUP=1 skips setup;
#        KVB_SKIP_HARDENING=1 skips the fuzz and sanitizer steps)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${KVB_SKIP_SETUP:-0}" = "1" ] || scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
# KVB_CUDA=AUTO explicitly: scripts/quickstart.sh may have configured the same folder with OFF.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVB_BUILD_TESTS=ON -DKVB_CUDA=AUTO "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
# The hardening steps run before ctest, so that ctest's summary stays the last line (CI counts tests from it).
if [ "${KVB_SKIP_HARDENING:-0}" != "1" ]; then
  start=$(date +%s)
  JOBS=$JOBS scripts/fuzz.sh "${KVB_FUZZ_SECONDS:-15}"
  echo "test: fuzzing took $(($(date +%s) - start)) s (build included)"
  if [ "${KVB_SANITIZE_SUITE:-1}" = "1" ]; then
    start=$(date +%s)
    JOBS=$JOBS scripts/sanitize.sh
    echo "test: the sanitized suite took $(($(date +%s) - start)) s (build included)"
  fi
fi
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 1200
