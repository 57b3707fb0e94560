#!/usr/bin/env python3
"""Golden test vectors for kvbench's GGUF dequantizers (bit-exact parity with gguf-py) and metadata reader.

Writes tests/golden/quant/blocks.json (text, no binary file):
  * cases: blocks of Q8_0, Q4_0, Q4_1, Q4_K, Q6_K, F16, BF16 and gguf-py's dequantize() of them, as exact
    float32 bit patterns. Two sources of block bytes:
      - "prng_blocks" / "prng_half_bits": generated from the counter PRNG (scripts/parity/counter_prng.py,
        tests/counter_prng.h) by a recipe the JSON spells out, so tests/test_quant.cpp rebuilds the same
        bytes (checked against "bytes_fnv1a64") and compares its dequantization bit for bit;
      - "gguf_quantize": gguf-py's quantize() of PRNG Gaussian data (all-zero block, a ramp); those few
        hundred bytes are stored as hex ("bytes_hex"), since kvbench has no quantizer to rebuild them.
  * metadata_gguf: the hex of a metadata-only GGUF file written by gguf-py's GGUFWriter, one key per
    GGUF value type (test.u8 ... test.arr_nested), read back by tests/test_gguf.cpp (GoldenMetadataTypes).
Run: ~/.venvs/kvpress/bin/python scripts/parity/gguf_quant_golden.py [--out tests/golden/quant/blocks.json]

Block recipe ("prng_blocks"): byte j of the case's raw bytes is bits(seed, stream_of(case name), j) & 0xFF;
then every fp16 scale field (byte offset `at` in each block) is overwritten so that it is finite: block 0
gets 0x0000 (zero scale), block 1 0x0003 (subnormal), block 2 0x8000 | exp_max << 10 (negative power of
two), block b >= 3 the pattern from r = bits(seed, stream_of(case name + "@" + str(at)), b):
sign = r & 1, exponent field = exp_min + (r >> 1) % (exp_max - exp_min + 1), mantissa = (r >> 8) & 0x3FF.
"prng_half_bits": element i < len(special) is special[i], else r = bits(seed, stream_of(name), i) & 0xFFFF,
with r ^= 0x4000 when (r & inf_mask) == inf_mask (no inf / NaN in the random part).
"""
from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
from importlib.metadata import version
from pathlib import Path

import numpy as np
import gguf
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize, quantize

sys.path.insert(0, str(Path(__file__).resolve().parent))
import counter_prng  # noqa: E402

SEED = 20240601
ROOT = Path(__file__).resolve().parents[2]
DEFAULT_OUT = ROOT / "tests" / "golden" / "quant" / "blocks.json"

# type -> (blocks, rows, [(scale field byte offset, exponent field min, max)])
PRNG_BLOCKS = {
    Q.Q8_0: (16, 2, [(0, 8, 11)]),                    # d ~ 2^-7 .. 2^-4
    Q.Q4_0: (16, 2, [(0, 8, 11)]),
    Q.Q4_1: (16, 2, [(0, 8, 11), (2, 13, 16)]),       # d; m ~ 2^-2 .. 2^1
    Q.Q4_K: (6, 2, [(0, 6, 9), (2, 6, 9)]),           # d, dmin ~ 2^-9 .. 2^-6
    Q.Q6_K: (6, 2, [(208, 6, 9)]),                    # d (last two bytes)
}
F16_SPECIAL = [0x0000, 0x8000, 0x0001, 0x83FF, 0x0400, 0x7BFF, 0xFBFF, 0x7C00, 0xFC00, 0x3C00]
BF16_SPECIAL = [0x0000, 0x8000, 0x0001, 0x807F, 0x0080, 0x7F7F, 0xFF7F, 0x7F80, 0xFF80, 0x3F80]


def prng_blocks(name: str, qtype: Q, n_blocks: int, fields) -> np.ndarray:
    _, type_size = gguf.GGML_QUANT_SIZES[qtype]
    b = (counter_prng.bits(SEED, counter_prng.stream_of(name), n_blocks * type_size) & np.uint64(0xFF)).astype(np.uint8)
    b = b.reshape(n_blocks, type_size)
    for at, lo, hi in fields:
        r = [int(x) for x in counter_prng.bits(SEED, counter_prng.stream_of(f"{name}@{at}"), n_blocks)]
        for blk in range(n_blocks):
            if blk == 0:
                h = 0x0000
            elif blk == 1:
                h = 0x0003
            elif blk == 2:
                h = 0x8000 | (hi << 10)
            else:
                h = ((r[blk] & 1) << 15) | ((lo + (r[blk] >> 1) % (hi - lo + 1)) << 10) | ((r[blk] >> 8) & 0x3FF)
            b[blk, at:at + 2] = [h & 0xFF, h >> 8]
    return b


def half_bits(name: str, special, n: int, inf_mask: int) -> np.ndarray:
    r = (counter_prng.bits(SEED, counter_prng.stream_of(name), n) & np.uint64(0xFFFF)).astype(np.uint16)
    r[(r & inf_mask) == inf_mask] ^= np.uint16(0x4000)
    r[:len(special)] = special
    return r


def f32_bits_rows(values: np.ndarray) -> list[str]:
    """One string per row: each float32 as 8 hex digits of its bit pattern (big-endian digits), concatenated."""
    v = np.ascontiguousarray(values, dtype=np.float32)
    return ["".join(f"{int(x):08x}" for x in row.view(np.uint32)) for row in v]


def metadata_gguf() -> bytes:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "meta.gguf"
        w = gguf.GGUFWriter(str(path), arch="kvbench_golden")
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
        w.write_header_to_file()
        w.write_kv_data_to_file()
        w.write_tensors_to_file()
        w.close()
        data = path.read_bytes()
        r = gguf.GGUFReader(str(path))
        assert len(r.tensors) == 0 and "test.arr_nested" in r.fields
        return data


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", type=Path, default=DEFAULT_OUT)
    args = ap.parse_args()
    cases = []

    def add(name, qtype, raw, rows, source, **recipe):
        raw = np.ascontiguousarray(raw).view(np.uint8).reshape(rows, -1)
        ref = dequantize(raw, qtype).astype(np.float32)
        assert ref.shape[0] == rows
        case = {"name": name, "type": qtype.name, "rows": rows, "row_elems": int(ref.shape[1]), "source": source}
        case.update(recipe)
        if source == "gguf_quantize":
            case["bytes_hex"] = raw.tobytes().hex()
        case["bytes_fnv1a64"] = f"{counter_prng.fnv1a64(raw.tobytes()):016x}"
        case["expected_f32_bits"] = f32_bits_rows(ref)
        cases.append(case)
        return ref

    # Random valid block bytes: all nibble / 6-bit / scale patterns.
    for qt, (n_blocks, rows, fields) in PRNG_BLOCKS.items():
        name = f"{qt.name.lower()}.random"
        add(name, qt, prng_blocks(name, qt, n_blocks, fields), rows, "prng_blocks", n_blocks=n_blocks,
            scale_fields=[{"at": at, "exp_min": lo, "exp_max": hi} for at, lo, hi in fields])

    # F16 / BF16: random finite bit patterns after zeros, subnormals, the largest finite values, infinities, 1.
    add("f16.random", Q.F16, half_bits("f16.random", F16_SPECIAL, 256, 0x7C00), 4, "prng_half_bits",
        n=256, special=[f"{x:04x}" for x in F16_SPECIAL], inf_mask="7c00")
    add("bf16.random", Q.BF16, half_bits("bf16.random", BF16_SPECIAL, 128, 0x7F80), 2, "prng_half_bits",
        n=128, special=[f"{x:04x}" for x in BF16_SPECIAL], inf_mask="7f80")

    # gguf-py's own quantization of PRNG Gaussian data (2 rows of 128): an all-zero block (d = 0) and a ramp.
    x = (0.7 * counter_prng.normal(SEED, counter_prng.stream_of("gaussian"), 256)).astype(np.float32).reshape(2, 128)
    x[0, :32] = 0.0
    x[1, 32:64] = np.linspace(-3, 3, 32)
    for qt in (Q.Q8_0, Q.Q4_0, Q.Q4_1, Q.BF16):
        add(f"{qt.name.lower()}.quantized", qt, quantize(x, qt), 2, "gguf_quantize",
            input="float32(0.7 * normal(seed, stream_of('gaussian'), i)), 2 x 128; row 0 [0, 32) = 0; "
                  "row 1 [32, 64) = float32(numpy.linspace(-3, 3, 32))")

    meta = metadata_gguf()
    doc = {
        "generator": "scripts/parity/gguf_quant_golden.py",
        "command": "~/.venvs/kvpress/bin/python scripts/parity/gguf_quant_golden.py",
        "versions": {"gguf": version("gguf"), "numpy": np.__version__, "python": platform.python_version()},
        "seed": SEED,
        "prng": "scripts/parity/counter_prng.py = tests/counter_prng.h; block recipes: this script's docstring",
        "expected_format": ("expected_f32_bits[row]: gguf-py dequantize() of that row, each float32 as 8 hex digits "
                            "of its bit pattern (most significant first), concatenated"),
        "bytes_fnv1a64": "FNV-1a 64 of the case's raw block bytes (all rows), 16 hex digits",
        "prng_test_vectors": counter_prng.test_vectors(),
        "metadata_gguf": {"about": "metadata-only GGUF (no tensors) written by gguf-py GGUFWriter; one key per value "
                                   "type, test.u8 ... test.arr_nested", "bytes": len(meta), "hex": meta.hex()},
        "cases": cases,
    }
    # One line per case (long lines, but diff-friendly per case).
    head = {k: v for k, v in doc.items() if k != "cases"}
    text = json.dumps(head, indent=2)[:-2] + ',\n  "cases": [\n'
    text += ",\n".join("    " + json.dumps(c) for c in cases) + "\n  ]\n}\n"
    json.loads(text)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(f"wrote {args.out} ({len(text)} bytes): {len(cases)} cases "
          f"({', '.join(c['name'] for c in cases)}), metadata GGUF {len(meta)} bytes")


if __name__ == "__main__":
    main()
