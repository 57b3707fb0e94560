// Load-time library settings by re-execution; see runtime_env.h.
#include "backends/cpu/runtime_env.h"

#include <unistd.h>

#include <cstdlib>
#include <string_view>

#include "backends/cpu/blas_kernels.h"

namespace kvb::cpu {

std::vector<std::pair<std::string, std::string>> runtime_env_to_set(bool keep_spinning) {
  std::vector<std::pair<std::string, std::string>> set;
  if (std::getenv("KVB_RUNTIME_REEXEC")) return set;  // this is the second start
  if (const std::string blas = blas_kernels_to_request(); !blas.empty()) set.emplace_back("OPENBLAS_CORETYPE", blas);
  const bool user_chose = std::getenv("OMP_WAIT_POLICY") || std::getenv("GOMP_SPINCOUNT");
  if (!user_chose && !keep_spinning) set.emplace_back("OMP_WAIT_POLICY", "passive");
  return set;
}

void settle_runtime_env(char** argv, bool keep_spinning) {
  const auto set = runtime_env_to_set(keep_spinning);
  if (set.empty()) return;
  std::string names;  // the variables kvbench set: never twice, whatever the libraries make of them
  for (const auto& [name, value] : set) {
    setenv(name.c_str(), value.c_str(), 1);
    names += (names.empty() ? "" : ",") + name;
  }
  setenv("KVB_RUNTIME_REEXEC", names.c_str(), 1);
  execv("/proc/self/exe", argv);
  for (const auto& [name, value] : set) unsetenv(name.c_str());  // the re-execution failed: go on as loaded
  unsetenv("KVB_RUNTIME_REEXEC");
}

std::string openmp_wait_description() {
  const char* policy = std::getenv("OMP_WAIT_POLICY");
  const char* spin = std::getenv("GOMP_SPINCOUNT");
  const char* set_by_kvbench = std::getenv("KVB_RUNTIME_REEXEC");
  if (policy && set_by_kvbench && std::string_view(set_by_kvbench).find("OMP_WAIT_POLICY") != std::string_view::npos)
    return std::string(policy) + " (set by kvbench)";
  if (policy || spin)
    return std::string("as set: ") + (policy ? std::string("OMP_WAIT_POLICY=") + policy : "") +
           (policy && spin ? " " : "") + (spin ? std::string("GOMP_SPINCOUNT=") + spin : "");
  return "active (libgomp default: threads spin between parallel loops)";
}

}  // namespace kvb::cpu
