"""Counter-based PRNG shared by the parity scripts and the C++ tests (tests/counter_prng.h implements the same).

Test fixtures (tiny model weights, quant blocks) are generated from this at test time instead of being
committed as binary files, so the Python and C++ implementations must agree bit for bit:

  mix64(z)           SplitMix64's output function (Steele, Lea, Flood 2014):
                       z = (z ^ z >> 30) * 0xBF58476D1CE4E5B9; z = (z ^ z >> 27) * 0x94D049BB133111EB; z ^ z >> 31
  GAMMA              0x9E3779B97F4A7C15
  key(seed, stream)  mix64(mix64(seed + GAMMA) ^ stream)
  bits(seed, stream, i) = mix64(key + (i + 1) * GAMMA)      (the (i+1)-th SplitMix64 output from state `key`)
  stream_of(name)    FNV-1a 64 of the UTF-8 bytes of `name` (e.g. a tensor name)
  uniform(.., i)     (bits(.., i) >> 11) * 2^-53, a double in [0, 1)
  normal(.., i)      Irwin-Hall: s = ((u(4i) + u(4i+1)) + u(4i+2)) + u(4i+3);  (s - 2) * sqrt(3)
                     (mean 0, variance 1, support [-2 sqrt 3, 2 sqrt 3]); all in float64, in this order

All arithmetic is modulo 2^64 or IEEE float64 add / multiply / sqrt (correctly rounded), so no libm
function (log, cos, exp) whose last bit differs between numpy and glibc is involved.
"""
from __future__ import annotations

import math

import numpy as np

MASK = (1 << 64) - 1
GAMMA = 0x9E3779B97F4A7C15
SQRT3 = math.sqrt(3.0)


def _mix64_int(z: int) -> int:
    z &= MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK
    return z ^ (z >> 31)


def _mix64(z: np.ndarray) -> np.ndarray:
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


def fnv1a64(data: bytes) -> int:
    h = 0xCBF29CE484222325
    for b in data:
        h = ((h ^ b) * 0x100000001B3) & MASK
    return h


def stream_of(name: str) -> int:
    return fnv1a64(name.encode("utf-8"))


def key(seed: int, stream: int) -> int:
    return _mix64_int(_mix64_int(seed + GAMMA) ^ stream)


def bits(seed: int, stream: int, n: int, start: int = 0) -> np.ndarray:
    """bits(seed, stream, i) for i in [start, start + n), as uint64."""
    i = np.arange(start, start + n, dtype=np.uint64)
    with np.errstate(over="ignore"):
        return _mix64(np.uint64(key(seed, stream)) + (i + np.uint64(1)) * np.uint64(GAMMA))


def uniform(seed: int, stream: int, n: int) -> np.ndarray:
    """n doubles in [0, 1): (bits >> 11) * 2^-53."""
    return (bits(seed, stream, n) >> np.uint64(11)).astype(np.float64) * 2.0 ** -53


def normal(seed: int, stream: int, n: int) -> np.ndarray:
    """n approximately standard normal doubles (Irwin-Hall sum of 4 uniforms, centred, unit variance)."""
    u = uniform(seed, stream, 4 * n).reshape(n, 4)
    s = ((u[:, 0] + u[:, 1]) + u[:, 2]) + u[:, 3]
    return (s - 2.0) * SQRT3


def test_vectors() -> dict:
    """A few values for the C++ implementation's own unit test (recorded in the golden files)."""
    seed, name = 42, "model.embed_tokens.weight"
    st = stream_of(name)
    return {"seed": seed, "stream_name": name, "stream": f"{st:016x}",
            "bits": [f"{int(b):016x}" for b in bits(seed, st, 3)],
            "uniform": [float(x).hex() for x in uniform(seed, st, 3)],
            "normal": [float(x).hex() for x in normal(seed, st, 3)]}
