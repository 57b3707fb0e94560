// The sweep's progress line: a bar with rows/min, shared prefills and ETA on a terminal, a plain line every
// `interval` seconds otherwise; silent when quiet. Used by run_sweep (eval/sweep.cpp).
#pragma once
#include <cstdint>
#include <string>

#include "core/timer.h"

namespace kvb {

// "42s", "3m05s", "2h10m"; "?" for an unknown duration.
std::string format_duration(double seconds);

class SweepProgress {
 public:
  SweepProgress(bool quiet, double interval_seconds);
  void set_total(int64_t total) { total_ = total; }
  void set_current(std::string label);
  void case_done();
  // A shared prefill ran (one per case and prefill group; its rows are counted by case_done).
  void prefill_done() { ++shared_prefills_; }
  void finish();
  // A message on its own line (keeps the bar intact on a terminal).
  void message(const std::string& m);

 private:
  void draw(bool force);
  std::string prefills_part() const;

  bool quiet_, tty_;
  double interval_;
  Stopwatch clock_;
  double last_line_ = 0.0;
  int64_t total_ = 0, done_ = 0, shared_prefills_ = 0;
  std::string current_;
  bool drawn_ = false;
};

}  // namespace kvb
