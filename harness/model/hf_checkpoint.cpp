// Hugging Face model directory loader: config.json + tokenizer.json (+ tokenizer_config.json)
// + safetensors weights. Tensor names are mapped to the GGUF convention used everywhere else.
#include <nlohmann/json.hpp>

#include "core/file.h"
#include "model/checkpoint.h"
#include "model/safetensors.h"

namespace kvb {
namespace {

using nlohmann::json;

// HF tensor name -> GGUF tensor name (empty if the name is not one we use).
std::string hf_to_gguf_name(const std::string& gguf) {
  static const std::pair<const char*, const char*> kLeaf[] = {
      {"attn_norm.weight", "input_layernorm.weight"},     {"attn_q.weight", "self_attn.q_proj.weight"},
      {"attn_k.weight", "self_attn.k_proj.weight"},       {"attn_v.weight", "self_attn.v_proj.weight"},
      {"attn_q.bias", "self_attn.q_proj.bias"},           {"attn_k.bias", "self_attn.k_proj.bias"},
      {"attn_v.bias", "self_attn.v_proj.bias"},           {"attn_output.weight", "self_attn.o_proj.weight"},
      {"attn_q_norm.weight", "self_attn.q_norm.weight"},  {"attn_k_norm.weight", "self_attn.k_norm.weight"},
      {"ffn_norm.weight", "post_attention_layernorm.weight"}, {"ffn_gate.weight", "mlp.gate_proj.weight"},
      {"ffn_up.weight", "mlp.up_proj.weight"},            {"ffn_down.weight", "mlp.down_proj.weight"},
  };
  if (gguf == "token_embd.weight") return "model.embed_tokens.weight";
  if (gguf == "output_norm.weight") return "model.norm.weight";
  if (gguf == "output.weight") return "lm_head.weight";
  if (gguf.rfind("blk.", 0) == 0) {
    size_t dot = gguf.find('.', 4);
    std::string layer = gguf.substr(4, dot - 4), leaf = gguf.substr(dot + 1);
    for (auto& [g, h] : kLeaf)
      if (leaf == g) return "model.layers." + layer + "." + h;
  }
  return {};
}

ModelConfig parse_hf_config(const std::filesystem::path& path) {
  const std::string p = path.string();
  json j;
  try {
    j = json::parse(read_text_file(path));
  } catch (const json::exception& e) {
    KVB_FAIL("{}: invalid JSON: {}", p, e.what());
  }
  KVB_CHECK(j.is_object(), "{}: expected a JSON object", p);
  auto req = [&](const char* key) -> const json& {
    KVB_CHECK(j.contains(key) && !j[key].is_null(), "{}: missing required key '{}'", p, key);
    return j[key];
  };
  ModelConfig c;
  try {
    c.arch = req("model_type").get<std::string>();
    c.n_layers = req("num_hidden_layers").get<int>();
    c.n_embd = req("hidden_size").get<int>();
    c.n_ff = req("intermediate_size").get<int>();
    c.n_heads = req("num_attention_heads").get<int>();
    c.n_kv_heads = j.value("num_key_value_heads", c.n_heads);
    if (j.contains("head_dim") && !j["head_dim"].is_null()) c.head_dim = j["head_dim"].get<int>();
    else c.head_dim = c.n_heads > 0 ? c.n_embd / c.n_heads : 0;
    c.vocab_size = req("vocab_size").get<int>();
    c.max_position = j.value("max_position_embeddings", 4096);
    c.rope_theta = j.value("rope_theta", 10000.0f);
    c.rms_eps = j.value("rms_norm_eps", 1e-6f);
    c.tied_embeddings = j.value("tie_word_embeddings", c.arch != "llama" && c.arch != "mistral");
    c.qkv_bias = c.arch == "qwen2" || j.value("attention_bias", false);
    c.qk_norm = c.arch == "qwen3";
    if (j.contains("sliding_window") && j["sliding_window"].is_number()) c.sliding_window = j["sliding_window"].get<int>();
    // transformers >= 5 writes "rope_parameters" (theta + scaling together) instead of
    // "rope_theta" / "rope_scaling"; accept either.
    const char* scaling_key = j.contains("rope_scaling") && j["rope_scaling"].is_object() ? "rope_scaling"
                              : j.contains("rope_parameters") && j["rope_parameters"].is_object() ? "rope_parameters"
                                                                                                   : nullptr;
    if (!j.contains("rope_theta") && scaling_key && j[scaling_key].contains("rope_theta"))
      c.rope_theta = j[scaling_key]["rope_theta"].get<float>();
    if (scaling_key) {
      const json& rs = j[scaling_key];
      std::string type = rs.value("rope_type", rs.value("type", std::string("default")));
      if (type != "default") {
        c.rope_scaling.type = type;
        c.rope_scaling.factor = rs.value("factor", 1.0f);
        c.rope_scaling.low_freq_factor = rs.value("low_freq_factor", 1.0f);
        c.rope_scaling.high_freq_factor = rs.value("high_freq_factor", 4.0f);
        c.rope_scaling.original_max_position = rs.value("original_max_position_embeddings", 8192);
      }
    }
  } catch (const json::exception& e) {
    KVB_FAIL("{}: a key has the wrong type: {}", p, e.what());
  }
  c.rope_neox = true;  // Hugging Face q/k layout: rotate halves
  validate_config(c, p);
  return c;
}

}  // namespace

Checkpoint load_hf_checkpoint(const std::filesystem::path& dir) {
  Checkpoint ck;
  ck.path = dir;
  ck.format = "hf";
  ck.config = parse_hf_config(dir / "config.json");
  auto tok_path = dir / "tokenizer.json";
  KVB_CHECK(std::filesystem::exists(tok_path), "{}: missing tokenizer.json", dir.string());
  HfTokenizerFiles tok = load_hf_tokenizer(tok_path);
  ck.tokenizer = std::move(tok.spec);
  ck.chat_template = std::move(tok.chat_template);
  SafetensorsModel st(dir);
  if (!ck.config.tied_embeddings) {
    KVB_CHECK(st.find("lm_head.weight"), "{}: config.json says tie_word_embeddings=false but lm_head.weight is absent",
              st.describe());
  }
  ck.weights = assemble_weights(
      ck.config, [&](const std::string& gguf_name) { return st.find(hf_to_gguf_name(gguf_name)); }, st.describe());
  KVB_CHECK(int64_t(ck.tokenizer.tokens.size()) <= ck.config.vocab_size,
            "{}: tokenizer has {} tokens but the model's vocab_size is {}", tok_path.string(),
            ck.tokenizer.tokens.size(), ck.config.vocab_size);
  return ck;
}

}  // namespace kvb
