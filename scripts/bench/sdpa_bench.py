#!/usr/bin/env python3
"""PyTorch scaled_dot_product_attention timings for the prefill shapes of gpu_attention_bench
(SmolLM2-135M: 9 query heads, 3 KV heads, D=64, causal, one layer, whole prompt at once).
Writes "tokens dtype ms" lines for `kvb_gpu_attention_bench --sdpa FILE`; exits 0 with a note
when torch or a CUDA device is missing. Usage: sdpa_bench.py OUT_FILE [tokens,...]"""
import sys


def main() -> int:
    out_path = sys.argv[1] if len(sys.argv) > 1 else "/dev/stdout"
    tokens = [int(t) for t in (sys.argv[2] if len(sys.argv) > 2 else "8192,32768,131072").split(",") if t]
    try:
        import torch
        import torch.nn.functional as F
    except Exception as e:  # noqa: BLE001 - any import failure means "no torch here"
        print(f"sdpa_bench: PyTorch not importable ({e}); no SDPA column")
        open(out_path, "w").write(f"# torch not importable: {e}\n")
        return 0
    if not torch.cuda.is_available():
        print("sdpa_bench: torch.cuda.is_available() is False; no SDPA column")
        open(out_path, "w").write("# torch has no CUDA device\n")
        return 0
    hq, hkv, d = 9, 3, 64
    lines = [f"# torch {torch.__version__} on {torch.cuda.get_device_name()}"]
    for n in tokens:
        for name, dtype in (("fp32", torch.float32), ("bf16", torch.bfloat16)):
            try:
                g = torch.Generator(device="cuda").manual_seed(0)
                q = torch.randn(1, hq, n, d, device="cuda", dtype=dtype, generator=g)
                k = torch.randn(1, hkv, n, d, device="cuda", dtype=dtype, generator=g)
                v = torch.randn(1, hkv, n, d, device="cuda", dtype=dtype, generator=g)
                try:
                    def run():
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True)
                    run()
                except TypeError:  # torch < 2.5: no enable_gqa; expand K/V outside the timed region
                    k = k.repeat_interleave(hq // hkv, dim=1)
                    v = v.repeat_interleave(hq // hkv, dim=1)

                    def run():
                        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
                run()
                torch.cuda.synchronize()
                reps = 2 if n >= 65536 else 5
                start, stop = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
                start.record()
                for _ in range(reps):
                    run()
                stop.record()
                torch.cuda.synchronize()
                ms = start.elapsed_time(stop) / reps
                lines.append(f"{n} {name} {ms:.4f}")
                print(f"sdpa_bench: {n} tokens {name}: {ms:.2f} ms")
            except Exception as e:  # noqa: BLE001 - e.g. out of memory in the math backend
                lines.append(f"# {n} {name} failed: {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
                print(f"sdpa_bench: {n} tokens {name} failed: {e}")
            finally:
                torch.cuda.empty_cache()
    open(out_path, "w").write("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
