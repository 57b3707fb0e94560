// safetensors reader: valid files in each dtype, and one clear error per kind of bad input.
#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "model/safetensors.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

void write_safetensors(const fs::path& p, const nlohmann::json& header, const std::string& data,
                       int64_t header_len_override = -1) {
  std::string h = header.dump();
  uint64_t len = header_len_override >= 0 ? uint64_t(header_len_override) : h.size();
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << h << data;
}

std::string floats(std::initializer_list<float> v) {
  std::string s(v.size() * 4, '\0');
  std::memcpy(s.data(), std::data(v), s.size());
  return s;
}

// Expects a kvb::Error whose message contains every fragment.
template <typename F>
void expect_error(F&& f, std::initializer_list<std::string> fragments) {
  try {
    f();
    FAIL() << "no error thrown";
  } catch (const Error& e) {
    for (auto& frag : fragments) EXPECT_NE(std::string(e.what()).find(frag), std::string::npos) << e.what();
  }
}

TEST(Safetensors, ReadsF32F16BF16) {
  auto p = test::tmp_dir() / "ok.safetensors";
  std::string f16 = std::string("\x00\x3c\x00\xc0", 4);   // 1.0, -2.0
  std::string bf16 = std::string("\x80\x3f\x40\x40", 4);  // 1.0, 3.0
  nlohmann::json h = {{"a", {{"dtype", "F32"}, {"shape", {2}}, {"data_offsets", {0, 8}}}},
                      {"b", {{"dtype", "F16"}, {"shape", {2}}, {"data_offsets", {8, 12}}}},
                      {"c", {{"dtype", "BF16"}, {"shape", {1, 2}}, {"data_offsets", {12, 16}}}},
                      {"__metadata__", {{"format", "pt"}}}};
  write_safetensors(p, h, floats({0.5f, -1.5f}) + f16 + bf16);
  SafetensorsFile f(p);
  ASSERT_EQ(f.tensors().size(), 3u);
  EXPECT_EQ(to_f32(f.tensors().at("a")).data, (std::vector<float>{0.5f, -1.5f}));
  EXPECT_EQ(to_f32(f.tensors().at("b")).data, (std::vector<float>{1.0f, -2.0f}));
  EXPECT_EQ(to_f32(f.tensors().at("c")).data, (std::vector<float>{1.0f, 3.0f}));
  EXPECT_EQ(f.tensors().at("c").shape, (std::vector<int64_t>{1, 2}));
}

TEST(Safetensors, TruncatedFile) {
  auto p = test::tmp_dir() / "trunc.safetensors";
  std::ofstream(p, std::ios::binary) << "abc";
  expect_error([&] { SafetensorsFile f(p); }, {p.string(), "truncated"});
}

TEST(Safetensors, HeaderLengthPastEnd) {
  auto p = test::tmp_dir() / "hdr.safetensors";
  write_safetensors(p, nlohmann::json::object(), "", 1 << 30);
  expect_error([&] { SafetensorsFile f(p); }, {p.string(), "header length"});
}

TEST(Safetensors, InvalidHeaderJson) {
  auto p = test::tmp_dir() / "json.safetensors";
  std::string bad = "{not json";
  uint64_t len = bad.size();
  std::ofstream f(p, std::ios::binary);
  f.write(reinterpret_cast<const char*>(&len), 8);
  f << bad;
  f.close();
  expect_error([&] { SafetensorsFile s(p); }, {p.string(), "invalid JSON"});
}

TEST(Safetensors, TensorPastEndOfFile) {
  auto p = test::tmp_dir() / "past.safetensors";
  nlohmann::json h = {{"w", {{"dtype", "F32"}, {"shape", {4}}, {"data_offsets", {0, 16}}}}};
  write_safetensors(p, h, floats({1, 2}));
  expect_error([&] { SafetensorsFile f(p); }, {p.string(), "'w'", "past the end"});
}

TEST(Safetensors, UnknownDtype) {
  auto p = test::tmp_dir() / "dtype.safetensors";
  nlohmann::json h = {{"w", {{"dtype", "F8_E4M3"}, {"shape", {4}}, {"data_offsets", {0, 4}}}}};
  write_safetensors(p, h, "abcd");
  expect_error([&] { SafetensorsFile f(p); }, {p.string(), "'w'", "unsupported dtype 'F8_E4M3'"});
}

TEST(Safetensors, ShapeDisagreesWithByteCount) {
  auto p = test::tmp_dir() / "shape.safetensors";
  nlohmann::json h = {{"w", {{"dtype", "F32"}, {"shape", {3}}, {"data_offsets", {0, 8}}}}};
  write_safetensors(p, h, floats({1, 2}));
  expect_error([&] { SafetensorsFile f(p); }, {p.string(), "'w'", "needs 12"});
}

TEST(Safetensors, MissingShardNamedInIndex) {
  auto dir = test::tmp_dir() / "sharded_missing";
  fs::create_directories(dir);
  std::ofstream(dir / "model.safetensors.index.json")
      << R"({"weight_map": {"model.norm.weight": "model-00001-of-00002.safetensors"}})";
  expect_error([&] { SafetensorsModel m(dir); }, {"model-00001-of-00002.safetensors", "does not exist"});
}

}  // namespace
}  // namespace kvb
