#pragma once
// A request from the host program that the work in progress stop at its next safe point: the
// Python module's Ctrl-C, while a long call runs without the GIL (the command line ends the
// process on a signal instead, core/cleanup.hpp). Safe points lie between the tiles of a
// prediction and between the batches of a training; a stopped training leaves its method
// unfitted.
#include <string>

#include "lstfuse/core/error.hpp"

namespace lstfuse {

// Async-signal-safe: callable from a signal handler.
void request_stop() noexcept;
void clear_stop_request() noexcept;
bool stop_requested() noexcept;

// Only work on a thread inside a StopScope stops: the host's call that a Ctrl-C is meant for,
// not its other threads' calls.
class StopScope {
 public:
  StopScope();
  ~StopScope();
  StopScope(const StopScope&) = delete;
  StopScope& operator=(const StopScope&) = delete;

 private:
  bool outer_;
};

class Stopped : public Error {
 public:
  using Error::Error;
};

// Throws Stopped, naming `step`, when a stop was requested and this thread is in a StopScope.
void stop_point(const char* step);

}  // namespace lstfuse
