// Provenance recorded with every stored run and sample: build (git commit + dirty flag refreshed at
// build time, build type, compiler), machine (CPU model and flags, GPU, host), library versions,
// model file hashes, and the process's peak RSS. See docs/results-schema.md; tests/test_store.cpp.
#pragma once
#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace kvb {

struct BuildInfo {
  std::string commit;      // 12 hex digits, "unknown" outside a git checkout
  bool dirty = false;      // tracked files differed from the commit when this binary was built
  std::string version;     // kvbench version
  std::string build_type;  // CMAKE_BUILD_TYPE
  std::string compiler;    // id and version
  std::string cxx_flags;   // flags of the build type plus the ISA macros the compiler defined
};
const BuildInfo& build_info();

// Everything the `runs` table records about where and how a run happens (argv excluded).
struct MachineInfo {
  std::string host;
  std::string os;  // uname: sysname release machine
  std::string cpu_model;
  std::string cpu_flags;  // SIMD-relevant flags from /proc/cpuinfo (sse4_2 avx avx2 fma avx512f ...)
  int cpu_cores = 0;      // online logical CPUs
  std::string gpu;        // NVIDIA GPU models from /proc/driver/nvidia, "" when none
  nlohmann::json libraries = nlohmann::json::object();  // name -> version
};
MachineInfo machine_info();

// Hash of a model's bytes: a .gguf file, or every regular file of a Hugging Face directory (sorted
// names, each name hashed with its bytes). "fnv1a64:<16 hex>".
std::string hash_model_files(const std::filesystem::path& path);
// Size and modification time (ns) of a file, or summed sizes / latest mtime of a directory's files:
// the key under which a model hash is cached.
struct FileStamp {
  int64_t size = 0;
  int64_t mtime_ns = 0;
};
FileStamp file_stamp(const std::filesystem::path& path);

// Peak resident set size of this process in bytes (VmHWM); reset_peak_rss() restarts the peak at
// the current RSS (Linux /proc/self/clear_refs), so a later peak_rss_bytes() covers one case.
int64_t peak_rss_bytes();
bool reset_peak_rss();

// This process's command line (/proc/self/cmdline).
std::vector<std::string> process_argv();

// UTC time "YYYY-MM-DDTHH:MM:SS.mmmZ".
std::string utc_now();

}  // namespace kvb
