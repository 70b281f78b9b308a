#include "lstfuse/core/threads.hpp"

#include <algorithm>
#include <thread>

namespace lstfuse {

int hardware_threads() { return std::max(1, static_cast<int>(std::thread::hardware_concurrency())); }

int usable_threads(int requested) {
  const int hw = hardware_threads();
  return requested <= 0 ? hw : std::min(requested, hw);
}

}  // namespace lstfuse
