// `lstfuse methods`: every registered method with its options and defaults.
#include <algorithm>
#include <iostream>

#include <fmt/format.h>
#include <fmt/ranges.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "command.hpp"
#include "deep_plugin.hpp"
#include "lstfuse/methods/method.hpp"
#include "lstfuse/pipeline/registry.hpp"

namespace cmd_methods {

namespace {

void setup(CLI::App& app) {
  auto* cmd = app.add_subcommand(
      "methods",
      "List the fusion methods and their options with type, default and range: the same options "
      "as the --METHOD.NAME flags of predict, fuse, train and benchmark");
  auto name = std::make_shared<std::string>();
  auto json = std::make_shared<bool>(false);
  cmd->add_option("name", *name, "Show only this method");
  cmd->add_flag("--json", *json,
                "Print {\"method\": NAME, \"options\": {...defaults}} per method, one JSON document: "
                "with one NAME, a file to edit and pass with --options");
  cmd->callback([name, json] {
    auto& reg = lstfuse::method_registry();
    // The whole list without the deep methods' module: the others, and why those are missing.
    std::vector<std::string> names = reg.names();
    if (name->empty()) {
      if (const std::string why = lstfuse::cli::deep_methods_unavailable(); !why.empty()) {
        spdlog::warn("the deep methods ({}) are left out: {}", fmt::join(lstfuse::cli::deep_method_names(), ", "), why);
        names.erase(std::remove_if(names.begin(), names.end(), lstfuse::cli::is_deep_method), names.end());
      }
    }
    if (*json) {
      if (!name->empty()) {
        auto m = reg.create(*name);  // throws with the known names
        std::cout << nlohmann::json{{"method", *name}, {"options", m->options().to_json()}}.dump(2) << "\n";
        return;
      }
      nlohmann::json all = nlohmann::json::array();
      for (const auto& n : names) all.push_back({{"method", n}, {"options", reg.create(n)->options().to_json()}});
      std::cout << all.dump(2) << "\n";
      return;
    }
    for (const auto& n : names) {
      if (!name->empty() && n != *name) continue;
      auto m = reg.create(n);
      const auto& info = m->info();
      std::cout << fmt::format("{} [{}] {}\n  pairs: {}{}{}{}\n", info.name, info.family,
                               info.summary, info.min_pairs,
                               info.max_pairs < 0 ? "+" : info.max_pairs == info.min_pairs ? "" : fmt::format("-{}", info.max_pairs),
                               info.needs_pairs_both_sides ? ", one before and one after the target" : "",
                               info.trainable ? "; trained (lstfuse train)" : "");
      if (!m->options().list().empty()) {
        std::cout << fmt::format("  options (on the command line --{}.NAME VALUE, or --NAME VALUE with --method {}):\n",
                                 info.name, info.name);
      }
      if (info.trainable) {
        std::cout << "  (at prediction): acts when a trained model predicts (given to predict or fuse, it "
                     "replaces the model's value); the others are fixed when the model is trained and "
                     "stored with it\n";
      }
      std::cout << m->options().help_text() << "\n";
    }
    if (!name->empty() && !reg.has(*name)) reg.create(*name);  // throws with the known names
  });
}

}  // namespace

LSTFUSE_COMMAND(60, setup);

}  // namespace cmd_methods
