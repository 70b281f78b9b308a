#pragma once
// One exception type for every user-facing failure: the message names the file (or option)
// and the problem, and the CLI prints it as is.
#include <stdexcept>
#include <string>

namespace lstfuse {

class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Error about a specific file: "PATH: problem".
inline Error file_error(const std::string& path, const std::string& problem) {
  return Error(path + ": " + problem);
}

}  // namespace lstfuse
