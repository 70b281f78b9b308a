#pragma once
// A one-line progress bar on stderr ("label [#####.....] 12/30 eta 1m20s  extra"), redrawn in
// place on a terminal and printed as plain occasional lines otherwise (logs, CI).
#include <chrono>
#include <string>

namespace lstfuse {

class ProgressBar {
 public:
  ProgressBar(std::string label, long total, bool enabled = true);
  // Sets the count of finished items and an optional free text (loss, current date...).
  void update(long done, const std::string& extra = "");
  void finish(const std::string& extra = "");

 private:
  void draw(bool final_line);
  std::string label_;
  long total_;
  long done_ = 0;
  bool enabled_;
  bool tty_;
  std::string extra_;
  std::chrono::steady_clock::time_point start_;
  std::chrono::steady_clock::time_point last_draw_;
};

std::string format_duration(double seconds);  // "4.2s", "3m05s", "1h02m"

}  // namespace lstfuse
