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

class Stopped : public Error {
 public:
  using Error::Error;
};

// Throws Stopped, naming `step`, when a stop was requested.
void stop_point(const char* step);

}  // namespace lstfuse
