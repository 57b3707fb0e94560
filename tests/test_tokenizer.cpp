// Tokenizer parity with Hugging Face tokenizers / llama.cpp on golden files from
// scripts/parity/tokenizer_golden.py (tests/golden/tokenizers/), plus edge cases and malformed files.
// Run: ctest -R Tokeniz (or kvb_tests --gtest_filter='Tokeniz*').
#include <nlohmann/json.hpp>

#include <chrono>
#include <fstream>

#include "core/error.h"
#include "core/file.h"
#include "model/tokenizer.h"
#include "model/unicode.h"
#include "test_util.h"

namespace kvb {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

fs::path tok_dir() { return test::golden_dir() / "tokenizers"; }
fs::path smollm2_json() { return test::shared_dir() / "models/smollm2-135m-hf/tokenizer.json"; }

json load_json(const fs::path& p) { return json::parse(read_text_file(p)); }

std::string show(const std::string& s) { return json(s).dump(); }

uint64_t fnv1a_ids(const std::vector<int32_t>& ids) {
  uint64_t h = 0xcbf29ce484222325ull;
  for (int32_t id : ids) {
    const auto u = uint32_t(id);
    for (int k = 0; k < 4; ++k) h = (h ^ ((u >> (8 * k)) & 0xFF)) * 0x100000001b3ull;
  }
  return h;
}

// stories260K's SentencePiece vocabulary, as a GGUF reader fills the spec from tokenizer.ggml.*.
TokenizerSpec stories260k_spec() {
  const json v = load_json(tok_dir() / "stories260k_vocab.json");
  TokenizerSpec spec;
  spec.kind = TokenizerSpec::Kind::SentencePieceBPE;
  spec.tokens = v.at("tokens").get<std::vector<std::string>>();
  spec.scores = v.at("scores").get<std::vector<float>>();
  for (int t : v.at("types").get<std::vector<int>>()) spec.types.push_back(TokenType(t));
  spec.bos_id = v.at("bos_id");
  spec.eos_id = v.at("eos_id");
  spec.unk_id = v.at("unk_id");
  spec.add_bos = true;           // llama.cpp's default for a "llama" vocab without tokenizer.ggml.add_bos_token
  spec.add_space_prefix = true;  // likewise for tokenizer.ggml.add_space_prefix
  spec.byte_fallback = true;
  spec.source = (tok_dir() / "stories260k_vocab.json").string();
  return spec;
}

// Every encode and decode case of a golden file; `ids_key` picks the reference ids.
void check_golden(const Tokenizer& tok, const json& golden, const char* ids_key = "ids") {
  int checked = 0;
  for (const json& c : golden.at("cases")) {
    const std::string text = c.at("text");
    const bool add_special = c.at("add_special"), parse_special = c.at("parse_special");
    const auto want = c.value(ids_key, c.at("ids")).get<std::vector<int32_t>>();
    const auto ids = tok.encode(text, add_special, parse_special);
    EXPECT_EQ(ids, want) << "text " << show(text) << " add_special=" << add_special << " parse_special=" << parse_special;
    if (std::string(ids_key) == "ids") {
      const auto ref = c.at("ids").get<std::vector<int32_t>>();
      EXPECT_EQ(tok.decode(ref, false), c.at("decoded").get<std::string>()) << "decoding ids of " << show(text);
      EXPECT_EQ(tok.decode(ref, true), c.at("decoded_skip_special").get<std::string>()) << "decoding ids of " << show(text);
    }
    ++checked;
  }
  for (const json& c : golden.at("decode_cases")) {
    const auto ids = c.at("ids").get<std::vector<int32_t>>();
    EXPECT_EQ(tok.decode(ids, false), c.at("decoded").get<std::string>()) << c.at("ids").dump();
    EXPECT_EQ(tok.decode(ids, true), c.at("decoded_skip_special").get<std::string>()) << c.at("ids").dump();
  }
  EXPECT_GT(checked, 100);
}

// The ~100 KB text: ids must match the reference's count and hash; also times the encode.
double check_long(const Tokenizer& tok, const json& golden) {
  const std::string text = load_json(tok_dir() / "long_text.json").at("text");
  const json& want = golden.at("long");
  EXPECT_EQ(text.size(), want.at("bytes").get<size_t>());
  const auto t0 = std::chrono::steady_clock::now();
  const auto ids = tok.encode(text, false, false);
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(ids.size(), want.at("count").get<size_t>());
  EXPECT_EQ(fmt::format("{:016x}", fnv1a_ids(ids)), want.at("ids_fnv1a").get<std::string>());
  return seconds;
}

std::unique_ptr<Tokenizer> smollm2() {
  if (!fs::exists(smollm2_json())) return nullptr;
  return make_tokenizer(load_hf_tokenizer(smollm2_json()).spec);
}

#define KVB_REQUIRE_SMOLLM2_JSON()                                                          \
  if (!fs::exists(smollm2_json())) GTEST_SKIP() << "not found: " << smollm2_json().string()

TEST(TokenizerPretokenize, GoldenSplits) {
  const json g = load_json(tok_dir() / "pretokenize.json");
  int n = 0;
  for (const json& c : g.at("cases")) {
    const std::string text = c.at("text");
    for (const char* kind : {"gpt2", "llama3", "qwen2", "smollm"}) {
      const auto got = pretokenize(text, kind);
      EXPECT_EQ(std::vector<std::string>(got.begin(), got.end()), c.at(kind).get<std::vector<std::string>>())
          << kind << " on " << show(text);
      ++n;
    }
  }
  EXPECT_GT(n, 1000);
  EXPECT_THROW(pretokenize("x", "bert"), Error);
}

TEST(Tokenizer, SmolLM2MatchesHuggingFace) {
  KVB_REQUIRE_SMOLLM2_JSON();
  const auto tok = smollm2();
  const TokenizerSpec& s = tok->spec();
  EXPECT_EQ(s.kind, TokenizerSpec::Kind::ByteLevelBPE);
  EXPECT_EQ(s.pretokenizer, "smollm");
  EXPECT_EQ(tok->vocab_size(), 49152);
  EXPECT_EQ(s.bos_id, 1);  // from config.json beside tokenizer.json
  EXPECT_EQ(s.eos_id, 2);
  EXPECT_FALSE(s.add_bos);
  EXPECT_TRUE(tok->is_end_of_generation(2));   // <|im_end|>
  EXPECT_TRUE(tok->is_end_of_generation(0));   // <|endoftext|>
  EXPECT_FALSE(tok->is_end_of_generation(1));  // <|im_start|>
  EXPECT_EQ(tok->find_token("<|im_start|>"), 1);
  EXPECT_EQ(tok->find_token("no such piece"), -1);
  check_golden(*tok, load_json(tok_dir() / "golden_smollm2.json"));
}

TEST(Tokenizer, SmolLM2LongTextIsFast) {
  KVB_REQUIRE_SMOLLM2_JSON();
  const auto tok = smollm2();
  const json g = load_json(tok_dir() / "golden_smollm2.json");
  const double seconds = check_long(*tok, g);
  const auto count = g.at("long").at("count").get<size_t>();
  std::printf("SmolLM2: %zu tokens from %zu bytes in %.3f s\n", count, g.at("long").at("bytes").get<size_t>(), seconds);
  EXPECT_GT(count, 25000u);
#if defined(NDEBUG) && !defined(__SANITIZE_ADDRESS__)
  EXPECT_LT(seconds, 1.0) << "encoding ~32K tokens should take well under a second";
#endif
}

TEST(Tokenizer, SmolLM2FromGgufStyleSpec) {
  // A GGUF gives token types instead of an added-token list: the same tokenizer must result.
  KVB_REQUIRE_SMOLLM2_JSON();
  TokenizerSpec spec = load_hf_tokenizer(smollm2_json()).spec;
  spec.special_ids.clear();
  spec.eog_ids.clear();
  for (size_t i = 0; i < spec.types.size(); ++i) {
    if (spec.types[i] != TokenType::Control) spec.types[i] = TokenType::Normal;
  }
  const auto tok = make_tokenizer(std::move(spec));
  check_golden(*tok, load_json(tok_dir() / "golden_smollm2.json"));
  EXPECT_TRUE(tok->is_end_of_generation(2));
}

TEST(Tokenizer, Llama3ByteLevelMatchesHuggingFace) {
  const auto files = load_hf_tokenizer(tok_dir() / "llama3_bpe/tokenizer.json");
  EXPECT_EQ(files.spec.pretokenizer, "llama3");
  EXPECT_TRUE(files.spec.ignore_merges);
  EXPECT_TRUE(files.spec.add_bos);  // from the TemplateProcessing post-processor
  EXPECT_NE(files.chat_template.find("<|start_header_id|>"), std::string::npos);
  const auto tok = make_tokenizer(files.spec);
  EXPECT_EQ(tok->bos_id(), tok->find_token("<|begin_of_text|>"));
  EXPECT_EQ(tok->eos_id(), tok->find_token("<|eot_id|>"));  // tokenizer_config.json
  EXPECT_TRUE(tok->is_end_of_generation(tok->find_token("<|end_of_text|>")));
  const json g = load_json(tok_dir() / "golden_llama3_bpe.json");
  check_golden(*tok, g);
  check_long(*tok, g);
}

TEST(Tokenizer, Llama2SentencePieceLayoutMatchesHuggingFace) {
  const auto files = load_hf_tokenizer(tok_dir() / "llama2_spm/tokenizer.json");
  const TokenizerSpec& s = files.spec;
  EXPECT_EQ(s.kind, TokenizerSpec::Kind::SentencePieceBPE);
  EXPECT_TRUE(s.add_space_prefix);
  EXPECT_FALSE(s.space_prefix_first_only);
  EXPECT_TRUE(s.byte_fallback);
  EXPECT_TRUE(s.add_bos);
  EXPECT_EQ(s.bos_id, 1);
  EXPECT_EQ(s.unk_id, 0);
  const auto tok = make_tokenizer(files.spec);
  const json g = load_json(tok_dir() / "golden_llama2_spm.json");
  check_golden(*tok, g);
  check_long(*tok, g);
}

TEST(Tokenizer, Stories260kMatchesLlamaCppAndTransformers) {
  const json g = load_json(tok_dir() / "golden_stories260k.json");
  const auto llama_cpp = make_tokenizer(stories260k_spec());
  check_golden(*llama_cpp, g, "ids");
  check_long(*llama_cpp, g);
  // transformers' GGUF conversion differs only in where the "▁" prefix goes.
  TokenizerSpec hf = stories260k_spec();
  hf.space_prefix_first_only = true;
  check_golden(*make_tokenizer(std::move(hf)), g, "hf_ids");
  EXPECT_EQ(llama_cpp->encode("Once upon a time"), (std::vector<int32_t>{1, 403, 407, 261, 378}));
}

// Tokenizers from all four sources, for the edge cases below.
std::vector<std::unique_ptr<Tokenizer>> all_tokenizers() {
  std::vector<std::unique_ptr<Tokenizer>> out;
  if (auto t = smollm2()) out.push_back(std::move(t));
  out.push_back(make_tokenizer(load_hf_tokenizer(tok_dir() / "llama3_bpe/tokenizer.json").spec));
  out.push_back(make_tokenizer(load_hf_tokenizer(tok_dir() / "llama2_spm/tokenizer.json").spec));
  out.push_back(make_tokenizer(stories260k_spec()));
  return out;
}

TEST(Tokenizer, EdgeCases) {
  for (const auto& tok : all_tokenizers()) {
    SCOPED_TRACE(tok->spec().source);
    EXPECT_TRUE(tok->encode("", false).empty());
    const auto with_bos = tok->encode("", true);
    EXPECT_EQ(with_bos.size(), tok->spec().add_bos ? 1u : 0u);
    EXPECT_EQ(tok->decode({}), "");
    for (const std::string& spaces : std::vector<std::string>{" ", "   ", "\t\n \n", std::string(5000, ' ')}) {
      const auto ids = tok->encode(spaces, false);
      EXPECT_FALSE(ids.empty());
      std::string bytes;
      for (int32_t id : ids) bytes += tok->token_bytes(id);
      const bool prefixed = tok->spec().add_space_prefix;
      EXPECT_EQ(bytes, prefixed ? " " + spaces : spaces);
      EXPECT_EQ(tok->decode(ids), spaces);
    }
    // Bytes that never occur in UTF-8 may lack a token (SmolLM2 has none for 0xFF): no crash.
    EXPECT_TRUE(unicode::is_valid_utf8(tok->decode(tok->encode("\xff\xfe\xc0\xc1\xf5 x\xff", false))));
    // Other invalid UTF-8 is kept byte for byte by byte-level BPE and by byte fallback.
    const std::string bad = "ok \xc3( trunc \xe6\x97 x \x80 end\xf0";
    const auto ids = tok->encode(bad, false);
    std::string bytes;
    for (int32_t id : ids) bytes += tok->token_bytes(id);
    EXPECT_EQ(bytes, tok->spec().add_space_prefix ? " " + bad : bad);
    EXPECT_TRUE(unicode::is_valid_utf8(tok->decode(ids)));
    EXPECT_THROW(tok->decode(std::vector<int32_t>{tok->vocab_size()}), Error);
    EXPECT_THROW(tok->token_bytes(-1), Error);
  }
}

TEST(Tokenizer, HundredKilobyteRoundTrip) {
  const std::string text = load_json(tok_dir() / "long_text.json").at("text");
  ASSERT_GT(text.size(), 100000u);
  for (const auto& tok : all_tokenizers()) {
    SCOPED_TRACE(tok->spec().source);
    const auto ids = tok->encode(text, false, false);
    if (tok->spec().kind == TokenizerSpec::Kind::ByteLevelBPE) {
      EXPECT_EQ(tok->decode(ids), text);
    } else {
      std::string bytes;
      for (int32_t id : ids) bytes += tok->token_bytes(id);
      EXPECT_EQ(bytes, " " + text);
    }
  }
}

TEST(Tokenizer, RandomBytesRoundTrip) {
  uint64_t state = 0x9E3779B97F4A7C15ull;  // xorshift64: the same strings every run
  auto next = [&] {
    state ^= state << 13, state ^= state >> 7, state ^= state << 17;
    return state;
  };
  const std::string alphabet = std::string("aZ09 '\t\n\r.<|>") + "\xC3\xA9\xE6\x97\xA5\xF0\x9F\x99\x82\x80\xBF\xFF";
  std::vector<std::string> texts;
  for (int i = 0; i < 300; ++i) {
    std::string s;
    for (size_t n = next() % 40; n > 0; --n) {
      s += next() % 3 == 0 ? char(next() & 0xFF) : alphabet[next() % alphabet.size()];
    }
    texts.push_back(s);
  }
  for (const auto& tok : all_tokenizers()) {
    SCOPED_TRACE(tok->spec().source);
    bool every_byte = true;  // SmolLM2 has no token for some bytes that UTF-8 never uses
    for (int b = 0; b < 256; ++b) every_byte = every_byte && !tok->encode(std::string(1, char(b)), false, false).empty();
    const std::string prefix = tok->spec().add_space_prefix ? " " : "";
    for (const std::string& s : texts) {
      for (bool parse_special : {false, true}) {
        const auto ids = tok->encode(s, true, parse_special);
        EXPECT_TRUE(unicode::is_valid_utf8(tok->decode(ids)));
        if (parse_special || !every_byte || s.empty()) continue;
        std::string bytes;
        for (int32_t id : tok->encode(s, false, false)) bytes += tok->token_bytes(id);
        EXPECT_EQ(bytes, prefix + s) << show(unicode::to_valid_utf8(s));
      }
    }
  }
}

TEST(Tokenizer, SpecErrorsNameTheSource) {
  TokenizerSpec empty;
  empty.source = "/models/x.gguf";
  try {
    make_tokenizer(empty);
    FAIL() << "no error for an empty vocabulary";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("/models/x.gguf"), std::string::npos) << e.what();
  }
  TokenizerSpec bad = stories260k_spec();
  bad.special_ids = {99999};
  EXPECT_THROW(make_tokenizer(bad), Error);
  bad = stories260k_spec();
  bad.scores.pop_back();
  EXPECT_THROW(make_tokenizer(bad), Error);
  bad = stories260k_spec();
  bad.pretokenizer = "nonsense";
  bad.kind = TokenizerSpec::Kind::ByteLevelBPE;
  EXPECT_THROW(make_tokenizer(bad), Error);
}

// Writes `text` as tokenizer.json in a fresh directory and expects load_hf_tokenizer to fail with
// a message naming the file and containing `problem`.
void expect_load_error(const std::string& name, const std::string& text, const std::string& problem) {
  const fs::path dir = test::tmp_dir() / ("tokenizer_" + name);
  fs::create_directories(dir);
  const fs::path file = dir / "tokenizer.json";
  std::ofstream(file) << text;
  try {
    load_hf_tokenizer(file);
    ADD_FAILURE() << name << ": no error";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find(file.string()), std::string::npos) << name << ": " << msg;
    EXPECT_NE(msg.find(problem), std::string::npos) << name << ": " << msg;
  }
}

TEST(Tokenizer, MalformedTokenizerJsonErrorsNameTheFile) {
  const std::string pre = R"("pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true})";
  auto with_model = [&](const std::string& model) { return "{" + pre + R"(, "model": )" + model + "}"; };
  expect_load_error("invalid_json", R"({"model": {"type": "BPE", "vocab": {)", "invalid JSON");
  expect_load_error("not_object", "[1, 2]", "JSON object");
  expect_load_error("no_model", "{" + pre + "}", "model");
  expect_load_error("no_vocab", with_model(R"({"type": "BPE", "merges": []})"), "missing model.vocab");
  expect_load_error("unigram", with_model(R"({"type": "Unigram", "vocab": [["a", 0.0]]})"), "unsupported model type");
  expect_load_error("bad_merge", with_model(R"({"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2}, "merges": ["a c"]})"),
                    "'c', which is not in model.vocab");
  expect_load_error("merge_result", with_model(R"({"type": "BPE", "vocab": {"a": 0, "b": 1}, "merges": [["a", "b"]]})"),
                    "'ab', which is not in model.vocab");
  expect_load_error("merge_form", with_model(R"({"type": "BPE", "vocab": {"a": 0}, "merges": ["abc"]})"),
                    "model.merges[0]");
  expect_load_error("dup_id", with_model(R"({"type": "BPE", "vocab": {"a": 0, "b": 0}, "merges": []})"), "id 0");
  expect_load_error("vocab_type", with_model(R"({"type": "BPE", "vocab": {"a": "zero"}, "merges": []})"),
                    "invalid id");
  expect_load_error("pre_tokenizer",
                    R"({"pre_tokenizer": {"type": "Whitespace"}, "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
                    "unsupported pre_tokenizer");
  expect_load_error("split_pattern",
                    R"({"pre_tokenizer": {"type": "Sequence", "pretokenizers": [{"type": "Split", "pattern": {"Regex": "\\w+"},
                        "behavior": "Isolated", "invert": false}, {"type": "ByteLevel", "use_regex": false}]},
                        "model": {"type": "BPE", "vocab": {"a": 0}, "merges": []}})",
                    "Split pattern");
  expect_load_error("added_conflict",
                    with_model(R"({"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 0, "content": "<x>"}])"),
                    "model.vocab gives");
  expect_load_error("added_rstrip",
                    with_model(R"({"type": "BPE", "vocab": {"a": 0}, "merges": []}, "added_tokens": [{"id": 1, "content": "<x>", "rstrip": true}])"),
                    "rstrip=true");
  try {
    load_hf_tokenizer(test::tmp_dir() / "does_not_exist/tokenizer.json");
    ADD_FAILURE() << "no error for a missing file";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("does_not_exist/tokenizer.json"), std::string::npos) << e.what();
  }
}

TEST(Tokenizer, UnicodeHelpers) {
  EXPECT_EQ(unicode::to_valid_utf8("a\xe6\x97z"), "a\xEF\xBF\xBDz");          // one maximal subpart
  EXPECT_EQ(unicode::to_valid_utf8("\xff\xfe"), "\xEF\xBF\xBD\xEF\xBF\xBD");  // two invalid bytes
  EXPECT_EQ(unicode::to_valid_utf8("\xed\xa0\x80"), "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD");  // surrogate
  EXPECT_EQ(unicode::nfc("e\xCC\x81"), "\xC3\xA9");
  EXPECT_EQ(unicode::classify(0x65E5), unicode::CharClass::Letter);  // 日
  EXPECT_EQ(unicode::classify(0x2164), unicode::CharClass::Number);  // Ⅴ (Nl)
  EXPECT_EQ(unicode::classify(0x3000), unicode::CharClass::Space);
  EXPECT_EQ(unicode::classify(0x200B), unicode::CharClass::Other);   // zero-width space is not \s
  EXPECT_EQ(unicode::classify(0x0301), unicode::CharClass::Other);   // combining mark
}

}  // namespace
}  // namespace kvb
