// Reads a Hugging Face tokenizer.json (BPE model; ByteLevel, Digits+ByteLevel, Split+ByteLevel or
// SentencePiece-style Prepend/Replace/Metaspace layouts) plus tokenizer_config.json / config.json /
// chat_template.jinja beside it into a TokenizerSpec. Format: huggingface/tokenizers serialization.
// Exercised by tests/test_tokenizer.cpp (SmolLM2, fixtures under tests/golden/tokenizers, malformed files).
#include <nlohmann/json.hpp>

#include <algorithm>
#include <unordered_set>

#include "core/error.h"
#include "core/file.h"
#include "model/tokenizer.h"
#include "model/tokenizer_internal.h"

namespace kvb {
namespace {

using json = nlohmann::json;
namespace fs = std::filesystem;

constexpr std::string_view kLlama3Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kQwen2Split =
    R"((?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+)";
constexpr std::string_view kSpace = "\xE2\x96\x81";  // "▁"

std::string brief(const json& j) {
  std::string s = j.dump();
  return s.size() > 160 ? s.substr(0, 160) + "..." : s;
}

json parse_json_file(const fs::path& path) {
  const std::string text = read_text_file(path);
  try {
    return json::parse(text);
  } catch (const json::exception& e) {  // parse_error, or out_of_range 406: a number too large for a double
    KVB_FAIL("{}: invalid JSON: {}", path.string(), e.what());
  }
}

// The flattened list of a "Sequence" (key `list_key`) or the single item itself.
std::vector<json> flatten(const json& j, const char* list_key) {
  std::vector<json> out;
  if (j.is_null()) return out;
  if (j.value("type", "") == "Sequence") {
    for (const json& item : j.at(list_key)) {
      for (json& x : flatten(item, list_key)) out.push_back(std::move(x));
    }
  } else {
    out.push_back(j);
  }
  return out;
}

// A token written as "piece" or as an AddedToken object {"content": "piece", ...}.
std::string token_content(const json& j) {
  if (j.is_string()) return j.get<std::string>();
  if (j.is_object() && j.contains("content")) return j.at("content").get<std::string>();
  return {};
}

struct Layout {
  bool byte_level = false;
  std::string pretokenizer = "gpt2";
  bool nfc = false, prepend = false, replace_space = false;
  bool metaspace = false, metaspace_first = false;  // Metaspace pre-tokenizer; prepend_scheme "first"
};

void read_normalizer(const json& j, Layout& l, const std::string& path) {
  for (const json& n : flatten(j, "normalizers")) {
    const std::string type = n.value("type", "");
    if (type == "NFC") {
      l.nfc = true;
    } else if (type == "Prepend" && n.value("prepend", "") == kSpace) {
      l.prepend = true;
    } else if (type == "Replace" && n.contains("pattern") && n.at("pattern").value("String", "") == " " &&
               n.value("content", "") == kSpace) {
      l.replace_space = true;
    } else {
      KVB_FAIL("{}: unsupported normalizer {}", path, brief(n));
    }
  }
}

void read_pre_tokenizer(const json& j, Layout& l, const std::string& path) {
  const std::vector<json> items = flatten(j, "pretokenizers");
  auto fail = [&] { KVB_FAIL("{}: unsupported pre_tokenizer {}", path, brief(j)); };
  auto byte_level_regex = [&](const json& b) {
    if (b.value("type", "") != "ByteLevel") return -1;
    if (b.value("add_prefix_space", false)) {
      KVB_FAIL("{}: pre_tokenizer ByteLevel with add_prefix_space=true is not supported", path);
    }
    return b.value("use_regex", true) ? 1 : 0;
  };
  if (items.empty()) return;
  if (items.size() == 1 && items[0].value("type", "") == "Metaspace") {
    const json& m = items[0];
    KVB_CHECK(m.value("replacement", std::string(kSpace)) == kSpace, "{}: Metaspace replacement must be \"▁\"", path);
    KVB_CHECK(!m.value("split", true), "{}: Metaspace with split=true is not supported", path);
    const std::string scheme = m.value("prepend_scheme", m.value("add_prefix_space", true) ? "always" : "never");
    // "always" differs from "first" only after special tokens; it is left out until a model needs it.
    KVB_CHECK(scheme == "first" || scheme == "never", "{}: Metaspace prepend_scheme '{}' is not supported (first, never)",
              path, scheme);
    l.metaspace = true;
    l.metaspace_first = scheme == "first";
    return;
  }
  if (items.size() == 1 && byte_level_regex(items[0]) == 1) {
    l.byte_level = true, l.pretokenizer = "gpt2";
  } else if (items.size() == 2 && items[0].value("type", "") == "Digits" && items[0].value("individual_digits", false) &&
             byte_level_regex(items[1]) == 1) {
    l.byte_level = true, l.pretokenizer = "smollm";
  } else if (items.size() == 2 && items[0].value("type", "") == "Split" && byte_level_regex(items[1]) == 0) {
    const json& s = items[0];
    const std::string pattern = s.contains("pattern") ? s.at("pattern").value("Regex", "") : "";
    KVB_CHECK(s.value("behavior", "") == "Isolated" && !s.value("invert", false),
              "{}: pre_tokenizer Split must have behavior Isolated and invert false: {}", path, brief(s));
    if (pattern == kLlama3Split) {
      l.pretokenizer = "llama3";
    } else if (pattern == kQwen2Split) {
      l.pretokenizer = "qwen2";
    } else {
      KVB_FAIL("{}: unsupported pre_tokenizer Split pattern '{}' (known: the Llama-3 and Qwen2 patterns)", path, pattern);
    }
    l.byte_level = true;
  } else {
    fail();
  }
}

// TemplateProcessing "single": a special token before $A means BOS, one after it EOS.
void read_post_processor(const json& j, TokenizerSpec& spec, const std::string& path) {
  for (const json& p : flatten(j, "processors")) {
    const std::string type = p.value("type", "");
    if (type == "ByteLevel") continue;
    KVB_CHECK(type == "TemplateProcessing", "{}: unsupported post_processor {}", path, brief(p));
    const json& single = p.at("single");
    auto special_id = [&](const json& item) {
      const std::string name = item.at("SpecialToken").at("id").get<std::string>();
      const json& ids = p.at("special_tokens").at(name).at("ids");
      KVB_CHECK(ids.size() == 1, "{}: post_processor special token '{}' must map to one id", path, name);
      return ids[0].get<int32_t>();
    };
    bool seen_sequence = false;
    for (const json& item : single) {
      if (item.contains("Sequence")) {
        seen_sequence = true;
      } else if (item.contains("SpecialToken")) {
        KVB_CHECK(seen_sequence ? !spec.add_eos : !spec.add_bos,
                  "{}: post_processor adds more than one special token on a side: {}", path, brief(single));
        (seen_sequence ? spec.add_eos : spec.add_bos) = true;
        (seen_sequence ? spec.eos_id : spec.bos_id) = special_id(item);
      }
    }
  }
}

void read_model(const json& model, TokenizerSpec& spec, const std::string& path) {
  KVB_CHECK(model.is_object(), "{}: missing \"model\"", path);
  KVB_CHECK(model.contains("type"), "{}: model.type is missing", path);
  const std::string type = model.at("type").get<std::string>();
  KVB_CHECK(type == "BPE", "{}: unsupported model type '{}' (supported: BPE)", path, type);
  KVB_CHECK(model.contains("vocab") && model.at("vocab").is_object(), "{}: missing model.vocab (an object of token -> id)",
            path);
  KVB_CHECK(model.contains("merges") && model.at("merges").is_array(), "{}: missing model.merges", path);
  for (const char* key : {"continuing_subword_prefix", "end_of_word_suffix"}) {
    KVB_CHECK(!model.contains(key) || model.at(key).is_null() || model.at(key) == "", "{}: model.{} is not supported",
              path, key);
  }
  KVB_CHECK(!model.contains("dropout") || model.at("dropout").is_null() || model.at("dropout").get<double>() == 0.0,
            "{}: model.dropout is not supported", path);
  spec.byte_fallback = model.value("byte_fallback", false);
  spec.ignore_merges = model.value("ignore_merges", false);

  for (const auto& [piece, id_json] : model.at("vocab").items()) {
    KVB_CHECK(id_json.is_number_integer() && id_json.get<int64_t>() >= 0 && id_json.get<int64_t>() < (1 << 24),
              "{}: model.vocab['{}'] has an invalid id {}", path, piece, id_json.dump());
    const auto id = size_t(id_json.get<int64_t>());
    if (spec.tokens.size() <= id) spec.tokens.resize(id + 1);
    KVB_CHECK(spec.tokens[id].empty(), "{}: model.vocab gives id {} to both '{}' and '{}'", path, id, spec.tokens[id],
              piece);
    spec.tokens[id] = piece;
  }
  KVB_CHECK(!spec.tokens.empty(), "{}: model.vocab is empty", path);

  const json& merges = model.at("merges");
  spec.merges.reserve(merges.size());
  for (size_t r = 0; r < merges.size(); ++r) {
    const json& m = merges[r];
    if (m.is_string()) {
      const std::string s = m.get<std::string>();
      const size_t sp = s.find(' ');
      KVB_CHECK(sp != std::string::npos && s.find(' ', sp + 1) == std::string::npos,
                "{}: model.merges[{}] = '{}' is not two tokens separated by one space", path, r, s);
      spec.merges.emplace_back(s.substr(0, sp), s.substr(sp + 1));
    } else {
      KVB_CHECK(m.is_array() && m.size() == 2 && m[0].is_string() && m[1].is_string(),
                "{}: model.merges[{}] = {} is neither \"a b\" nor [\"a\", \"b\"]", path, r, brief(m));
      spec.merges.emplace_back(m[0].get<std::string>(), m[1].get<std::string>());
    }
  }
}

void read_added_tokens(const json& added, TokenizerSpec& spec, const std::string& path) {
  if (added.is_null()) return;
  KVB_CHECK(added.is_array(), "{}: added_tokens must be an array", path);
  std::vector<std::pair<size_t, bool>> marks;
  for (const json& a : added) {
    KVB_CHECK(a.contains("id") && a.at("id").is_number_integer() && a.at("id").get<int64_t>() >= 0 &&
                  a.at("id").get<int64_t>() < (1 << 24) && a.contains("content"),
              "{}: malformed added token {}", path, brief(a));
    const auto id = size_t(a.at("id").get<int64_t>());
    const std::string content = a.at("content").get<std::string>();
    KVB_CHECK(!content.empty(), "{}: added token {} is empty", path, id);
    for (const char* flag : {"lstrip", "rstrip", "single_word"}) {
      KVB_CHECK(!a.value(flag, false), "{}: added token '{}' has {}=true, which is not supported", path, content, flag);
    }
    if (spec.tokens.size() <= id) spec.tokens.resize(id + 1);
    KVB_CHECK(spec.tokens[id].empty() || spec.tokens[id] == content,
              "{}: added token '{}' has id {}, which model.vocab gives to '{}'", path, content, id, spec.tokens[id]);
    spec.tokens[id] = content;
    marks.emplace_back(id, a.value("special", false));
  }
  spec.types.assign(spec.tokens.size(), TokenType::Normal);
  for (auto [id, special] : marks) {
    spec.types[id] = special ? TokenType::Control : TokenType::UserDefined;
    spec.special_ids.push_back(int32_t(id));
  }
}

void check_merges(const TokenizerSpec& spec, const std::string& path) {
  std::unordered_set<std::string_view> pieces(spec.tokens.begin(), spec.tokens.end());
  for (size_t r = 0; r < spec.merges.size(); ++r) {
    const auto& [a, b] = spec.merges[r];
    for (const std::string& p : {a, b, a + b}) {
      KVB_CHECK(pieces.count(p), "{}: model.merges[{}] = '{} {}' refers to '{}', which is not in model.vocab", path, r, a,
                b, p);
    }
  }
}

int32_t id_of(const TokenizerSpec& spec, const std::string& piece, const std::string& path, const char* what) {
  const auto it = std::find(spec.tokens.begin(), spec.tokens.end(), piece);
  KVB_CHECK(it != spec.tokens.end(), "{}: {} '{}' is not in the vocabulary", path, what, piece);
  return int32_t(it - spec.tokens.begin());
}

// tokenizer_config.json (bos/eos/unk/pad tokens, add_bos_token, add_eos_token, chat_template),
// then config.json's bos_token_id / eos_token_id for ids still unknown, then chat_template.jinja.
void read_side_files(const fs::path& dir, TokenizerSpec& spec, std::string& chat_template) {
  const fs::path cfg_path = dir / "tokenizer_config.json";
  if (fs::exists(cfg_path)) {
    const std::string p = cfg_path.string();
    const json cfg = parse_json_file(cfg_path);
    KVB_CHECK(cfg.is_object(), "{}: expected a JSON object", p);
    try {
      auto token = [&](const char* key, int32_t& id) {
        if (!cfg.contains(key)) return;
        const std::string piece = token_content(cfg.at(key));
        if (!piece.empty()) id = id_of(spec, piece, p, key);
      };
      token("bos_token", spec.bos_id);
      token("eos_token", spec.eos_id);
      token("unk_token", spec.unk_id);
      token("pad_token", spec.pad_id);
      if (cfg.contains("add_bos_token") && cfg.at("add_bos_token").is_boolean()) spec.add_bos = cfg.at("add_bos_token");
      if (cfg.contains("add_eos_token") && cfg.at("add_eos_token").is_boolean()) spec.add_eos = cfg.at("add_eos_token");
      if (cfg.contains("chat_template")) {
        const json& t = cfg.at("chat_template");
        if (t.is_string()) {
          chat_template = t.get<std::string>();
        } else if (t.is_array()) {  // [{"name": ..., "template": ...}]: "default", else the first
          for (const json& named : t) {
            if (chat_template.empty() || named.value("name", "") == "default") chat_template = named.value("template", "");
          }
        }
      }
    } catch (const json::exception& e) {
      KVB_FAIL("{}: {}", p, e.what());
    }
  }
  const fs::path model_cfg = dir / "config.json";
  if ((spec.bos_id < 0 || spec.eos_id < 0) && fs::exists(model_cfg)) {
    const json cfg = parse_json_file(model_cfg);
    auto id = [&](const char* key, int32_t& out) {
      if (out >= 0 || !cfg.is_object() || !cfg.contains(key)) return;
      const json& v = cfg.at(key);
      if (v.is_number_integer()) out = v.get<int32_t>();
      if (v.is_array() && !v.empty() && v[0].is_number_integer()) {
        out = v[0].get<int32_t>();
        for (const json& x : v) spec.eog_ids.push_back(x.get<int32_t>());
      }
    };
    id("bos_token_id", spec.bos_id);
    id("eos_token_id", spec.eos_id);
  }
  const fs::path jinja = dir / "chat_template.jinja";
  if (chat_template.empty() && fs::exists(jinja)) chat_template = read_text_file(jinja);
}

}  // namespace

HfTokenizerFiles load_hf_tokenizer(const fs::path& tokenizer_json) {
  const std::string path = tokenizer_json.string();
  const json root = parse_json_file(tokenizer_json);
  KVB_CHECK(root.is_object(), "{}: expected a JSON object at the top level", path);
  HfTokenizerFiles out;
  TokenizerSpec& spec = out.spec;
  spec.source = path;
  Layout layout;
  try {
    read_model(root.contains("model") ? root.at("model") : json(), spec, path);
    read_added_tokens(root.value("added_tokens", json()), spec, path);
    read_normalizer(root.value("normalizer", json()), layout, path);
    read_pre_tokenizer(root.value("pre_tokenizer", json()), layout, path);
    read_post_processor(root.value("post_processor", json()), spec, path);
    const json& model = root.at("model");
    if (model.contains("unk_token") && model.at("unk_token").is_string()) {
      spec.unk_id = id_of(spec, model.at("unk_token").get<std::string>(), path, "model.unk_token");
    }
  } catch (const json::exception& e) {
    KVB_FAIL("{}: {}", path, e.what());
  }
  if (spec.types.empty()) spec.types.assign(spec.tokens.size(), TokenType::Normal);
  for (size_t i = 0; i < spec.tokens.size(); ++i) {
    if (spec.tokens[i].empty()) spec.types[i] = TokenType::Unused;  // an id neither vocab nor added_tokens uses
  }

  if (layout.byte_level) {
    KVB_CHECK(!layout.prepend && !layout.replace_space, "{}: a ByteLevel pre_tokenizer with a \"▁\" normalizer is not supported",
              path);
    spec.kind = TokenizerSpec::Kind::ByteLevelBPE;
    spec.pretokenizer = layout.pretokenizer;
    spec.normalize_nfc = layout.nfc;
  } else if (layout.metaspace || layout.replace_space) {
    KVB_CHECK(!layout.nfc, "{}: NFC normalization with a SentencePiece-style layout is not supported", path);
    spec.kind = TokenizerSpec::Kind::SentencePieceBPE;
    spec.add_space_prefix = layout.metaspace ? layout.metaspace_first : layout.prepend;
    spec.space_prefix_first_only = layout.metaspace_first;
    for (size_t i = 0; i < spec.tokens.size(); ++i) {
      const std::string& t = spec.tokens[i];
      if (spec.types[i] == TokenType::Normal && t.size() == 6 && t.rfind("<0x", 0) == 0 && t[5] == '>')
        spec.types[i] = TokenType::Byte;
    }
  } else {
    KVB_FAIL("{}: unsupported tokenizer layout: the pre_tokenizer is not ByteLevel and nothing maps spaces to \"▁\"",
             path);
  }
  if (spec.unk_id >= 0 && spec.types[size_t(spec.unk_id)] == TokenType::Control) spec.types[size_t(spec.unk_id)] = TokenType::Unknown;
  check_merges(spec, path);
  read_side_files(tokenizer_json.parent_path(), spec, out.chat_template);
  if (spec.eos_id >= 0 && std::find(spec.eog_ids.begin(), spec.eog_ids.end(), spec.eos_id) == spec.eog_ids.end())
    spec.eog_ids.insert(spec.eog_ids.begin(), spec.eos_id);
  KVB_CHECK(!spec.add_bos || spec.bos_id >= 0, "{}: BOS is to be added but no bos token is known", path);
  return out;
}

}  // namespace kvb
