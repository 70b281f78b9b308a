#pragma once
// The gap-filling options shared by `lstfuse fill` and `lstfuse fuse --fill`.
#include <CLI/CLI.hpp>

#include "lstfuse/prep/fill.hpp"

namespace lstfuse::cli {

void add_fill_options(CLI::App* cmd, prep::FillOptions& opts, const std::string& group);

}  // namespace lstfuse::cli
