// `kvbench list models|backends|tasks|methods` — checkpoints found in models/ and ../shared/models/,
// compute backends, and the task and method registries with their parameters and defaults.
#include <fmt/format.h>

#include <cstdlib>

#include "backends/cpu/blas_kernels.h"
#include "backends/cpu/int8_gemm.h"
#include "backends/cpu/runtime_env.h"
#include "core/simd.h"
#include "cli/commands.h"
#include "eval/task.h"
#include "kv/method.h"
#include "model/model_path.h"
#ifdef KVB_WITH_CUDA
#include "backends/cuda/device_info.h"
#endif

namespace kvb::cli {
namespace {

void list_models() {
  auto models = discover_models();
  if (models.empty()) {
    fmt::print("no models found in:\n");
    for (auto& d : model_search_dirs()) fmt::print("  {}\n", d.string());
    fmt::print("run scripts/setup.sh to download the default model\n");
    return;
  }
  fmt::print("{:<6} {:>10}  {}\n", "format", "size", "path");
  for (auto& m : models) fmt::print("{:<6} {:>8.1f}MB  {}\n", m.format, double(m.bytes) / 1e6, m.path.string());
}

void list_backends() {
  const bool capped = cpu::simd_level() < cpu::cpu_simd_level();  // KVB_SIMD below this CPU's level
  const std::string want = capped ? cpu::blas_kernels_for_level(cpu::simd_level()) : cpu::blas_kernels_for_this_cpu();
  const std::string running = cpu::blas_kernels_running();
  fmt::print("cpu   available  float32 reference (OpenBLAS + OpenMP); kernels: {} (this CPU: {}{}); OpenBLAS kernels: "
             "{}{}; --matmul int8 kernel: {}; OpenMP waiting: {}\n",
             cpu::simd_level_name(cpu::simd_level()), cpu::simd_level_name(cpu::cpu_simd_level()),
             capped ? ", capped by KVB_SIMD" : "", running,
             want.empty() || want == running ? ""
                                             : fmt::format(" ({} {}; OPENBLAS_CORETYPE chose otherwise)", capped ? "KVB_SIMD calls for" : "this CPU supports", want),
             cpu::int8_kernel_name(), cpu::openmp_wait_description());
#ifdef KVB_WITH_CUDA
  auto r = cuda::describe_devices();
  if (!r.error.empty()) {
    fmt::print("cuda  no device  built with CUDA runtime {}; {} (--backend cuda will refuse to start)\n",
               r.runtime_version, r.error);
  } else {
    for (auto& d : r.devices)
      fmt::print("cuda  device     {} (sm_{}, {:.1f} GiB); --backend cuda [--device-dtype bf16|f16|f32]\n", d.name,
                 d.compute_capability, double(d.memory_bytes) / (1 << 30));
  }
#else
  fmt::print("cuda  not built  configure with -DKVB_CUDA=ON and nvcc on PATH or in /usr/local/cuda\n");
#endif
}

void list_tasks_cmd() {
  for (const TaskInfo* t : list_tasks()) {
    fmt::print("{} v{}  scorer {}  {}\n", t->id, t->version, t->scorer, t->description);
    for (const auto& p : t->params) fmt::print("    {}={}  {}\n", p.name, p.default_value, p.description);
  }
}

void list_methods_cmd() {
  for (const MethodInfo* m : list_methods()) {
    fmt::print("{} v{}  {}\n    roles: {}\n    parts: {}\n", m->id, m->version, m->paper, describe_roles(m->roles),
               m->parts);
    if (m->wraps_scorer) fmt::print("    (also takes the wrapped scorer's parameters)\n");
    for (const auto& p : m->params) fmt::print("    {}={}  {}\n", p.name, p.default_value, p.description);
  }
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto* list = app.add_subcommand("list", "List models, backends, tasks and methods");
  list->require_subcommand(1);
  list->add_subcommand("models", "Checkpoints in models/ and ../shared/models/")->callback(list_models);
  list->add_subcommand("backends", "Compute backends and devices")->callback(list_backends);
  list->add_subcommand("tasks", "Task generators: id, version, scorer, parameters with defaults")
      ->callback(list_tasks_cmd);
  list->add_subcommand("methods", "KV-compression methods: id, version, paper, parts, parameters with defaults")
      ->callback(list_methods_cmd);
});

}  // namespace
}  // namespace kvb::cli
