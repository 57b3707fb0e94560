// Errors with context: every failure names the thing (file, field, value) and the problem.
// KVB_CHECK(cond, fmt, args...) throws kvb::Error carrying the source location; the CLI
// prints one line and exits with code 2 (bad input) — see harness/cli/main.cpp.
#pragma once
#include <fmt/format.h>

#include <stdexcept>
#include <string>

namespace kvb {

// A user-facing error: bad input, missing file, unsupported configuration.
class Error : public std::runtime_error {
 public:
  Error(std::string message, const char* file, int line)
      : std::runtime_error(std::move(message)), file_(file), line_(line) {}
  const char* file() const { return file_; }
  int line() const { return line_; }

 private:
  const char* file_;
  int line_;
};

}  // namespace kvb

#define KVB_FAIL(...) throw ::kvb::Error(::fmt::format(__VA_ARGS__), __FILE__, __LINE__)
#define KVB_CHECK(cond, ...)     \
  do {                           \
    if (!(cond)) KVB_FAIL(__VA_ARGS__); \
  } while (0)
