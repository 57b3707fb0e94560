// The kvbench binary end to end: generation on real checkpoints, and bad input giving one
// "error:" line that names the file and the problem, with exit code 2.
#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "tiny_models.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

// Exit code 2 and exactly one line of output, starting with "error:" and containing each fragment.
void expect_one_line_error(const test::CommandResult& r, std::initializer_list<std::string> fragments) {
  EXPECT_EQ(r.exit_code, 2) << r.output;
  std::string out = r.output;
  while (!out.empty() && out.back() == '\n') out.pop_back();
  EXPECT_EQ(out.find('\n'), std::string::npos) << "more than one line:\n" << r.output;
  EXPECT_EQ(out.rfind("error: ", 0), 0u) << r.output;
  for (auto& f : fragments) EXPECT_NE(out.find(f), std::string::npos) << "missing '" << f << "' in: " << out;
}

// A copy of the tiny llama HF checkpoint that a test may damage.
fs::path tiny_copy(const std::string& name) {
  fs::path dir = test::tmp_dir() / ("cli_" + name);
  fs::remove_all(dir);
  fs::copy(test::tiny_model_dir("llama_linear"), dir, fs::copy_options::recursive);
  return dir;
}

nlohmann::json read_json(const fs::path& p) { return nlohmann::json::parse(std::ifstream(p)); }
void write_json(const fs::path& p, const nlohmann::json& j) { std::ofstream(p) << j.dump(2); }

TEST(Cli, GenerateStories260k) {
  auto r = test::run_kvbench("generate --model '" + test::stories260k().string() +
                             "' --chat-template none --prompt 'Once upon a time' -n 12 -q");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("there was a little girl"), std::string::npos) << r.output;
}

TEST(Cli, GenerateSmolLM2AnswersParis) {
  KVB_REQUIRE_SMOLLM2();
  auto r = test::run_kvbench("generate --model '" + test::smollm2_gguf().string() +
                             "' --prompt 'What is the capital of France?' -n 24 -q");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("Paris"), std::string::npos) << r.output;
}

TEST(Cli, GenerateHuggingFaceDirectory) {
  auto r = test::run_kvbench("generate --model '" + test::tiny_model_dir("qwen2_bias").string() +
                             "' --chat-template none --prompt 'abc' -n 4 -q");
  EXPECT_EQ(r.exit_code, 0) << r.output;
}

TEST(Cli, ListModelsShowsSharedModels) {
  auto r = test::run_kvbench("list models");
  EXPECT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("stories260K.gguf"), std::string::npos) << r.output;
}

TEST(Cli, MissingModelFile) {
  expect_one_line_error(test::run_kvbench("generate --model /nonexistent/m.gguf --prompt hi"),
                        {"/nonexistent/m.gguf", "not found"});
}

TEST(Cli, TruncatedGguf) {
  fs::path p = test::tmp_dir() / "cli_truncated.gguf";
  fs::copy_file(test::stories260k(), p, fs::copy_options::overwrite_existing);
  fs::resize_file(p, fs::file_size(p) / 2);
  expect_one_line_error(test::run_kvbench("generate --model '" + p.string() + "' --prompt hi"), {p.string()});
}

TEST(Cli, NotAGgufFile) {
  fs::path p = test::tmp_dir() / "cli_text.gguf";
  std::ofstream(p) << "hello world, not a model";
  expect_one_line_error(test::run_kvbench("generate --model '" + p.string() + "' --prompt hi"), {p.string(), "magic"});
}

TEST(Cli, HfConfigMissingKey) {
  fs::path dir = tiny_copy("missing_key");
  auto cfg = read_json(dir / "config.json");
  cfg.erase("num_hidden_layers");
  write_json(dir / "config.json", cfg);
  expect_one_line_error(test::run_kvbench("generate --model '" + dir.string() + "' --prompt hi"),
                        {"config.json", "num_hidden_layers"});
}

TEST(Cli, HfConfigInconsistentWithTensors) {
  fs::path dir = tiny_copy("bad_shape");
  auto cfg = read_json(dir / "config.json");
  cfg["intermediate_size"] = cfg["intermediate_size"].get<int>() + 32;
  write_json(dir / "config.json", cfg);
  expect_one_line_error(test::run_kvbench("generate --model '" + dir.string() + "' --prompt hi"),
                        {"model.safetensors", "ffn_gate.weight", "shape"});
}

TEST(Cli, HfInvalidTokenizerJson) {
  fs::path dir = tiny_copy("bad_tokenizer");
  std::ofstream(dir / "tokenizer.json") << "{\"model\": {\"type\": \"BPE\", \"vocab\": ";
  expect_one_line_error(test::run_kvbench("generate --model '" + dir.string() + "' --prompt hi"),
                        {"tokenizer.json"});
}

TEST(Cli, HfTruncatedSafetensors) {
  fs::path dir = tiny_copy("truncated_weights");
  fs::resize_file(dir / "model.safetensors", fs::file_size(dir / "model.safetensors") - 100);
  expect_one_line_error(test::run_kvbench("generate --model '" + dir.string() + "' --prompt hi"),
                        {"model.safetensors", "past the end"});
}

TEST(Cli, UnknownChatTemplate) {
  auto r = test::run_kvbench("generate --model '" + test::stories260k().string() +
                             "' --chat-template vicuna --prompt hi");
  expect_one_line_error(r, {"vicuna"});
}

}  // namespace
}  // namespace kvb
