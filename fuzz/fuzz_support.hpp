#pragma once
// What the fuzz targets share: the rule for a finding, and a scratch folder.
//
// lstfuse answers bad input with lstfuse::Error, one line naming the file or the field. A
// crash, a sanitizer report, a hang, an allocation beyond libFuzzer's limit, and any other
// exception reaching the caller (a library's raw text in front of the user) are findings: the
// target aborts with the exception's text so that libFuzzer keeps the input.
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <filesystem>
#include <string>

#include "lstfuse/core/error.hpp"

namespace lstfuse::fuzz {

template <class F>
void expect_clear_errors(const char* what, F&& f) {
  try {
    f();
  } catch (const lstfuse::Error&) {
    // A clear refusal: what bad input should get.
  } catch (const std::exception& e) {
    std::fprintf(stderr, "%s: an exception other than lstfuse::Error reached the caller: %s\n", what, e.what());
    std::abort();
  }
}

// A finding that is not an exception: a broken invariant.
inline void require(bool ok, const char* what) {
  if (!ok) {
    std::fprintf(stderr, "invariant broken: %s\n", what);
    std::abort();
  }
}

// One private folder per process (in /dev/shm when there is one, for speed), removed at exit.
std::filesystem::path scratch();

// Logging off (spdlog) and GDAL's error handler quiet: their text is not what is fuzzed.
void quiet();

// The input as a string.
inline std::string text_of(const uint8_t* data, size_t size) {
  return std::string(reinterpret_cast<const char*>(data), size);
}

// Writes bytes to a file (replacing it).
void write_file(const std::filesystem::path& p, const uint8_t* data, size_t size);

}  // namespace lstfuse::fuzz
