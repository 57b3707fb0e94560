#!/usr/bin/env python3
# Writes tests/golden/quant/blocks.gguf: blocks of Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, F16, BF16, each next to gguf-py's
# dequantize() of the same bytes as F32 ("<type>.<case>" / "<type>.<case>.f32"), plus metadata of every GGUF value type.
# Run: ~/.venvs/parity/bin/python scripts/parity/gguf_quant_golden.py; checked by tests/test_quant.cpp, test_gguf.cpp.
"""Golden file for kvbench's GGUF dequantizers (bit-exact parity with gguf-py) and metadata reader."""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

SEED = 20240601
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "golden" / "quant" / "blocks.gguf"


def finite_f16(rng: np.random.Generator, n: int, scale: float) -> np.ndarray:
    """n finite fp16 values: mostly scale * N(0,1), plus a few subnormal and zero scales."""
    v = (rng.standard_normal(n) * scale).astype(np.float16)
    if n >= 4:
        v[0] = np.float16(0.0)
        v[1] = np.frombuffer(np.uint16(0x0003).tobytes(), dtype=np.float16)[0]  # subnormal
        v[2] = np.float16(-scale * 3)
    assert np.all(np.isfinite(v))
    return v


def random_blocks(rng: np.random.Generator, qtype: Q, n_blocks: int) -> np.ndarray:
    """Random but valid block bytes: every quant bit pattern is legal, only the fp16 scales must be finite."""
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    b = rng.integers(0, 256, size=(n_blocks, type_size), dtype=np.uint8)

    def put_f16(col: int, values: np.ndarray) -> None:
        b[:, col:col + 2] = values.astype(np.float16).view(np.uint8).reshape(n_blocks, 2)

    if qtype in (Q.Q8_0, Q.Q4_0):
        put_f16(0, finite_f16(rng, n_blocks, 0.05))
    elif qtype == Q.Q4_1:
        put_f16(0, finite_f16(rng, n_blocks, 0.05))          # d
        put_f16(2, finite_f16(rng, n_blocks, 1.0))           # m
    elif qtype == Q.Q4_K:
        put_f16(0, finite_f16(rng, n_blocks, 0.01))          # d
        put_f16(2, finite_f16(rng, n_blocks, 0.01))          # dmin
    elif qtype == Q.Q6_K:
        put_f16(208, finite_f16(rng, n_blocks, 0.01))        # d (last two bytes)
    else:
        raise ValueError(qtype)
    return b


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    rng = np.random.default_rng(SEED)

    w = gguf.GGUFWriter(str(args.out), arch="kvbench_golden")
    w.add_string("kvbench.generator", "scripts/parity/gguf_quant_golden.py")
    w.add_uint32("kvbench.seed", SEED)
    # One key per metadata value type, read back by tests/test_gguf.cpp (GgufReader.GoldenMetadataTypes).
    w.add_uint8("test.u8", 200)
    w.add_int8("test.i8", -100)
    w.add_uint16("test.u16", 60000)
    w.add_int16("test.i16", -30000)
    w.add_uint32("test.u32", 4000000000)
    w.add_int32("test.i32", -2000000000)
    w.add_uint64("test.u64", 18000000000000000000)
    w.add_int64("test.i64", -9000000000000000000)
    w.add_float32("test.f32", 0.15625)
    w.add_float64("test.f64", -2.5e-300)
    w.add_bool("test.bool", True)
    w.add_string("test.str", "h\u00e9llo \u2581world")
    w.add_array("test.arr_i32", [1, -2, 3])
    w.add_array("test.arr_f32", [0.5, -1.25])
    w.add_array("test.arr_str", ["a", "", "b c"])
    w.add_array("test.arr_nested", [["x", "yy"], ["zzz"]])

    def pair(name: str, raw: np.ndarray, qtype: Q) -> None:
        w.add_tensor(name, raw, raw_dtype=qtype)
        ref = dequantize(raw, qtype).astype(np.float32)
        w.add_tensor(name + ".f32", ref, raw_dtype=Q.F32)

    # Quantized from seeded Gaussian data where gguf-py can quantize; 2 rows of 128 elements.
    x = (rng.standard_normal((2, 128)) * 0.7).astype(np.float32)
    x[0, :32] = 0.0                      # an all-zero block (d = 0)
    x[1, 32:64] = np.linspace(-3, 3, 32)
    for qt in (Q.Q8_0, Q.Q4_0, Q.Q4_1):
        pair(f"{qt.name.lower()}.quantized", quantize(x, qt), qt)

    # Random valid block bytes: all nibble / 6-bit / scale patterns.
    for qt, n_blocks in ((Q.Q8_0, 16), (Q.Q4_0, 16), (Q.Q4_1, 16), (Q.Q4_K, 6), (Q.Q6_K, 6)):
        block_elems, _ = gguf.GGML_QUANT_SIZES[qt]
        rows = 2
        raw = random_blocks(rng, qt, n_blocks).reshape(rows, -1)
        assert raw.shape[1] % gguf.GGML_QUANT_SIZES[qt][1] == 0 and n_blocks * block_elems % rows == 0
        pair(f"{qt.name.lower()}.random", raw, qt)

    # F16: random finite bit patterns plus zeros, subnormals, the largest finite value and infinities.
    bits = rng.integers(0, 0x10000, size=254, dtype=np.uint32).astype(np.uint16)
    bits = bits[(bits & 0x7C00) != 0x7C00]  # drop inf / NaN from the random part
    special = np.array([0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x3C00], dtype=np.uint16)
    f16 = np.concatenate([special, bits])[:256].view(np.float16).reshape(4, -1)
    pair("f16.random", f16.view(np.uint8), Q.F16)

    # BF16: gguf-py's rounding of float32 data, and special bit patterns.
    pair("bf16.quantized", quantize(x, Q.BF16), Q.BF16)
    bbits = rng.integers(0, 0x10000, size=246, dtype=np.uint32).astype(np.uint16)
    bbits = bbits[(bbits & 0x7F80) != 0x7F80]
    bspecial = np.array([0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x3F80], dtype=np.uint16)
    bf16 = np.concatenate([bspecial, bbits])[:128].reshape(2, -1)
    pair("bf16.random", bf16.view(np.uint8), Q.BF16)

    args.out.parent.mkdir(parents=True, exist_ok=True)
    w.write_header_to_file()
    w.write_kv_data_to_file()
    w.write_tensors_to_file()
    w.close()
    print(f"wrote {args.out} ({args.out.stat().st_size} bytes)")


if __name__ == "__main__":
    main()
