#!/usr/bin/env bash
# Prints docs/tasks.md's "Examples" section: one `kvbench show-case` per task (small lengths, the
# SmolLM2 tokenizer; the symbolic forms on builtin:oracle). Regenerate after a task's output changes:
#   scripts/task_examples.sh build/kvbench > /tmp/examples.md   (then replace the section in docs/tasks.md)
set -euo pipefail
KVB=${1:-build/kvbench}
MODEL=${MODEL:-models/SmolLM2-135M-Instruct.Q4_1.gguf}
G=tests/golden/tasks
example() {  # title, then show-case arguments
  local title=$1
  shift
  echo "<details><summary><code>$title</code></summary>"
  echo
  echo '```'
  echo "\$ kvbench show-case $*"
  "$KVB" show-case "$@" 2>&1
  echo '```'
  echo
  echo "</details>"
  echo
}
example niah_single niah_single --param length=300 --model "$MODEL"
example niah_multikey niah_multikey --param length=400 --model "$MODEL"
example niah_multivalue niah_multivalue --param length=400 --model "$MODEL"
example niah_multiquery niah_multiquery --param length=400 --model "$MODEL"
example niah_grid niah_grid --param lengths=300 --param num_depths=2 --model "$MODEL"
example vt vt --param length=700 --model "$MODEL"
example cwe cwe --param length=1000 --model "$MODEL"
example fwe fwe --param length=400 --model "$MODEL"
example qa qa --param length=600 --model "$MODEL"
example summarization summarization --param length=900 --model "$MODEL"
example longbench longbench --param file=$G/longbench.jsonl --model "$MODEL"
example ruler_jsonl ruler_jsonl --param file=$G/ruler_jsonl.jsonl --model "$MODEL"
example kvpress_jsonl kvpress_jsonl --param file=$G/kvpress_jsonl.jsonl --model "$MODEL"
example mqar mqar --param num_kv_pairs=4 --model "$MODEL"
example "needle_threading (single)" needle_threading --param length=700 --param thread_length=2 --model "$MODEL"
example "needle_threading (branched)" needle_threading --param length=1000 --param thread_type=branched \
  --param thread_length=2 --model "$MODEL"
example perplexity perplexity --param length=120 --param continuation=24 --model "$MODEL"
example "niah_single on builtin:oracle (form=symbolic by itself)" niah_single --param length=48 --model builtin:oracle
example "needle_threading on builtin:oracle (form=symbolic by itself)" needle_threading --param length=80 \
  --param thread_length=2 --model builtin:oracle
example "mqar on builtin:oracle (form=symbolic by itself)" mqar --param seq_len=24 --param num_kv_pairs=4 \
  --model builtin:oracle
