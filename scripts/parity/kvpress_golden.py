#!/usr/bin/env python3
"""Golden decisions of NVIDIA kvpress 0.5.5 presses on the tiny GQA llama (tests/golden/tiny/llama_gqa).
Its weights are not committed: make_tiny_models.materialize() rebuilds the checkpoint in a temporary
directory from the counter PRNG (checking every tensor against weights.json's digests) before it is loaded.

For every press kvbench shares with kvpress this records, per compression ratio (0.25/0.5/0.75) and per
mode (query-agnostic: the context is compressed, the question is prefilled afterwards on the compressed
cache, as kvpress's pipeline does; query-aware: context + question are prefilled together under the
press), which original token positions every (layer, KV head) keeps, the press parameters as used, and
the 8-token greedy continuation (argmax, EOS ignored). ThinK also records the key channels kept per head.
Writes one JSON file per press into --out (default tests/golden/kvpress). docs/kvpress-notes.md
describes the algorithms these files pin down.

kvpress's own press objects are used unchanged, applied through kvpress's own forward hooks
(`with press(model):`); kept positions are read back from the cache (rows matched exactly against an
uncompressed prefill) or, for head-wise presses (AdaKV, DuoAttention), from the `masked_key_indices` that
kvpress leaves on each attention module. Nothing of kvpress is reimplemented here.

Environment: kvpress 0.5.5 pins transformers<5.3 and reads the `cache_position` hook kwarg that
transformers 5.23 no longer passes, so this runs in its own venv:
    python3 -m venv ~/.venvs/kvpress
    ~/.venvs/kvpress/bin/pip install torch==2.15.0 kvpress-0.5.5-py3-none-any.whl   # -> transformers 5.2.0
    ~/.venvs/kvpress/bin/python scripts/parity/kvpress_golden.py --out tests/golden/kvpress
(`--tie-experiment` prints the torch.topk tie-breaking experiment quoted in docs/kvpress-notes.md;
`--fake-logit-experiment` prints the attention logits of kvpress's fake keys quoted there (section 9);
`--scores DIR` additionally dumps every press's raw scores for debugging, not committed.)
"""
import argparse
import json
import math
import platform
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

torch.set_num_threads(1)

import transformers  # noqa: E402

if tuple(int(x) for x in transformers.__version__.split(".")[:2]) >= (5, 3):
    sys.exit(f"kvpress 0.5.5 needs transformers < 5.3 (found {transformers.__version__}, which no longer passes "
             "cache_position to attention hooks); run with ~/.venvs/kvpress/bin/python (see this file's docstring)")

import kvpress  # noqa: E402  (patches transformers' attention functions on import)
from kvpress import (AdaKVPress, DuoAttentionPress, ExpectedAttentionPress, KnormPress,  # noqa: E402
                     ObservedAttentionPress, PyramidKVPress, SnapKVPress, StreamingLLMPress, ThinKPress,
                     TOVAPress)
from kvpress.presses.block_press import BlockPress  # noqa: E402
from kvpress.presses.chunk_press import ChunkPress  # noqa: E402
from kvpress.presses.chunkkv_press import ChunkKVPress  # noqa: E402
from kvpress.presses.criticalkv_press import CriticalAdaKVPress, CriticalKVPress  # noqa: E402
from kvpress.presses.keydiff_press import KeyDiffPress  # noqa: E402
from kvpress.presses.lagkv_press import LagKVPress  # noqa: E402
from kvpress.presses.per_layer_compression_press import PerLayerCompressionPress  # noqa: E402
from kvpress.presses.simlayerkv_press import SimLayerKVPress  # noqa: E402
from kvpress.presses.scorer_press import ScorerPress  # noqa: E402
from kvpress.utils import compute_n_kept  # noqa: E402
from transformers import AutoModelForCausalLM, DynamicCache  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(Path(__file__).resolve().parent))
from make_tiny_models import materialize  # noqa: E402

MODEL_NAME = "llama_gqa"
MODEL_DIR = None   # set by main(): a temporary directory holding the materialized checkpoint
PROMPT_SEED = 20250917
N_CONTEXT, N_QUESTION = 120, 10
MAX_NEW_TOKENS = 8
RATIOS = [0.25, 0.5, 0.75]
MODES = ["query_agnostic", "query_aware"]

# DuoAttention needs published per-head patterns (downloaded from the DuoAttention repo for six Hub
# checkpoints); for the tiny model we hand it this constructed pattern instead, through the press's own
# `load_attention_pattern` hook. head_scores[layer][kv_head], distinct values (np.argsort ties avoided).
DUO_SINK_SIZE, DUO_RECENT_SIZE = 4, 16
DUO_HEAD_SCORES = [[0.9, 0.1], [0.4, 0.7]]

# Presses whose kept sets are read from kvpress's head masks (masked_key_indices) instead of the cache rows.
HEAD_MASK_PRESSES = ("adakv", "duo_attention", "criticaladakv")


def per_layer_ratios(r):
    """PerLayerCompressionPress's ratios on the 2-layer tiny model for the case ratio r: layer 0 at r, layer 1 at
    r - 0.25 (0.0 at r = 0.25: that layer is left whole)."""
    return [r, max(0.0, r - 0.25)]

# press id -> (kvpress class name, attn_implementation, [(config name, factory(ratio) -> press, params)])
def press_table():
    t = {}
    t["streaming_llm"] = ("StreamingLLMPress", "sdpa", [
        ("default", lambda r: StreamingLLMPress(compression_ratio=r), {"n_sink": 4})])
    t["h2o"] = ("ObservedAttentionPress", "eager", [
        ("default", lambda r: ObservedAttentionPress(compression_ratio=r), {})])
    t["tova"] = ("TOVAPress", "sdpa", [
        ("default", lambda r: TOVAPress(compression_ratio=r), {})])
    t["snapkv"] = ("SnapKVPress", "sdpa", [
        ("default", lambda r: SnapKVPress(compression_ratio=r), {"window_size": 64, "kernel_size": 5}),
        ("w16_k5", lambda r: SnapKVPress(compression_ratio=r, window_size=16, kernel_size=5),
         {"window_size": 16, "kernel_size": 5})])
    t["pyramidkv"] = ("PyramidKVPress", "sdpa", [
        ("default", lambda r: PyramidKVPress(compression_ratio=r), {"window_size": 64, "kernel_size": 5, "beta": 20}),
        ("w16_k5_b20", lambda r: PyramidKVPress(compression_ratio=r, window_size=16, kernel_size=5, beta=20),
         {"window_size": 16, "kernel_size": 5, "beta": 20})])
    t["knorm"] = ("KnormPress", "sdpa", [
        ("default", lambda r: KnormPress(compression_ratio=r), {})])
    ea_default = {"n_future_positions": 512, "n_sink": 4, "use_covariance": True, "use_vnorm": True, "epsilon": 0.0}
    ea_alt = {"n_future_positions": 64, "n_sink": 2, "use_covariance": False, "use_vnorm": True, "epsilon": 0.01}
    t["expected_attention"] = ("ExpectedAttentionPress", "sdpa", [
        ("default", lambda r: ExpectedAttentionPress(compression_ratio=r), ea_default),
        ("nf64_sink2_nocov_eps0.01", lambda r: ExpectedAttentionPress(compression_ratio=r, **ea_alt), ea_alt)])
    t["adakv"] = ("AdaKVPress", "sdpa", [
        ("snapkv_w16_k5", lambda r: AdaKVPress(SnapKVPress(compression_ratio=r, window_size=16, kernel_size=5)),
         {"scorer": "snapkv", "window_size": 16, "kernel_size": 5, "alpha_safeguard": 0.2}),
        ("expected_attention_default", lambda r: AdaKVPress(ExpectedAttentionPress(compression_ratio=r)),
         dict(scorer="expected_attention", alpha_safeguard=0.2, **ea_default))])
    t["think"] = ("ThinKPress", "sdpa", [
        ("default", lambda r: ThinKPress(key_channel_compression_ratio=r), {"window_size": 32})])
    t["duo_attention"] = ("DuoAttentionPress", "sdpa", [
        ("constructed_pattern", lambda r: DuoAttentionPress(head_compression_ratio=r),
         {"sink_size": DUO_SINK_SIZE, "recent_size": DUO_RECENT_SIZE, "head_scores": DUO_HEAD_SCORES,
          "pattern_source": "constructed (kvpress downloads real patterns only for six Hub checkpoints)"})])
    # Methods wave 2. Parameter names are kvbench's where they differ from kvpress's (scorer, critical_epsilon,
    # layer_ratios); window_size is mapped to window by the C++ test as above.
    snap16 = {"scorer": "snapkv", "window_size": 16, "kernel_size": 5}
    t["keydiff"] = ("KeyDiffPress", "sdpa", [
        ("default", lambda r: KeyDiffPress(compression_ratio=r), {})])
    t["lagkv"] = ("LagKVPress", "sdpa", [
        ("default", lambda r: LagKVPress(compression_ratio=r), {"n_sink": 4, "lag_size": 128, "cross_scoring": False}),
        ("sink4_lag16", lambda r: LagKVPress(compression_ratio=r, n_sink=4, lag_size=16),
         {"n_sink": 4, "lag_size": 16, "cross_scoring": False}),
        ("sink2_lag24_cross", lambda r: LagKVPress(compression_ratio=r, n_sink=2, lag_size=24, cross_scoring=True),
         {"n_sink": 2, "lag_size": 24, "cross_scoring": True})])
    t["chunkkv"] = ("ChunkKVPress", "sdpa", [
        ("snapkv_w16_k5_chunk20", lambda r: ChunkKVPress(SnapKVPress(compression_ratio=r, window_size=16, kernel_size=5),
                                                          chunk_length=20), dict(snap16, chunk_length=20)),
        ("knorm_chunk16", lambda r: ChunkKVPress(KnormPress(compression_ratio=r), chunk_length=16),
         {"scorer": "knorm", "chunk_length": 16})])
    t["criticalkv"] = ("CriticalKVPress", "sdpa", [
        ("snapkv_w16_k5", lambda r: CriticalKVPress(SnapKVPress(compression_ratio=r, window_size=16, kernel_size=5)),
         dict(snap16, critical_epsilon=1e-4, first_stage_ratio=0.5)),
        ("expected_attention_novnorm_fs0.25", lambda r: CriticalKVPress(
            ExpectedAttentionPress(compression_ratio=r, use_vnorm=False), first_stage_ratio=0.25),
         dict(ea_default, scorer="expected_attention", use_vnorm=False, critical_epsilon=1e-4, first_stage_ratio=0.25))])
    t["criticaladakv"] = ("CriticalAdaKVPress", "sdpa", [
        ("snapkv_w16_k5", lambda r: CriticalAdaKVPress(SnapKVPress(compression_ratio=r, window_size=16, kernel_size=5)),
         dict(snap16, alpha_safeguard=0.2, critical_epsilon=1e-4, first_stage_ratio=0.5)),
        # keydiff, not knorm: a repeated prompt token has the same value (same ||v W_o||) at both positions and
        # knorm scores that differ only by RoPE rounding, so knorm cuts between such copies are float coin flips
        # (docs/kvpress-notes.md, "Golden files"); knorm_fs0.25 hit one at query-aware r=0.5, layer 0.
        ("keydiff_fs0.25", lambda r: CriticalAdaKVPress(KeyDiffPress(compression_ratio=r), first_stage_ratio=0.25),
         {"scorer": "keydiff", "alpha_safeguard": 0.2, "critical_epsilon": 1e-4, "first_stage_ratio": 0.25})])
    # SimLayerKV ignores the compression ratio (kvpress: its ratio cannot be set); the tiny model's lazy-layer
    # scores (query-agnostic / query-aware) are about 0.204 / 0.191 and 0.387 / 0.221 for n_recent=32, and
    # 0.448 / 0.451 and 0.655 / 0.452 for n_recent=64, so these thresholds make some layers lazy and not others.
    t["simlayerkv"] = ("SimLayerKVPress", "sdpa", [
        ("thr0.2_recent32", lambda r: SimLayerKVPress(lazy_threshold=0.2, n_last=1, n_recent=32, n_initial=4),
         {"lazy_threshold": 0.2, "n_last": 1, "n_recent": 32, "n_initial": 4}),
        ("thr0.449_recent64_initial2", lambda r: SimLayerKVPress(lazy_threshold=0.449, n_last=1, n_recent=64,
                                                                 n_initial=2),
         {"lazy_threshold": 0.449, "n_last": 1, "n_recent": 64, "n_initial": 2})])
    t["chunk"] = ("ChunkPress", "sdpa", [
        ("knorm_chunk32", lambda r: ChunkPress(KnormPress(compression_ratio=r), chunk_length=32),
         {"scorer": "knorm", "chunk_length": 32}),
        ("keydiff_chunk48", lambda r: ChunkPress(KeyDiffPress(compression_ratio=r), chunk_length=48),
         {"scorer": "keydiff", "chunk_length": 48})])
    t["block"] = ("BlockPress", "sdpa", [
        ("keydiff_block32", lambda r: BlockPress(KeyDiffPress(compression_ratio=r), block_size=32),
         {"scorer": "keydiff", "block_size": 32}),
        ("lagkv_sink4_lag8_block16", lambda r: BlockPress(LagKVPress(compression_ratio=r, n_sink=4, lag_size=8),
                                                          block_size=16),
         {"scorer": "lagkv", "n_sink": 4, "lag_size": 8, "cross_scoring": False, "block_size": 16})])
    t["per_layer"] = ("PerLayerCompressionPress", "sdpa", [
        ("snapkv_w16_k5", lambda r: PerLayerCompressionPress(
            SnapKVPress(window_size=16, kernel_size=5), compression_ratios=per_layer_ratios(r)),
         dict(snap16)),
        ("knorm", lambda r: PerLayerCompressionPress(KnormPress(), compression_ratios=per_layer_ratios(r)),
         {"scorer": "knorm"})])
    return t


def make_prompt():
    rng = np.random.default_rng(PROMPT_SEED)
    ctx = rng.integers(1, 320, size=N_CONTEXT).tolist()   # ids in [1, 319]
    q = rng.integers(1, 320, size=N_QUESTION).tolist()
    return [int(x) for x in ctx], [int(x) for x in q]


def load_model(attn):
    m = AutoModelForCausalLM.from_pretrained(str(MODEL_DIR), dtype=torch.float32, attn_implementation=attn)
    m.eval()
    return m


def load_check(model):
    """Max |logit diff| / max |logit| against the checkpoint's own golden.json (different transformers)."""
    g = json.loads((MODEL_DIR / "golden.json").read_text())
    worst = 0.0
    with torch.no_grad():
        for ids, ref in zip(g["prompts"], g["logits"]):
            out = model(input_ids=torch.tensor([ids])).logits[0]
            ref = torch.tensor(ref)
            worst = max(worst, float((out - ref).abs().max() / ref.abs().max()))
    return worst


def greedy_after(model, cache, first_logits, start_pos):
    """kvpress pipeline.generate_answer's loop after its first token, without the EOS stop."""
    def margin(lg):
        top = torch.topk(lg, 2).values
        return rounded(float(top[0] - top[1]), 4)
    toks = [int(first_logits.argmax())]
    margins = [margin(first_logits)]
    pos = start_pos
    with torch.no_grad():
        for i in range(MAX_NEW_TOKENS - 1):
            out = model(input_ids=torch.tensor([[toks[-1]]]), past_key_values=cache,
                        position_ids=torch.tensor([[pos + i]]))
            toks.append(int(out.logits[0, -1].argmax()))
            margins.append(margin(out.logits[0, -1]))
    return toks, margins


def run(model, press, ctx, q, mode, drop_exactly=False):
    """Returns (cache snapshot after the compressed prefill, head masks, greedy tokens). press=None: full
    attention. drop_exactly: decode with the head-wise masks applied as -inf logits (see exact_drop)."""
    cache = DynamicCache()
    compressed = ctx + q if mode == "query_aware" else ctx
    ids = torch.tensor([compressed])
    with torch.no_grad():
        cm = press(model) if press is not None else _null()
        with cm:
            if mode == "query_aware":
                out = model(input_ids=ids, past_key_values=cache, logits_to_keep=1)
                first_logits = out.logits[0, -1]
            else:
                model.model(input_ids=ids, past_key_values=cache)   # as pipeline._forward: no lm head
        snapshot = [(cache.layers[l].keys.clone(), cache.layers[l].values.clone()) for l in range(len(cache))]
        masked = [getattr(layer.self_attn, "masked_key_indices", None) for layer in model.model.layers]
        masked = [None if m is None else tuple(t.clone() for t in m) for m in masked]
        post = exact_drop(model, masked) if drop_exactly else _null()
        post.__enter__()
        try:
            if mode == "query_agnostic":
                n = len(ctx)
                pos = torch.arange(n, n + len(q)).unsqueeze(0)       # as pipeline.generate_answer
                out = model(input_ids=torch.tensor([q]), past_key_values=cache, position_ids=pos, logits_to_keep=1)
                first_logits = out.logits[0, -1]
                start = n + len(q)
            else:
                start = len(compressed)
            toks = greedy_after(model, cache, first_logits, start)
        except RuntimeError as e:   # kvpress itself fails here (recorded, see the JSON's "error")
            toks = (None, None, f"{type(e).__name__}: {e}")
        finally:
            post.__exit__()
    for layer in model.model.layers:                           # do not leak head masks into the next run
        layer.self_attn.masked_key_indices = None
    return snapshot, masked, toks


class exact_drop:
    """Diagnostic for head-wise presses (AdaKV, DuoAttention): instead of kvpress's fake keys (attention_patch:
    one key per KV head built from the current queries so that exp(q.k) is meant to underflow), give the masked
    entries an attention logit of -inf, i.e. drop them exactly as a per-head cache eviction would. kvpress's
    own masks are only moved aside while this context is active."""

    def __init__(self, model, masked):
        self.model, self.masked = model, masked

    def __enter__(self):
        from transformers.modeling_utils import ALL_ATTENTION_FUNCTIONS
        self.table = ALL_ATTENTION_FUNCTIONS
        self.orig = ALL_ATTENTION_FUNCTIONS["sdpa"]
        by_module = {id(layer.self_attn): m for layer, m in zip(self.model.model.layers, self.masked)}
        orig = self.orig

        def fn(module, query, key, value, attention_mask, dropout=0.0, **kw):
            m = by_module.get(id(module))
            if m is None or query.shape[2] == key.shape[2]:
                return orig(module, query, key, value, attention_mask, dropout, **kw)
            b, hq, ql, _ = query.shape
            kl = key.shape[2]
            groups = hq // key.shape[1]
            allow = torch.ones(b, hq, ql, kl, dtype=torch.bool)
            if attention_mask is not None:
                am = attention_mask if attention_mask.dtype == torch.bool else attention_mask == 0
                allow &= am[..., -kl:].expand(b, hq, ql, kl)
            elif ql > 1:   # causal with the cache in front
                allow &= torch.ones(ql, kl, dtype=torch.bool).tril(kl - ql)
            bi, hi, si = m
            for g in range(groups):
                allow[bi, hi * groups + g, :, si] = False
            return orig(module, query, key, value, allow, dropout, **kw)
        self.table["sdpa"] = fn
        self.saved = [layer.self_attn.masked_key_indices for layer in self.model.model.layers]
        for layer in self.model.model.layers:
            layer.self_attn.masked_key_indices = None
        return self

    def __exit__(self, *a):
        self.table["sdpa"] = self.orig
        for layer, m in zip(self.model.model.layers, self.saved):
            layer.self_attn.masked_key_indices = m
        return False


class _null:
    def __enter__(self):
        return self

    def __exit__(self, *a):
        return False


def kept_from_rows(full_keys, comp_keys):
    """Original positions of the rows of comp_keys [Hkv, n, D] inside full_keys [Hkv, T, D] (exact match)."""
    kept = []
    for h in range(full_keys.shape[0]):
        f, c = full_keys[h], comp_keys[h]
        eq = (c[:, None, :] == f[None, :, :]).all(dim=-1)   # [n, T] bitwise row equality
        assert bool((eq.sum(dim=1) == 1).all()), "compressed row not found exactly once in the full cache"
        best = eq.int().argmax(dim=1)
        pos = sorted(int(x) for x in best)
        assert len(set(pos)) == len(pos)
        kept.append(pos)
    return kept


def kept_from_mask(masked, n_heads, t_len):
    kept = []
    for h in range(n_heads):
        dropped = set()
        if masked is not None:
            _, hi, si = masked
            dropped = {int(s) for hh, s in zip(hi.tolist(), si.tolist()) if hh == h}
        kept.append([p for p in range(t_len) if p not in dropped])
    return kept


def gaps(score_rows, n_kept_per_head):
    """Per head: (k-th best score) - ((k+1)-th best score); 0 means the cut falls inside a tie."""
    out = []
    for s, k in zip(score_rows, n_kept_per_head):
        s = sorted(s, reverse=True)
        out.append(None if k >= len(s) or k == 0 else float(s[k - 1] - s[k]))
    return out


def instrument_scores(press, sink):
    """Capture the score tensor a ScorerPress computes, per layer (reference kept: AdaKV edits it in place)."""
    inner = press.press if isinstance(press, AdaKVPress) else press
    if not isinstance(inner, ScorerPress):
        return
    orig = inner.score

    def score(module, *a, **k):
        s = orig(module, *a, **k)
        sink[module.layer_idx] = s
        return s
    inner.score = score


def rounded(x, nd=7):
    return float(f"{x:.{nd}g}")


def fmt(obj, indent=0):
    """JSON with scalar lists (and lists of scalar lists) on one line."""
    pad = " " * indent
    def flat(o):
        return not isinstance(o, (dict, list)) or (isinstance(o, list) and all(
            not isinstance(e, (dict, list)) or (isinstance(e, list) and all(not isinstance(z, (dict, list)) for z in e))
            for e in o))
    if isinstance(obj, dict):
        items = [f'{pad} {json.dumps(k)}: {fmt(v, indent + 1).lstrip()}' for k, v in obj.items()]
        return pad + "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(obj, list) and not flat(obj):
        return pad + "[\n" + ",\n".join(fmt(v, indent + 1) for v in obj) + "\n" + pad + "]"
    return pad + json.dumps(obj, separators=(", ", ": "))


def tie_experiment():
    torch.manual_seed(0)
    print("torch", torch.__version__, "CPU topk on tied values:")
    for n, k in [(8, 3), (64, 16), (120, 30), (120, 60), (1000, 3), (1000, 500)]:
        idx = torch.topk(torch.ones(n), k).indices.tolist()
        print(f"  all-equal n={n} k={k}: indices={idx[:8]}{'...' if k > 8 else ''} lowest-k={sorted(idx) == list(range(k))}")
    bad = 0
    for _ in range(2000):
        n = int(torch.randint(5, 300, (1,)))
        x = torch.randint(0, 6, (n,)).float()
        k = int(torch.randint(1, n, (1,)))
        got = set(torch.topk(x, k).indices.tolist())
        ref = set(torch.sort(x, descending=True, stable=True).indices[:k].tolist())
        bad += got != ref
    print(f"  random ties: kept set != 'lowest index first' in {bad}/2000 trials")


def fake_logit_experiment(model, ctx, q):
    """Largest attention logit (q.k / sqrt(D)) that kvpress's fake keys (attention_patch.search_hyperplane)
    give any query, separately for single-token decode steps and multi-token forwards (the question
    prefill), over every adakv / duo_attention case of the goldens."""
    import kvpress.attention_patch as ap
    orig = ap.search_hyperplane
    groups = model.config.num_attention_heads // model.config.num_key_value_heads
    worst = {}

    def patched(X, max_iter=1000):
        K = orig(X, max_iter)
        logit = float((torch.bmm(X.float(), K.float().unsqueeze(-1)) / math.sqrt(X.shape[-1])).max())
        kind = "single-token steps" if X.shape[1] == groups else "multi-token forwards"
        worst[kind] = max(worst.get(kind, -math.inf), logit)
        return K
    ap.search_hyperplane = patched
    try:
        table = press_table()
        for pid in ("adakv", "duo_attention"):
            for cname, factory, _ in table[pid][2]:
                for mode in MODES:
                    for r in RATIOS:
                        run(model, factory(r), ctx, q, mode)
    finally:
        ap.search_hyperplane = orig
    for kind, v in sorted(worst.items()):
        print(f"fake-key attention logit, {kind}: max over queries and cases = {v:.4g}")


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--out", default=str(REPO / "tests/golden/kvpress"))
    ap.add_argument("--only", nargs="*", help="press ids to (re)generate")
    ap.add_argument("--scores", help="also dump raw scores per case into this directory (debugging)")
    ap.add_argument("--tie-experiment", action="store_true")
    ap.add_argument("--fake-logit-experiment", action="store_true")
    args = ap.parse_args()
    transformers.utils.logging.disable_progress_bar()
    if args.tie_experiment:
        tie_experiment()
        return
    out_dir = Path(args.out)
    out_dir.mkdir(parents=True, exist_ok=True)
    global MODEL_DIR
    tmp = tempfile.TemporaryDirectory(prefix="kvpress_golden_")
    MODEL_DIR = materialize(MODEL_NAME, Path(tmp.name) / MODEL_NAME)
    ctx, q = make_prompt()

    # DuoAttention: feed the constructed pattern through kvpress's own loading hook (no download).
    DuoAttentionPress.load_attention_pattern = staticmethod(
        lambda model: (DUO_SINK_SIZE, DUO_RECENT_SIZE, np.array(DUO_HEAD_SCORES, dtype=float)))

    versions = {"kvpress": "0.5.5", "torch": torch.__version__, "transformers": transformers.__version__,
                "numpy": np.__version__, "python": platform.python_version()}
    header_base = {
        "generator": "scripts/parity/kvpress_golden.py",
        "command": "~/.venvs/kvpress/bin/python scripts/parity/kvpress_golden.py --out tests/golden/kvpress",
        "versions": versions,
        "model": "tests/golden/tiny/llama_gqa",
        "model_weights": "counter PRNG, rebuilt by make_tiny_models.materialize() (digests in weights.json)",
        "dtype": "float32",
        "device": "cpu, torch.set_num_threads(1)",
    }
    models = {}
    full = {}
    for attn in ["sdpa", "eager"]:
        models[attn] = load_model(attn)
        full[attn] = {}
        for mode in MODES:
            snap, _, toks = run(models[attn], None, ctx, q, mode)
            full[attn][mode] = (snap, toks)
    if args.fake_logit_experiment:
        fake_logit_experiment(models["sdpa"], ctx, q)
        return
    check = load_check(models["eager"])
    assert check < 1e-4, f"tiny model loads differently under transformers {transformers.__version__}: {check}"
    header_base["load_check_max_rel_logit_diff_vs_tiny_golden"] = rounded(check, 3)

    prompt = {"seed": PROMPT_SEED, "generator": "numpy.random.default_rng(seed).integers(1, 320, size=n): context then question",
              "context_ids": ctx, "question_ids": q}
    modes_doc = {
        "query_agnostic": "press active while model.model(context) prefills positions 0..T-1 (T=len(context)); "
                          "press context exited; question fed with position_ids T..T+Q-1 on the compressed cache; "
                          "first token = argmax of its last logits; then 7 single-token steps at positions T+Q, T+Q+1, ...",
        "query_aware": "press active while model(context+question) prefills positions 0..T-1 (T=len(context)+len(question)); "
                       "first token = argmax of that prefill's last logits (the prefill itself attends to the full "
                       "cache: kvpress compresses each layer after its attention ran); then 7 single-token steps at "
                       "positions T, T+1, ... on the compressed cache",
    }

    table = press_table()
    for pid, (cls, attn, configs) in table.items():
        if args.only and pid not in args.only:
            continue
        model = models[attn]
        cases = []
        for cname, factory, params in configs:
            for mode in MODES:
                full_snap, _ = full[attn][mode]
                t_len = full_snap[0][0].shape[2]
                for r in RATIOS:
                    press = factory(r)
                    scores = {}
                    instrument_scores(press, scores)
                    snap, masked, toks = run(model, press, ctx, q, mode)
                    n_layers = len(snap)
                    n_kv = snap[0][0].shape[1]
                    case = {"config": cname, "mode": mode, "compression_ratio": r,
                            "params": dict(params), "n_compressed_tokens": t_len}
                    kept, channels = [], []
                    for l in range(n_layers):
                        k_comp = snap[l][0][0]
                        k_full = full_snap[l][0][0]
                        if pid in HEAD_MASK_PRESSES:
                            assert k_comp.shape == k_full.shape
                            kept.append(kept_from_mask(masked[l], n_kv, t_len))
                        elif pid == "think":
                            assert k_comp.shape == k_full.shape
                            kept.append([list(range(t_len)) for _ in range(n_kv)])
                            zero_now = (k_comp == 0).all(dim=1)           # [Hkv, D]
                            zero_before = (k_full == 0).all(dim=1)
                            pruned = zero_now & ~zero_before
                            channels.append([[c for c in range(k_comp.shape[2]) if not bool(pruned[h, c])]
                                             for h in range(n_kv)])
                            # the rest of the key must be untouched
                            assert torch.equal(k_comp[~pruned.unsqueeze(1).expand_as(k_comp)],
                                               k_full[~pruned.unsqueeze(1).expand_as(k_full)])
                        else:
                            kept.append(kept_from_rows(k_full, k_comp))
                    case["n_kept"] = [[len(h) for h in layer] for layer in kept]
                    if pid == "think":   # ThinK prunes key channels, never tokens: every position is kept
                        assert all(h == list(range(t_len)) for layer in kept for h in layer)
                        case["kept"] = "all"
                    else:
                        case["kept"] = kept
                    if pid == "think":
                        case["params"]["key_channel_compression_ratio"] = r
                        case["n_pruned_channels"] = int(16 * r)
                        case["kept_channels"] = channels
                    if pid == "duo_attention":
                        case["params"]["head_compression_ratio"] = r
                        case["streaming_mask"] = press.streaming_mask.int().tolist()
                        case["compression_ratio_"] = rounded(press.compression_ratio_)
                    if pid == "per_layer":
                        case["params"]["layer_ratios"] = ",".join(str(x) for x in per_layer_ratios(r))
                    if pid == "simlayerkv":
                        case["lazy_layer_ratios"] = [rounded(x) for x in press.compression_ratios]
                    if pid == "pyramidkv":
                        from types import SimpleNamespace
                        case["layer_budget"] = [press.get_layer_budget(
                            SimpleNamespace(layer_idx=l, config=model.config), t_len) for l in range(n_layers)]
                    elif pid not in ("think", "duo_attention", "simlayerkv", "per_layer"):
                        case["n_kept_formula"] = compute_n_kept(t_len, r)
                    if scores:
                        if pid in ("adakv", "criticaladakv"):
                            # global cut over all heads of the layer, on the safeguarded scores
                            g = []
                            for l in range(n_layers):
                                s = scores[l][0].flatten().tolist()
                                g.append(gaps([s], [sum(case["n_kept"][l])])[0])
                            case["cutoff_gap"] = [None if x is None else rounded(x, 4) for x in g]
                        else:
                            case["cutoff_gap"] = [[None if x is None else rounded(x, 4) for x in
                                                   gaps(scores[l][0].tolist(), case["n_kept"][l])]
                                                  for l in range(n_layers)]
                    if args.scores:
                        sd = Path(args.scores)
                        sd.mkdir(parents=True, exist_ok=True)
                        (sd / f"{pid}.{cname}.{mode}.{r}.json").write_text(json.dumps(
                            {l: scores[l][0].tolist() for l in scores}))
                    case["greedy"], case["greedy_top2_margin"] = toks[0], toks[1]
                    if pid in HEAD_MASK_PRESSES:
                        _, _, toks2 = run(model, factory(r), ctx, q, mode, drop_exactly=True)
                        case["greedy_exact_drop"], case["greedy_exact_drop_top2_margin"] = toks2[0], toks2[1]
                    if len(toks) > 2:
                        case["error"] = ("kvpress pipeline step failed after compression (the question prefill on a "
                                         "cache whose layers hold different numbers of entries): " + toks[2])
                    cases.append(case)
                    print(pid, cname, mode, r, "kept", case["n_kept"], "greedy", toks[0], "min margin", toks[1] and min(toks[1]), flush=True)
        doc = {
            "press_id": pid,
            "kvpress_class": cls,
            "header": dict(header_base, attn_implementation=attn),
            "prompt": prompt,
            "modes": modes_doc,
            "max_new_tokens": MAX_NEW_TOKENS,
            "greedy_rule": "argmax of logits (first maximum), EOS ignored; greedy_top2_margin = top1 - top2 logit per step",
            "greedy_exact_drop_note": ("adakv / duo_attention / criticaladakv only: the same kept sets, but decoded with the dropped entries "
                                       "given -inf attention logits instead of kvpress's fake keys (which do not always get "
                                       "zero weight during the multi-token question prefill); a cache that evicts per head "
                                       "computes this one"),
            "kept_format": "kept[layer][kv_head] = original positions (0-based, ascending) still attended after compression",
            "cutoff_gap_format": ("per layer and KV head (adakv: per layer, global over heads): k-th best score minus "
                                  "(k+1)-th best score of kvpress's score tensor at the cut; 0.0 = the cut falls in a tie, "
                                  "decided by torch.topk's tie order (docs/kvpress-notes.md); null = nothing dropped"),
            "baseline_full_attention": {m: {"greedy": full[attn][m][1][0], "greedy_top2_margin": full[attn][m][1][1]}
                                        for m in MODES},
            "cases": cases,
        }
        (out_dir / f"{pid}.json").write_text(fmt(doc) + "\n")
    # full-attention baseline on its own
    if not args.only or "full" in args.only:
        doc = {"press_id": "full", "header": dict(header_base, attn_implementation="sdpa and eager"),
               "prompt": prompt, "modes": modes_doc, "max_new_tokens": MAX_NEW_TOKENS,
               "greedy": {attn: {m: {"greedy": full[attn][m][1][0], "greedy_top2_margin": full[attn][m][1][1]}
                                  for m in MODES} for attn in ["sdpa", "eager"]}}
        (out_dir / "full.json").write_text(fmt(doc) + "\n")


if __name__ == "__main__":
    main()
