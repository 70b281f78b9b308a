#include "bench_support.hpp"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

namespace lstfuse::bench {
namespace {

double read_status_kib(const std::string& key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(key, 0) == 0) {
      std::istringstream is(line.substr(key.size() + 1));
      double kib = 0;
      is >> kib;
      return kib;
    }
  }
  return 0.0;
}

}  // namespace

double peak_rss_mib() { return read_status_kib("VmHWM") / 1024.0; }
double current_rss_mib() { return read_status_kib("VmRSS") / 1024.0; }

std::string shared_data_path(const std::string& relative) {
  const char* env = std::getenv("LSTFUSE_SHARED_DATA");
  const std::filesystem::path p = std::filesystem::path(env ? env : LSTFUSE_SHARED_DATA) / relative;
  return std::filesystem::exists(p) ? p.string() : std::string();
}

}  // namespace lstfuse::bench
