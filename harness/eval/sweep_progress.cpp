// The sweep's progress line; see sweep_progress.h.
#include "eval/sweep_progress.h"

#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>

namespace kvb {

std::string format_duration(double s) {
  if (!(s >= 0) || s > 1e9) return "?";
  const int64_t t = int64_t(s + 0.5);
  if (t < 60) return fmt::format("{}s", t);
  if (t < 3600) return fmt::format("{}m{:02}s", t / 60, t % 60);
  return fmt::format("{}h{:02}m", t / 3600, t % 3600 / 60);
}

SweepProgress::SweepProgress(bool quiet, double interval_seconds)
    : quiet_(quiet), tty_(isatty(STDERR_FILENO) != 0), interval_(interval_seconds) {}

void SweepProgress::set_current(std::string label) {
  current_ = std::move(label);
  draw(false);
}

void SweepProgress::case_done() {
  ++done_;
  draw(false);
}

void SweepProgress::finish() {
  if (quiet_) return;
  if (tty_ && drawn_)
    fmt::print(stderr, "\n");
  else if (!tty_ && done_ > 0)
    draw(true);
}

void SweepProgress::message(const std::string& m) {
  if (quiet_) return;
  if (tty_ && drawn_) fmt::print(stderr, "\r\033[K");
  fmt::print(stderr, "{}\n", m);
  if (tty_ && drawn_) draw(false);
}

std::string SweepProgress::prefills_part() const {
  return shared_prefills_ > 0 ? fmt::format(" ({} shared prefills)", shared_prefills_) : std::string();
}

void SweepProgress::draw(bool force) {
  if (quiet_) return;
  const double t = clock_.seconds();
  const double rate = t > 0 ? double(done_) / t * 60.0 : 0.0;  // cases per minute
  const int64_t left = std::max<int64_t>(0, total_ - done_);
  const std::string eta = done_ > 0 ? format_duration(double(left) / (rate / 60.0)) : "?";
  if (tty_) {
    const int width = 24;
    const int filled = total_ > 0 ? int(double(width) * double(std::min(done_, total_)) / double(total_)) : 0;
    std::string bar = std::string(size_t(filled), '#') + std::string(size_t(width - filled), '.');
    std::string line =
        fmt::format("[{}] {}/{} rows{} | {:.1f} rows/min | ETA {} | {}", bar, done_, total_, prefills_part(), rate, eta,
                    current_);
    if (line.size() > 160) line = line.substr(0, 157) + "...";
    fmt::print(stderr, "\r\033[K{}", line);
    std::fflush(stderr);
    drawn_ = true;
  } else if (force || t - last_line_ >= interval_) {
    last_line_ = t;
    fmt::print(stderr, "progress: {}/{} rows{} | {:.1f} rows/min | ETA {} | {}\n", done_, total_, prefills_part(), rate,
               eta, current_);
    std::fflush(stderr);
  }
}

}  // namespace kvb
