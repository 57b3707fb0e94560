// GGUF reader and checkpoint tests: stories260K and SmolLM2-135M-Instruct (Q4_1) load with the right
// config and tokenizer; malformed files (truncated, corrupted, crafted) each fail with one kvb::Error
// that starts with the file path and names the problem. Run: ctest -R Gguf
#include <gtest/gtest.h>

#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <fstream>
#include <map>
#include <random>

#include <nlohmann/json.hpp>

#include "core/error.h"
#include "core/file.h"
#include "model/checkpoint.h"
#include "model/gguf.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;
using Bytes = std::vector<uint8_t>;

Bytes read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return Bytes(std::istreambuf_iterator<char>(in), {});
}

fs::path write_tmp(const std::string& name, const Bytes& b) {
  fs::path p = test::tmp_dir() / ("gguf_" + name + ".gguf");
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
  return p;
}

const Bytes& stories_bytes() {
  static const Bytes b = read_bytes(test::stories260k());
  return b;
}

// Offset of the first occurrence of `s` in `b` (asserts it exists).
size_t find_bytes(const Bytes& b, std::string_view s, size_t from = 0) {
  auto it = std::search(b.begin() + from, b.end(), s.begin(), s.end());
  EXPECT_NE(it, b.end()) << "pattern '" << s << "' not found";
  return size_t(it - b.begin());
}

template <typename T>
void poke(Bytes& b, size_t at, T v) {
  std::memcpy(b.data() + at, &v, sizeof v);
}
template <typename T>
T peek(const Bytes& b, size_t at) {
  T v;
  std::memcpy(&v, b.data() + at, sizeof v);
  return v;
}

// Runs `fn`, which must throw exactly a kvb::Error; returns its message ("" and a failure otherwise).
template <typename F>
std::string error_of(F&& fn) {
  try {
    fn();
  } catch (const Error& e) {
    return e.what();
  } catch (const std::exception& e) {
    ADD_FAILURE() << "expected kvb::Error, got another exception: " << e.what();
    return "";
  }
  ADD_FAILURE() << "expected kvb::Error, but loading succeeded";
  return "";
}

// Loads `p` as a checkpoint; the error must start with the path and contain every keyword.
void expect_load_error(const fs::path& p, std::initializer_list<std::string_view> keywords) {
  const std::string msg = error_of([&] { load_gguf_checkpoint(p); });
  SCOPED_TRACE(msg);
  EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << "message does not start with the path";
  for (auto k : keywords) EXPECT_NE(msg.find(k), std::string::npos) << "missing keyword '" << k << "'";
}

std::pair<int64_t, int64_t> dims(const WeightMatrix& m) { return {m.rows(), m.cols()}; }

// Every row of a weight matrix as float32, row-major [rows, cols].
std::vector<float> all_rows(const WeightMatrix& m) {
  std::vector<float> out(size_t(m.rows() * m.cols()));
  m.dequantize_rows(0, m.rows(), out.data());
  return out;
}

// A tiny GGUF writer for crafted files: metadata pairs and tensor infos are appended in order;
// finish() writes the header counts, pads to the alignment and appends the data blob.
class Writer {
 public:
  Writer& u32(uint32_t v) { return put(v); }
  Writer& u64(uint64_t v) { return put(v); }
  Writer& str(std::string_view s) {
    u64(s.size());
    body_.insert(body_.end(), s.begin(), s.end());
    return *this;
  }
  template <typename T>
  Writer& put(T v) {
    uint8_t tmp[sizeof(T)];
    std::memcpy(tmp, &v, sizeof(T));
    body_.insert(body_.end(), tmp, tmp + sizeof(T));
    return *this;
  }
  // Metadata: key, then the value written by the caller (type id first).
  Writer& key(std::string_view k, GgufType t) {
    ++n_kv_;
    str(k);
    return u32(uint32_t(t));
  }
  Writer& kv_u32(std::string_view k, uint32_t v) { return key(k, GgufType::Uint32).u32(v); }
  Writer& kv_f32(std::string_view k, float v) { return key(k, GgufType::Float32).put(v); }
  Writer& kv_str(std::string_view k, std::string_view v) { return key(k, GgufType::String).str(v); }
  Writer& kv_strs(std::string_view k, const std::vector<std::string>& v) {
    key(k, GgufType::Array).u32(uint32_t(GgufType::String)).u64(v.size());
    for (auto& s : v) str(s);
    return *this;
  }
  Writer& tensor(std::string_view name, std::vector<uint64_t> ne, uint32_t type, uint64_t offset) {
    ++n_tensors_;
    str(name).u32(uint32_t(ne.size()));
    for (auto d : ne) u64(d);
    return u32(type).u64(offset);
  }
  Bytes finish(const Bytes& data = {}, uint64_t alignment = 32, uint32_t version = 3) const {
    Bytes out = {'G', 'G', 'U', 'F'};
    auto app = [&](auto v) {
      uint8_t tmp[sizeof v];
      std::memcpy(tmp, &v, sizeof v);
      out.insert(out.end(), tmp, tmp + sizeof v);
    };
    app(version);
    app(n_tensors_);
    app(n_kv_);
    out.insert(out.end(), body_.begin(), body_.end());
    while (out.size() % alignment) out.push_back(0);
    out.insert(out.end(), data.begin(), data.end());
    return out;
  }
  // Appends `count` metadata pairs already serialized (e.g. copied from another file).
  Writer& raw_metadata(const uint8_t* begin, const uint8_t* end, uint64_t count) {
    body_.insert(body_.end(), begin, end);
    n_kv_ += count;
    return *this;
  }

 private:
  Bytes body_;
  uint64_t n_tensors_ = 0, n_kv_ = 0;
};

// ---------------------------------------------------------------- valid files

TEST(GgufReader, Stories260KDirectory) {
  GgufFile f(test::stories260k());
  EXPECT_EQ(f.version(), 3u);
  EXPECT_EQ(f.alignment(), 32u);
  EXPECT_EQ(f.tensors().size(), 48u);
  EXPECT_EQ(f.metadata().size(), 19u);
  EXPECT_EQ(f.data_offset(), 14176u);
  EXPECT_EQ(f.get_string("general.architecture"), "llama");
  EXPECT_EQ(f.get_int("llama.block_count", 0, 100), 5);
  const GgufTensorInfo* q = f.find_tensor("blk.0.attn_k.weight");
  ASSERT_NE(q, nullptr);
  EXPECT_EQ(q->ne, (std::vector<int64_t>{64, 32}));
  EXPECT_EQ(q->shape(), (std::vector<int64_t>{32, 64}));
  const RawTensor raw = f.raw_tensor(*q);
  EXPECT_EQ(raw.dtype, DType::F32);
  EXPECT_EQ(raw.nbytes, 32u * 64u * 4u);
  EXPECT_NE(raw.data, nullptr);
  // Wrong-type getters fail with the key's name.
  const std::string msg = error_of([&] { f.get_int("general.architecture", 0, 10); });
  EXPECT_NE(msg.find("'general.architecture' has type string"), std::string::npos) << msg;
}

// Metadata of every value type in a file written by gguf-py (scripts/parity/gguf_quant_golden.py keeps
// that metadata-only file as hex in tests/golden/quant/blocks.json).
TEST(GgufReader, GoldenMetadataTypes) {
  const auto golden = nlohmann::json::parse(read_text_file(test::golden_dir() / "quant" / "blocks.json"));
  const std::string hex = golden.at("metadata_gguf").at("hex");
  const Bytes bytes = test::from_hex(hex);
  ASSERT_EQ(bytes.size(), golden.at("metadata_gguf").at("bytes").get<size_t>());
  GgufFile f(write_tmp("golden_metadata", bytes));
  EXPECT_TRUE(f.tensors().empty());
  EXPECT_EQ(f.get_string("general.architecture"), "kvbench_golden");
  EXPECT_EQ(f.get_int("test.u8", 0, 1000), 200);
  EXPECT_EQ(f.get_int("test.i8", -1000, 1000), -100);
  EXPECT_EQ(f.get_int("test.u16", 0, 100000), 60000);
  EXPECT_EQ(f.get_int("test.i16", -100000, 0), -30000);
  EXPECT_EQ(f.get_int("test.u32", 0, INT64_MAX), 4000000000LL);
  EXPECT_EQ(f.get_int("test.i32", INT64_MIN, 0), -2000000000LL);
  EXPECT_EQ(f.find("test.u64")->u64, 18000000000000000000ULL);
  EXPECT_EQ(f.get_int("test.i64", INT64_MIN, 0), -9000000000000000000LL);
  EXPECT_EQ(f.get_float("test.f32"), 0.15625);
  EXPECT_EQ(f.get_float("test.f64"), -2.5e-300);
  EXPECT_EQ(f.get_bool("test.bool"), true);
  EXPECT_EQ(f.get_string("test.str"), "h\xc3\xa9llo \xe2\x96\x81world");
  EXPECT_EQ(f.get_int_array("test.arr_i32"), (std::vector<int64_t>{1, -2, 3}));
  EXPECT_EQ(f.get_float_array("test.arr_f32"), (std::vector<double>{0.5, -1.25}));
  EXPECT_EQ(f.get_string_array("test.arr_str"), (std::vector<std::string>{"a", "", "b c"}));
  const GgufValue* nested = f.find("test.arr_nested");
  ASSERT_NE(nested, nullptr);
  EXPECT_EQ(nested->describe(), "array[array; 2]");
  ASSERT_EQ(nested->arrays.size(), 2u);
  EXPECT_EQ(nested->arrays[0].strings, (std::vector<std::string>{"x", "yy"}));
  EXPECT_EQ(nested->arrays[1].strings, (std::vector<std::string>{"zzz"}));
  // Out-of-range and wrong-kind requests are errors naming the key.
  EXPECT_NE(error_of([&] { f.get_int("test.u32", 0, INT32_MAX); }).find("'test.u32' is 4000000000, outside"),
            std::string::npos);
  EXPECT_NE(error_of([&] { f.get_string_array("test.arr_i32"); }).find("expected an array of strings"),
            std::string::npos);
  EXPECT_FALSE(f.get_int("test.absent", 0, 1).has_value());
}

TEST(GgufCheckpoint, Stories260K) {
  const Checkpoint ck = load_gguf_checkpoint(test::stories260k());
  EXPECT_EQ(ck.format, "gguf");
  const ModelConfig& c = ck.config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_layers, 5);
  EXPECT_EQ(c.n_embd, 64);
  EXPECT_EQ(c.n_ff, 172);
  EXPECT_EQ(c.n_heads, 8);
  EXPECT_EQ(c.n_kv_heads, 4);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 512);
  EXPECT_EQ(c.max_position, 2048);
  EXPECT_FLOAT_EQ(c.rms_eps, 1e-5f);
  EXPECT_EQ(c.rope_theta, 10000.0f);
  EXPECT_FALSE(c.rope_neox);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_TRUE(c.rope_freq_factors.empty());
  EXPECT_EQ(c.rope_scaling.type, "none");

  const TokenizerSpec& t = ck.tokenizer;
  EXPECT_EQ(t.kind, TokenizerSpec::Kind::SentencePieceBPE);
  EXPECT_EQ(t.tokens.size(), 512u);
  EXPECT_EQ(t.scores.size(), 512u);
  EXPECT_EQ(t.types.size(), 512u);
  EXPECT_EQ(t.bos_id, 1);
  EXPECT_EQ(t.eos_id, 2);
  EXPECT_EQ(t.unk_id, 0);
  EXPECT_EQ(t.pad_id, -1);
  EXPECT_TRUE(t.add_bos);
  EXPECT_FALSE(t.add_eos);
  EXPECT_TRUE(t.add_space_prefix);
  EXPECT_EQ(t.eog_ids, (std::vector<int32_t>{2}));
  EXPECT_EQ(t.tokens[1], "<s>");
  EXPECT_EQ(t.source, test::stories260k().string());
  EXPECT_TRUE(ck.chat_template.empty());

  const ModelWeights& w = ck.weights;
  EXPECT_EQ(dims(w.tok_embd), (std::pair<int64_t, int64_t>{512, 64}));
  EXPECT_EQ(dims(w.output), (std::pair<int64_t, int64_t>{512, 64}));
  ASSERT_EQ(w.layers.size(), 5u);
  EXPECT_EQ(dims(w.layers[0].wk), (std::pair<int64_t, int64_t>{32, 64}));
  EXPECT_EQ(dims(w.layers[4].w_down), (std::pair<int64_t, int64_t>{64, 172}));
  EXPECT_EQ(w.output_norm.shape, (std::vector<int64_t>{64}));
  // F32 weights are copied unchanged: compare one row with the file's bytes.
  GgufFile f(test::stories260k());
  const RawTensor raw = f.raw_tensor(*f.find_tensor("blk.3.ffn_up.weight"));
  const std::vector<float> up = all_rows(w.layers[3].w_up);
  ASSERT_EQ(raw.nbytes, up.size() * 4);
  EXPECT_EQ(std::memcmp(raw.data, up.data(), raw.nbytes), 0);
}

TEST(GgufCheckpoint, SmolLM2Q4_1) {
  KVB_REQUIRE_SMOLLM2();
  {
    GgufFile f(test::smollm2_gguf());
    std::map<std::string, int> by_type;
    for (const auto& t : f.tensors()) ++by_type[ggml_type_info(t.ggml_type)->name];
    EXPECT_EQ(by_type, (std::map<std::string, int>{{"F32", 61}, {"Q4_1", 210}, {"Q8_0", 1}}));
  }
  const Checkpoint ck = load_gguf_checkpoint(test::smollm2_gguf());
  const ModelConfig& c = ck.config;
  EXPECT_EQ(c.arch, "llama");
  EXPECT_EQ(c.n_layers, 30);
  EXPECT_EQ(c.n_embd, 576);
  EXPECT_EQ(c.n_ff, 1536);
  EXPECT_EQ(c.n_heads, 9);
  EXPECT_EQ(c.n_kv_heads, 3);
  EXPECT_EQ(c.head_dim, 64);
  EXPECT_EQ(c.vocab_size, 49152);
  EXPECT_EQ(c.max_position, 8192);
  EXPECT_EQ(c.rope_theta, 100000.0f);
  EXPECT_FALSE(c.rope_neox);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_TRUE(ck.weights.output.empty());

  const TokenizerSpec& t = ck.tokenizer;
  EXPECT_EQ(t.kind, TokenizerSpec::Kind::ByteLevelBPE);
  EXPECT_EQ(t.pretokenizer, "smollm");
  EXPECT_EQ(t.tokens.size(), 49152u);
  ASSERT_EQ(t.merges.size(), 48900u);
  EXPECT_EQ(t.merges[0], (std::pair<std::string, std::string>{"\xc4\xa0", "t"}));  // "Ġ t"
  EXPECT_EQ(t.bos_id, 1);
  EXPECT_EQ(t.eos_id, 2);
  EXPECT_EQ(t.pad_id, 2);
  EXPECT_FALSE(t.add_bos);
  EXPECT_FALSE(t.add_space_prefix);
  EXPECT_EQ(t.special_ids.size(), 17u);
  EXPECT_NE(std::find(t.eog_ids.begin(), t.eog_ids.end(), 2), t.eog_ids.end());  // <|im_end|>
  EXPECT_NE(std::find(t.eog_ids.begin(), t.eog_ids.end(), 0), t.eog_ids.end());  // <|endoftext|>
  EXPECT_NE(ck.chat_template.find("<|im_start|>"), std::string::npos);

  // Dequantized values equal gguf-py's dequantize() (hex floats printed by gguf-py 0.19).
  ASSERT_EQ(ck.weights.layers[0].wq.dtype(), DType::Q4_1);
  ASSERT_EQ(ck.weights.tok_embd.dtype(), DType::Q8_0);
  const std::vector<float> wq = all_rows(ck.weights.layers[0].wq);  // Q4_1 [576, 576]
  ASSERT_EQ(wq.size(), 576u * 576u);
  EXPECT_EQ(wq[0], -0x1.8a8p-4f);
  EXPECT_EQ(wq[1], 0x1.424p-3f);
  EXPECT_EQ(wq.back(), -0x1.06p-2f);
  const std::vector<float> emb = all_rows(ck.weights.tok_embd);  // Q8_0 [49152, 576]
  EXPECT_EQ(emb[0], -0x1.b468p-4f);
  EXPECT_EQ(emb.back(), -0x1.55ap-5f);
  double sum = 0;
  for (float v : wq) sum += v;
  EXPECT_NEAR(sum, 59.22322082519531, 1e-6);
}

TEST(GgufCheckpoint, AcceptsVersion2) {
  Bytes b = stories_bytes();
  poke<uint32_t>(b, 4, 2);
  const Checkpoint ck = load_gguf_checkpoint(write_tmp("v2", b));
  EXPECT_EQ(ck.config.n_layers, 5);
}

// A llama3-style rope_freqs.weight tensor fills ModelConfig::rope_freq_factors.
TEST(GgufCheckpoint, RopeFreqFactors) {
  // Rebuild stories260K with one more tensor: copy the directory, append rope_freqs.weight [4].
  GgufFile src(test::stories260k());
  const Bytes& s = stories_bytes();
  Writer w;
  // Metadata: copied byte for byte from the source file (it starts right after the 24-byte header).
  size_t first_info = find_bytes(s, "token_embd.weight") - 8;
  w.raw_metadata(s.data() + 24, s.data() + first_info, src.metadata().size());
  uint64_t offset = 0;
  Bytes data;
  for (const auto& t : src.tensors()) {
    w.tensor(t.name, std::vector<uint64_t>(t.ne.begin(), t.ne.end()), t.ggml_type, offset);
    const RawTensor r = src.raw_tensor(t);
    data.insert(data.end(), r.data, r.data + r.nbytes);
    offset += r.nbytes;
  }
  const float factors[4] = {1.0f, 2.0f, 4.0f, 8.0f};
  w.tensor("rope_freqs.weight", {4}, 0, offset);
  data.insert(data.end(), reinterpret_cast<const uint8_t*>(factors), reinterpret_cast<const uint8_t*>(factors + 4));
  const Checkpoint ck = load_gguf_checkpoint(write_tmp("rope_freqs", w.finish(data)));
  EXPECT_EQ(ck.config.rope_freq_factors, (std::vector<float>{1.0f, 2.0f, 4.0f, 8.0f}));
}

// A tiny one-layer model of the given architecture (E 8, Hq 2, Hkv 1, D 8, F 12, V 4), F32 weights
// except attn_q, stored as F16; every tensor's values are 0.25 * (its element index % 8).
Bytes tiny_model(const std::string& arch, bool bias, bool qk_norm, bool tied) {
  Writer w;
  const std::string a = arch + ".";
  w.kv_str("general.architecture", arch);
  w.kv_u32(a + "block_count", 1).kv_u32(a + "embedding_length", 8).kv_u32(a + "feed_forward_length", 12);
  w.kv_u32(a + "attention.head_count", 2).kv_u32(a + "attention.head_count_kv", 1);
  w.kv_u32(a + "attention.key_length", 8).kv_u32(a + "context_length", 64);
  w.kv_f32(a + "attention.layer_norm_rms_epsilon", 1e-6f).kv_f32(a + "rope.freq_base", 1e6f);
  w.kv_str("tokenizer.ggml.model", "gpt2").kv_str("tokenizer.ggml.pre", "qwen2");
  w.kv_strs("tokenizer.ggml.tokens", {"a", "b", "<|im_end|>", "<|endoftext|>"});
  w.key("tokenizer.ggml.token_type", GgufType::Array).u32(uint32_t(GgufType::Int32)).u64(4);
  for (int32_t t : {1, 1, 3, 3}) w.put(t);
  w.kv_strs("tokenizer.ggml.merges", {"a b"});
  w.kv_u32("tokenizer.ggml.eos_token_id", 3);
  w.kv_str("tokenizer.chat_template", "{{ messages }}");
  struct T {
    std::string name;
    std::vector<uint64_t> ne;
    uint32_t type = 0;
  };
  std::vector<T> ts = {{"token_embd.weight", {8, 4}}, {"output_norm.weight", {8}}};
  if (!tied) ts.push_back({"output.weight", {8, 4}});
  for (auto leaf : std::vector<T>{{"attn_norm.weight", {8}},
                                  {"attn_q.weight", {8, 16}, 1},
                                  {"attn_k.weight", {8, 8}},
                                  {"attn_v.weight", {8, 8}},
                                  {"attn_output.weight", {16, 8}},
                                  {"ffn_norm.weight", {8}},
                                  {"ffn_gate.weight", {8, 12}},
                                  {"ffn_up.weight", {8, 12}},
                                  {"ffn_down.weight", {12, 8}}})
    ts.push_back({"blk.0." + leaf.name, leaf.ne, leaf.type});
  if (bias)
    for (auto [n, rows] : {std::pair{"q", 16}, {"k", 8}, {"v", 8}})
      ts.push_back({std::string("blk.0.attn_") + n + ".bias", {uint64_t(rows)}});
  if (qk_norm) ts.push_back({"blk.0.attn_q_norm.weight", {8}}), ts.push_back({"blk.0.attn_k_norm.weight", {8}});
  Bytes data;
  for (const auto& t : ts) {
    w.tensor(t.name, t.ne, t.type, data.size());
    uint64_t n = 1;
    for (auto d : t.ne) n *= d;
    for (uint64_t i = 0; i < n; ++i) {
      const float v = 0.25f * float(i % 8);
      if (t.type == 1) {
        // fp16 of a float whose value is exact in half precision (0 or a normal number).
        const uint32_t fb = std::bit_cast<uint32_t>(v);
        const uint16_t h = v == 0.0f ? 0 : uint16_t((((fb >> 23) & 0xFF) - 112) << 10 | ((fb >> 13) & 0x3FF));
        data.push_back(uint8_t(h & 0xFF)), data.push_back(uint8_t(h >> 8));
      } else {
        const uint8_t* b = reinterpret_cast<const uint8_t*>(&v);
        data.insert(data.end(), b, b + 4);
      }
    }
    while (data.size() % 32) data.push_back(0);
  }
  return w.finish(data);
}

TEST(GgufCheckpoint, TinyQwen2) {
  const Checkpoint ck = load_gguf_checkpoint(write_tmp("tiny_qwen2", tiny_model("qwen2", true, false, true)));
  const ModelConfig& c = ck.config;
  EXPECT_EQ(c.arch, "qwen2");
  EXPECT_TRUE(c.rope_neox);
  EXPECT_TRUE(c.qkv_bias);
  EXPECT_FALSE(c.qk_norm);
  EXPECT_TRUE(c.tied_embeddings);
  EXPECT_EQ(c.head_dim, 8);
  EXPECT_EQ(c.vocab_size, 4);
  EXPECT_EQ(c.rope_theta, 1e6f);
  EXPECT_EQ(ck.weights.layers[0].bq.shape, (std::vector<int64_t>{16}));
  EXPECT_EQ(ck.weights.layers[0].bk.data[5], 1.25f);
  const TokenizerSpec& t = ck.tokenizer;
  EXPECT_EQ(t.kind, TokenizerSpec::Kind::ByteLevelBPE);
  EXPECT_EQ(t.pretokenizer, "qwen2");
  EXPECT_EQ(t.bos_id, -1);
  EXPECT_EQ(t.eos_id, 3);
  EXPECT_FALSE(t.add_bos);
  EXPECT_EQ(t.special_ids, (std::vector<int32_t>{2, 3}));
  EXPECT_EQ(t.eog_ids, (std::vector<int32_t>{3, 2}));
  EXPECT_EQ(t.merges, (std::vector<std::pair<std::string, std::string>>{{"a", "b"}}));
  EXPECT_EQ(ck.chat_template, "{{ messages }}");
}

TEST(GgufCheckpoint, TinyQwen3WithF16Weights) {
  const Checkpoint ck = load_gguf_checkpoint(write_tmp("tiny_qwen3", tiny_model("qwen3", false, true, false)));
  const ModelConfig& c = ck.config;
  EXPECT_EQ(c.arch, "qwen3");
  EXPECT_TRUE(c.rope_neox);
  EXPECT_FALSE(c.qkv_bias);
  EXPECT_TRUE(c.qk_norm);
  EXPECT_FALSE(c.tied_embeddings);
  EXPECT_EQ(c.head_dim, 8);  // from attention.key_length (E / Hq would be 4)
  const LayerWeights& l = ck.weights.layers[0];
  EXPECT_EQ(l.q_norm.shape, (std::vector<int64_t>{8}));
  ASSERT_EQ(dims(l.wq), (std::pair<int64_t, int64_t>{16, 8}));
  const std::vector<float> wq = all_rows(l.wq);
  for (size_t i = 0; i < wq.size(); ++i) ASSERT_EQ(wq[i], 0.25f * float(i % 8)) << i;  // F16 -> F32
}

TEST(GgufCheckpoint, LlamaArchUsesAdjacentPairRope) {
  const Checkpoint ck = load_gguf_checkpoint(write_tmp("tiny_llama", tiny_model("llama", false, false, true)));
  EXPECT_FALSE(ck.config.rope_neox);
  EXPECT_TRUE(ck.config.tied_embeddings);
}

// ---------------------------------------------------------------- malformed files

TEST(GgufBadInput, TruncatedInsideHeader) {
  for (size_t cut : {1u, 4u, 6u, 10u, 20u}) {
    SCOPED_TRACE(cut);
    Bytes b(stories_bytes().begin(), stories_bytes().begin() + long(cut));
    expect_load_error(write_tmp("trunc_header", b), {"truncated"});
  }
}

TEST(GgufBadInput, TruncatedInsideMetadata) {
  const size_t tokens = find_bytes(stories_bytes(), "tokenizer.ggml.tokens");
  for (size_t cut : {26ul, tokens + 5, tokens + 30, tokens + 1001, size_t(9000)}) {
    SCOPED_TRACE(cut);
    Bytes b(stories_bytes().begin(), stories_bytes().begin() + long(cut));
    const fs::path p = write_tmp("trunc_meta", b);
    const std::string msg = error_of([&] { load_gguf_checkpoint(p); });
    EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << msg;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("past the end of the file") != std::string::npos)
        << msg;
  }
}

TEST(GgufBadInput, TruncatedInsideTensorInfo) {
  const size_t info = find_bytes(stories_bytes(), "blk.2.ffn_down.weight");
  for (size_t cut : {info, info + 22, info + 30}) {
    Bytes b(stories_bytes().begin(), stories_bytes().begin() + long(cut));
    const fs::path p = write_tmp("trunc_info", b);
    const std::string msg = error_of([&] { load_gguf_checkpoint(p); });
    EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << msg;
    EXPECT_TRUE(msg.find("truncated") != std::string::npos || msg.find("past the end of the file") != std::string::npos)
        << msg;
  }
}

TEST(GgufBadInput, TruncatedInsideTensorData) {
  for (size_t cut : {size_t(14176 + 100), stories_bytes().size() / 2, stories_bytes().size() - 1}) {
    SCOPED_TRACE(cut);
    Bytes b(stories_bytes().begin(), stories_bytes().begin() + long(cut));
    expect_load_error(write_tmp("trunc_data", b), {"reaches past the end of the file", "tensor '"});
  }
}

TEST(GgufBadInput, StringLengthPastEnd) {
  Bytes b = stories_bytes();
  // tokenizer.ggml.model: key, type 8, then the value's length.
  const size_t at = find_bytes(b, "tokenizer.ggml.model") + 20 + 4;
  ASSERT_EQ(peek<uint64_t>(b, at), 5u);  // "llama"
  poke<uint64_t>(b, at, 1ull << 40);
  expect_load_error(write_tmp("string_len", b),
                    {"tokenizer.ggml.model", "string length 1099511627776", "past the end of the file"});
}

TEST(GgufBadInput, ArrayLengthPastEnd) {
  Bytes b = stories_bytes();
  // tokenizer.ggml.tokens: key, type 9, element type 8, then the count.
  const size_t at = find_bytes(b, "tokenizer.ggml.tokens") + 21 + 4 + 4;
  ASSERT_EQ(peek<uint64_t>(b, at), 512u);
  poke<uint64_t>(b, at, 0x7FFFFFFFFFFFull);
  expect_load_error(write_tmp("array_len", b), {"tokenizer.ggml.tokens", "array length", "past the end of the file"});
}

TEST(GgufBadInput, TensorPastEnd) {
  Bytes b = stories_bytes();
  const size_t info = find_bytes(b, "output_norm.weight") + 18;  // n_dims 1, ne[0], type, offset
  ASSERT_EQ(peek<uint32_t>(b, info), 1u);
  poke<uint64_t>(b, info + 4 + 8 + 4, uint64_t(b.size()));  // offset = file size (aligned: 1185376 % 32 == 0)
  expect_load_error(write_tmp("tensor_end", b), {"tensor 'output_norm.weight'", "reaches past the end of the file"});
}

TEST(GgufBadInput, UnknownDtype) {
  Bytes b = stories_bytes();
  const size_t info = find_bytes(b, "output_norm.weight") + 18;
  poke<uint32_t>(b, info + 4 + 8, 99);
  expect_load_error(write_tmp("dtype", b), {"tensor 'output_norm.weight'", "unknown ggml type id 99"});
}

TEST(GgufBadInput, UnsupportedDtypeNamesTensorAndType) {
  // A valid Q5_K tensor: the file parses, reading the tensor fails naming it and the type.
  Writer w;
  w.tensor("blk.0.attn_q.weight", {256, 1}, 13, 0);
  const fs::path p = write_tmp("q5k", w.finish(Bytes(176, 0)));
  GgufFile f(p);
  const std::string msg = error_of([&] { f.raw_tensor(f.tensors()[0]); });
  EXPECT_EQ(msg.rfind(p.string() + ": ", 0), 0u) << msg;
  EXPECT_NE(msg.find("tensor 'blk.0.attn_q.weight' has type Q5_K"), std::string::npos) << msg;
}

TEST(GgufBadInput, TooManyDims) {
  Writer w;
  w.tensor("t", {1, 1, 1, 1, 1}, 0, 0);
  expect_load_error(write_tmp("dims", w.finish(Bytes(4, 0))), {"tensor 't'", "5 dimensions"});
}

TEST(GgufBadInput, RowNotMultipleOfBlock) {
  Writer w;
  w.tensor("t", {48, 2}, 8, 0);  // Q8_0 rows must be multiples of 32
  expect_load_error(write_tmp("block", w.finish(Bytes(1024, 0))), {"tensor 't'", "not a multiple of the Q8_0 block"});
}

TEST(GgufBadInput, ShapeOverflow) {
  Writer w;
  w.tensor("t", {1ull << 40, 1ull << 40}, 0, 0);
  expect_load_error(write_tmp("overflow", w.finish()), {"tensor 't'", "overflows"});
}

TEST(GgufBadInput, DuplicateTensorName) {
  Writer w;
  w.tensor("dup", {8}, 0, 0).tensor("dup", {8}, 0, 32);
  expect_load_error(write_tmp("dup_tensor", w.finish(Bytes(64, 0))), {"duplicate tensor name 'dup'"});
}

TEST(GgufBadInput, DuplicateMetadataKey) {
  Writer w;
  w.kv_u32("a.b", 1).kv_u32("a.b", 2);
  expect_load_error(write_tmp("dup_key", w.finish()), {"duplicate metadata key 'a.b'"});
}

TEST(GgufBadInput, AbsurdCounts) {
  {
    Bytes b = stories_bytes();
    poke<uint64_t>(b, 8, 1ull << 60);  // tensor count
    expect_load_error(write_tmp("n_tensors", b), {"1152921504606846976 tensors"});
  }
  {
    Bytes b = stories_bytes();
    poke<uint64_t>(b, 16, ~0ull);  // metadata count
    expect_load_error(write_tmp("n_kv", b), {"metadata pairs"});
  }
}

TEST(GgufBadInput, UnknownValueType) {
  Writer w;
  w.key("x.y", GgufType(13)).u32(0);
  expect_load_error(write_tmp("vtype", w.finish()), {"metadata key 'x.y'", "unknown value type 13"});
}

TEST(GgufBadInput, ArraysNestedTooDeep) {
  Writer w;
  w.key("deep", GgufType::Array);
  for (int i = 0; i < 100; ++i) w.u32(uint32_t(GgufType::Array)).u64(1);
  w.u32(uint32_t(GgufType::Uint8)).u64(0);
  expect_load_error(write_tmp("deep", w.finish()), {"metadata key 'deep'", "nested"});
}

TEST(GgufBadInput, BadAlignment) {
  Writer w;
  w.kv_u32("general.alignment", 24);
  expect_load_error(write_tmp("align", w.finish()), {"general.alignment", "power of two"});
}

TEST(GgufBadInput, MisalignedTensorOffset) {
  Writer w;
  w.tensor("t", {8}, 0, 4);
  expect_load_error(write_tmp("misaligned", w.finish(Bytes(64, 0))), {"tensor 't'", "alignment"});
}

TEST(GgufBadInput, InconsistentShapes) {
  Bytes b = stories_bytes();
  const size_t info = find_bytes(b, "blk.0.attn_q.weight") + 19;  // n_dims, ne[0], ne[1]
  ASSERT_EQ(peek<uint32_t>(b, info), 2u);
  ASSERT_EQ(peek<uint64_t>(b, info + 12), 64u);
  poke<uint64_t>(b, info + 12, 32);  // 32 rows instead of Hq * D = 64
  expect_load_error(write_tmp("shape", b), {"blk.0.attn_q.weight", "shape"});
}

TEST(GgufBadInput, MissingRequiredKey) {
  Bytes b = stories_bytes();
  const size_t at = find_bytes(b, "llama.block_count");
  b[at + 16] = 'X';  // "llama.block_counX"
  expect_load_error(write_tmp("missing_key", b), {"missing required metadata key 'llama.block_count'"});
}

TEST(GgufBadInput, BlockCountDisagreesWithTensors) {
  Bytes b = stories_bytes();
  const size_t at = find_bytes(b, "llama.block_count") + 17 + 4;
  ASSERT_EQ(peek<uint32_t>(b, at), 5u);
  poke<uint32_t>(b, at, 4);
  expect_load_error(write_tmp("block_count", b), {"blk.4.", "block_count is 4"});
}

TEST(GgufBadInput, UnsupportedArchitecture) {
  Bytes b = stories_bytes();
  const size_t key = find_bytes(b, "general.architecture");
  const size_t val = key + 20 + 4 + 8;
  ASSERT_EQ(std::string(b.begin() + long(val), b.begin() + long(val) + 5), "llama");
  std::memcpy(b.data() + val, "gemma", 5);
  // The key prefix changes with the architecture, so the error is about the architecture itself.
  expect_load_error(write_tmp("arch", b), {"unsupported architecture 'gemma'"});
}

TEST(GgufBadInput, BadMagic) {
  Bytes b = stories_bytes();
  b[0] = 'X';
  expect_load_error(write_tmp("magic", b), {"bad magic", "not a GGUF file"});
}

TEST(GgufBadInput, BigEndian) {
  Bytes b = stories_bytes();
  poke<uint32_t>(b, 4, 0x03000000u);
  expect_load_error(write_tmp("big_endian", b), {"big-endian"});
}

TEST(GgufBadInput, EmptyFile) { expect_load_error(write_tmp("empty", {}), {"empty"}); }

TEST(GgufBadInput, Directory) {
  const fs::path d = test::tmp_dir() / "gguf_dir.gguf";
  fs::create_directories(d);
  expect_load_error(d, {"not a regular file"});
}

TEST(GgufBadInput, MissingFile) { expect_load_error(test::tmp_dir() / "gguf_does_not_exist.gguf", {"cannot open"}); }

// ---------------------------------------------------------------- fuzzing

// Random truncations and single-byte corruptions of the header / metadata / tensor directory: loading
// either succeeds or throws kvb::Error, never anything else (a crash fails the whole binary).
TEST(GgufFuzz, TruncationsAndCorruptions) {
  const Bytes& s = stories_bytes();
  const size_t header_end = 14176;  // data_offset of stories260K
  std::mt19937_64 rng(12345);
  int ok = 0, errors = 0;
  auto attempt = [&](const Bytes& b, const std::string& what) {
    const fs::path p = write_tmp("fuzz", b);
    try {
      load_gguf_checkpoint(p);
      ++ok;
    } catch (const Error& e) {
      ++errors;
      ASSERT_EQ(std::string(e.what()).rfind(p.string() + ": ", 0), 0u) << what << ": " << e.what();
    } catch (const std::exception& e) {
      FAIL() << what << ": non-kvb exception " << e.what();
    }
  };
  for (int i = 0; i < 200; ++i) {
    // Half of the cuts inside the header region, half anywhere.
    const size_t cut = i % 2 ? rng() % (header_end + 64) : rng() % s.size();
    attempt(Bytes(s.begin(), s.begin() + long(cut)), "truncated at " + std::to_string(cut));
    if (HasFatalFailure()) return;
  }
  Bytes b = s;
  for (int i = 0; i < 200; ++i) {
    const size_t at = rng() % header_end;
    const uint8_t old = b[at];
    b[at] = uint8_t(rng() % 2 ? rng() : old ^ (1u << (rng() % 8)));
    attempt(b, "byte " + std::to_string(at) + " changed");
    b[at] = old;
    if (HasFatalFailure()) return;
  }
  EXPECT_EQ(ok + errors, 400);
  EXPECT_GE(errors, 200);  // every truncation fails
}

}  // namespace
}  // namespace kvb
