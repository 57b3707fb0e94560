#!/usr/bin/env python3
"""Greedy 32-token continuations from llama.cpp (via llama-cpp-python) for fixed prompts on two GGUF models.
Follows llama.cpp's own tokenizer (add BOS as the GGUF metadata says, special tokens parsed) and its greedy sampler
(argmax, first index on ties). Run: ~/.venvs/parity/bin/python scripts/parity/llamacpp_golden.py [--out tests/golden/llamacpp]

Writes tests/golden/llamacpp/<model>.json: per prompt the text, prompt ids, continuation ids and text, and the
top-5 logits of the first generated step. Generation stops after 32 tokens or at an end-of-generation token
(which is then the last id). SmolLM2 is read from models/ (git-ignored; copy it there), stories260K from
../shared/models/ (never copied into the repository).
"""
import argparse
import ctypes
import hashlib
import json
import platform
import sys
from pathlib import Path

import llama_cpp
import numpy as np
from llama_cpp import Llama

ROOT = Path(__file__).resolve().parents[2]
N_GEN = 32
SETTINGS = dict(n_threads=2, n_threads_batch=2, n_ctx=512, n_batch=512, seed=0, logits_all=False, verbose=False)

MODELS = {
    "SmolLM2-135M-Instruct.Q4_1": (
        ROOT / "models" / "SmolLM2-135M-Instruct.Q4_1.gguf",
        ["The capital of France is",
         "def fibonacci(n):",
         "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n"]),
    "stories260K": (
        ROOT.parent / "shared" / "models" / "stories260K" / "stories260K.gguf",
        ["Once upon a time",
         "The little dog",
         "Lily and Tom went"]),
}


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def last_logits(llm):
    """Logits of the last evaluated token, [n_vocab] float32 (logits_all=False keeps only that row)."""
    ptr = llama_cpp.llama_get_logits_ith(llm.ctx, -1)
    return np.ctypeslib.as_array(ptr, shape=(llm.n_vocab(),)).copy()


def piece(llm, tok):
    """The token's text as llama.cpp renders it (special tokens included); a partial UTF-8 byte shows as U+FFFD."""
    buf = ctypes.create_string_buffer(256)
    n = llama_cpp.llama_token_to_piece(llm._model.vocab, tok, buf, len(buf), 0, True)
    assert 0 <= n <= len(buf), (tok, n)
    return buf.raw[:n].decode("utf-8", errors="replace")


def run_prompt(llm, text):
    vocab = llm._model.vocab
    add_bos = bool(llama_cpp.llama_vocab_get_add_bos(vocab))
    # add_special=True makes llama.cpp add BOS/EOS exactly as the GGUF metadata asks.
    prompt_ids = llm.tokenize(text.encode("utf-8"), add_bos=True, special=True)
    bare = llm.tokenize(text.encode("utf-8"), add_bos=False, special=True)
    want = [llama_cpp.llama_vocab_bos(vocab)] + bare if add_bos else bare
    assert prompt_ids == want, (text, prompt_ids[:3], bare[:3], add_bos)

    llm.reset()
    llm.eval(prompt_ids)
    out, top5, stop, margins = [], None, "length", []
    for step in range(N_GEN):
        logits = last_logits(llm)
        tok = int(np.argmax(logits))          # llama.cpp's greedy sampler: first maximum
        two = np.partition(logits, -2)[-2:]
        margins.append(float(two[1] - two[0]))
        if step == 0:
            order = np.argsort(-logits, kind="stable")[:5]
            top5 = [{"id": int(i), "logit": float(logits[i]), "piece": piece(llm, int(i))} for i in order]
        out.append(tok)
        if llama_cpp.llama_vocab_is_eog(vocab, tok):
            stop = "eog"
            break
        llm.eval([tok])

    # Cross-check against llama-cpp-python's own sampler chain (temp 0 / top_k 1, no penalties).
    llm.reset()
    check = []
    for tok in llm.generate(prompt_ids, top_k=1, top_p=1.0, min_p=0.0, temp=0.0, repeat_penalty=1.0,
                            frequency_penalty=0.0, presence_penalty=0.0, reset=True):
        check.append(int(tok))
        if len(check) == len(out):
            break
    assert check == out, f"manual argmax {out} != llama-cpp-python generate {check}"

    return {
        "text": text,
        "prompt_ids": [int(i) for i in prompt_ids],
        "prompt_pieces": [piece(llm, i) for i in prompt_ids],
        "continuation_ids": out,
        "continuation_text": llm.detokenize(out, prev_tokens=list(prompt_ids), special=True).decode("utf-8", errors="replace"),
        "stop": stop,
        "continuation_pieces": [piece(llm, i) for i in out],
        "first_step_top5": top5,
        "closest_call": {"step": int(np.argmin(margins)), "top1_minus_top2": min(margins)},
    }


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "tests" / "golden" / "llamacpp"))
    args = ap.parse_args()
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, (path, prompts) in MODELS.items():
        if not path.exists():
            sys.exit(f"{name}: model file {path} not found")
        llm = Llama(model_path=str(path), **SETTINGS)
        meta = {k: v for k, v in llm.metadata.items() if k.startswith("tokenizer.ggml.") and k not in
                ("tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.merges")}
        meta.pop("tokenizer.chat_template", None)
        doc = {
            "model": name,
            "model_file": path.name,
            "model_sha256": sha256(path),
            "model_bytes": path.stat().st_size,
            "general.architecture": llm.metadata.get("general.architecture"),
            "add_bos": bool(llama_cpp.llama_vocab_get_add_bos(llm._model.vocab)),
            "tokenizer_metadata": meta,
            "n_vocab": llm.n_vocab(),
            "settings": {**{k: v for k, v in SETTINGS.items() if k != "verbose"}, "n_gen": N_GEN,
                         "sampling": "greedy argmax (temperature 0, top_k 1, no repetition penalty); stop at EOG",
                         "tokenize": "llama.cpp tokenizer, add_special=True (BOS per metadata), parse_special=True",
                         "prompt_eval": "one llama_decode of the whole prompt, then one token per llama_decode"},
            "versions": {"llama_cpp_python": llama_cpp.__version__, "python": sys.version.split()[0],
                         "numpy": np.__version__, "machine": platform.machine(),
                         "system_info": llama_cpp.llama_print_system_info().decode().strip()},
            "prompts": [run_prompt(llm, p) for p in prompts],
        }
        llm.close()
        path_out = out_dir / f"{name}.json"
        path_out.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
        for p in doc["prompts"]:
            print(f"{name}: {p['text']!r} ({len(p['prompt_ids'])} ids) -> {p['continuation_text']!r} [{p['stop']}]")
        print(f"wrote {path_out} ({path_out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
