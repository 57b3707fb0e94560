// Assembles float32 model weights from a checkpoint's raw tensors (named the GGUF way),
// checking each shape against the config so that a wrong file fails with the tensor's name.
#include <fmt/format.h>

#include "model/checkpoint.h"

namespace kvb {
namespace {

std::string shape_string(const std::vector<int64_t>& s) {
  std::string out = "[";
  for (size_t i = 0; i < s.size(); ++i) out += (i ? ", " : "") + std::to_string(s[i]);
  return out + "]";
}

struct Loader {
  const TensorLookup& lookup;
  const std::string& source;

  const RawTensor* find(const std::string& name, const std::vector<int64_t>& want, bool required) const {
    const RawTensor* raw = lookup(name);
    if (!raw) {
      KVB_CHECK(!required, "{}: missing tensor '{}'", source, name);
      return nullptr;
    }
    KVB_CHECK(raw->shape == want, "{}: tensor '{}' has shape {}, expected {} from the model config", source, name,
              shape_string(raw->shape), shape_string(want));
    return raw;
  }
  // A vector [n] (norm weight, bias) as float32.
  Tensor vec(const std::string& name, int64_t n) const {
    Tensor t = to_f32(*find(name, {n}, true));
    t.shape = {n};
    return t;
  }
  // A linear weight [rows, cols] in its stored type.
  WeightMatrix mat(const std::string& name, int64_t rows, int64_t cols) const {
    return WeightMatrix::from_raw(*find(name, {rows, cols}, true), rows, cols);
  }
};

}  // namespace

ModelWeights assemble_weights(const ModelConfig& c, const TensorLookup& lookup, const std::string& source) {
  validate_config(c, source);
  Loader ld{lookup, source};
  const int64_t E = c.n_embd, F = c.n_ff, D = c.head_dim, V = c.vocab_size;
  const int64_t QD = int64_t(c.n_heads) * D, KD = int64_t(c.n_kv_heads) * D;
  ModelWeights w;
  w.tok_embd = ld.mat("token_embd.weight", V, E);
  w.output_norm = ld.vec("output_norm.weight", E);
  if (!c.tied_embeddings) w.output = ld.mat("output.weight", V, E);
  w.layers.resize(c.n_layers);
  for (int i = 0; i < c.n_layers; ++i) {
    auto n = [i](const char* leaf) { return fmt::format("blk.{}.{}", i, leaf); };
    LayerWeights& l = w.layers[i];
    l.attn_norm = ld.vec(n("attn_norm.weight"), E);
    l.wq = ld.mat(n("attn_q.weight"), QD, E);
    l.wk = ld.mat(n("attn_k.weight"), KD, E);
    l.wv = ld.mat(n("attn_v.weight"), KD, E);
    l.wo = ld.mat(n("attn_output.weight"), E, QD);
    if (c.qkv_bias) {
      l.bq = ld.vec(n("attn_q.bias"), QD);
      l.bk = ld.vec(n("attn_k.bias"), KD);
      l.bv = ld.vec(n("attn_v.bias"), KD);
    }
    if (c.qk_norm) {
      l.q_norm = ld.vec(n("attn_q_norm.weight"), D);
      l.k_norm = ld.vec(n("attn_k_norm.weight"), D);
    }
    l.ffn_norm = ld.vec(n("ffn_norm.weight"), E);
    l.w_gate = ld.mat(n("ffn_gate.weight"), F, E);
    l.w_up = ld.mat(n("ffn_up.weight"), F, E);
    l.w_down = ld.mat(n("ffn_down.weight"), E, F);
  }
  return w;
}

size_t ModelWeights::bytes() const {
  auto vec = [](const Tensor& t) { return t.numel() * sizeof(float); };
  size_t b = tok_embd.bytes() + output.bytes() + vec(output_norm);
  for (const auto& l : layers)
    b += l.wq.bytes() + l.wk.bytes() + l.wv.bytes() + l.wo.bytes() + l.w_gate.bytes() + l.w_up.bytes() +
         l.w_down.bytes() + vec(l.attn_norm) + vec(l.ffn_norm) + vec(l.bq) + vec(l.bk) + vec(l.bv) + vec(l.q_norm) +
         vec(l.k_norm);
  return b;
}

void ModelWeights::dequantize_all() {
  tok_embd.to_f32();
  output.to_f32();
  for (auto& l : layers)
    for (WeightMatrix* m : {&l.wq, &l.wk, &l.wv, &l.wo, &l.w_gate, &l.w_up, &l.w_down}) m->to_f32();
}

}  // namespace kvb
