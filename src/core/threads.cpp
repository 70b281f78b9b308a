#include "lstfuse/core/threads.hpp"

#include <omp.h>

#include <algorithm>
#include <mutex>
#include <thread>
#include <vector>

namespace lstfuse {

int hardware_threads() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

int usable_threads(int requested) {
  const int hw = hardware_threads();
  return requested <= 0 ? hw : std::min(requested, hw);
}

namespace {

struct ThreadPools {
  std::mutex mutex;
  std::vector<void (*)(int)> setters;
  int last = 0;  // 0: never set
};

ThreadPools& pools() {
  static ThreadPools p;
  return p;
}

}  // namespace

void set_thread_pools(int threads) {
  ThreadPools& p = pools();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.last = usable_threads(threads);
  omp_set_num_threads(p.last);
  for (auto* set : p.setters) set(p.last);
}

void register_thread_pool(void (*set_threads)(int)) {
  ThreadPools& p = pools();
  std::lock_guard<std::mutex> lock(p.mutex);
  p.setters.push_back(set_threads);
  if (p.last > 0) set_threads(p.last);
}

}  // namespace lstfuse
