"""Writes a GGUF checkpoint as a float32 Hugging Face folder (config.json, model.safetensors,
tokenizer files), via transformers' GGUF loader: the "fp32 Hugging Face weights" both engines load in
`vs_kvpress.py --hf-model DIR`. Not committed output; a benchmark helper.
  ~/.venvs/kvpress/bin/python scripts/bench/gguf_to_hf_f32.py models/SmolLM2-135M-Instruct.Q4_1.gguf /tmp/smollm2-f32
"""
import os
import sys

import torch
from transformers import AutoModelForCausalLM, AutoTokenizer

gguf, out = sys.argv[1], sys.argv[2]
model_dir, model_file = os.path.split(os.path.abspath(gguf))
tok = AutoTokenizer.from_pretrained(model_dir, gguf_file=model_file)
model = AutoModelForCausalLM.from_pretrained(model_dir, gguf_file=model_file, dtype=torch.float32)
model.save_pretrained(out, safe_serialization=True)
tok.save_pretrained(out)
print(f"wrote {out}: {sum(p.numel() for p in model.parameters()) / 1e6:.1f}M float32 parameters")
