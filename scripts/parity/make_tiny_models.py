#!/usr/bin/env python3
"""Tiny random-weight Hugging Face checkpoints (llama x2, qwen2, qwen3, mistral) and their transformers logits.
Follows the Hugging Face checkpoint layout (config.json, *.safetensors [+ index], tokenizer.json) and
llm.c's golden-file approach. Run: ~/.venvs/kvpress/bin/python scripts/parity/make_tiny_models.py [--out tests/golden/tiny]

No weight file is committed. Every parameter is drawn from the counter-based PRNG of counter_prng.py
(implemented identically in C++ by tests/counter_prng.h), so the tests rebuild the safetensors files at
run time (tests/tiny_models.cpp; materialize() below does the same in Python, e.g. for kvpress_golden.py).
Per model directory this writes, and the repository keeps: config.json, tokenizer.json,
tokenizer_config.json, [model.safetensors.index.json,] weights.json (seed, per-tensor recipe, dtype, shape,
shard file and FNV-1a-64 digest of the stored bytes) and golden.json. The safetensors files written by
transformers' save_pretrained live only in a temporary directory while the logits are computed.

Every output is a pure function of the fixed seeds below and the installed torch / transformers /
tokenizers versions (recorded in each golden.json). Weights are drawn by this script (no downloads).
golden.json holds the logits transformers computes in float32 (eager attention) from the weights as
stored on disk (bf16/f16 files are up-cast on load, exactly as a loader sees them).
"""
import argparse
import copy
import json
import math
import random
import shutil
import sys
import tempfile
from pathlib import Path

import numpy as np
import safetensors
import tokenizers
import torch
import transformers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import (AutoModelForCausalLM, LlamaConfig, MistralConfig, PreTrainedTokenizerFast,
                          Qwen2Config, Qwen3Config)

sys.path.insert(0, str(Path(__file__).resolve().parent))
import counter_prng  # noqa: E402

DEFAULT_OUT = Path(__file__).resolve().parents[2] / "tests" / "golden" / "tiny"
WEIGHT_FILES = ("*.safetensors",)   # never copied into --out

VOCAB = 320               # tokenizer vocab == every model's vocab_size
SPECIALS = ["<|endoftext|>", "<|im_start|>", "<|im_end|>"]   # ids 0, 1, 2
PROMPT_LENGTHS = [5, 17, 40]
PROMPT_SEED = 20240601
TOKENIZER_SEED = 1234

COMMON = dict(hidden_size=64, num_hidden_layers=2, intermediate_size=128, vocab_size=VOCAB,
              bos_token_id=0, eos_token_id=0, hidden_act="silu")

# name -> (config class, config kwargs, stored dtype, sharded, weight seed)
# llama_gqa's seed is 106, not 101: it also carries the kvpress decision goldens (kvpress_golden.py), and
# with seeds 101, 108, 110, 111, 113-116 a KnormPress cut at layer 0 falls between two copies of a repeated
# prompt token, whose key norms differ only by RoPE rounding (0 or 1 ulp), so kvbench's float32 arithmetic
# decides that coin flip independently of torch's (seed 107: kvpress's fake-key search fails). 106 avoids that.
MODELS = {
    # GQA 4q/2kv, llama3 rope scaling: head_dim 16 -> 8 frequencies; with theta 1e4 and original context 64
    # frequency 0 is high-frequency (kept), 1-2 are in the smoothed band, 3-7 are divided by `factor`.
    "llama_gqa": (LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                    max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5,
                                    rope_scaling={"rope_type": "llama3", "factor": 8.0, "low_freq_factor": 1.0,
                                                  "high_freq_factor": 4.0, "original_max_position_embeddings": 64},
                                    tie_word_embeddings=False), "float32", True, 106),
    "llama_linear": (LlamaConfig, dict(num_attention_heads=4, num_key_value_heads=4, head_dim=16,
                                       max_position_embeddings=256, rope_theta=10000.0, rms_norm_eps=1e-6,
                                       rope_scaling={"rope_type": "linear", "factor": 2.0},
                                       tie_word_embeddings=True), "bfloat16", False, 102),
    "qwen2_bias": (Qwen2Config, dict(num_attention_heads=4, num_key_value_heads=2,
                                     max_position_embeddings=512, rope_theta=1000000.0, rms_norm_eps=1e-6,
                                     use_sliding_window=False, tie_word_embeddings=True), "float16", False, 103),
    "qwen3_qknorm": (Qwen3Config, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=32,
                                       max_position_embeddings=512, rope_theta=1000000.0, rms_norm_eps=1e-6,
                                       use_sliding_window=False, tie_word_embeddings=True), "float32", False, 104),
    "mistral": (MistralConfig, dict(num_attention_heads=4, num_key_value_heads=2, head_dim=16,
                                    max_position_embeddings=512, rope_theta=10000.0, rms_norm_eps=1e-5,
                                    sliding_window=4096, tie_word_embeddings=False), "float32", False, 105),
}

# A ChatML template (Qwen / SmolLM style) so the chat-template path has a tiny fixture too.
CHAT_TEMPLATE = ("{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\n' + message['content'] + "
                 "'<|im_end|>' + '\n' }}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}")

TOKENIZER_CASES = [
    "Once upon a time there lived a little cat and a big dog.",
    "the red ball played in the garden, then the blue bird found water!",
    "Hello world",
    "The quick brown fox jumps over the lazy dog.",
    "  two leading spaces, tabs\tand\nnewlines\n\n",
    "naïve café — 日本語 🙂",
    "1234567890 3.14159",
    "<|im_start|>user\nWhat is 2+2?<|im_end|>\n<|im_start|>assistant\n",
]


def training_text():
    """Deterministic English-like corpus for the BPE trainer."""
    rng = random.Random(TOKENIZER_SEED)
    words = ("the a cat dog sat on mat ran to house little big red blue green tree river sun moon "
             "and then was were is are it they she he we you said went found play played happy sad "
             "time once upon there lived girl boy bird fish water cake apple ball garden key number "
             "one two three four five six seven eight nine ten hello world model token cache memory").split()
    lines = []
    for _ in range(3000):
        n = rng.randint(4, 14)
        s = " ".join(rng.choice(words) for _ in range(n))
        lines.append(s.capitalize() + rng.choice([".", "!", "?", ",", ":"]) + (f" {rng.randint(0, 999)}" if rng.random() < 0.2 else ""))
    return lines


def build_tokenizer():
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=VOCAB, min_frequency=2, special_tokens=SPECIALS,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    tok.train_from_iterator(training_text(), trainer=trainer)
    if tok.get_vocab_size() != VOCAB:
        sys.exit(f"tokenizer vocab is {tok.get_vocab_size()}, wanted {VOCAB}")
    for i, s in enumerate(SPECIALS):
        assert tok.token_to_id(s) == i, (s, tok.token_to_id(s))
    return tok


def save_tokenizer(tok, out_dir):
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=SPECIALS[0], eos_token=SPECIALS[0],
                                   unk_token=None, pad_token=SPECIALS[0], model_max_length=512)
    fast.save_pretrained(str(out_dir))
    for extra in ("special_tokens_map.json", "chat_template.jinja"):
        p = out_dir / extra
        if p.exists():
            p.unlink()
    # Hub-style tokenizer_config.json: a class older readers know, explicit BOS/EOS policy, inline template.
    cfg_path = out_dir / "tokenizer_config.json"
    cfg = json.loads(cfg_path.read_text())
    cfg.update(tokenizer_class="PreTrainedTokenizerFast", add_bos_token=False, add_eos_token=False,
               chat_template=CHAT_TEMPLATE)
    cfg.pop("backend", None)
    cfg_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def recipe(name, shape):
    """(distribution, offset, scale) of a parameter: value = offset + scale * X, X ~ counter_prng.uniform or .normal.
    Scales large enough that attention is peaked and RoPE/bias/norm mistakes show in the logits.
    offset is non-zero only with scale 1.0 (so a fused multiply-add cannot change a C++ result)."""
    if name.endswith("norm.weight"):                     # RMSNorm gains (incl. q_norm / k_norm): 0.5 + U[0, 1)
        return "uniform", 0.5, 1.0
    if name.endswith(".bias"):                           # qwen2 q/k/v bias
        return "normal", 0.0, 0.3
    if "embed_tokens" in name:
        return "normal", 0.0, 0.5
    if name.startswith("lm_head"):
        return "normal", 0.0, 2.0 / math.sqrt(shape[1])
    assert name.endswith(".weight") and len(shape) == 2, name   # Linear [out, in]
    gain = 1.5 if (".q_proj." in name or ".k_proj." in name) else 1.0
    return "normal", 0.0, gain / math.sqrt(shape[1])


def prng_values(seed, name, shape):
    """float32 values of one parameter: float32(offset + scale * X[i]), i = row-major element index,
    X drawn from stream FNV-1a-64(name) of `seed` (scripts/parity/counter_prng.py)."""
    dist, offset, scale = recipe(name, shape)
    n = math.prod(shape)
    x = (counter_prng.uniform if dist == "uniform" else counter_prng.normal)(seed, counter_prng.stream_of(name), n)
    return (offset + scale * x).astype(np.float32).reshape(shape)


def init_weights(model, seed):
    """Every parameter from the counter PRNG (no torch RNG involved)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            p.copy_(torch.from_numpy(prng_values(seed, name, tuple(p.shape))))


def f32_to_stored(v, dtype):
    """float32 -> stored dtype bytes, round to nearest even (as torch's .to(dtype); subnormals kept)."""
    if dtype == "float32":
        return v.astype("<f4").tobytes()
    if dtype == "float16":
        return v.astype("<f2").tobytes()
    assert dtype == "bfloat16"
    b = v.astype("<f4").view(np.uint32)
    assert not np.isnan(v).any()
    b = (b + (np.uint32(0x7FFF) + ((b >> np.uint32(16)) & np.uint32(1)))) >> np.uint32(16)
    return b.astype("<u2").tobytes()


ST_DTYPE = {"float32": "F32", "float16": "F16", "bfloat16": "BF16"}


def read_safetensors(path):
    """{name: (dtype, shape, bytes)} of a safetensors file, parsed directly (8-byte length, JSON header, data)."""
    raw = path.read_bytes()
    n = int.from_bytes(raw[:8], "little")
    header = json.loads(raw[8:8 + n])
    data = raw[8 + n:]
    return {k: (v["dtype"], v["shape"], data[v["data_offsets"][0]:v["data_offsets"][1]])
            for k, v in header.items() if k != "__metadata__"}


def write_safetensors(path, tensors):
    """tensors: [(name, st_dtype, shape, bytes)], written in the given order; header padded to 8 bytes."""
    header, off = {}, 0
    for name, dt, shape, data in tensors:
        header[name] = {"dtype": dt, "shape": list(shape), "data_offsets": [off, off + len(data)]}
        off += len(data)
    header["__metadata__"] = {"format": "pt"}
    h = json.dumps(header, separators=(",", ":")).encode()
    h += b" " * (-len(h) % 8)
    with open(path, "wb") as f:
        f.write(len(h).to_bytes(8, "little") + h)
        for *_, data in tensors:
            f.write(data)


def materialize(name, dest, golden_root=DEFAULT_OUT):
    """Builds a loadable checkpoint directory for tiny model `name` in `dest`: copies the committed files of
    golden_root/name (config, tokenizer, golden.json, weights.json, index) and writes the safetensors file(s)
    from the counter PRNG as weights.json describes, checking each tensor's FNV-1a-64 digest. The C++ tests
    do the same (tests/tiny_models.cpp). Returns dest."""
    src, dest = Path(golden_root) / name, Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    for f in src.iterdir():
        shutil.copy(f, dest / f.name)
    man = json.loads((src / "weights.json").read_text())
    files = {}
    for t in man["tensors"]:
        assert t["dtype"] in ("F32", "F16", "BF16"), t
        dtype = {v: k for k, v in ST_DTYPE.items()}[t["dtype"]]
        dist, offset, scale = t["dist"], t["offset"], t["scale"]
        n = math.prod(t["shape"])
        x = (counter_prng.uniform if dist == "uniform" else counter_prng.normal)(
            man["seed"], counter_prng.stream_of(t["name"]), n)
        data = f32_to_stored((offset + scale * x).astype(np.float32), dtype)
        got = f"{counter_prng.fnv1a64(data):016x}"
        if got != t["fnv1a64"]:
            sys.exit(f"{name}: tensor {t['name']}: generated bytes have FNV-1a-64 {got}, weights.json says {t['fnv1a64']}")
        files.setdefault(t["file"], []).append((t["name"], t["dtype"], t["shape"], data))
    for f, ts in files.items():
        write_safetensors(dest / f, ts)
    return dest


def weights_manifest(name, seed, model_dir):
    """weights.json: the PRNG recipe and, per stored tensor, file, dtype, shape, recipe and FNV-1a-64 of its bytes."""
    tensors = []
    for path in sorted(model_dir.glob("*.safetensors")):
        for tname, (dt, shape, data) in read_safetensors(path).items():
            dist, offset, scale = recipe(tname, shape)
            tensors.append({"name": tname, "file": path.name, "dtype": dt, "shape": shape, "dist": dist,
                            "offset": offset, "scale": scale, "fnv1a64": f"{counter_prng.fnv1a64(data):016x}"})
    tensors.sort(key=lambda t: t["name"])
    return {
        "model": name,
        "generator": "scripts/parity/make_tiny_models.py",
        "seed": seed,
        "prng": ("scripts/parity/counter_prng.py (tests/counter_prng.h): stream = FNV-1a-64(tensor name); "
                 "X[i] = uniform(seed, stream, i) or normal(seed, stream, i) (Irwin-Hall of 4 uniforms), "
                 "i = row-major element index"),
        "value": ("float32(offset + scale * X[i]) computed in float64 (round to nearest even), then the stored "
                  "dtype (F16 / BF16: round to nearest even, subnormals kept, as torch's .to(dtype))"),
        "digest": "fnv1a64 = FNV-1a 64 of the tensor's stored little-endian bytes, 16 hex digits",
        "prng_test_vectors": counter_prng.test_vectors(),
        "tensors": tensors,
    }


def write_manifest(path, man):
    """One line per tensor (diff-friendly)."""
    head = {k: v for k, v in man.items() if k != "tensors"}
    body = ",\n".join("    " + json.dumps(t) for t in man["tensors"])
    text = json.dumps(head, indent=2)[:-2] + ',\n  "tensors": [\n' + body + "\n  ]\n}\n"
    json.loads(text)
    path.write_text(text)


def add_legacy_rope_keys(config_path, rope_theta, rope_scaling):
    """transformers 5 writes only `rope_parameters`; Hub checkpoints carry `rope_theta` + `rope_scaling`.
    Write both so the file reads like a Hub checkpoint and transformers still loads it."""
    cfg = json.loads(config_path.read_text())
    cfg["rope_theta"] = rope_theta
    if rope_scaling is not None:
        cfg["rope_scaling"] = dict(rope_scaling)
    if "dtype" in cfg and "torch_dtype" not in cfg:
        cfg["torch_dtype"] = cfg["dtype"]
    config_path.write_text(json.dumps(cfg, indent=2, sort_keys=True) + "\n")


def fmt(x):
    return repr(float(f"{x:.7g}"))


def write_golden(path, meta, prompts, logits):
    """JSON with one line per logits row (diff-friendly, compact)."""
    with open(path, "w") as f:
        f.write("{\n")
        for k, v in meta.items():
            f.write(f"  {json.dumps(k)}: {json.dumps(v, sort_keys=True)},\n")
        f.write('  "prompts": [\n')
        f.write(",\n".join("    " + json.dumps(p) for p in prompts) + "\n  ],\n")
        f.write('  "argmax": [\n')
        f.write(",\n".join("    " + json.dumps([int(i) for i in l.argmax(-1)]) for l in logits) + "\n  ],\n")
        f.write('  "logits": [\n')
        blocks = []
        for l in logits:
            rows = ",\n".join("      [" + ",".join(fmt(x) for x in row) + "]" for row in l.tolist())
            blocks.append("    [\n" + rows + "\n    ]")
        f.write(",\n".join(blocks) + "\n  ]\n}\n")


def make_model(name, tok, out_root, prompts, versions):
    cls, kw, dtype, sharded, seed = MODELS[name]
    kw = copy.deepcopy(kw)   # transformers edits rope dicts in place
    final = out_root / name
    tmp = tempfile.TemporaryDirectory(prefix=f"tiny_{name}_")
    out = Path(tmp.name)     # the full checkpoint (with weights) only lives here
    torch.manual_seed(seed)
    config = cls(**COMMON, **copy.deepcopy(kw))
    model = AutoModelForCausalLM.from_config(config, attn_implementation="eager", dtype=torch.float32)
    init_weights(model, seed)
    model = model.to(getattr(torch, dtype))
    if sharded:
        # two shards: limit a little above half the total, so the split lands near the middle
        total = sum(t.numel() * t.element_size() for t in model.state_dict().values())
        model.save_pretrained(str(out), max_shard_size=int(total * 0.55))
        shards = sorted(out.glob("model-*.safetensors"))
        assert [s.name for s in shards] == ["model-00001-of-00002.safetensors", "model-00002-of-00002.safetensors"], shards
        assert (out / "model.safetensors.index.json").exists()
    else:
        model.save_pretrained(str(out))
        assert (out / "model.safetensors").exists()
    for extra in ("generation_config.json",):
        if (out / extra).exists():
            (out / extra).unlink()
    add_legacy_rope_keys(out / "config.json", kw.get("rope_theta", 10000.0), kw.get("rope_scaling"))
    save_tokenizer(tok, out)
    reread = transformers.AutoTokenizer.from_pretrained(str(out))
    for text in TOKENIZER_CASES:
        assert reread(text, add_special_tokens=True)["input_ids"] == tok.encode(text, add_special_tokens=False).ids, text

    # Every stored tensor has a PRNG recipe; the manifest records its digest.
    params = dict(model.named_parameters())
    man = weights_manifest(name, seed, out)
    assert {t["name"] for t in man["tensors"]} <= set(params), "a stored tensor is not a parameter"
    write_manifest(out / "weights.json", man)

    # Reload what is on disk, in float32, and check every stored tensor came back (no fresh init).
    loaded, info = AutoModelForCausalLM.from_pretrained(str(out), dtype=torch.float32, attn_implementation="eager",
                                                        output_loading_info=True)
    bad = {k: v for k, v in info.items() if v}
    assert not bad, f"{name}: loading info {bad}"
    for k, v in model.state_dict().items():
        assert torch.equal(loaded.state_dict()[k], v.float()), f"{name}: {k} differs after reload"
    rp = loaded.config.rope_parameters
    want = dict(kw.get("rope_scaling") or {"rope_type": "default"}, rope_theta=kw.get("rope_theta", 10000.0))
    for k, v in want.items():
        assert rp.get(k) == v, f"{name}: reloaded rope_parameters {rp} lack {k}={v}"
    loaded.eval()
    logits = []
    with torch.no_grad():
        for p in prompts:
            logits.append(loaded(torch.tensor([p], dtype=torch.long)).logits[0].float().numpy())
    meta = {
        "model": name,
        "model_type": config.model_type,
        "stored_dtype": dtype,
        "sharded": sharded,
        "weight_seed": seed,
        "weights": "counter PRNG, see weights.json (no weight file is committed)",
        "prompt_seed": PROMPT_SEED,
        "compute": "transformers eager attention, float32, CPU, one prompt per forward, positions 0..n-1, no BOS added",
        "logits_format": "logits[prompt][position][vocab], float32 rounded to 7 significant digits",
        "versions": versions,
    }
    write_golden(out / "golden.json", meta, prompts, logits)

    # Commit everything but the weights; then check that materialize() (numpy only, the same algorithm as
    # the C++ tests) rebuilds tensors byte-identical to what torch saved.
    if final.exists():
        shutil.rmtree(final)
    final.mkdir(parents=True)
    for f in sorted(out.iterdir()):
        if not any(f.match(w) for w in WEIGHT_FILES):
            shutil.copy(f, final / f.name)
    with tempfile.TemporaryDirectory() as check:
        rebuilt = materialize(name, check, out_root)
        for path in sorted(out.glob("*.safetensors")):
            a, b = read_safetensors(path), read_safetensors(rebuilt / path.name)
            assert a.keys() == b.keys(), (name, path.name)
            for k in a:
                assert a[k] == b[k], f"{name}: {k}: materialize() differs from torch's saved tensor"
    tmp.cleanup()
    return final


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(DEFAULT_OUT))
    ap.add_argument("--only", nargs="*", choices=list(MODELS), help="models to (re)build; default all")
    args = ap.parse_args()
    torch.use_deterministic_algorithms(True)
    torch.set_num_threads(1)
    transformers.utils.logging.disable_progress_bar()
    out_root = Path(args.out)
    out_root.mkdir(parents=True, exist_ok=True)
    versions = {"torch": torch.__version__, "transformers": transformers.__version__,
                "tokenizers": tokenizers.__version__, "safetensors": safetensors.__version__,
                "numpy": np.__version__, "python": sys.version.split()[0]}

    tok = build_tokenizer()
    rng = random.Random(PROMPT_SEED)
    prompts = [[rng.randrange(len(SPECIALS), VOCAB) for _ in range(n)] for n in PROMPT_LENGTHS]

    # Tokenizer cases (shared by every model directory): text -> ids -> text, no specials added.
    cases = []
    for text in TOKENIZER_CASES:
        ids = tok.encode(text, add_special_tokens=False).ids
        cases.append({"text": text, "ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False)})
    chats = [[{"role": "user", "content": "What is 2+2?"}],
             [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"},
              {"role": "assistant", "content": "Hello!"}, {"role": "user", "content": "Bye"}]]
    with tempfile.TemporaryDirectory() as tmp:
        save_tokenizer(tok, Path(tmp))
        fast = transformers.AutoTokenizer.from_pretrained(tmp)
        chat_cases = [{"messages": m, "add_generation_prompt": True,
                       "text": fast.apply_chat_template(m, tokenize=False, add_generation_prompt=True)} for m in chats]
    with open(out_root / "tokenizer_cases.json", "w") as f:
        f.write('{\n  "tokenizer": "byte-level BPE (GPT-2 regex pre-tokenizer) trained by make_tiny_models.py; '
                'the same tokenizer.json is in every model dir; special tokens are parsed, none is added",\n')
        f.write(f'  "versions": {json.dumps(versions, sort_keys=True)},\n  "cases": [\n')
        f.write(",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in cases) + "\n  ],\n")
        f.write('  "chat_template_cases": [\n')
        f.write(",\n".join("    " + json.dumps(c, ensure_ascii=False) for c in chat_cases) + "\n  ]\n}\n")

    for name in args.only or MODELS:
        out = make_model(name, tok, out_root, prompts, versions)
        files = sorted(out.iterdir())
        man = json.loads((out / "weights.json").read_text())
        nbytes = sum(math.prod(t["shape"]) * {"F32": 4, "F16": 2, "BF16": 2}[t["dtype"]] for t in man["tensors"])
        print(f"{name}: {len(man['tensors'])} tensors, {nbytes} bytes of weights (generated, not written to --out); "
              "wrote " + ", ".join(f"{f.name} {f.stat().st_size // 1024} KiB" for f in files), flush=True)


if __name__ == "__main__":
    main()
