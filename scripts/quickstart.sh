#!/usr/bin/env bash
# The main job on a fresh machine: set up (apt packages + default model), build kvbench, and run the
# quickstart sweep (configs/quickstart.yaml: SmolLM2-135M-Instruct, full + 6 compression methods x 3
# ratios x both modes on the needle heatmap at 1K and 2K tokens, one shared prefill per case) into
# results/results.db, then write results/report.html. Resumes if interrupted; under 10 minutes on 2
# cores. If the default model could not be downloaded, it runs configs/oracle_quick.yaml on the
# built-in recall oracle instead (no download, about a minute). Without a GPU the CUDA backend is
# not built (scripts/test.sh builds it wherever nvcc is installed).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup.sh
CUDA=AUTO
nvidia-smi -L >/dev/null 2>&1 || CUDA=OFF
cmake -S . -B build -G Ninja -DCMAKE_BUILD_TYPE=Release -DKVB_BUILD_TESTS=OFF -DKVB_CUDA="$CUDA" >/dev/null
cmake --build build -j "$(nproc)" --target kvbench
mkdir -p results
MODEL=models/SmolLM2-135M-Instruct.Q4_1.gguf
if [ -s "$MODEL" ]; then
  build/kvbench generate --model "$MODEL" --prompt "What is the capital of France?" --max-new-tokens 32
  build/kvbench bench --model "$MODEL" --prefill 512,2048 --decode-context 2048 --decode-tokens 32 \
    --json results/bench.json
  echo "quickstart: wrote results/bench.json"
  CONFIG=configs/quickstart.yaml
  DB=results/results.db
else
  echo "quickstart: $MODEL is missing (the download failed; see scripts/setup.sh)." >&2
  echo "quickstart: running the built-in recall oracle instead (configs/oracle_quick.yaml, no download)." >&2
  CONFIG=configs/oracle_quick.yaml
  DB=results/oracle.db
fi
build/kvbench sweep "$CONFIG" --db "$DB"
build/kvbench inspect "$DB"
build/kvbench table "$DB" --rows method --cols task --ci
build/kvbench report "$DB" -o results/report.html
echo "quickstart: wrote $DB and results/report.html (open it in a browser; kvbench table / gate / export $DB)"
