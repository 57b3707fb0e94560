"""kvbench vs NVIDIA kvpress on the same cases (a benchmark, not a test).

Exports kvbench's niah_single cases (2K tokens) as kvpress dataset rows, runs kvpress 0.5.5 (PyTorch
CPU, transformers loading the same SmolLM2 GGUF, dequantized to fp32) with no press, SnapKV and
StreamingLLM at ratio 0.5, runs kvbench on the same rows (task kvpress_jsonl), and prints accuracy
(string_match_all) and wall time of both. Usage (kvpress needs transformers < 5.3):
  ~/.venvs/kvpress/bin/python scripts/bench/vs_kvpress.py --kvbench build/kvbench --n 50 --threads 2
kvbench runs once per `--matmul` mode (default both): f32 is its float32 reference path, int8 its
opt-in integer prefill projections (Q4_1 weights x int8 activations, as llama.cpp computes them).
The last column counts the cases on which both engines score the same. `--methods full` (etc.)
runs a subset. `--hf-model DIR` (a float32 Hugging Face folder, e.g. from gguf_to_hf_f32.py) makes
both engines load that folder instead of the GGUF: the same fp32 weights on both sides.
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvpress_rows import export_rows, kvpress_pipeline, match_all  # noqa: E402

ap = argparse.ArgumentParser()
ap.add_argument("--kvbench", default="build/kvbench")
ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
ap.add_argument("--hf-model", help="a Hugging Face folder both engines load instead of --model")
ap.add_argument("--n", type=int, default=50)
ap.add_argument("--length", type=int, default=2048)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--ratio", type=float, default=0.5)
ap.add_argument("--matmul", choices=["f32", "int8"], nargs="+", default=["f32", "int8"])
ap.add_argument("--methods", choices=["full", "snapkv", "streaming_llm"], nargs="+",
                default=["full", "snapkv", "streaming_llm"])
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="vs_kvpress_")
rows_path, rows = export_rows(args.kvbench, args.model, args.length, args.n, work)

methods = [(m, None if m == "full" else args.ratio) for m in args.methods]
results = {}
per_case = {}
# kvbench: one process per method, model load included in the wall time.
for mm in args.matmul:
    for name, ratio in methods:
        out = os.path.join(work, f"kvbench_{name}_{mm}.json")
        cmd = [args.kvbench, "eval", "-q", "-t", str(args.threads), "--model", args.hf_model or args.model,
               "--task", "kvpress_jsonl",
               "--param", f"file={rows_path}", "--method", name, "--matmul", mm, "--json", out]
        if ratio is not None:
            cmd += ["--ratio", str(ratio)]
        t0 = time.monotonic()
        subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
        wall = time.monotonic() - t0
        cases = json.load(open(out))["cases"]
        results[(name, mm)] = (sum(c["score"] for c in cases) / len(cases), wall)
        per_case[(name, mm)] = [c["score"] for c in cases]
        print(f"kvbench {name} --matmul {mm}: {results[(name, mm)]}", flush=True)

import torch  # noqa: E402
from kvpress import SnapKVPress, StreamingLLMPress  # noqa: E402

pipe, load = kvpress_pipeline(args.hf_model or args.model, args.threads)
for name, ratio in methods:
    press = None if ratio is None else (SnapKVPress if name == "snapkv" else StreamingLLMPress)(compression_ratio=ratio)
    t0 = time.monotonic()
    scores = []
    with torch.no_grad():
        for r in rows:
            pred = pipe(r["context"], question=r["question"], answer_prefix=r["answer_prefix"], press=press,
                        max_new_tokens=r["max_new_tokens"])["answer"]
            scores.append(match_all(pred, r["answer"]))
    wall = time.monotonic() - t0 + load  # model load counted once per method, as for kvbench
    results[(name, "kvpress")] = (sum(scores) / len(scores), wall)
    per_case[(name, "kvpress")] = scores
    print(f"kvpress {name}: {results[(name, 'kvpress')]}", flush=True)

print(f"\n{len(rows)} niah_single cases at {args.length} tokens, ratio {args.ratio}, {args.threads} threads, "
      f"weights {args.hf_model or args.model}, KVB_SIMD={os.environ.get('KVB_SIMD', '')}\n")
print("| method | kvbench matmul | kvbench accuracy | kvpress accuracy | kvbench wall s | kvpress wall s | speedup "
      "| same score |")
print("| --- | --- | --- | --- | --- | --- | --- | --- |")
for name, _ in methods:
    for mm in args.matmul:
        ka, kw = results[(name, mm)]
        pa, pw = results[(name, "kvpress")]
        same = sum(a == b for a, b in zip(per_case[(name, mm)], per_case[(name, "kvpress")]))
        print(f"| {name} | {mm} | {ka:.1f} | {pa:.1f} | {kw:.1f} | {pw:.1f} | {pw / kw:.2f}x | {same}/{len(rows)} |")
