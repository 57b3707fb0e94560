#!/usr/bin/env bash
# The main job on a fresh machine: set up (apt packages + default model), build kvbench, and run
# the default model: a generation, a throughput benchmark, and the quickstart sweep
# (configs/quickstart.yaml) into results/results.db (resumes if interrupted; under 10 minutes on 2 cores).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVB_BUILD_TESTS=OFF >/dev/null
cmake --build build -j "$(nproc)" --target kvbench
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
[ -s "$MODEL" ] || { echo "quickstart: $MODEL is missing (download failed); see scripts/setup.sh" >&2; exit 2; }
mkdir -p results
build/kvbench generate --model "$MODEL" --prompt "What is the capital of France?" --max-new-tokens 32
build/kvbench bench --model "$MODEL" --prefill 512,2048 --decode-context 2048 --decode-tokens 32 \
  --json results/bench.json
echo "quickstart: wrote results/bench.json"
build/kvbench sweep configs/quickstart.yaml --db results/results.db
build/kvbench inspect results/results.db
echo "quickstart: wrote results/results.db (kvbench inspect / export results/results.db)"
