#pragma once
// Method options on the command line: the subcommand allows extra arguments, and every
// "--name value" (or "--name=value", or a bare "--flag" for booleans) left over after CLI11's
// own flags is set on the method's OptionSet, after an optional JSON config file. Unknown
// names are errors that list the method's options.
#include <string>
#include <vector>

#include "lstfuse/methods/method.hpp"

namespace lstfuse::cli {

// `config` may be empty; its JSON is either the options object itself or {"options": {...}}.
void apply_method_options(Method& method, const std::string& config,
                          const std::vector<std::string>& extras);

}  // namespace lstfuse::cli
