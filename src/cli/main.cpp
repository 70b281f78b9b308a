// lstfuse: spatio-temporal fusion of land surface temperature. The CLI is thin: each
// subcommand parses its flags and calls the library.
#include <algorithm>
#include <iostream>

#include <spdlog/spdlog.h>

#include "command.hpp"
#include "lstfuse/core/error.hpp"

namespace lstfuse::cli {

std::vector<CommandEntry>& command_entries() {
  static std::vector<CommandEntry> entries;
  return entries;
}

}  // namespace lstfuse::cli

int main(int argc, char** argv) {
  CLI::App app{
      "lstfuse " LSTFUSE_VERSION
      ": spatio-temporal fusion of land surface temperature (MODIS + Landsat -> daily fine LST)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lstfuse ") + LSTFUSE_VERSION);
  // Applied before parsing so that subcommand callbacks already log at the chosen level.
  app.add_flag("-v,--verbose", "More log output");
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-v" || a == "--verbose") spdlog::set_level(spdlog::level::debug);
  }

  auto entries = lstfuse::cli::command_entries();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  for (const auto& e : entries) e.setup(app);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  } catch (const lstfuse::Error& e) {
    std::cerr << "lstfuse: error: " << e.what() << "\n";
    return 1;
  } catch (const std::exception& e) {
    std::cerr << "lstfuse: error: " << e.what() << "\n";
    return 1;
  }
  return 0;
}
