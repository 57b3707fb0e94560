// kvbench and kvb_tests start their libraries as backends/cpu/runtime_env.h says: libgomp waits
// passively (no spinning beside other jobs) unless the user chose or the command is `bench`; the user's
// OMP_WAIT_POLICY / GOMP_SPINCOUNT are kept. Run: build/tests/kvb_tests --gtest_filter='RuntimeEnv*'
#include <gtest/gtest.h>

#include <cstdlib>
#include <optional>
#include <string>

#include "backends/cpu/runtime_env.h"
#include "test_util.h"

namespace kvb {
namespace {

// Sets (or unsets, nullopt) one environment variable for a scope.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, std::optional<std::string> value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    value ? setenv(name, value->c_str(), 1) : unsetenv(name);
  }
  ~ScopedEnv() { old_ ? setenv(name_, old_->c_str(), 1) : unsetenv(name_); }

 private:
  const char* name_;
  std::optional<std::string> old_;
};

bool sets(const std::vector<std::pair<std::string, std::string>>& set, const std::string& name, const std::string& value) {
  for (const auto& [n, v] : set)
    if (n == name && v == value) return true;
  return false;
}

TEST(RuntimeEnv, PassiveWaitingUnlessTheUserChoseOrTheCommandBenchmarks) {
  ScopedEnv first("KVB_RUNTIME_REEXEC", std::nullopt), policy("OMP_WAIT_POLICY", std::nullopt),
      spin("GOMP_SPINCOUNT", std::nullopt);
  EXPECT_TRUE(sets(cpu::runtime_env_to_set(false), "OMP_WAIT_POLICY", "passive"));
  EXPECT_FALSE(sets(cpu::runtime_env_to_set(/*keep_spinning=*/true), "OMP_WAIT_POLICY", "passive"));
  {
    ScopedEnv user("GOMP_SPINCOUNT", "10000");
    EXPECT_FALSE(sets(cpu::runtime_env_to_set(false), "OMP_WAIT_POLICY", "passive"));
  }
  {
    ScopedEnv user("OMP_WAIT_POLICY", "active");
    EXPECT_FALSE(sets(cpu::runtime_env_to_set(false), "OMP_WAIT_POLICY", "passive"));
  }
  ScopedEnv second("KVB_RUNTIME_REEXEC", "OMP_WAIT_POLICY");  // the re-executed start sets nothing again
  EXPECT_TRUE(cpu::runtime_env_to_set(false).empty());
}

TEST(RuntimeEnv, KvbenchSaysHowOpenMpWaitsAndKeepsTheUsersChoice) {
  const std::string clean = "-u KVB_RUNTIME_REEXEC -u OMP_WAIT_POLICY -u GOMP_SPINCOUNT";
  const auto plain = test::run_kvbench_env(clean, "list backends");
  ASSERT_EQ(plain.exit_code, 0) << plain.output;
  EXPECT_NE(plain.output.find("OpenMP waiting: passive (set by kvbench)"), std::string::npos) << plain.output;
  const auto user = test::run_kvbench_env(clean + " GOMP_SPINCOUNT=5000", "list backends");
  EXPECT_NE(user.output.find("OpenMP waiting: as set: GOMP_SPINCOUNT=5000"), std::string::npos) << user.output;
  // `bench` keeps libgomp's spinning (its header line says so; stories260K, a few tokens).
  const std::string model = test::stories260k().string();
  const auto bench = test::run_kvbench_env(clean, "bench --model '" + model + "' --prefill 16 --decode-context 16 --decode-tokens 2 -t 1");
  ASSERT_EQ(bench.exit_code, 0) << bench.output;
  EXPECT_NE(bench.output.find("OpenMP waiting: active"), std::string::npos) << bench.output;
}

TEST(RuntimeEnv, ThisTestBinaryWaitsAsKvbenchDoes) {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* reexec = std::getenv("KVB_RUNTIME_REEXEC");
  if (std::getenv("GOMP_SPINCOUNT") || (policy && !(reexec && std::string(reexec).find("OMP_WAIT_POLICY") != std::string::npos)))
    GTEST_SKIP() << "the environment chose OpenMP's waiting for this run";
  ASSERT_NE(policy, nullptr) << "kvb_tests did not re-execute itself with OMP_WAIT_POLICY";
  EXPECT_EQ(std::string(policy), "passive");
}

}  // namespace
}  // namespace kvb
