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

// A command-line usage error (an unknown option or argument) found after CLI11's parse, by the
// commands that take every method's flags: the program exits with 2, as for CLI11's own.
class UsageError : public Error {
 public:
  using Error::Error;
};

// Error about a specific file: "PATH: problem".
inline Error file_error(const std::string& path, const std::string& problem) {
  return Error(path + ": " + problem);
}

// What a JSON library exception means for a user, without the parser's internal text:
// "not valid JSON (byte 17)", "missing field 'grid'", "a field has the wrong type (...)".
std::string json_problem(const std::exception& e);

// One line for any exception that reaches the user: lstfuse::Error as is; library exceptions
// (out of memory, filesystem, JSON, torch, GDAL) rephrased to name the file or the problem;
// multi-line texts cut to their first line. `detail` receives the full original text.
std::string user_message(const std::exception& e, std::string* detail = nullptr);

}  // namespace lstfuse
