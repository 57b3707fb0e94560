// `kvbench make-model oracle --out DIR [--seed S] [--vocab N] [--max-len L] [--heads SPEC] [--kv-heads K]`
// — writes the constructed recall-oracle checkpoint (harness/model/oracle.h, docs/oracle.md) as an
// ordinary Hugging Face Llama directory. Try: kvbench make-model oracle --out /tmp/oracle --vocab 512.
#include <fmt/format.h>

#include "cli/commands.h"
#include "core/error.h"
#include "core/log.h"
#include "core/timer.h"
#include "model/oracle.h"

namespace kvb::cli {
namespace {

struct MakeModelArgs {
  std::string kind = "oracle";
  std::string out;
  OracleOptions oracle;
};

void run_make_model(const MakeModelArgs& a) {
  KVB_CHECK(a.kind == "oracle", "make-model: unknown model kind '{}' (known: oracle)", a.kind);
  Stopwatch sw;
  OracleReport r = write_oracle_checkpoint(a.oracle, a.out);
  for (const auto& k : r.kernels)
    log_info("layer {} {}{}: margin {:.4f}, scale {:.3f} ({} LP rounds, {} pivots)", k.layer, k.role,
             k.role == "local" ? fmt::format(":{}", k.window) : "", k.margin, k.scale, k.lp_rounds, k.pivots);
  fmt::print("wrote {} ({}; model.safetensors {:.1f} MB) in {:.2f}s\n", a.out, oracle_options_key(a.oracle),
             double(r.safetensors_bytes) / 1e6, sw.seconds());
}

KVB_CLI_COMMAND([](CLI::App& app) {
  auto a = std::make_shared<MakeModelArgs>();
  auto* cmd = app.add_subcommand("make-model", "Write a constructed model checkpoint (the recall oracle)");
  cmd->add_option("kind", a->kind, "Model to construct: oracle")->capture_default_str();
  cmd->add_option("-o,--out", a->out, "Output directory (Hugging Face layout)")->required();
  cmd->add_option("--seed", a->oracle.seed, "Seed of the token content vectors")->capture_default_str();
  cmd->add_option("--vocab", a->oracle.vocab, "Vocabulary size (ids 0-2: <s> </s> <sep>, then words)")
      ->capture_default_str();
  cmd->add_option("--max-len", a->oracle.max_len, "Longest context the RoPE kernels are designed for")
      ->capture_default_str();
  cmd->add_option("--heads", a->oracle.heads,
                  "Head roles: layer 0 (prev|local[:W]) '/' layer 1 (retrieval|local[:W]), comma-separated")
      ->capture_default_str();
  cmd->add_option("--kv-heads", a->oracle.kv_heads, "KV heads per layer (GQA groups of consecutive query heads)")
      ->capture_default_str();
  cmd->callback([a] { run_make_model(*a); });
});

}  // namespace
}  // namespace kvb::cli
