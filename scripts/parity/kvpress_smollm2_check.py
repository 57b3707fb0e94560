"""kvpress 0.5.5 on the real SmolLM2-135M-Instruct GGUF, for comparison with kvbench on one NIAH case.

Not a golden generator: prints kvpress's greedy continuation (10 tokens) for a few presses applied to
the whole prompt (kvbench's --query-aware), with kvpress's pipeline positions (decode positions
continue from the original prompt length). Usage (kvpress needs transformers < 5.3):
  build/kvbench show-case niah_single --param haystack=noise --param value_type=number \
      --param length=1024 --param depth=50 --seed 0 -m models/SmolLM2-135M-Instruct.Q4_1.gguf \
      | sed -n '/----- prompt/,/----- end of prompt/p' | sed '1d;$d' > /tmp/prompt.txt
  ~/.venvs/kvpress/bin/python scripts/parity/kvpress_smollm2_check.py /tmp/prompt.txt
and compare with
  build/kvbench eval --model models/SmolLM2-135M-Instruct.Q4_1.gguf --task niah_single \
      --param haystack=noise --param value_type=number --length 1024 --n 1 --param depth=50 \
      --method snapkv --ratio 0.1 --query-aware --show 1
"""
import sys

import torch
import transformers
from kvpress import KnormPress, SnapKVPress, StreamingLLMPress
from tokenizers import Tokenizer
from transformers import AutoModelForCausalLM, DynamicCache

torch.set_num_threads(1)
transformers.logging.set_verbosity_error()
tok = Tokenizer.from_file("../shared/models/smollm2-135m-hf/tokenizer.json")
ids = tok.encode(open(sys.argv[1]).read().rstrip("\n"), add_special_tokens=False).ids
model = AutoModelForCausalLM.from_pretrained("models", gguf_file="SmolLM2-135M-Instruct.Q4_1.gguf",
                                             dtype=torch.float32, attn_implementation="eager").eval()


def run(press):
    cache = DynamicCache()
    with torch.no_grad():
        if press is None:
            out = model(torch.tensor([ids]), past_key_values=cache)
        else:
            with press(model):
                out = model(torch.tensor([ids]), past_key_values=cache)
        toks, nxt = [], out.logits[0, -1].argmax().item()
        for i in range(10):
            toks.append(nxt)
            out = model(torch.tensor([[nxt]]), past_key_values=cache, position_ids=torch.tensor([[len(ids) + i]]))
            nxt = out.logits[0, -1].argmax().item()
    return tok.decode(toks)


print("prompt tokens", len(ids))
for name, press in [("full", None), ("snapkv 0.1", SnapKVPress(compression_ratio=0.1)),
                    ("snapkv 0.5", SnapKVPress(compression_ratio=0.5)),
                    ("snapkv 0.75", SnapKVPress(compression_ratio=0.75)),
                    ("streaming_llm 0.75", StreamingLLMPress(compression_ratio=0.75)),
                    ("knorm 0.1", KnormPress(compression_ratio=0.1))]:
    print(f"{name}: {run(press)!r}", flush=True)
