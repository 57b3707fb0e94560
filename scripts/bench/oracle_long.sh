#!/usr/bin/env bash
# The recall oracle with full attention at 16K and 32K tokens (the 1K/4K half of this check is the
# test OracleLengths/OracleTasksAtLength): NIAH single at depths 0, 50, 100% and 4 random ones,
# multikey (3 distractor needles), multiquery with 40 keys at the 40 depth levels 0, 2.6, .., 100% of
# one context, and MQAR with 64 pairs. Every line must read 100% (the issue asks >= 99%); docs/oracle.md
# quotes a run. MQAR (Zoology) needs vocab_size > seq_len and <= 32768: it runs on
# builtin:oracle?vocab=32768 with seq_len min(L, 32766).
# Run: scripts/bench/oracle_long.sh [path/to/kvbench] [lengths...]   (default build/kvbench, 16384 32768)
# About 5 minutes on a 2-core x86 CPU (a 32K prefill is ~20 s of attention on this 2-layer model).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
KVBENCH="${1:-$ROOT/build/kvbench}"
shift || true
LENGTHS=("$@")
[ ${#LENGTHS[@]} -gt 0 ] || LENGTHS=(16384 32768)
[ -x "$KVBENCH" ] || { echo "oracle_long: $KVBENCH is not an executable (build kvbench first)" >&2; exit 2; }

check() { "$KVBENCH" -q oracle-check --threads 0 "$@"; }
for L in "${LENGTHS[@]}"; do
  for depth in 0 50 100; do check --task niah_single --length "$L" --n 1 --param depth=$depth; done
  check --task niah_single --length "$L" --n 4                    # depths drawn from 0, 2.6, .., 100%
  check --task niah_multikey --length "$L" --n 2
  check --task niah_multiquery --length "$L" --n 1 --param num_queries=40
  check --task mqar --model 'builtin:oracle?vocab=32768' --length $((L < 32767 ? L : 32766)) --n 1 \
    --param vocab_size=32768 --param num_kv_pairs=64
done
