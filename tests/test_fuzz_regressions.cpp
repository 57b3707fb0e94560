// Replays every fuzz seed (tests/fuzz/corpus/<target>/) and every input a fuzzer once crashed on
// (tests/fuzz/regressions/<target>/, and for binary model formats <build fuzz seeds>/regressions/<target>/,
// written by scripts/fuzz/make_seeds.py --binary-only rather than committed) through the same target functions the libFuzzer binaries run
// (tests/fuzz/fuzz_targets.h), in the normal build: each must end in success or a kvb::Error. So a
// fixed crash stays fixed in CI even where clang/libFuzzer are absent. docs/reliability.md.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "fuzz/fuzz_targets.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

std::vector<uint8_t> read_bytes(const fs::path& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Runs every file under ROOT/<target>; returns how many ran.
int replay(const fs::path& root, const fuzz::Target& t) {
  const fs::path dir = root / t.name;
  if (!fs::is_directory(dir)) return 0;
  std::set<fs::path> files;  // sorted: a failure names the same first file every time
  for (const auto& e : fs::directory_iterator(dir))
    if (e.is_regular_file() && e.path().filename() != "README.md") files.insert(e.path());
  for (const fs::path& f : files) {
    SCOPED_TRACE("input " + f.string());
    const std::vector<uint8_t> bytes = read_bytes(f);
    try {
      t.run(bytes.data(), bytes.size());
    } catch (const std::exception& e) {
      ADD_FAILURE() << t.name << ": " << f.filename() << " escaped as " << typeid(e).name() << ": " << e.what();
    }
  }
  return int(files.size());
}

class FuzzReplay : public ::testing::TestWithParam<fuzz::Target> {};

TEST_P(FuzzReplay, SeedsAndPastCrashesEndInSuccessOrOneError) {
  const fuzz::Target& t = GetParam();
  // Committed seeds, and the binary model-format seeds the build writes (not committed).
  const int seeds = replay(test::tests_dir() / "fuzz" / "corpus", t) + replay(test::fuzz_seeds_path(), t);
  EXPECT_GT(seeds, 0) << "no seed corpus in tests/fuzz/corpus/" << t.name << " nor " << test::fuzz_seeds_path();
  const int crashes = replay(test::tests_dir() / "fuzz" / "regressions", t) +
                      replay(fs::path(test::fuzz_seeds_path()) / "regressions", t);
  RecordProperty("seeds", seeds);
  RecordProperty("regressions", crashes);
}

INSTANTIATE_TEST_SUITE_P(Targets, FuzzReplay, ::testing::ValuesIn(fuzz::targets()),
                         [](const auto& info) { return std::string(info.param.name); });

// Every regressions/ folder belongs to a target (a renamed target must not orphan its crashes).
TEST(FuzzReplayLayout, EveryRegressionFolderNamesATarget) {
  int folders = 0;
  for (const fs::path& dir : {test::tests_dir() / "fuzz" / "regressions", fs::path(test::fuzz_seeds_path()) / "regressions"}) {
    if (!fs::is_directory(dir)) continue;
    for (const auto& e : fs::directory_iterator(dir))
      if (e.is_directory()) {
        ++folders;
        EXPECT_NE(fuzz::find_target(e.path().filename().string()), nullptr) << e.path();
      }
  }
  if (folders == 0) GTEST_SKIP() << "no regressions yet";
}

// The binary past crashes are written at build time, never committed (the project commits no
// weight-like files): they must be there, and nothing binary may sit in the committed folder.
TEST(FuzzReplayLayout, BinaryPastCrashesAreWrittenAtBuildTime) {
  const fs::path built = fs::path(test::fuzz_seeds_path()) / "regressions" / "safetensors";
  ASSERT_TRUE(fs::is_directory(built)) << built << " missing: scripts/fuzz/make_seeds.py --binary-only did not run";
  EXPECT_TRUE(fs::exists(built / "shape_product_overflows_int64.safetensors"));
  EXPECT_TRUE(fs::exists(built / "overflowing_shape_with_a_zero.safetensors"));
  for (const auto& e : fs::recursive_directory_iterator(test::tests_dir() / "fuzz"))
    for (const char* ext : {".gguf", ".safetensors"})
      EXPECT_NE(e.path().extension(), ext) << e.path() << " is a binary model file: write it in make_seeds.py";
}

}  // namespace
}  // namespace kvb
