#include "lstfuse/core/progress.hpp"

#include <unistd.h>

#include <cmath>
#include <cstdio>

#include <fmt/format.h>

namespace lstfuse {

std::string format_duration(double s) {
  if (!std::isfinite(s) || s < 0) return "?";
  if (s < 60) return fmt::format("{:.1f}s", s);
  const long t = std::lround(s);
  if (t < 3600) return fmt::format("{}m{:02d}s", t / 60, static_cast<int>(t % 60));
  return fmt::format("{}h{:02d}m", t / 3600, static_cast<int>((t % 3600) / 60));
}

ProgressBar::ProgressBar(std::string label, long total, bool enabled)
    : label_(std::move(label)),
      total_(total),
      enabled_(enabled),
      tty_(isatty(STDERR_FILENO) != 0),
      start_(std::chrono::steady_clock::now()),
      last_draw_(start_) {}

void ProgressBar::update(long done, const std::string& extra) {
  done_ = done;
  extra_ = extra;
  const auto now = std::chrono::steady_clock::now();
  // Terminals get frequent redraws; logs a line every 10 s at most.
  const double since = std::chrono::duration<double>(now - last_draw_).count();
  if (tty_ ? since >= 0.1 : since >= 10.0) {
    last_draw_ = now;
    draw(false);
  }
}

void ProgressBar::finish(const std::string& extra) {
  if (!extra.empty()) extra_ = extra;
  done_ = total_;
  draw(true);
}

void ProgressBar::draw(bool final_line) {
  if (!enabled_) return;
  const double elapsed =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  const double frac = total_ > 0 ? static_cast<double>(done_) / total_ : 1.0;
  const int width = 24;
  const int filled = static_cast<int>(std::lround(frac * width));
  const double eta = done_ > 0 ? elapsed * (total_ - done_) / done_ : NAN;
  const std::string bar = std::string(filled, '#') + std::string(width - filled, '.');
  const std::string line =
      final_line ? fmt::format("{} [{}] {}/{} in {}  {}", label_, bar, done_, total_,
                               format_duration(elapsed), extra_)
                 : fmt::format("{} [{}] {}/{} eta {}  {}", label_, bar, done_, total_,
                               format_duration(eta), extra_);
  if (tty_) {
    std::fprintf(stderr, "\r\033[K%s%s", line.c_str(), final_line ? "\n" : "");
  } else {
    std::fprintf(stderr, "%s\n", line.c_str());
  }
  std::fflush(stderr);
}

}  // namespace lstfuse
