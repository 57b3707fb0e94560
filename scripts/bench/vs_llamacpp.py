#!/usr/bin/env python3
"""CPU throughput of llama.cpp (llama-cpp-python's bundled build) on a GGUF: prefill tokens/s and decode tokens/s.
Follows llama.cpp's llama-bench (pp = one prompt of N random non-special tokens, tg = greedy decode after a context;
warm-up run first, mean and stddev over repetitions). Run: ~/.venvs/parity/bin/python scripts/bench/vs_llamacpp.py
  --model models/SmolLM2-135M-Instruct.Q4_1.gguf --json out.json   (or --compare kvbench.json llamacpp.json, --show x.json)

JSON written by --json, and expected from `kvbench bench --json` by --compare (extra keys are ignored):
  {"engine": "llama.cpp", "prefill_tps": {"512": float, "2048": float, "8192": float},
   "decode_tps": {"2048": float}, ...}   keys are the prompt length / the context length before decoding.
"""
import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PREFILL_LENGTHS = [512, 2048, 8192]
DECODE_CONTEXT = 2048
DECODE_TOKENS = 64
PROMPT_SEED = 1234


def cpu_name():
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def random_prompt(llama_cpp, llm, n, seed):
    """n token ids drawn uniformly (fixed seed) from the vocabulary, skipping control / end-of-generation tokens."""
    import numpy as np
    vocab = llm._model.vocab
    special = llama_cpp.LLAMA_TOKEN_ATTR_CONTROL | llama_cpp.LLAMA_TOKEN_ATTR_USER_DEFINED | llama_cpp.LLAMA_TOKEN_ATTR_UNKNOWN
    ok = [t for t in range(llm.n_vocab())
          if not (llama_cpp.llama_vocab_get_attr(vocab, t) & special) and not llama_cpp.llama_vocab_is_eog(vocab, t)]
    rng = np.random.default_rng(seed)
    return [int(t) for t in rng.choice(np.array(ok), size=n, replace=True)]


def clear(llm):
    """Empty the KV cache: llm.eval() removes every cached position >= n_tokens, which reset() sets to 0."""
    llm.reset()


def bench_llamacpp(args):
    import llama_cpp
    import numpy as np
    from llama_cpp import Llama

    load_before = os.getloadavg()
    if load_before[0] > 0.5:
        print(f"warning: load average {load_before[0]:.2f} before the run; other processes will skew the timings",
              file=sys.stderr)
    n_ctx = max(args.prefill + [args.decode_context + args.decode_tokens])
    llm = Llama(model_path=args.model, n_threads=args.threads, n_threads_batch=args.threads, n_ctx=n_ctx,
                n_batch=args.n_batch, n_ubatch=args.n_ubatch, seed=0, logits_all=False, verbose=False)

    loads = []                          # 1-minute load average at the start of every timed run

    def prefill_once(tokens):
        clear(llm)
        loads.append(round(os.getloadavg()[0], 2))
        t0 = time.perf_counter()
        llm.eval(tokens)               # n_batch-sized llama_decode calls, logits for the last token only
        return time.perf_counter() - t0

    results = {"prefill": {}, "decode": {}}
    prefill_once(random_prompt(llama_cpp, llm, 32, PROMPT_SEED))          # warm-up (like llama-bench)
    for n in args.prefill:
        tokens = random_prompt(llama_cpp, llm, n, PROMPT_SEED + n)
        loads.clear()
        times = [prefill_once(tokens) for _ in range(args.reps)]
        tps = [n / t for t in times]
        results["prefill"][str(n)] = {"tokens": n, "seconds": times, "loadavg_at_start": list(loads),
                                      "tps_mean": statistics.mean(tps), "tps_median": statistics.median(tps),
                                      "tps_stdev": statistics.stdev(tps) if len(tps) > 1 else 0.0}
        print(f"  prefill {n}: {statistics.mean(tps):.1f} tok/s ({', '.join(f'{t:.2f}s' for t in times)})", file=sys.stderr)

    if args.decode_tokens > 0:
        decode(args, llm, llama_cpp, np, prefill_once, loads, results)
    llm.close()
    return report(args, llama_cpp, n_ctx, load_before, results)


def decode(args, llm, llama_cpp, np, prefill_once, loads, results):
    ctx_tokens = random_prompt(llama_cpp, llm, args.decode_context, PROMPT_SEED + args.decode_context)
    times, generated = [], None
    loads.clear()
    for _ in range(args.reps):
        prefill_once(ctx_tokens)
        out = []
        t0 = time.perf_counter()
        for _ in range(args.decode_tokens):   # greedy: argmax of the last logits, one llama_decode per token
            logits = np.ctypeslib.as_array(llama_cpp.llama_get_logits_ith(llm.ctx, -1), shape=(llm.n_vocab(),))
            tok = int(np.argmax(logits))
            out.append(tok)
            llm.eval([tok])
        times.append(time.perf_counter() - t0)
        generated = out
    tps = [args.decode_tokens / t for t in times]
    results["decode"][str(args.decode_context)] = {"context": args.decode_context, "tokens": args.decode_tokens,
                                                   "seconds": times, "loadavg_at_start": list(loads),
                                                   "tps_mean": statistics.mean(tps), "tps_median": statistics.median(tps),
                                                   "tps_stdev": statistics.stdev(tps) if len(tps) > 1 else 0.0,
                                                   "generated_ids_head": generated[:8]}
    print(f"  decode {args.decode_tokens} after {args.decode_context}: {statistics.mean(tps):.1f} tok/s "
          f"({', '.join(f'{t:.2f}s' for t in times)})", file=sys.stderr)


def report(args, llama_cpp, n_ctx, load_before, results):
    return {
        "engine": "llama.cpp",
        "engine_version": f"llama-cpp-python {llama_cpp.__version__}",
        "model": os.path.basename(args.model),
        "model_bytes": os.path.getsize(args.model),
        "device": f"CPU: {cpu_name()}, {os.cpu_count()} logical cores",
        "system_info": llama_cpp.llama_print_system_info().decode().strip(),
        "settings": {"n_threads": args.threads, "n_ctx": n_ctx, "n_batch": args.n_batch, "n_ubatch": args.n_ubatch,
                     "reps": args.reps, "warmup": "one 32-token prefill", "kv_type": "f16 (llama.cpp default)",
                     "flash_attn": "llama.cpp default", "prompt": f"uniform random non-special token ids, seed {PROMPT_SEED}+N"},
        "loadavg_1m_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "prefill_tps": {k: v["tps_mean"] for k, v in results["prefill"].items()},
        "decode_tps": {k: v["tps_mean"] for k, v in results["decode"].items()},
        "details": results,
        "command": " ".join([sys.executable] + sys.argv),
    }


def table(runs):
    """Markdown table; with two runs [kvbench, llama.cpp], adds the kvbench / llama.cpp ratio."""
    names = [r.get("engine", f"run{i}") for i, r in enumerate(runs)]
    head = ["measure"] + [f"{n} tok/s" for n in names] + (["kvbench / llama.cpp"] if len(runs) == 2 else [])
    lines = ["| " + " | ".join(head) + " |", "|" + "|".join(["---"] + ["---:"] * (len(head) - 1)) + "|"]
    rows = [(f"prefill {k}", "prefill_tps", k) for k in sorted({k for r in runs for k in r.get("prefill_tps", {})}, key=int)]
    rows += [(f"decode @ ctx {k}", "decode_tps", k)
             for k in sorted({k for r in runs for k in r.get("decode_tps", {})}, key=int)]
    for label, field, key in rows:
        vals = [r.get(field, {}).get(key) for r in runs]
        cells = [f"{v:.1f}" if isinstance(v, (int, float)) else "n/a" for v in vals]
        if len(runs) == 2:
            a, b = vals
            cells.append(f"{a / b:.2f}x" if isinstance(a, (int, float)) and isinstance(b, (int, float)) and b > 0 else "n/a")
        lines.append("| " + " | ".join([label] + cells) + " |")
    return "\n".join(lines)


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default=str(ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf"))
    ap.add_argument("--json", help="write the llama.cpp results here")
    ap.add_argument("--threads", type=int, default=os.cpu_count())
    ap.add_argument("--n-batch", type=int, default=2048)
    ap.add_argument("--n-ubatch", type=int, default=512)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--prefill", type=int, nargs="*", default=PREFILL_LENGTHS, help="prompt lengths; none: skip")
    ap.add_argument("--decode-context", type=int, default=DECODE_CONTEXT)
    ap.add_argument("--decode-tokens", type=int, default=DECODE_TOKENS, help="0: skip the decode measurement")
    ap.add_argument("--compare", nargs=2, metavar=("KVBENCH_JSON", "LLAMACPP_JSON"),
                    help="print the side-by-side table of two result files and exit (no benchmark run)")
    ap.add_argument("--show", metavar="JSON", help="print the table of one result file and exit (no benchmark run)")
    args = ap.parse_args()

    if args.compare or args.show:
        runs = [json.loads(Path(p).read_text()) for p in (args.compare or [args.show])]
        if args.compare:
            runs[0].setdefault("engine", "kvbench")
            runs[1].setdefault("engine", "llama.cpp")
        print(table(runs))
        for r in runs:
            print(f"- {r['engine']}: {r.get('device', '?')}; {r.get('engine_version', '')}; model {r.get('model', '?')}")
        return

    if not Path(args.model).exists():
        sys.exit(f"model {args.model} not found (copy SmolLM2-135M-Instruct.Q4_1.gguf into models/)")
    res = bench_llamacpp(args)
    print(table([res]))
    print(f"- {res['device']}; {res['engine_version']}; n_threads {args.threads}, n_batch {args.n_batch}, "
          f"n_ubatch {args.n_ubatch}, {args.reps} reps (mean)")
    if args.json:
        Path(args.json).parent.mkdir(parents=True, exist_ok=True)
        Path(args.json).write_text(json.dumps(res, indent=1) + "\n")


if __name__ == "__main__":
    main()
