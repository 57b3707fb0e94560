#!/usr/bin/env python3
"""Writes the seed corpora of the fuzz targets (tests/fuzz/corpus/<target>/) from the project's own
fixtures and the shared models, each seed small (a few KB). Rerun after a format change; commit the
output. Usage: python3 scripts/fuzz/make_seeds.py [shared models dir, default ../shared/models]
Binary model-format seeds (.gguf, .safetensors) are not committed: `make_seeds.py --binary-only DIR`
writes only those into DIR/<target>/ (standard library only); scripts/fuzz.sh and the test build
(tests/CMakeLists.txt) run it at build time.
results_db seeds come from scripts/fuzz/make_db_seed.sh (it needs the kvbench binary)."""
import json, os, shutil, struct, sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
BINARY_ONLY = len(sys.argv) > 2 and sys.argv[1] == "--binary-only"
SHARED = sys.argv[1] if len(sys.argv) > 1 and not BINARY_ONLY else os.path.join(ROOT, "..", "shared", "models")
OUT = sys.argv[2] if BINARY_ONLY else os.path.join(ROOT, "tests", "fuzz", "corpus")
G = os.path.join(ROOT, "tests", "golden")
BINARY = (".gguf", ".safetensors")  # written at build time, never committed


def put(target, name, data):
    if name.endswith(BINARY) != BINARY_ONLY:
        return
    d = os.path.join(OUT, target)
    os.makedirs(d, exist_ok=True)
    with open(os.path.join(d, name), "wb") as f:
        f.write(data if isinstance(data, bytes) else data.encode())


# ---- gguf: a complete tiny file written here, gguf-py's every-value-type metadata, and the header of
# stories260K (metadata + tensor directory, data cut off).
def gstr(s):
    b = s.encode()
    return struct.pack("<Q", len(b)) + b


def gguf_file(kvs, tensors, data, alignment=32):
    body = b""
    for key, typ, payload in kvs:
        body += gstr(key) + struct.pack("<I", typ) + payload
    for name, ne, ggml_type, offset in tensors:
        body += gstr(name) + struct.pack("<I", len(ne)) + b"".join(struct.pack("<Q", d) for d in ne)
        body += struct.pack("<IQ", ggml_type, offset)
    out = b"GGUF" + struct.pack("<IQQ", 3, len(tensors), len(kvs)) + body
    out += b"\0" * (-len(out) % alignment)
    return out + data


def u32(v):
    return struct.pack("<I", v)


def f32(v):
    return struct.pack("<f", v)


def strarr(items):
    return u32(8) + struct.pack("<Q", len(items)) + b"".join(gstr(s) for s in items)


def tiny_llama_gguf():
    E, F, V, H = 8, 16, 8, 2
    vocab = ["<unk>", "<s>", "</s>", "\u2581a", "\u2581b", "a", "b", "\u2581"]
    kvs = [("general.architecture", 8, gstr("llama")), ("llama.block_count", 4, u32(1)),
           ("llama.context_length", 4, u32(64)), ("llama.embedding_length", 4, u32(E)),
           ("llama.feed_forward_length", 4, u32(F)), ("llama.attention.head_count", 4, u32(H)),
           ("llama.attention.head_count_kv", 4, u32(1)), ("llama.rope.freq_base", 6, f32(10000.0)),
           ("llama.attention.layer_norm_rms_epsilon", 6, f32(1e-5)),
           ("tokenizer.ggml.model", 8, gstr("llama")), ("tokenizer.ggml.tokens", 9, strarr(vocab)),
           ("tokenizer.ggml.scores", 9, u32(6) + struct.pack("<Q", V) + b"".join(f32(-i) for i in range(V))),
           ("tokenizer.ggml.token_type", 9, u32(5) + struct.pack("<Q", V) + b"".join(
               struct.pack("<i", t) for t in [2, 3, 3, 1, 1, 1, 1, 1])),
           ("tokenizer.ggml.bos_token_id", 4, u32(1)), ("tokenizer.ggml.eos_token_id", 4, u32(2))]
    D = E // H
    shapes = [("token_embd.weight", [E, V]), ("output_norm.weight", [E]), ("blk.0.attn_norm.weight", [E]),
              ("blk.0.attn_q.weight", [E, E]), ("blk.0.attn_k.weight", [E, D]), ("blk.0.attn_v.weight", [E, D]),
              ("blk.0.attn_output.weight", [E, E]), ("blk.0.ffn_norm.weight", [E]),
              ("blk.0.ffn_gate.weight", [E, F]), ("blk.0.ffn_up.weight", [E, F]), ("blk.0.ffn_down.weight", [F, E])]
    tensors, data = [], b""
    for name, ne in shapes:
        n = 1
        for d in ne:
            n *= d
        tensors.append((name, ne, 0, len(data)))
        data += b"".join(f32(((i * 7) % 5 - 2) / 8) for i in range(n))
        data += b"\0" * (-len(data) % 32)
    return gguf_file(kvs, tensors, data)


put("gguf", "tiny_llama.gguf", tiny_llama_gguf())
put("gguf", "every_value_type.gguf", bytes.fromhex(json.load(open(os.path.join(G, "quant", "blocks.json")))["metadata_gguf"]["hex"]))
# (The header of ../shared/models/stories260K is added by scripts/fuzz.sh at run time: not a file we wrote.)

# ---- safetensors: F32, F16 and BF16 tensors, and an index-style __metadata__ entry.
def safetensors(tensors, meta=None):
    header, data = {}, b""
    for name, dtype, shape, raw in tensors:
        header[name] = {"dtype": dtype, "shape": shape, "data_offsets": [len(data), len(data) + len(raw)]}
        data += raw
    if meta:
        header["__metadata__"] = meta
    h = json.dumps(header).encode()
    h += b" " * (-len(h) % 8)
    return struct.pack("<Q", len(h)) + h + data


put("safetensors", "three_dtypes.safetensors", safetensors([
    ("model.embed_tokens.weight", "F32", [2, 3], b"".join(f32(i) for i in range(6))),
    ("model.norm.weight", "F16", [4], struct.pack("<4e", 1, 0.5, -2, 0)),
    ("lm_head.weight", "BF16", [2, 2], b"\x80\x3f\x00\x40\x80\xbf\x00\x00")], {"format": "pt"}))
put("safetensors", "empty.safetensors", safetensors([]))


# ---- binary past crashes: inputs a fuzzer once crashed on, in a binary model format, so written here
# (regressions/<target>/ under the --binary-only folder) instead of committed to tests/fuzz/regressions/.
# The header text is the crashing input's, byte for byte; the 8-byte length prefix is its length.
def regression(target, name, data):
    put(os.path.join("regressions", target), name, data)


def raw_safetensors_header(text):
    return struct.pack("<Q", len(text)) + text.encode()


# Three dims of 2^39: their product (2^117) wraps int64 (the loader multiplied without an overflow check).
regression("safetensors", "shape_product_overflows_int64.safetensors", raw_safetensors_header(
    '{"t": {"dtype": "F32", "shape": [549755813888, 549755813888, 549755813888], "data_offsets": [0, 0]}}'))
# The same with a zero dim last: the true product is 0, but the partial product overflows first.
regression("safetensors", "overflowing_shape_with_a_zero.safetensors", raw_safetensors_header(
    '{"t": {"dtype": "F32", "shape": [549755813888, 549755813888, 549755813888, 549755813888, 0], '
    '"data_offsets": [0, 0]}}'))
put("safetensors", "scalar_and_i64.safetensors", safetensors([
    ("s", "F32", [], f32(1.0)), ("ids", "I64", [2], struct.pack("<2q", 1, -1))]))

# ---- tokenizer.json: the tiny models' tokenizers (byte-level BPE and SentencePiece-style).
for model in ["llama_gqa", "qwen2_bias", "mistral"]:
    put("tokenizer_json", model + ".json", open(os.path.join(G, "tiny", model, "tokenizer.json"), "rb").read())

# ---- chat_template: the templates of the golden file, then NUL-separated message contents.
templates = json.load(open(os.path.join(G, "tokenizers", "chat_templates.json")))["templates"]
for name, text in (templates.items() if isinstance(templates, dict) else enumerate(templates)):
    text = text if isinstance(text, str) else json.dumps(text)
    put("chat_template", f"{name}.txt", text + "\0You are terse.\0Hi there\0Hello!\0  spaced  ")

# ---- sweep configs: the shipped YAML files, and the same configs as JSON.
for f in ([] if BINARY_ONLY else sorted(os.listdir(os.path.join(ROOT, "configs")))):
    text = open(os.path.join(ROOT, "configs", f)).read()
    put("sweep_yaml", f, text)
    import yaml
    put("sweep_json", f.replace(".yaml", ".json"), json.dumps(yaml.safe_load(text), indent=1))

# ---- dataset rows: the loader tasks' fixtures.
for f in ["ruler_jsonl.jsonl", "longbench.jsonl", "kvpress_jsonl.jsonl", "qa_squad.json"]:
    put("dataset_rows", f, open(os.path.join(G, "tasks", f), "rb").read())

# ---- duo_pattern: a tsv alone, commas and ';', and config.json + NUL + tsv (the directory form).
put("duo_pattern", "tsv.tsv", "0.1\t0.9\n0.5\t0.2\n")
put("duo_pattern", "commas.txt", "1,0;0.25,0.75")
put("duo_pattern", "dir_form.txt", json.dumps({"sink_size": 4, "recent_size": 8}) + "\0" + "0.3\t0.7\r\n1\t0\r\n")
# ---- minference_pattern: MInference's best_pattern JSON for 2 layers x 4 query heads (every type, a
# missing head, the a_shape / vertical_slash spellings, an entry without its score).
put("minference_pattern", "best_pattern.json", json.dumps([
    {"0": ["vertical_and_slash", 1000, 6096, 0.98], "1": ["stream_llm", 128, 3968, 0.9],
     "2": ["block_sparse", 100, 0, 0.7], "3": ["vertical_and_slash", 30, 800, 0.99]},
    {"0": ["a_shape", 4, 60, 0.5], "2": ["vertical_slash", 3500, 100]}]))
put("minference_pattern", "bad_type.json", json.dumps([{"0": ["diagonal", 1, 2, 0.5]}, {}]))
print("seeds written to", OUT)
