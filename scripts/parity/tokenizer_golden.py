#!/usr/bin/env python3
# Golden files for the tokenizer and chat-template tests (tests/test_tokenizer.cpp, tests/test_chat_template.cpp):
# ids and decoded text from Hugging Face `tokenizers`, chat prompts from transformers' apply_chat_template.
# Run: ~/.venvs/parity/bin/python scripts/parity/tokenizer_golden.py [--rebuild-fixtures]
"""Writes tests/golden/tokenizers/:

  llama3_bpe/tokenizer.json (+ tokenizer_config.json)  byte-level BPE, Llama-3 split regex, trained here
  llama2_spm/tokenizer.json (+ tokenizer_config.json)  Llama-2 layout BPE with byte_fallback, trained here
  stories260k_vocab.json      tokens/scores/types of the SentencePiece vocab inside stories260K.gguf
  golden_<name>.json          encode/decode cases for smollm2, llama3_bpe, llama2_spm, stories260k
  pretokenize.json            pre-tokenizer splits (gpt2, llama3, qwen2, smollm) from `tokenizers`
  chat_templates.json         prompts rendered by transformers' apply_chat_template
  long_text.json              a ~100 KB text; the golden files keep only the count and FNV-1a hash of its ids

The two trained fixtures are only rebuilt when missing or with --rebuild-fixtures (training is not
guaranteed to be byte-for-byte reproducible across `tokenizers` versions); the golden files are always
recomputed from the fixtures. SmolLM2's tokenizer.json and stories260K.gguf are read from ../shared/models.

For stories260K there are two references: transformers' GGUF conversion (merges recovered from the scores,
Metaspace with prepend_scheme "first") and a Python transcription of llama.cpp's SentencePiece algorithm
(greedy bigram merging by score, a "▁" prefix at the start and after every special token). The golden
"ids" follow llama.cpp; "hf_ids" is added where transformers differs. The script fails unless the
transcription, switched to transformers' prefix rule, reproduces transformers' ids on every case.
"""
import argparse
import heapq
import json
import random
import sys
from pathlib import Path

import tokenizers
import transformers
from tokenizers import AddedToken, Regex, Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parents[2]
OUT = ROOT / "tests" / "golden" / "tokenizers"
SHARED = ROOT.parent / "shared" / "models"
SMOLLM2_JSON = SHARED / "smollm2-135m-hf" / "tokenizer.json"
STORIES_GGUF = SHARED / "stories260K" / "stories260K.gguf"

GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"
LLAMA3_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}"
                r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")
QWEN2_SPLIT = (r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}"
               r"| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+")

# The fixed test text: ASCII, contractions, accents (precomposed and combining), CJK, emoji, digit runs,
# whitespace runs (tabs, CR/LF, several spaces, NBSP, ideographic space) and special tokens written in it.
MAIN_TEXT = (
    "Once upon a time, there was a little girl named Lily. She didn't like 1234567 or 3.14159!\n"
    "Héllo wörld, café naïve façade — résumé e\u0301te\u0301 ÜBER straße Ωmega.\n"
    "日本語のテキスト、中文文本 and 한국어 text. Emoji: 🙂👍🏽🎉 ok?\n"
    "\tTabs\tand  two  spaces,   three,\n\n\nnewlines\r\nCRLF   \n  trailing   \n"
    "Numbers: 0 42 2024-01-15 1,000,000 ½ Ⅻ ٣٤٥ x=y+z*2; if (a<b) { return a; }\n"
    "I'M HERE, YOU'RE THERE, WE'LL SEE, THEY'VE GONE, SHE'S, IT'D, I'm, we'll\n"
    "<|im_start|>user\nHi there<|im_end|>\n<|begin_of_text|><|start_header_id|>assistant<|end_header_id|>\n\nok<|eot_id|>"
    " <s> sentence </s>\u00a0nbsp\u3000wide  end  "
)

EXTRA_TEXTS = [
    "", " ", "  ", "   ", "\n", "\t", " \n ", "a", "A", "hello", " hello", "  hello", "hello ", "hello world",
    "1234567", "3.14159", "12 345 6789", "can't won't it's I'd", "'s 'S 'll 'LL",
    "<|im_start|>", "<|im_end|><|im_start|>", "x<|im_start|>y", "<|eot_id|>", "<|begin_of_text|>Hi",
    "<s>", "<s>hello", "hi <s>hello</s> x", " <s> a", "</s></s>",
    "🙂", "👍🏽", "日本", "e\u0301", "\u00a0", "\u3000x", "a\u200bb", "line1\r\nline2\rline3\n",
    "x\x0by\x0cz\x85w\u2028v\u2029u\x1cq", "    def f(x):\n        return x\n", "<<|im_start|>>",
]

# Chat-template inputs.
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)
CHATML_TEMPLATE = (
    "{% for message in messages %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)
LLAMA3_TEMPLATE = (
    "{% set loop_messages = messages %}{% for message in loop_messages %}"
    "{% set content = '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim"
    " + '<|eot_id|>' %}{% if loop.index0 == 0 %}{% set content = bos_token + content %}{% endif %}{{ content }}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}{% endif %}"
)
CHAT_CONVERSATIONS = [
    [{"role": "user", "content": "What is the capital of France?"}],
    [{"role": "system", "content": "You are terse."}, {"role": "user", "content": "Hi!"}],
    [{"role": "user", "content": "I need help with my order"},
     {"role": "assistant", "content": "I'd be happy to help. Could you provide your order number?"},
     {"role": "user", "content": "It's ORDER-123"}],
    [{"role": "user", "content": "  spaced out \n\n"}, {"role": "assistant", "content": "\tok "}],
    [{"role": "user", "content": "日本語 🙂\nline two"}],
]


def write_json(path, obj):
    """One top-level key per line and, in lists of objects, one object per line (small, diffable)."""
    dump = lambda v: json.dumps(v, ensure_ascii=False)
    lines = []
    for key, value in obj.items():
        if isinstance(value, list) and value and isinstance(value[0], dict):
            body = ",\n".join("  " + dump(item) for item in value)
            lines.append(f" {dump(key)}: [\n{body}\n ]")
        else:
            lines.append(f" {dump(key)}: {dump(value)}")
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")
    print(f"wrote {path.relative_to(ROOT)} ({path.stat().st_size} bytes)")


def random_texts(count, seed):
    """Short strings that mix every character class the pre-tokenizer state machines distinguish."""
    pieces = ["a", "b", "Z", "the", "The", "ing", " ", " ", "  ", "   ", "\t", "\n", "\n\n", "\r\n", "\r", "'",
              "'s", "'T", "'re", "'LL", "'d", "0", "7", "12", "345", "2024", ".", ",", "!", "?", "-", "(", ")",
              "...", "é", "e\u0301", "ß", "Ω", "日", "本", "語", "🙂", "👍🏽", "\u00a0", "\u3000", "٣", "½", "Ⅻ",
              "\u2028", "\x0b", "\x85", "\u200b", "$", "€", "_", "x"]
    rng = random.Random(seed)
    return ["".join(rng.choice(pieces) for _ in range(rng.randint(1, 14))) for _ in range(count)]


def corpus_lines(seed, count):
    """Deterministic English-like training text with the features the tests exercise."""
    rng = random.Random(seed)
    words = ("the a little girl boy named lily tom dog cat sun tree house happy sad big small run play jump saw "
             "went said was were had have with and but because when then there they she he it we you i "
             "time once upon day night friend mother father ball park water food tokenizer model cache key "
             "value attention layer head budget token text number line code return print function").split()
    accents = ["café", "naïve", "façade", "résumé", "über", "straße", "Ωmega", "déjà", "señor", "Ålesund"]
    cjk = ["日本語", "中文", "東京", "テキスト", "한국어", "文本"]
    contractions = ["don't", "didn't", "I'm", "we'll", "she's", "they've", "you're", "it'd", "can't"]
    lines = []
    for _ in range(count):
        kind = rng.random()
        if kind < 0.08:
            ind = " " * rng.choice([0, 4, 8]) if rng.random() < 0.7 else "\t"
            lines.append(f"{ind}{rng.choice(['def', 'return', 'if', 'for'])} {rng.choice(words)}"
                         f"({rng.choice(words)}, {rng.randint(0, 999)}):")
            continue
        n = rng.randint(4, 16)
        out = []
        for i in range(n):
            r = rng.random()
            if r < 0.06:
                w = rng.choice(accents)
            elif r < 0.09:
                w = rng.choice(cjk)
            elif r < 0.16:
                w = rng.choice(contractions)
            elif r < 0.24:
                w = str(rng.randint(0, 10 ** rng.randint(1, 7)))
            elif r < 0.26:
                w = f"{rng.randint(0, 99)}.{rng.randint(0, 99999)}"
            else:
                w = rng.choice(words)
            if i == 0 or rng.random() < 0.05:
                w = w[:1].upper() + w[1:]
            out.append(w)
        sep = rng.choice([" ", " ", " ", "  ", "\t"])
        line = sep.join(out) + rng.choice([".", ".", "!", "?", ",", ";", ""])
        if rng.random() < 0.1:
            line = line.upper()
        lines.append(line)
    return lines


def build_llama3_fixture(path):
    """Byte-level BPE with the Llama-3 split regex; special tokens appended after the learned vocab."""
    tok = Tokenizer(models.BPE(ignore_merges=True))
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False, trim_offsets=False)])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=1400, min_frequency=2, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(1, 4000), trainer=trainer)
    specials = ["<|begin_of_text|>", "<|end_of_text|>", "<|start_header_id|>", "<|end_header_id|>",
                "<|eot_id|>", "<|reserved_special_token_0|>"]
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in specials])
    bos = tok.token_to_id("<|begin_of_text|>")
    tok.post_processor = processors.Sequence([
        processors.ByteLevel(trim_offsets=False),
        processors.TemplateProcessing(single="<|begin_of_text|> $A", pair="<|begin_of_text|> $A <|begin_of_text|> $B",
                                      special_tokens=[("<|begin_of_text|>", bos)])])
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    write_json(path / "tokenizer_config.json", {
        "bos_token": "<|begin_of_text|>", "eos_token": "<|eot_id|>", "chat_template": LLAMA3_TEMPLATE,
        "tokenizer_class": "PreTrainedTokenizerFast"})


def build_llama2_fixture(path):
    """Llama-2 layout: <unk> <s> </s>, the 256 <0xXX> byte tokens, then merges learned here;
    normalizer Prepend("▁") + Replace(" ", "▁"), no pre-tokenizer, decoder Replace/ByteFallback/Fuse/Strip."""
    trainer_tok = Tokenizer(models.BPE())
    trainer_tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="▁", prepend_scheme="always", split=True)
    trainer = trainers.BpeTrainer(vocab_size=900, min_frequency=2, show_progress=False, limit_alphabet=120)
    trainer_tok.train_from_iterator(corpus_lines(2, 4000), trainer=trainer)
    learned = json.loads(trainer_tok.to_str())["model"]
    vocab = {"<unk>": 0, "<s>": 1, "</s>": 2}
    for b in range(256):
        vocab[f"<0x{b:02X}>"] = len(vocab)
    for piece, _ in sorted(learned["vocab"].items(), key=lambda kv: kv[1]):
        vocab.setdefault(piece, len(vocab))
    merges = [tuple(m) if isinstance(m, list) else tuple(m.split(" ")) for m in learned["merges"]]
    tok = Tokenizer(models.BPE(vocab=vocab, merges=merges, unk_token="<unk>", fuse_unk=True, byte_fallback=True))
    tok.normalizer = normalizers.Sequence([normalizers.Prepend("▁"), normalizers.Replace(" ", "▁")])
    tok.decoder = decoders.Sequence([decoders.Replace("▁", " "), decoders.ByteFallback(), decoders.Fuse(),
                                     decoders.Strip(" ", 1, 0)])
    tok.add_special_tokens([AddedToken(s, special=True, normalized=False) for s in ["<unk>", "<s>", "</s>"]])
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", 1)])
    path.mkdir(parents=True, exist_ok=True)
    tok.save(str(path / "tokenizer.json"))
    write_json(path / "tokenizer_config.json", {"bos_token": "<s>", "eos_token": "</s>", "unk_token": "<unk>",
                                                "add_bos_token": True, "add_eos_token": False})


def hf_cases(tok, texts):
    """encode with/without special handling and decode with/without skipping, as `tokenizers` does."""
    cases = []
    for text in texts:
        for add_special, parse_special in [(True, True), (False, True), (False, False)]:
            tok.encode_special_tokens = not parse_special
            ids = tok.encode(text, add_special_tokens=add_special).ids
            cases.append({"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids,
                          "decoded": tok.decode(ids, skip_special_tokens=False),
                          "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)})
    tok.encode_special_tokens = False
    return cases


def long_text():
    """About 100 KB: the test text repeated with the random strings interleaved."""
    rnd = random_texts(400, 7)
    parts, i = [], 0
    while sum(len(p.encode()) for p in parts) < 100_000:
        parts.append(MAIN_TEXT)
        parts.extend(rnd[i % 400:(i % 400) + 20])
        i += 20
    return "".join(parts)


def fnv1a_ids(ids):
    """FNV-1a over the ids as little-endian int32 (the C++ test computes the same)."""
    h = 0xcbf29ce484222325
    for x in ids:
        for b in int(x).to_bytes(4, "little", signed=True):
            h = ((h ^ b) * 0x100000001b3) & 0xFFFFFFFFFFFFFFFF
    return f"{h:016x}"


def long_case(encode):
    text = long_text()
    ids = encode(text)
    return {"text_file": "long_text.json", "bytes": len(text.encode()), "count": len(ids), "ids_fnv1a": fnv1a_ids(ids)}


def decode_cases(tok, id_lists):
    return [{"ids": ids, "decoded": tok.decode(ids, skip_special_tokens=False),
             "decoded_skip_special": tok.decode(ids, skip_special_tokens=True)} for ids in id_lists]


def golden_hf(name, tok, source, extra_decode):
    texts = [MAIN_TEXT] + EXTRA_TEXTS + random_texts(150, 3)

    def no_special(text):  # encode(text, add_special=false, parse_special=false)
        tok.encode_special_tokens = True
        ids = tok.encode(text, add_special_tokens=False).ids
        tok.encode_special_tokens = False
        return ids
    write_json(OUT / f"golden_{name}.json", {
        "generator": "scripts/parity/tokenizer_golden.py", "reference": f"tokenizers {tokenizers.__version__}",
        "tokenizer": source, "cases": hf_cases(tok, texts), "decode_cases": decode_cases(tok, extra_decode),
        "long": long_case(no_special)})


# ---- llama.cpp's SentencePiece algorithm, transcribed for the stories260K reference -------------------
def llamacpp_spm_encode(text, vocab, add_bos, parse_special, add_special, metaspace_first=False):
    """metaspace_first=False: llama.cpp's prefix rule ("▁" before the text and after every special token).
    metaspace_first=True: HF Metaspace prepend_scheme "first" (only at offset 0, and only when the text does
    not already start with a space)."""
    tokens, scores, types = vocab["tokens"], vocab["scores"], vocab["types"]
    index = {t: i for i, t in enumerate(tokens)}
    # Special tokens (CONTROL=3, USER_DEFINED=4, UNKNOWN=2), longest first; without parse_special only
    # USER_DEFINED ones are matched.
    special = sorted([i for i, t in enumerate(types) if t in (2, 3, 4)], key=lambda i: -len(tokens[i].encode()))
    frags = [text] if text else []
    for sid in special:
        if not parse_special and types[sid] in (2, 3):
            continue
        piece, out = tokens[sid], []
        for f in frags:
            if not isinstance(f, str):
                out.append(f)
                continue
            while (p := f.find(piece)) >= 0:
                if p > 0:
                    out.append(f[:p])
                out.append(sid)
                f = f[p + len(piece):]
            if f:
                out.append(f)
        frags = out
    ids, prev_special = [], True
    if add_special and add_bos:
        ids.append(vocab["bos_id"])
    for n, f in enumerate(frags):
        if isinstance(f, int):
            ids.append(f)
            prev_special = True
            continue
        prefix = (n == 0 and not f.startswith(" ")) if metaspace_first else prev_special
        s = ((" " if prefix else "") + f).replace(" ", "\u2581")
        prev_special = False
        sym = [[c, i - 1, i + 1 if i + 1 < len(s) else -1] for i, c in enumerate(s)]
        heap = []

        def try_add(left, right):
            if left < 0 or right < 0:
                return
            t = sym[left][0] + sym[right][0]
            if t in index:
                heapq.heappush(heap, (-scores[index[t]], left, right, len(t)))

        for i in range(1, len(sym)):
            try_add(i - 1, i)
        while heap:
            _, left, right, size = heapq.heappop(heap)
            if not sym[left][0] or not sym[right][0] or len(sym[left][0]) + len(sym[right][0]) != size:
                continue
            sym[left][0] += sym[right][0]
            sym[right][0] = ""
            sym[left][2] = sym[right][2]
            if sym[right][2] >= 0:
                sym[sym[right][2]][1] = left
            try_add(sym[left][1], left)
            try_add(left, sym[left][2])
        i = 0 if sym else -1
        while i != -1:
            t = sym[i][0]
            if t in index:
                ids.append(index[t])
            else:
                ids.extend(index.get(f"<0x{b:02X}>", vocab["unk_id"]) for b in t.encode())
            i = sym[i][2]
    return ids


def stories260k():
    import gguf
    from transformers.integrations.gguf.gguf_tokenizer_mapping import convert_gguf_tokenizer

    reader = gguf.GGUFReader(str(STORIES_GGUF))
    field = lambda k: reader.fields[k].contents()
    vocab = {"source": "stories260K.gguf (MIT, karpathy/tinyllamas), tokenizer.ggml.* metadata",
             "model": field("tokenizer.ggml.model"), "tokens": field("tokenizer.ggml.tokens"),
             "scores": [float(x) for x in field("tokenizer.ggml.scores")],
             "types": [int(x) for x in field("tokenizer.ggml.token_type")],
             "bos_id": int(field("tokenizer.ggml.bos_token_id")), "eos_id": int(field("tokenizer.ggml.eos_token_id")),
             "unk_id": int(field("tokenizer.ggml.unknown_token_id"))}
    write_json(OUT / "stories260k_vocab.json", vocab)
    # transformers' own get_gguf_tokenizer() trips over padding_token_id = 0xFFFFFFFF in this file, so the
    # dict it would build is assembled here and handed to the same converter.
    hf, _ = convert_gguf_tokenizer("llama", {"tokenizer_type": "llama", "tokens": vocab["tokens"],
                                             "scores": vocab["scores"], "token_type": vocab["types"]})
    texts = [MAIN_TEXT] + EXTRA_TEXTS + random_texts(150, 3) + [
        "Once upon a time, there was a little girl named Lily. She loved to play outside."]
    cases, differ = [], 0
    for text in texts:
        for add_special, parse_special in [(True, True), (False, True), (False, False)]:
            ids = llamacpp_spm_encode(text, vocab, True, parse_special, add_special)
            hf.encode_special_tokens = not parse_special
            hf_ids = hf.encode(text, add_special_tokens=False).ids
            if add_special:
                hf_ids = [vocab["bos_id"]] + hf_ids  # transformers adds BOS outside the backend (add_bos_token)
            # The transcription with transformers' prefix rule must reproduce transformers exactly.
            if hf_ids != llamacpp_spm_encode(text, vocab, True, parse_special, add_special, metaspace_first=True):
                differ += 1
                print(f"stories260k: transcription (metaspace_first) and transformers differ on {text!r}:\n"
                      f"  {hf_ids}", file=sys.stderr)
            case = {"text": text, "add_special": add_special, "parse_special": parse_special, "ids": ids,
                    "decoded": hf.decode(ids, skip_special_tokens=False),
                    "decoded_skip_special": hf.decode(ids, skip_special_tokens=True)}
            if hf_ids != ids:
                case["hf_ids"] = hf_ids
            cases.append(case)
    hf.encode_special_tokens = False
    print(f"stories260k: {len(cases)} cases; transcription with transformers' prefix rule differs on {differ}; "
          f"llama.cpp's prefix rule gives other ids on {sum('hf_ids' in c for c in cases)}")
    if differ:
        sys.exit("stories260k: the llama.cpp transcription does not reproduce transformers; see above")
    extra_decode = [[1, 403, 407], [3 + 0xE6, 3 + 0x97], [3 + 0xE6, 3 + 0x97, 3 + 0xA5, 261], [410, 410], [0, 1, 2, 261]]
    write_json(OUT / "golden_stories260k.json", {
        "generator": "scripts/parity/tokenizer_golden.py",
        "reference": f"ids: llama.cpp SentencePiece algorithm (transcribed here); hf_ids and decoded: transformers "
                     f"{transformers.__version__} GGUF conversion with tokenizers {tokenizers.__version__}",
        "tokenizer": "stories260k_vocab.json", "cases": cases, "decode_cases": decode_cases(hf, extra_decode),
        "long": long_case(lambda t: llamacpp_spm_encode(t, vocab, True, False, False))})


def pretokenize_golden():
    def spans(pt, text):
        return [text[a:b] for _, (a, b) in pt.pre_tokenize_str(text)]

    kinds = {
        "gpt2": pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True),
        "llama3": pre_tokenizers.Split(Regex(LLAMA3_SPLIT), behavior="isolated"),
        "qwen2": pre_tokenizers.Split(Regex(QWEN2_SPLIT), behavior="isolated"),
        "smollm": pre_tokenizers.Sequence([pre_tokenizers.Digits(individual_digits=True),
                                           pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=True)]),
    }
    texts = [MAIN_TEXT] + EXTRA_TEXTS + random_texts(300, 11)
    write_json(OUT / "pretokenize.json", {
        "generator": "scripts/parity/tokenizer_golden.py", "reference": f"tokenizers {tokenizers.__version__}",
        "cases": [{"text": t, **{k: spans(pt, t) for k, pt in kinds.items()}} for t in texts]})


def chat_golden():
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(SMOLLM2_JSON), bos_token="<|begin_of_text|>")
    cases = []
    for name, template in [("smollm2", SMOLLM2_TEMPLATE), ("chatml", CHATML_TEMPLATE), ("llama3", LLAMA3_TEMPLATE)]:
        for messages in CHAT_CONVERSATIONS:
            for gen in (True, False):
                text = tok.apply_chat_template(messages, chat_template=template, tokenize=False,
                                               add_generation_prompt=gen)
                cases.append({"template_name": name, "messages": messages, "add_generation_prompt": gen,
                              "expected": text})
    write_json(OUT / "chat_templates.json", {
        "generator": "scripts/parity/tokenizer_golden.py",
        "reference": f"transformers {transformers.__version__} apply_chat_template",
        "templates": {"smollm2": SMOLLM2_TEMPLATE, "chatml": CHATML_TEMPLATE, "llama3": LLAMA3_TEMPLATE},
        "cases": cases})


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--rebuild-fixtures", action="store_true", help="retrain the llama3_bpe and llama2_spm fixtures")
    args = ap.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)

    for name, build in [("llama3_bpe", build_llama3_fixture), ("llama2_spm", build_llama2_fixture)]:
        if args.rebuild_fixtures or not (OUT / name / "tokenizer.json").exists():
            build(OUT / name)

    write_json(OUT / "long_text.json", {"generator": "scripts/parity/tokenizer_golden.py", "text": long_text()})
    smol = Tokenizer.from_file(str(SMOLLM2_JSON))
    golden_hf("smollm2", smol, "../shared/models/smollm2-135m-hf/tokenizer.json",
              [[23274], [23274, 115], [1, 23274, 2], [0, 216, 216, 2], [40993, 23274]])
    l3 = Tokenizer.from_file(str(OUT / "llama3_bpe" / "tokenizer.json"))
    bot = l3.token_to_id("<|begin_of_text|>")
    golden_hf("llama3_bpe", l3, "llama3_bpe/tokenizer.json",
              [[bot, 300, 301], [0xA0 - 0x21], [bot], [l3.get_vocab_size() - 1]])
    l2 = Tokenizer.from_file(str(OUT / "llama2_spm" / "tokenizer.json"))
    golden_hf("llama2_spm", l2, "llama2_spm/tokenizer.json",
              [[1, 300, 301], [3 + 0xE6, 3 + 0x97], [3 + 0xE6, 3 + 0x97, 3 + 0xA5, 300], [0, 1, 2, 300]])
    stories260k()
    pretokenize_golden()
    chat_golden()


if __name__ == "__main__":
    main()
