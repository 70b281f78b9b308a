#include "lstfuse/core/stop.hpp"

#include <atomic>

namespace lstfuse {
namespace {
// Lock-free, so that a signal handler may set it.
std::atomic<bool> g_stop{false};
static_assert(std::atomic<bool>::is_always_lock_free, "a stop request must be settable from a signal handler");
}  // namespace

thread_local bool t_stoppable = false;

StopScope::StopScope() : outer_(t_stoppable) { t_stoppable = true; }
StopScope::~StopScope() { t_stoppable = outer_; }

void request_stop() noexcept { g_stop.store(true, std::memory_order_relaxed); }
void clear_stop_request() noexcept { g_stop.store(false, std::memory_order_relaxed); }
bool stop_requested() noexcept { return g_stop.load(std::memory_order_relaxed); }

void stop_point(const char* step) {
  if (t_stoppable && stop_requested()) throw Stopped(std::string(step) + ": stopped on request (interrupted)");
}

}  // namespace lstfuse
