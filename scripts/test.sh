#!/usr/bin/env bash
# Sets up (apt packages, default model), configures, builds and runs the whole test suite with ctest.
# Then the hardening steps (docs/reliability.md): the suite again under AddressSanitizer + UndefinedBehavior-
# Sanitizer minus the slow tests scripts/sanitize.sh names, and every fuzz target for KVB_FUZZ_SECONDS
# (default 15) each; both share one clang build folder (build-fuzz).
# Usage: scripts/test.sh [extra cmake args...]   (BUILD_DIR=build by default; KVB_SKIP_SETUP=1 skips setup;
#        KVB_SKIP_HARDENING=1 skips the sanitizer and fuzz steps)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${KVB_SKIP_SETUP:-0}" = "1" ] || scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
# KVB_CUDA=AUTO explicitly: scripts/quickstart.sh may have configured the same folder with OFF.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVB_BUILD_TESTS=ON -DKVB_CUDA=AUTO "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
(cd "$BUILD_DIR" && ctest --output-on-failure -j "$JOBS" --timeout 1200)
if [ "${KVB_SKIP_HARDENING:-0}" != "1" ]; then
  start=$(date +%s)
  JOBS=$JOBS scripts/sanitize.sh
  mid=$(date +%s)
  JOBS=$JOBS scripts/fuzz.sh "${KVB_FUZZ_SECONDS:-15}"
  echo "test: sanitizer suite $((mid - start)) s, fuzzing $(($(date +%s) - mid)) s (build included)"
fi
