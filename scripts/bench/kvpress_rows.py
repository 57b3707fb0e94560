"""Shared by the kvbench-vs-kvpress benchmarks (vs_kvpress.py, grid_vs_kvpress.py): kvbench's
niah_single cases exported as kvpress dataset rows, kvpress's string_match_all score, and the
kvpress pipeline on the same GGUF (transformers dequantizes it to fp32)."""
import json
import os
import subprocess
import time


def export_rows(kvbench, model, length, n, work):
    """Writes n niah_single cases (noise haystack, number values) as kvpress rows; returns (path, rows)."""
    path = os.path.join(work, "rows.jsonl")
    subprocess.run([kvbench, "eval", "-q", "--model", model, "--task", "niah_single", "--param", "haystack=noise",
                    "--param", "value_type=number", "--length", str(length), "--n", str(n), "--export-kvpress", path],
                   check=True)
    return path, [json.loads(line) for line in open(path)]


def match_all(pred, answers):
    return 100.0 * sum(a.lower() in pred.lower() for a in answers) / len(answers)


def kvpress_pipeline(model_path, threads):
    """(pipeline, load seconds) for kvpress's kv-press-text-generation on the CPU; model_path is a GGUF
    file (dequantized to fp32 by transformers) or a Hugging Face folder."""
    import torch
    import transformers
    from transformers import AutoModelForCausalLM, AutoTokenizer, pipeline

    torch.set_num_threads(threads)
    transformers.logging.set_verbosity_error()
    t0 = time.monotonic()
    if os.path.isdir(model_path):  # a Hugging Face folder (e.g. from gguf_to_hf_f32.py)
        tok = AutoTokenizer.from_pretrained(model_path)
        model = AutoModelForCausalLM.from_pretrained(model_path, dtype=torch.float32).eval()
    else:
        model_dir, model_file = os.path.split(os.path.abspath(model_path))
        tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=model_file)
        model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_file, dtype=torch.float32).eval()
    return pipeline("kv-press-text-generation", model=model, tokenizer=tok, device="cpu"), time.monotonic() - t0
