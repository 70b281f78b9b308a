#pragma once
// Helpers shared by all test executables.
#include <filesystem>
#include <string>

namespace lstfuse::test {

// Path inside ../shared/data (or $LSTFUSE_SHARED_DATA). Throws std::runtime_error with a clear
// message when the folder is absent, so that a test needing real data fails loudly.
std::filesystem::path shared_data(const std::string& relative);

// A fresh temporary folder removed when the object dies (in the process that made it only: a
// forked child exiting must not take a folder its parent still uses). Folders shared by a test
// file are function-local statics, so they go when the test process exits.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
  long owner_ = 0;  // pid of the creating process
};

struct CliResult {
  int exit_code = -1;
  std::string output;  // stdout and stderr together
};
// Runs the built lstfuse executable with the given argument string (shell-quoted by the caller).
CliResult run_cli(const std::string& args);
// Runs a shell script with $L set to the lstfuse executable.
CliResult run_shell(const std::string& script);

}  // namespace lstfuse::test
