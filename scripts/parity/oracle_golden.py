#!/usr/bin/env python3
"""Golden logits for the recall oracle: Hugging Face transformers runs one checkpoint written by
`kvbench make-model oracle` (harness/model/oracle.h, docs/oracle.md); tests/test_oracle_parity.cpp
rebuilds the same checkpoint (it is a pure function of its options) and compares our engine's logits.
Run: ~/.venvs/parity/bin/python scripts/parity/oracle_golden.py [--kvbench build/kvbench] [--out tests/golden/oracle]

golden.json holds the make-model options, the FNV-1a 64 hash of model.safetensors (so a change in the
construction shows up as a hash mismatch, not as a puzzling logit difference), two symbolic prompts
(a needle retrieved with its two-token value; a key that never occurred), transformers' argmax at every
position and float32 eager-attention logits at a few positions (torch CPU, one thread).
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
            "compute": "float32, eager attention, torch CPU, 1 thread",
            "versions": {"torch": torch.__version__, "transformers": transformers.__version__,
                         "tokenizers": tokenizers.__version__},
            "prompts": [], "argmax": [], "positions": [], "logits": [],
        }
        for ids in prompts():
            with torch.no_grad():
                logits = model(torch.tensor([ids])).logits[0]
            n = len(ids)
            positions = sorted({n - 3, n - 2, n - 1})
            golden["prompts"].append(ids)
            golden["argmax"].append(logits.argmax(-1).tolist())
            golden["positions"].append(positions)
            golden["logits"].append([[float(f"{x:.6g}") for x in logits[p].tolist()] for p in positions])
    path = out / "golden.json"
    path.write_text(json.dumps(golden, separators=(",", ":")) + "\n")
    print(f"wrote {path} ({path.stat().st_size} bytes); argmax at the answers:",
          [g[-1] for g in golden["argmax"]], [g[-2] for g in golden["argmax"]])


if __name__ == "__main__":
    main()
