"""A paper grid (methods x ratios) on the same cases through kvbench with shared prefill, kvbench
one row at a time (--no-shared-prefill) and NVIDIA kvpress (a benchmark, not a test).

kvbench exports its niah_single cases (2K tokens, SmolLM2 chat prompts) as kvpress dataset rows;
kvbench runs them with task kvpress_jsonl, every method x ratio in one `kvbench eval` process (model
load included in its wall time), once with shared prefill (one prefill per case for the whole grid)
and once with --no-shared-prefill; kvpress 0.5.5 (PyTorch CPU, transformers loading the same GGUF
dequantized to fp32, model load counted once) runs each press at each ratio on the same rows. Prints
accuracy (string_match_all) per configuration, per-case agreement with kvpress and between the two
kvbench runs, and the wall times. Usage (kvpress needs transformers < 5.3):
  ~/.venvs/kvpress/bin/python scripts/bench/grid_vs_kvpress.py --kvbench build/kvbench --n 20 --threads 2
"""
import argparse
import json
import os
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TQDM_DISABLE", "1")  # transformers' GGUF loading bars
os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from kvpress_rows import export_rows, kvpress_pipeline, match_all  # noqa: E402

# kvbench id -> (kvpress press class, its ratio argument); default parameters on both sides. Not in
# the default grid: pyramidkv (kvpress 0.5.5's PyramidKVPress failed on these 2K rows with transformers
# 5.2.0: "The size of tensor a (1822) must match the size of tensor b (1850)" in SDPA while decoding).
PRESSES = {
    "snapkv": ("SnapKVPress", "compression_ratio"),
    "pyramidkv": ("PyramidKVPress", "compression_ratio"),
    "streaming_llm": ("StreamingLLMPress", "compression_ratio"),
    "knorm": ("KnormPress", "compression_ratio"),
    "expected_attention": ("ExpectedAttentionPress", "compression_ratio"),
    "tova": ("TOVAPress", "compression_ratio"),
    "think": ("ThinKPress", "key_channel_compression_ratio"),
}
DEFAULT_METHODS = ["snapkv", "streaming_llm", "knorm", "expected_attention", "tova", "think"]

ap = argparse.ArgumentParser()
ap.add_argument("--kvbench", default="build/kvbench")
ap.add_argument("--model", default="models/SmolLM2-135M-Instruct.Q4_1.gguf")
ap.add_argument("--n", type=int, default=20)
ap.add_argument("--length", type=int, default=2048)
ap.add_argument("--threads", type=int, default=2)
ap.add_argument("--ratios", type=float, nargs="+", default=[0.25, 0.5, 0.75])
ap.add_argument("--methods", choices=sorted(PRESSES), nargs="+", default=DEFAULT_METHODS)
ap.add_argument("--matmul", choices=["f32", "int8"], default="int8")
ap.add_argument("--skip-kvpress", action="store_true", help="kvbench only (no agreement or kvpress times)")
args = ap.parse_args()

work = tempfile.mkdtemp(prefix="grid_vs_kvpress_")
rows_path, rows = export_rows(args.kvbench, args.model, args.length, args.n, work)
grid = [(m, r) for m in args.methods for r in args.ratios]


def run_kvbench(shared):
    out = os.path.join(work, f"kvbench_{'shared' if shared else 'alone'}.json")
    cmd = [args.kvbench, "eval", "-q", "-t", str(args.threads), "--model", args.model, "--task", "kvpress_jsonl",
           "--param", f"file={rows_path}", "--method", ",".join(args.methods), "--ratio",
           ",".join(str(r) for r in args.ratios), "--matmul", args.matmul, "--json", out]
    if not shared:
        cmd.append("--no-shared-prefill")
    t0 = time.monotonic()
    printed = subprocess.run(cmd, check=True, capture_output=True, text=True).stdout
    wall = time.monotonic() - t0
    print(printed.strip().splitlines()[-1], flush=True)
    per_config = {}
    for c in json.load(open(out))["configs"]:
        per_config[(c["method"], c["compression_ratio"])] = {x["case_id"]: x["score"] for x in c["cases"]}
    return per_config, wall


shared, shared_wall = run_kvbench(True)
print(f"kvbench shared prefill: {shared_wall:.1f} s", flush=True)
alone, alone_wall = run_kvbench(False)
print(f"kvbench one by one: {alone_wall:.1f} s", flush=True)

kvpress, kvpress_wall = {}, None
if not args.skip_kvpress:
    import kvpress as kp  # noqa: E402
    import torch  # noqa: E402

    t0 = time.monotonic()
    pipe, _ = kvpress_pipeline(args.model, args.threads)  # its load counts in kvpress's wall time
    for name, ratio in grid:
        press_class, ratio_arg = PRESSES[name]
        press = getattr(kp, press_class)(**{ratio_arg: ratio})
        scores = {}
        with torch.no_grad():
            for i, r in enumerate(rows):  # kvbench's case ids for these rows: kvpress_jsonl/<row index>
                pred = pipe(r["context"], question=r["question"], answer_prefix=r["answer_prefix"], press=press,
                            max_new_tokens=r["max_new_tokens"])["answer"]
                scores[f"kvpress_jsonl/{i}"] = match_all(pred, r["answer"])
        kvpress[(name, ratio)] = scores
        print(f"kvpress {name} {ratio}: {sum(scores.values()) / len(scores):.1f} "
              f"({time.monotonic() - t0:.0f} s so far)", flush=True)
    kvpress_wall = time.monotonic() - t0

print(f"\n{len(rows)} niah_single cases at {args.length} tokens, {len(grid)} configurations, "
      f"--matmul {args.matmul}, {args.threads} threads\n")
print("| method | ratio | kvbench shared | kvbench one by one | kvpress | shared = one by one | shared = kvpress |")
print("| --- | --- | --- | --- | --- | --- | --- |")
total_same_alone = total_same_kvpress = 0
for key in grid:
    s, a = shared[key], alone[key]
    same_alone = sum(s[c] == a[c] for c in s)
    total_same_alone += same_alone
    mean = lambda d: sum(d.values()) / len(d)  # noqa: E731
    if kvpress:
        p = kvpress[key]
        same_kvpress = sum(s[c] == p[c] for c in s)
        total_same_kvpress += same_kvpress
        kp_cols = f"{mean(p):.1f} | {same_alone}/{len(s)} | {same_kvpress}/{len(s)}"
    else:
        kp_cols = f"- | {same_alone}/{len(s)} | -"
    print(f"| {key[0]} | {key[1]} | {mean(s):.1f} | {mean(a):.1f} | {kp_cols} |")
n_rows = len(grid) * len(rows)
print(f"\nrows: {n_rows}; shared = one by one on {total_same_alone}/{n_rows}"
      + (f"; shared = kvpress on {total_same_kvpress}/{n_rows}" if kvpress else ""))
print(f"wall: kvbench shared {shared_wall:.1f} s | kvbench one by one {alone_wall:.1f} s "
      f"({alone_wall / shared_wall:.2f}x)" +
      (f" | kvpress {kvpress_wall:.1f} s ({kvpress_wall / shared_wall:.2f}x)" if kvpress_wall else ""))
