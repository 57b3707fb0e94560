// `kvbench calibrate duo` writes DuoAttention's pattern format from synthetic passkey cases, and
// duo_attention reads it back (stories260K, a real pretrained model, so the run takes a second).
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/file.h"
#include "model/checkpoint.h"
#include "test_util.h"

namespace kvb {
namespace {

namespace fs = std::filesystem;

TEST(CalibrateDuo, WritesHeadScoresThatDuoAttentionLoads) {
  const fs::path out = test::tmp_dir() / "duo_stories";
  fs::remove_all(out);
  auto r = test::run_kvbench("calibrate duo --model '" + test::stories260k().string() + "' --out '" + out.string() +
                             "' --length 400 --n 2 --sink 4 --recent 32");
  ASSERT_EQ(r.exit_code, 0) << r.output;
  Checkpoint ck = load_checkpoint(test::stories260k());
  std::stringstream tsv(read_text_file(out / "full_attention_heads.tsv"));
  std::string line;
  int rows = 0;
  while (std::getline(tsv, line)) {
    std::stringstream cells(line);
    double x;
    int n = 0;
    while (cells >> x) {
      EXPECT_GE(x, 0.0);
      EXPECT_LE(x, 1.0);
      ++n;
    }
    EXPECT_EQ(n, ck.config.n_kv_heads);
    ++rows;
  }
  EXPECT_EQ(rows, ck.config.n_layers);
  EXPECT_NE(read_text_file(out / "config.json").find("\"recent_size\": 32"), std::string::npos);
  auto e = test::run_kvbench("eval -q --model '" + test::stories260k().string() +
                             "' --task niah_single --length 400 --n 1 --method duo_attention --param pattern='" +
                             out.string() + "' --ratio 0.5");
  EXPECT_EQ(e.exit_code, 0) << e.output;
  EXPECT_NE(e.output.find("method duo_attention ratio 0.5"), std::string::npos) << e.output;
  // Without scores duo_attention says where to get them.
  auto bad = test::run_kvbench("eval -q --model '" + test::stories260k().string() +
                               "' --task niah_single --length 400 --n 1 --method duo_attention --ratio 0.5");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_NE(bad.output.find("kvbench calibrate duo"), std::string::npos) << bad.output;
}

}  // namespace
}  // namespace kvb
