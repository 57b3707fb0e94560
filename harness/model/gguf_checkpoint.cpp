// load_gguf_checkpoint: model config, tokenizer spec, chat template and float32 weights from one
// .gguf file, reading llama.cpp's metadata keys (<arch>.*, tokenizer.ggml.*, tokenizer.chat_template).
// Exercise: ctest -R Gguf (stories260K and SmolLM2-135M-Instruct Q4_1, plus malformed files).
#include <algorithm>
#include <cmath>
#include <limits>
#include <unordered_map>

#include "core/error.h"
#include "model/checkpoint.h"
#include "model/gguf.h"

namespace kvb {
namespace {

constexpr int64_t kMaxInt = std::numeric_limits<int32_t>::max();

// A per-model integer that llama.cpp allows to be either a scalar or a per-layer array; kvbench
// needs one value for every layer.
std::optional<int64_t> uniform_int(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
  const GgufValue* v = f.find(key);
  if (!v) return std::nullopt;
  if (v->type != GgufType::Array) return f.get_int(key, lo, hi);
  auto values = f.get_int_array(key);
  const std::string p = f.path().string();
  KVB_CHECK(!values->empty(), "{}: metadata key '{}' is an empty array", p, key);
  for (auto x : *values) {
    KVB_CHECK(x == values->front(), "{}: metadata key '{}' varies per layer ({} vs {}); kvbench needs one value", p,
              key, values->front(), x);
  }
  KVB_CHECK(values->front() >= lo && values->front() <= hi, "{}: metadata key '{}' is {}, outside [{}, {}]", p, key,
            values->front(), lo, hi);
  return values->front();
}

int64_t require_uniform_int(const GgufFile& f, const std::string& key, int64_t lo, int64_t hi) {
  auto v = uniform_int(f, key, lo, hi);
  KVB_CHECK(v.has_value(), "{}: missing required metadata key '{}'", f.path().string(), key);
  return *v;
}

ModelConfig read_config(const GgufFile& f) {
  const std::string p = f.path().string();
  ModelConfig c;
  c.arch = f.require_string("general.architecture");
  KVB_CHECK(c.arch == "llama" || c.arch == "mistral" || c.arch == "qwen2" || c.arch == "qwen3",
            "{}: unsupported architecture '{}' (general.architecture; supported: llama, mistral, qwen2, qwen3)", p,
            gguf_printable(c.arch));
  const std::string a = c.arch + ".";
  c.n_layers = int(f.require_int(a + "block_count", 1, kMaxInt));
  c.n_embd = int(f.require_int(a + "embedding_length", 1, kMaxInt));
  c.n_ff = int(require_uniform_int(f, a + "feed_forward_length", 1, kMaxInt));
  c.n_heads = int(require_uniform_int(f, a + "attention.head_count", 1, kMaxInt));
  c.n_kv_heads = int(uniform_int(f, a + "attention.head_count_kv", 1, kMaxInt).value_or(c.n_heads));
  c.max_position = int(f.require_int(a + "context_length", 1, kMaxInt));
  c.rms_eps = float(f.require_float(a + "attention.layer_norm_rms_epsilon"));
  c.rope_theta = float(f.get_float(a + "rope.freq_base").value_or(10000.0));

  if (auto kl = f.get_int(a + "attention.key_length", 1, kMaxInt)) {
    c.head_dim = int(*kl);
  } else {
    KVB_CHECK(c.n_embd % c.n_heads == 0,
              "{}: embedding_length {} is not a multiple of attention.head_count {} (and attention.key_length is "
              "absent)",
              p, c.n_embd, c.n_heads);
    c.head_dim = c.n_embd / c.n_heads;
  }
  if (auto vl = f.get_int(a + "attention.value_length", 1, kMaxInt))
    KVB_CHECK(*vl == c.head_dim, "{}: attention.value_length {} differs from the key length {} (not supported)", p, *vl,
              c.head_dim);
  if (auto rd = f.get_int(a + "rope.dimension_count", 0, kMaxInt))
    KVB_CHECK(*rd == c.head_dim,
              "{}: rope.dimension_count {} differs from the head dimension {} (partial RoPE is not supported)", p, *rd,
              c.head_dim);
  if (auto sw = f.get_int(a + "attention.sliding_window", 0, kMaxInt)) c.sliding_window = int(*sw);

  // RoPE scaling. llama.cpp writes linear scaling as rope.scaling.type = "linear" (older files:
  // rope.scale_linear); Llama-3.1 scaling is stored precomputed in the rope_freqs.weight tensor.
  if (auto type = f.get_string(a + "rope.scaling.type")) {
    if (*type == "linear") {
      c.rope_scaling.type = "linear";
      c.rope_scaling.factor = float(f.get_float(a + "rope.scaling.factor").value_or(1.0));
    } else {
      KVB_CHECK(*type == "none",
                "{}: unsupported rope scaling type '{}' ({}rope.scaling.type; supported: none, linear)", p, gguf_printable(*type), a);
    }
  } else if (auto lin = f.get_float(a + "rope.scale_linear"); lin && *lin != 1.0) {
    c.rope_scaling.type = "linear";
    c.rope_scaling.factor = float(*lin);
  }
  if (auto orig = f.get_int(a + "rope.scaling.original_context_length", 1, kMaxInt))
    c.rope_scaling.original_max_position = int(*orig);

  c.rope_neox = c.arch == "qwen2" || c.arch == "qwen3";
  c.qkv_bias = f.find_tensor("blk.0.attn_q.bias") != nullptr;
  c.qk_norm = f.find_tensor("blk.0.attn_q_norm.weight") != nullptr;
  c.tied_embeddings = f.find_tensor("output.weight") == nullptr;

  // Every blk.N tensor must belong to a block the metadata declares.
  for (const auto& t : f.tensors()) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    size_t end = t.name.find('.', 4);
    const std::string idx = t.name.substr(4, end == std::string::npos ? std::string::npos : end - 4);
    const bool digits = !idx.empty() && idx.size() < 10 &&
                        std::all_of(idx.begin(), idx.end(), [](char ch) { return ch >= '0' && ch <= '9'; });
    KVB_CHECK(digits, "{}: tensor '{}' has a malformed block index", p, gguf_printable(t.name));
    KVB_CHECK(std::stoll(idx) < c.n_layers, "{}: tensor '{}' belongs to block {}, but {}block_count is {}", p,
              gguf_printable(t.name), idx, a, c.n_layers);
  }
  return c;
}

int32_t token_id(const GgufFile& f, const std::string& key, size_t n_tokens, int32_t fallback) {
  const GgufValue* v = f.find(key);
  if (!v) return fallback;
  const std::string p = f.path().string();
  KVB_CHECK(v->is_integer(), "{}: metadata key '{}' has type {}, expected a token id", p, key, v->describe());
  const bool is_unsigned = v->type == GgufType::Uint8 || v->type == GgufType::Uint16 || v->type == GgufType::Uint32 ||
                           v->type == GgufType::Uint64;
  if (is_unsigned && (v->u64 == 0xFFFFFFFFu || v->u64 == ~uint64_t(0))) return -1;  // "none"
  if (!is_unsigned && v->i64 == -1) return -1;
  const int64_t id = is_unsigned ? (v->u64 > uint64_t(kMaxInt) ? kMaxInt : int64_t(v->u64)) : v->i64;
  KVB_CHECK(id >= 0 && uint64_t(id) < n_tokens, "{}: metadata key '{}' is {}, outside the vocabulary of {} tokens", p,
            key, id, n_tokens);
  return int32_t(id);
}

TokenizerSpec read_tokenizer(const GgufFile& f) {
  const std::string p = f.path().string();
  TokenizerSpec s;
  s.source = p;
  const std::string model = f.require_string("tokenizer.ggml.model");
  if (model == "gpt2") {
    s.kind = TokenizerSpec::Kind::ByteLevelBPE;
    const std::string pre = f.get_string("tokenizer.ggml.pre").value_or("default");
    if (pre == "smollm")
      s.pretokenizer = "smollm";
    else if (pre == "llama-bpe" || pre == "llama3") {
      s.pretokenizer = "llama3";
      s.ignore_merges = true;  // llama.cpp emits a word that is already a token whole (Llama-3 vocabularies)
    } else if (pre == "qwen2")
      s.pretokenizer = "qwen2";  // like llama3, but every digit alone
    else if (pre == "gpt-2" || pre == "default")
      s.pretokenizer = "gpt2";
    else
      KVB_FAIL(
          "{}: unsupported pre-tokenizer '{}' (tokenizer.ggml.pre; supported: smollm, llama-bpe, llama3, qwen2, "
          "gpt-2, default)",
          p, gguf_printable(pre));
  } else if (model == "llama") {
    s.kind = TokenizerSpec::Kind::SentencePieceBPE;
  } else {
    KVB_FAIL("{}: unsupported tokenizer model '{}' (tokenizer.ggml.model; supported: gpt2, llama)", p, gguf_printable(model));
  }
  const bool spm = s.kind == TokenizerSpec::Kind::SentencePieceBPE;

  auto tokens = f.get_string_array("tokenizer.ggml.tokens");
  KVB_CHECK(tokens.has_value(), "{}: missing required metadata key 'tokenizer.ggml.tokens'", p);
  KVB_CHECK(!tokens->empty(), "{}: tokenizer.ggml.tokens is empty", p);
  s.tokens = std::move(*tokens);
  const size_t n = s.tokens.size();

  if (auto scores = f.get_float_array("tokenizer.ggml.scores")) {
    KVB_CHECK(scores->size() == n, "{}: tokenizer.ggml.scores has {} entries for {} tokens", p, scores->size(), n);
    s.scores.assign(scores->begin(), scores->end());
  }
  if (auto types = f.get_int_array("tokenizer.ggml.token_type")) {
    KVB_CHECK(types->size() == n, "{}: tokenizer.ggml.token_type has {} entries for {} tokens", p, types->size(), n);
    s.types.reserve(n);
    for (size_t i = 0; i < n; ++i) {
      const int64_t t = (*types)[i];
      KVB_CHECK(t >= 0 && t <= int64_t(TokenType::Byte), "{}: tokenizer.ggml.token_type[{}] is {} (expected 0..6)", p,
                i, t);
      s.types.push_back(TokenType(t));
      if (s.types.back() == TokenType::Control || s.types.back() == TokenType::UserDefined)
        s.special_ids.push_back(int32_t(i));
    }
  }
  if (!spm) {
    auto merges = f.get_string_array("tokenizer.ggml.merges");
    KVB_CHECK(merges.has_value(), "{}: missing required metadata key 'tokenizer.ggml.merges' (BPE tokenizer)", p);
    s.merges.reserve(merges->size());
    for (size_t i = 0; i < merges->size(); ++i) {
      const std::string& m = (*merges)[i];
      // "left right": one space separates the halves; a piece never contains a space itself, but
      // search from index 1 so that a left half made of a lone space would still split correctly.
      const size_t sp = m.size() > 1 ? m.find(' ', 1) : std::string::npos;
      KVB_CHECK(sp != std::string::npos && sp + 1 < m.size(), "{}: tokenizer.ggml.merges[{}] '{}' is not 'left right'",
                p, i, gguf_printable(m));
      s.merges.emplace_back(m.substr(0, sp), m.substr(sp + 1));
    }
  }

  // Special ids; the SentencePiece defaults (unk 0, bos 1, eos 2) are llama.cpp's for "llama" vocabularies.
  s.bos_id = token_id(f, "tokenizer.ggml.bos_token_id", n, spm && n > 1 ? 1 : -1);
  s.eos_id = token_id(f, "tokenizer.ggml.eos_token_id", n, spm && n > 2 ? 2 : -1);
  s.unk_id = token_id(f, "tokenizer.ggml.unknown_token_id", n, spm ? 0 : -1);
  s.pad_id = token_id(f, "tokenizer.ggml.padding_token_id", n, -1);
  s.add_bos = f.get_bool("tokenizer.ggml.add_bos_token").value_or(spm);
  s.add_eos = f.get_bool("tokenizer.ggml.add_eos_token").value_or(false);
  s.add_space_prefix = f.get_bool("tokenizer.ggml.add_space_prefix").value_or(spm);
  s.byte_fallback = spm;

  // End of generation: eos, explicit eot / eom ids, and the usual end-of-turn pieces.
  auto add_eog = [&](int32_t id) {
    if (id >= 0 && std::find(s.eog_ids.begin(), s.eog_ids.end(), id) == s.eog_ids.end()) s.eog_ids.push_back(id);
  };
  add_eog(s.eos_id);
  add_eog(token_id(f, "tokenizer.ggml.eot_token_id", n, -1));
  add_eog(token_id(f, "tokenizer.ggml.eom_token_id", n, -1));
  for (const char* piece : {"<|im_end|>", "<|eot_id|>", "<|endoftext|>", "<|end_of_text|>", "<|end|>"}) {
    auto it = std::find(s.tokens.begin(), s.tokens.end(), piece);
    if (it != s.tokens.end()) add_eog(int32_t(it - s.tokens.begin()));
  }
  return s;
}

}  // namespace

Checkpoint load_gguf_checkpoint(const std::filesystem::path& path) {
  GgufFile f(path);
  const std::string p = path.string();
  Checkpoint ck;
  ck.path = path;
  ck.format = "gguf";
  ck.config = read_config(f);
  ck.tokenizer = read_tokenizer(f);
  ck.chat_template = f.get_string("tokenizer.chat_template").value_or("");
  ck.config.vocab_size = int(ck.tokenizer.tokens.size());

  if (const GgufTensorInfo* rf = f.find_tensor("rope_freqs.weight")) {
    const Tensor t = to_f32(f.raw_tensor(*rf));
    KVB_CHECK(ck.config.head_dim % 2 == 0 && t.numel() == size_t(ck.config.head_dim / 2),
              "{}: tensor 'rope_freqs.weight' has {} elements, expected head_dim / 2 = {}", p, t.numel(),
              ck.config.head_dim / 2);
    for (size_t i = 0; i < t.numel(); ++i)
      KVB_CHECK(std::isfinite(t.data[i]) && t.data[i] > 0.0f, "{}: rope_freqs.weight[{}] is {} (expected > 0)", p, i,
                t.data[i]);
    ck.config.rope_freq_factors = t.data;
  }

  std::unordered_map<std::string, RawTensor> cache;
  TensorLookup lookup = [&](const std::string& name) -> const RawTensor* {
    auto it = cache.find(name);
    if (it != cache.end()) return &it->second;
    const GgufTensorInfo* info = f.find_tensor(name);
    if (!info) return nullptr;
    return &cache.emplace(name, f.raw_tensor(*info)).first->second;
  };
  ck.weights = assemble_weights(ck.config, lookup, p);
  return ck;
}

}  // namespace kvb
