// Build, machine and file provenance for the results store; see provenance.h. The git commit comes
// from the header scripts/git_info.cmake regenerates on every build. Exercised by
// tests/test_store.cpp (Provenance*) and `kvbench inspect DB`.
#include "store/provenance.h"

#include <cblas.h>
#include <fmt/format.h>
#include <sqlite3.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>
#include <utf8proc.h>

#include <CLI/Version.hpp>
#include <algorithm>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>

#include "core/error.h"
#include "core/hash.h"
#include "kvb_git_commit.h"

#ifndef KVB_BUILD_TYPE
#define KVB_BUILD_TYPE "unknown"
#endif
#ifndef KVB_CXX_COMPILER
#define KVB_CXX_COMPILER "unknown"
#endif
#ifndef KVB_CXX_FLAGS
#define KVB_CXX_FLAGS ""
#endif
#ifndef KVB_YAML_CPP_VERSION
#define KVB_YAML_CPP_VERSION "unknown"
#endif

namespace fs = std::filesystem;

namespace kvb {

const BuildInfo& build_info() {
  static const BuildInfo info = [] {
    BuildInfo b;
    b.commit = KVB_GIT_COMMIT;
    b.dirty = KVB_GIT_DIRTY != 0;
    b.version = KVB_VERSION;
    b.build_type = KVB_BUILD_TYPE;
    b.compiler = KVB_CXX_COMPILER;
    std::string flags = KVB_CXX_FLAGS;
    std::vector<std::string> isa;
#ifdef __AVX__
    isa.push_back("avx");
#endif
#ifdef __AVX2__
    isa.push_back("avx2");
#endif
#ifdef __FMA__
    isa.push_back("fma");
#endif
#ifdef __F16C__
    isa.push_back("f16c");
#endif
#ifdef __AVX512F__
    isa.push_back("avx512f");
#endif
#ifdef __ARM_NEON
    isa.push_back("neon");
#endif
    b.cxx_flags = fmt::format("{} [isa: {}]", flags, fmt::join(isa, " "));
    // Trim repeated spaces from empty flag variables.
    b.cxx_flags.erase(0, b.cxx_flags.find_first_not_of(' '));
    return b;
  }();
  return info;
}

namespace {

std::string cpuinfo_field(const std::string& key) {
  std::ifstream f("/proc/cpuinfo");
  std::string line;
  while (std::getline(f, line)) {
    if (line.rfind(key, 0) != 0) continue;
    auto colon = line.find(':');
    if (colon == std::string::npos) continue;
    std::string v = line.substr(colon + 1);
    v.erase(0, v.find_first_not_of(" \t"));
    return v;
  }
  return "";
}

std::string gpu_models() {
  std::vector<std::string> out;
  std::error_code ec;
  for (auto& e : fs::directory_iterator("/proc/driver/nvidia/gpus", ec)) {
    std::ifstream f(e.path() / "information");
    std::string line;
    while (std::getline(f, line))
      if (line.rfind("Model:", 0) == 0) {
        std::string v = line.substr(6);
        v.erase(0, v.find_first_not_of(" \t"));
        out.push_back(v);
      }
  }
  std::sort(out.begin(), out.end());
  return fmt::format("{}", fmt::join(out, "; "));
}

}  // namespace

MachineInfo machine_info() {
  MachineInfo m;
  char host[256] = {0};
  if (gethostname(host, sizeof host - 1) == 0) m.host = host;
  struct utsname u;
  if (uname(&u) == 0) m.os = fmt::format("{} {} {}", u.sysname, u.release, u.machine);
  m.cpu_model = cpuinfo_field("model name");
  if (m.cpu_model.empty()) m.cpu_model = cpuinfo_field("Model");
  static const std::set<std::string> relevant = {"sse4_2",   "avx",      "avx2",     "fma",         "f16c",
                                                 "avx512f",  "avx512bw", "avx512vl", "avx512_vnni", "avx512_bf16",
                                                 "amx_bf16", "amx_int8", "avx_vnni", "asimd",       "sve"};
  std::istringstream flags(cpuinfo_field("flags").empty() ? cpuinfo_field("Features") : cpuinfo_field("flags"));
  std::vector<std::string> have;
  for (std::string f; flags >> f;)
    if (relevant.count(f)) have.push_back(f);
  m.cpu_flags = fmt::format("{}", fmt::join(have, " "));
  m.cpu_cores = int(sysconf(_SC_NPROCESSORS_ONLN));
  m.gpu = gpu_models();
  m.libraries["sqlite"] = sqlite3_libversion();
  m.libraries["fmt"] = fmt::format("{}.{}.{}", FMT_VERSION / 10000, FMT_VERSION / 100 % 100, FMT_VERSION % 100);
#ifdef NLOHMANN_JSON_VERSION_MAJOR
  m.libraries["nlohmann_json"] =
      fmt::format("{}.{}.{}", NLOHMANN_JSON_VERSION_MAJOR, NLOHMANN_JSON_VERSION_MINOR, NLOHMANN_JSON_VERSION_PATCH);
#endif
  m.libraries["cli11"] = CLI11_VERSION;
  m.libraries["yaml-cpp"] = KVB_YAML_CPP_VERSION;
  m.libraries["utf8proc"] = utf8proc_version();
  m.libraries["openblas"] = openblas_get_config();
#ifdef _OPENMP
  m.libraries["openmp"] = std::to_string(_OPENMP);
#endif
  return m;
}

namespace {
uint64_t fnv1a_file(uint64_t h, const fs::path& path) {
  std::ifstream f(path, std::ios::binary);
  KVB_CHECK(f.good(), "{}: cannot read to hash it", path.string());
  std::vector<char> buf(size_t(1) << 20);
  while (f) {
    f.read(buf.data(), std::streamsize(buf.size()));
    h = fnv1a64(reinterpret_cast<const unsigned char*>(buf.data()), size_t(f.gcount()), h);
  }
  KVB_CHECK(f.eof(), "{}: read error while hashing", path.string());
  return h;
}
std::vector<fs::path> model_files(const fs::path& path) {
  std::error_code ec;
  if (!fs::is_directory(path, ec)) return {path};
  std::vector<fs::path> files;
  for (auto& e : fs::directory_iterator(path, ec))
    if (e.is_regular_file(ec)) files.push_back(e.path());
  std::sort(files.begin(), files.end());
  return files;
}
}  // namespace

std::string hash_model_files(const fs::path& path) {
  std::error_code ec;
  KVB_CHECK(fs::exists(path, ec), "{}: model file not found", path.string());
  uint64_t h = kFnv1a64Offset;
  const bool dir = fs::is_directory(path, ec);
  for (const auto& f : model_files(path)) {
    if (dir) {
      std::string name = f.filename().string();
      h = fnv1a64(name, h);
    }
    h = fnv1a_file(h, f);
  }
  return fmt::format("fnv1a64:{:016x}", h);
}

FileStamp file_stamp(const fs::path& path) {
  FileStamp s;
  std::error_code ec;
  for (const auto& f : model_files(path)) {
    struct stat st;
    if (stat(f.c_str(), &st) != 0) continue;
    s.size += int64_t(st.st_size);
    s.mtime_ns = std::max<int64_t>(s.mtime_ns, int64_t(st.st_mtim.tv_sec) * 1000000000 + st.st_mtim.tv_nsec);
  }
  return s;
}

int64_t peak_rss_bytes() {
  std::ifstream f("/proc/self/status");
  std::string line;
  while (std::getline(f, line))
    if (line.rfind("VmHWM:", 0) == 0) return std::stoll(line.substr(6)) * 1024;  // "VmHWM:  1234 kB"
  struct rusage ru;
  if (getrusage(RUSAGE_SELF, &ru) == 0) return int64_t(ru.ru_maxrss) * 1024;
  return 0;
}

bool reset_peak_rss() {
  std::ofstream f("/proc/self/clear_refs");
  if (!f.good()) return false;
  f << "5";
  return bool(f);
}

std::vector<std::string> process_argv() {
  std::ifstream f("/proc/self/cmdline", std::ios::binary);
  std::vector<std::string> out;
  for (std::string arg; std::getline(f, arg, '\0');) out.push_back(arg);
  return out;
}

std::string utc_now() {
  using namespace std::chrono;
  auto now = system_clock::now();
  auto ms = duration_cast<milliseconds>(now.time_since_epoch()).count() % 1000;
  std::time_t t = system_clock::to_time_t(now);
  std::tm tm{};
  gmtime_r(&t, &tm);
  return fmt::format("{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z", tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday,
                     tm.tm_hour, tm.tm_min, tm.tm_sec, ms);
}

}  // namespace kvb
