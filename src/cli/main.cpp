// lstfuse: spatio-temporal fusion of land surface temperature. The CLI is thin: each
// subcommand parses its flags and calls the library.
#include <algorithm>
#include <iostream>

#include <omp.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include "command.hpp"
#include "common_flags.hpp"
#include "deep_plugin.hpp"
#include "lstfuse/core/cleanup.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/threads.hpp"
#include "lstfuse/pipeline/fuse_mpi.hpp"

namespace lstfuse::cli {

std::vector<CommandEntry>& command_entries() {
  static std::vector<CommandEntry> entries;
  return entries;
}

}  // namespace lstfuse::cli

int main(int argc, char** argv) {
  // Ctrl-C and SIGTERM remove temporary files (see cleanup.hpp).
  lstfuse::install_interrupt_handling();
  // Log lines go to stderr with the progress bars, so that what a command prints on stdout (a
  // JSON document of `methods --json` or `info --json`, a table) stays clean when redirected.
  spdlog::set_default_logger(spdlog::stderr_color_mt("lstfuse"));
  spdlog::set_pattern("[%Y-%m-%d %H:%M:%S.%e] [%^%l%$] %v");
  // OMP_NUM_THREADS is obeyed up to the machine's threads: a huge value would otherwise start
  // that many threads at the first parallel loop (and crash the OpenMP runtime).
  omp_set_num_threads(lstfuse::usable_threads(omp_get_max_threads()));
  CLI::App app{
      "lstfuse " LSTFUSE_VERSION
      ": spatio-temporal fusion of land surface temperature (MODIS + Landsat -> daily fine LST)"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("lstfuse ") + LSTFUSE_VERSION);
  // Applied before parsing so that subcommand callbacks already log at the chosen level.
  app.add_flag("-v,--verbose", "More log output (and the full text of an error)");
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-v" || a == "--verbose") {
      spdlog::set_level(spdlog::level::debug);
      verbose = true;
    }
  }

  lstfuse::cli::note_command_line(argc, argv);  // before setup: which methods' flags to declare
  lstfuse::cli::note_empty_values(argc, argv);
  auto entries = lstfuse::cli::command_entries();
  std::stable_sort(entries.begin(), entries.end(),
                   [](const auto& a, const auto& b) { return a.order < b.order; });
  try {
    for (const auto& e : entries) e.setup(app);
  } catch (const std::exception& e) {
    // Setting up the flags loads the deep methods' module when the command line names one.
    std::cerr << "lstfuse: error: " << lstfuse::user_message(e, nullptr) << "\n";
    return 1;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    if (e.get_exit_code() == 0) return app.exit(e);  // --help, --version
    // `mpirun ... fuse`: every rank parses the same command line; the first says what is wrong,
    // the others leave quietly with 0 (mpirun's status is still the first's). Other commands
    // are no MPI programs: each copy speaks for itself.
    const auto command = std::find_if(argv + 1, argv + argc, [](const char* s) { return s[0] != '-'; });
    const bool fuse_ranks = command != argv + argc && std::string(*command) == "fuse";
    if (fuse_ranks && lstfuse::pipeline::launched_by_mpi(2) && lstfuse::pipeline::rank_from_environment() > 0) return 0;
    // One line, like every other error (CLI11 would add a second one). Without a command,
    // CLI11 says "A subcommand is required" even for a misspelt one: the word is named.
    std::string msg = e.what();
    if (app.get_subcommands().empty()) {
      std::string names;
      for (const auto* sub : app.get_subcommands({})) names += (names.empty() ? "" : ", ") + sub->get_name();
      msg = "no command given (one of: " + names + ")";
      for (int i = 1; i < argc; ++i) {
        const std::string a = argv[i];
        if (a == "-v" || a == "--verbose") continue;
        msg = a.rfind('-', 0) == 0 ? "unknown option '" + a + "' before the command (one of: " + names + ")"
                                   : "unknown command '" + a + "' (one of: " + names + ")";
        break;
      }
    }
    std::cerr << "lstfuse: error: " + msg + " (see --help)\n";  // one write: ranks of mpirun share the stream
    return 2;  // a usage error, whatever CLI11's own code for its kind
  } catch (const std::exception& e) {
    if (lstfuse::interrupted()) lstfuse::await_interrupt_exit();  // the signal's exit, not this error's
    // One line naming the file, option or step; -v adds the full original text.
    std::string detail;
    std::string msg = lstfuse::user_message(e, &detail);
    if (!dynamic_cast<const lstfuse::Error*>(&e)) {
      std::string step;
      for (const auto* sub : app.get_subcommands()) step = sub->get_name();
      if (!step.empty()) msg = step + ": " + msg;
    }
    std::cerr << "lstfuse: error: " + msg + (verbose || detail == msg ? "" : " (-v for details)") + "\n";
    if (verbose && detail != msg) std::cerr << "lstfuse: details: " << detail << "\n";
    return dynamic_cast<const lstfuse::UsageError*>(&e) ? 2 : 1;  // as CLI11's usage errors
  } catch (...) {
    if (lstfuse::interrupted()) lstfuse::await_interrupt_exit();
    std::cerr << "lstfuse: error: unexpected failure of an unknown kind\n";
    return 1;
  }
  return 0;
}
