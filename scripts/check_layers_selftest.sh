#!/usr/bin/env bash
# Shows that scripts/check_layers.py can fail: copies the layered folders into a temporary tree,
# adds one upward include (kv -> eval), and expects exit 1 naming it; the real tree must pass.
# Usage: scripts/check_layers_selftest.sh   (ctest: LayerOrderCheckerCatchesAnUpwardInclude)
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
cp -r "$root/harness" "$root/methods" "$root/tasks" "$root/datasets" "$root/reports" "$tmp/"
echo '#include "eval/task.h"' >> "$tmp/harness/kv/kv_cache.h"
if out=$(python3 "$root/scripts/check_layers.py" "$tmp"); then
  echo "FAIL: the checker accepted kv/kv_cache.h including eval/task.h"; exit 1
fi
echo "$out"
grep -q "harness/kv/kv_cache.h:[0-9]*: kv includes eval/task.h from the higher layer eval" <<<"$out" ||
  { echo "FAIL: the violation is not named"; exit 1; }
echo "ok: the upward include was caught"
