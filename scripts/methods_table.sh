#!/usr/bin/env bash
# Every method on SmolLM2-135M-Instruct (methods/README.md "Every method on SmolLM2"): calibrates the
# artifacts the methods with calibration need (duo_attention's head pattern, loki's PCA basis, act's
# head list; minference runs the paper's default pattern) into results/methods_table/, runs
# configs/methods_smollm2.yaml (niah_single and vt at 2K/4K, 20 cases, ratios 0.5/0.75, query-agnostic)
# into results/methods_table/methods.db (resumed if present) and prints the score table.
# Usage: scripts/methods_table.sh [KVBENCH_BINARY]   (needs scripts/setup.sh's model download; CONFIG=FILE
# runs another config into the same database, e.g. one with fewer cases: its rows are the first cases of this one)
set -euo pipefail
cd "$(dirname "$0")/.."
KVBENCH=${1:-build/kvbench}
MODEL=SmolLM2-135M-Instruct.Q4_1
OUT=results/methods_table
mkdir -p "$OUT"
calibrate() {  # calibrate SUBCOMMAND ARTIFACT [ARGS...]: skipped when the artifact exists
  local sub=$1 artifact=$2
  shift 2
  if [[ -e "$artifact" ]]; then
    echo "calibrate $sub: $artifact exists, kept"
  elif "$KVBENCH" calibrate --help 2>/dev/null | grep -q "^  $sub "; then
    "$KVBENCH" calibrate "$sub" -m "$MODEL" --out "$artifact" "$@"
  fi
}
calibrate duo "$OUT/duo" -t 2
calibrate loki "$OUT/loki_basis.bin" -t 2
calibrate act "$OUT/act_heads.txt" -t 2
"$KVBENCH" sweep "${CONFIG:-configs/methods_smollm2.yaml}" --db "$OUT/methods.db" --progress-interval 60
for task in niah_single vt; do
  for ratio in 0.5 0.75; do
    echo "== $task, compression ratio $ratio: score (%) by method and length"
    "$KVBENCH" table "$OUT/methods.db" --rows method --cols length --filter task="$task" --ratio "$ratio" --ci
  done
done
