#pragma once
// Timing and peak-memory helpers for the benchmark programs.
#include <chrono>
#include <string>

namespace lstfuse::bench {

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }
  void reset() { start_ = std::chrono::steady_clock::now(); }

 private:
  std::chrono::steady_clock::time_point start_;
};

// Peak resident set size of this process so far, in MiB (VmHWM).
double peak_rss_mib();
// Current resident set size in MiB (VmRSS).
double current_rss_mib();
// Path inside the shared sample data, or empty when absent.
std::string shared_data_path(const std::string& relative);

}  // namespace lstfuse::bench
