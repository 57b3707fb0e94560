#!/usr/bin/env bash
# Sets up (apt packages, default model), configures, builds and runs the whole test suite with ctest.
# Usage: scripts/test.sh [extra cmake args...]   (BUILD_DIR=build by default; KVB_SKIP_SETUP=1 skips setup)
set -euo pipefail
cd "$(dirname "$0")/.."
[ "${KVB_SKIP_SETUP:-0}" = "1" ] || scripts/setup.sh
BUILD_DIR=${BUILD_DIR:-build}
JOBS=${JOBS:-$(nproc)}
# KVB_CUDA=AUTO explicitly: scripts/quickstart.sh may have configured the same folder with OFF.
cmake -S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVB_BUILD_TESTS=ON -DKVB_CUDA=AUTO "$@"
cmake --build "$BUILD_DIR" -j "$JOBS"
cd "$BUILD_DIR"
ctest --output-on-failure -j "$JOBS" --timeout 1200
