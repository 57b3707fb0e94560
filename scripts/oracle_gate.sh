#!/usr/bin/env bash
# kvbench gates its own CI with itself: runs configs/oracle_quick.yaml on the built-in recall oracle
# into a fresh database and gates it against the committed baseline tests/baselines/oracle_quick.json
# (scores only: timings from other machines mean nothing). Any method that retrieves significantly
# worse than the baseline fails. Registered as a ctest test (tests/CMakeLists.txt).
# Usage: scripts/oracle_gate.sh KVBENCH_BINARY OUT_DIR
# After an intended change of results: build/kvbench baseline OUT_DIR/oracle_quick.db -o tests/baselines/oracle_quick.json
set -euo pipefail
cd "$(dirname "$0")/.."
KVBENCH=${1:?usage: scripts/oracle_gate.sh KVBENCH_BINARY OUT_DIR}
OUT=${2:?usage: scripts/oracle_gate.sh KVBENCH_BINARY OUT_DIR}
mkdir -p "$OUT"
rm -f "$OUT"/oracle_quick.db "$OUT"/oracle_quick.db-wal "$OUT"/oracle_quick.db-shm
"$KVBENCH" sweep configs/oracle_quick.yaml --db "$OUT/oracle_quick.db" --progress-interval 30
"$KVBENCH" gate --no-latency --baseline tests/baselines/oracle_quick.json --candidate "$OUT/oracle_quick.db" \
  --junit "$OUT/oracle_gate.xml" --markdown "$OUT/oracle_gate.md"
