#!/usr/bin/env python3
"""Golden logits for the recall oracle: Hugging Face transformers runs one checkpoint written by
`kvbench make-model oracle` (harness/model/oracle.h, docs/oracle.md); tests/test_oracle_parity.cpp
rebuilds the same checkpoint (it is a pure function of its options) and compares our engine's logits.
Run: ~/.venvs/parity/bin/python scripts/parity/oracle_golden.py [--kvbench build/kvbench] [--out tests/golden/oracle]

golden.json holds the make-model options, the FNV-1a 64 hash of model.safetensors (so a change in the
construction shows up as a hash mismatch, not as a puzzling logit difference), two symbolic prompts
(a needle retrieved with its two-token value; a key that never occurred) and, from transformers' eager
attention (torch CPU, one thread):
  argmax [prompt][T]                float32 argmax at every position
  logits [prompt][3][V]             float32 logits at the last three positions (9 digits: exact)
  logits_f64 [prompt][3][V]         the same in float64, the reference the test measures error against
  f32_vs_f64_max_abs [prompt]       transformers' own float32 error (max over every position and id)
  max_abs_f64 [prompt]              max |logit| over every position and id (the scale of the tolerance)
  argmax_f64, top2_gap_f64 [prompt][T]   float64 argmax and its margin over the runner-up at every
                                    position: a gap of ~1e-13 is an exact tie (the current token occurred
                                    twice before, so the induction head copies both successors equally)
"""
import argparse
import json
import random
import subprocess
import sys
import tempfile
from pathlib import Path

import tokenizers
import torch
import transformers
from transformers import AutoModelForCausalLM, AutoTokenizer

OPTIONS = ["--vocab", "256", "--max-len", "512", "--seed", "0"]   # small: the golden stays a few KB
PROMPT_SEED = 8
BOS, SEP = 0, 2


def fnv1a64(data: bytes) -> str:
    h = 0xcbf29ce484222325
    for b in data:
        h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def prompts():
    """ids 3..63 keys, 64..127 values, 128..255 filler (the symbolic tasks' disjoint ranges)."""
    rng = random.Random(PROMPT_SEED)
    filler = lambda n: [rng.randrange(128, 256) for _ in range(n)]
    key, v1, v2 = 17, 90, 101
    a = [BOS] + filler(40) + [key, v1, v2] + filler(50) + [SEP, key, v1]            # retrieve v1, then v2
    b = [BOS] + filler(30) + [SEP, 23]                                                # key 23 never occurred
    return [a, b]


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--kvbench", default="build/kvbench")
    ap.add_argument("--out", default="tests/golden/oracle")
    args = ap.parse_args()
    torch.set_num_threads(1)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ck = Path(tmp) / "oracle"
        subprocess.run([args.kvbench, "-q", "make-model", "oracle", "--out", str(ck)] + OPTIONS, check=True)
        st_hash = fnv1a64((ck / "model.safetensors").read_bytes())
        model = AutoModelForCausalLM.from_pretrained(str(ck), dtype=torch.float32, attn_implementation="eager")
        model.eval()
        model64 = AutoModelForCausalLM.from_pretrained(str(ck), dtype=torch.float64, attn_implementation="eager")
        model64.eval()
        tok = AutoTokenizer.from_pretrained(str(ck))
        # The tokenizer files load in transformers too: one word per token, BOS added.
        words = tok.convert_ids_to_tokens([3, 100, 200])
        text = "".join(w.replace("\u0120", " ") for w in words)
        enc = tok(text)["input_ids"]
        if enc != [BOS, 3, 100, 200]:
            sys.exit(f"tokenizer mismatch: {text!r} -> {enc}")
        golden = {
            "make_model_options": OPTIONS,
            "safetensors_fnv1a64": st_hash,
            "tokenizer_check": {"text": text, "ids": enc},
            "compute": "float32 and float64, eager attention, torch CPU, 1 thread",
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "prompts": [], "argmax": [], "positions": [], "logits": [],
            "argmax_f64": [], "top2_gap_f64": [], "logits_f64": [], "f32_vs_f64_max_abs": [],
            "max_abs_f64": [],
        }
        for ids in prompts():
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
                logits64 = model64(torch.tensor([ids])).logits[0]
            top2 = logits64.topk(2, dim=-1).values
            n = len(ids)
            positions = sorted({n - 3, n - 2, n - 1})
            golden["prompts"].append(ids)
            golden["argmax"].append(logits.argmax(-1).tolist())
            golden["positions"].append(positions)
            golden["logits"].append([[float(f"{x:.9g}") for x in logits[p].tolist()] for p in positions])
            golden["argmax_f64"].append(logits64.argmax(-1).tolist())
            golden["top2_gap_f64"].append([float(f"{x:.3g}") for x in (top2[:, 0] - top2[:, 1]).tolist()])
            golden["logits_f64"].append([[float(f"{x:.12g}") for x in logits64[p].tolist()] for p in positions])
            err32 = (logits.double() - logits64).abs().max().item()   # transformers' own float32 error
            golden["f32_vs_f64_max_abs"].append(float(f"{err32:.3g}"))
            golden["max_abs_f64"].append(float(f"{logits64.abs().max().item():.6g}"))
            print(f"prompt {len(golden['prompts']) - 1}: transformers float32 vs float64: max |diff| {err32:.3g}, "
                  f"max |logit| {logits64.abs().max().item():.3g}")
    path = out / "golden.json"
    path.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes); argmax at the answers:",
          [g[-1] for g in golden["argmax"]], [g[-2] for g in golden["argmax"]])


if __name__ == "__main__":
    main()
