// `lstfuse methods`: every registered method with its options and defaults.
#include <iostream>

#include <fmt/format.h>

#include "command.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/registry.hpp"

namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand("methods", "List the fusion methods and their options with defaults");
  auto name = std::make_shared<std::string>();
  cmd->add_option("name", *name, "Show only this method");
  cmd->callback([name] {
    auto& reg = lstfuse::method_registry();
    for (const auto& n : reg.names()) {
      if (!name->empty() && n != *name) continue;
      auto m = reg.create(n);
      const auto& info = m->info();
      std::cout << fmt::format("{} [{}] {}\n  pairs: {}{}{}{}\n", info.name, info.family,
                               info.summary, info.min_pairs,
                               info.max_pairs < 0 ? "+" : info.max_pairs == info.min_pairs ? "" : fmt::format("-{}", info.max_pairs),
                               info.needs_pairs_both_sides ? ", one before and one after the target" : "",
                               info.trainable ? "; trained (lstfuse train)" : "");
      std::cout << m->options().help_text() << "\n";
    }
    if (!name->empty() && !reg.has(*name)) reg.create(*name);  // throws with the known names
  });
}

}  // namespace

LSTFUSE_COMMAND(60, setup);
