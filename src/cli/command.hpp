#pragma once
// Subcommands register themselves: each src/cli/cmd_*.cpp defines a setup function and a
// LSTFUSE_COMMAND line, so adding a command touches no other file.
#include <functional>
#include <string>
#include <vector>

#include <CLI/CLI.hpp>

namespace lstfuse::cli {

struct CommandEntry {
  int order;  // position in --help
  std::function<void(CLI::App&)> setup;
};

std::vector<CommandEntry>& command_entries();

struct CommandRegistrar {
  CommandRegistrar(int order, std::function<void(CLI::App&)> setup) {
    command_entries().push_back({order, std::move(setup)});
  }
};

}  // namespace lstfuse::cli

// Each cmd_NAME.cpp keeps its parts (Args, setup) in a namespace cmd_NAME of its own, and the
// registrar's name is numbered by __COUNTER__: the commands are compiled as merged files
// (CMakeLists.txt, LSTFUSE_UNITY_BUILD), where file-local names would otherwise meet.
#define LSTFUSE_COMMAND_CONCAT2(a, b) a##b
#define LSTFUSE_COMMAND_CONCAT(a, b) LSTFUSE_COMMAND_CONCAT2(a, b)
#define LSTFUSE_COMMAND(order, setup_fn)                                        \
  static ::lstfuse::cli::CommandRegistrar LSTFUSE_COMMAND_CONCAT(lstfuse_cmd_, \
                                                                 __COUNTER__)(order, setup_fn)
