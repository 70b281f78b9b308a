#include "test_support.hpp"

#include <array>
#include <cstdio>
#include <cstdlib>
#include <random>
#include <stdexcept>
#include <sys/wait.h>
#include <unistd.h>

namespace lstfuse::test {

std::filesystem::path shared_data(const std::string& relative) {
  const char* env = std::getenv("LSTFUSE_SHARED_DATA");
  const std::filesystem::path root = env ? env : LSTFUSE_SHARED_DATA;
  const auto p = root / relative;
  if (!std::filesystem::exists(p)) {
    throw std::runtime_error("real sample data not found: " + p.string() +
                             " (expected ../shared/data beside the repository, or set "
                             "LSTFUSE_SHARED_DATA)");
  }
  return p;
}

TempDir::TempDir() {
  std::random_device rd;
  const auto base = std::filesystem::temp_directory_path();
  for (int attempt = 0; attempt < 100; ++attempt) {
    auto p = base / ("lstfuse-test-" + std::to_string(rd()));
    if (std::filesystem::create_directory(p)) {
      path_ = p;
      owner_ = static_cast<long>(getpid());
      return;
    }
  }
  throw std::runtime_error("cannot create a temporary folder");
}

TempDir::~TempDir() {
  if (static_cast<long>(getpid()) != owner_) return;
  std::error_code ec;
  std::filesystem::remove_all(path_, ec);
}

namespace {
// Runs a shell command line; output is stdout and stderr together.
CliResult run_command(const std::string& cmd) {
  CliResult r;
  FILE* pipe = popen(cmd.c_str(), "r");
  if (!pipe) throw std::runtime_error("cannot run " + cmd);
  std::array<char, 4096> buf{};
  size_t n;
  while ((n = fread(buf.data(), 1, buf.size(), pipe)) > 0) r.output.append(buf.data(), n);
  const int status = pclose(pipe);
  r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  return r;
}
}  // namespace

CliResult run_cli(const std::string& args) {
  return run_command(std::string("\"") + LSTFUSE_CLI_PATH + "\" " + args + " 2>&1");
}

CliResult run_shell(const std::string& script) {
  return run_command(std::string("L='") + LSTFUSE_CLI_PATH + "'; " + script + " 2>&1");
}

}  // namespace lstfuse::test
