#include "lstfuse/core/kill_point.hpp"

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

namespace lstfuse {

namespace {

struct KillAt {
  std::string name;
  long count = 0;  // 0: no kill point armed
  bool term = false;
};

KillAt parse_kill_at() {
  KillAt k;
  const char* raw = std::getenv("LSTFUSE_KILL_AT");
  if (!raw) return k;
  std::string spec = raw;
  const std::string term = ":TERM";
  if (spec.size() > term.size() && spec.compare(spec.size() - term.size(), term.size(), term) == 0) {
    k.term = true;
    spec.resize(spec.size() - term.size());
  }
  const char* env = spec.c_str();
  const char* colon = std::strrchr(env, ':');
  if (!colon) return k;
  char* end = nullptr;
  const long n = std::strtol(colon + 1, &end, 10);
  if (end == colon + 1 || *end != '\0' || n < 1) return k;
  k.name.assign(env, colon);
  k.count = n;
  return k;
}

}  // namespace

void kill_point(const char* name) {
  static const KillAt armed = parse_kill_at();
  if (armed.count == 0 || armed.name != name) return;
  static std::atomic<long> passed{0};
  if (passed.fetch_add(1) + 1 != armed.count) return;
  if (!armed.term) std::raise(SIGKILL);
  std::raise(SIGTERM);
  // The cleanup thread ends the process; where SIGTERM was inherited as ignored (a background
  // job), nothing would: SIGKILL after a minute rather than a test that never ends.
  for (int i = 0; i < 600; ++i) std::this_thread::sleep_for(std::chrono::milliseconds(100));
  std::raise(SIGKILL);
}

}  // namespace lstfuse
