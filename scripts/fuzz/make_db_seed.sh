#!/usr/bin/env bash
# Writes the results_db fuzz seeds (tests/fuzz/corpus/results_db/): a real two-configuration sweep of
# the built-in oracle, stored by kvbench, then rewritten with 512-byte pages and no WAL so the file is
# a few KB. Usage: scripts/fuzz/make_db_seed.sh [path to kvbench, default build/kvbench]
set -euo pipefail
cd "$(dirname "$0")/../.."
KVBENCH=${1:-build/kvbench}
OUT=tests/fuzz/corpus/results_db
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$OUT"
cat > "$tmp/sweep.yaml" <<'YAML'
name: fuzz-seed
models: ['builtin:oracle']
methods: [full, streaming_llm]
budgets: {ratios: [0.5]}
tasks:
  - {id: niah_single, params: {form: symbolic}}
lengths: [128]
cases: 2
engine: {threads: 1}
YAML
"$KVBENCH" sweep "$tmp/sweep.yaml" --db "$tmp/sweep.db" -q
python3 - "$tmp/sweep.db" "$OUT" <<'PY'
import shutil, sqlite3, sys
src, out = sys.argv[1], sys.argv[2]
def small(path):
    c = sqlite3.connect(path)
    c.execute("PRAGMA journal_mode=DELETE")
    c.execute("PRAGMA page_size=512")
    c.execute("VACUUM")
    c.close()
small(src)
shutil.copy(src, f"{out}/sweep.db")
# The same with one error row (the report's error table) and one skipped row.
c = sqlite3.connect(src)
c.execute("UPDATE samples SET status='error', reason='boom', score=NULL WHERE rowid = (SELECT min(rowid) FROM samples)")
c.execute("UPDATE samples SET status='skipped', reason='not supported', score=NULL WHERE rowid = (SELECT max(rowid) FROM samples)")
c.commit(); c.close()
small(src)
shutil.copy(src, f"{out}/sweep_error_rows.db")
PY
ls -la "$OUT"
