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

// What a JSON library exception means for a user, without the parser's internal text:
// "not valid JSON (byte 17)", "missing field 'grid'", "a field has the wrong type (...)".
std::string json_problem(const std::exception& e);

// One line for any exception that reaches the user: lstfuse::Error as is; library exceptions
// (out of memory, filesystem, JSON, torch, GDAL) rephrased to name the file or the problem;
// multi-line texts cut to their first line. `detail` receives the full original text.
std::string user_message(const std::exception& e, std::string* detail = nullptr);

}  // namespace lstfuse
