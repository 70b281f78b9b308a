#include "method_flags.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"

namespace lstfuse::cli {

void apply_method_options(Method& method, const std::string& config,
                          const std::vector<std::string>& extras) {
  OptionSet& opts = method.options();
  if (!config.empty()) {
    std::ifstream in(config);
    if (!in) throw file_error(config, "cannot open the config file");
    nlohmann::json j;
    try {
      j = nlohmann::json::parse(in);
    } catch (const nlohmann::json::exception& e) {
      throw file_error(config, json_problem(e));
    }
    try {
      opts.from_json(j.contains("options") ? j.at("options") : j);
    } catch (const Error& e) {
      throw file_error(config, e.what());
    }
  }
  for (size_t i = 0; i < extras.size(); ++i) {
    const std::string& a = extras[i];
    if (a.rfind("--", 0) != 0) {
      throw Error("unexpected argument '" + a + "' (method options are given as --name value)");
    }
    const auto eq = a.find('=');
    if (eq != std::string::npos) {
      opts.set(a.substr(0, eq), a.substr(eq + 1));
      continue;
    }
    const bool next_is_value = i + 1 < extras.size() &&
                               (extras[i + 1].rfind("--", 0) != 0 || extras[i + 1].size() == 2);
    bool is_bool = false;
    for (const auto& o : opts.list())
      if (o.name == OptionSet::normalise(a) && o.type == "bool") is_bool = true;
    if (is_bool && !next_is_value) {
      opts.set(a, "true");
    } else if (next_is_value) {
      opts.set(a, extras[i + 1]);
      ++i;
    } else {
      opts.set(a, "");  // unknown name errors here; known non-bool gets a value error
    }
  }
}

}  // namespace lstfuse::cli
