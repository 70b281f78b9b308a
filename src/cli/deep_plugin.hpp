#pragma once
// The lstfuse program's view of the deep methods before their module is loaded
// (deep_plugin.cpp): their names, and whether this run's command line may need them.
#include <string>
#include <vector>

namespace lstfuse::cli {

// In the order the deep layer registers them (the loader checks it when the module loads).
const std::vector<std::string>& deep_method_names();

// True for the name of a deep method (known without loading the module).
bool is_deep_method(const std::string& name);

// Notes the command line once, before the subcommands are set up: the deep methods' flags are
// declared (and their module, with torch, loaded) only when it names a deep method (as the value
// of --method, -m, --methods or --fuse-method, a --METHOD.NAME option, or a word of its own, as
// in `methods sttfn`), a family keyword that includes them (all, deep) or asks for --help. Other
// runs skip torch's start-up.
void note_command_line(int argc, char** argv);
bool deep_methods_wanted();
// True when the command line names a deep method, or all or deep (not only --help).
bool deep_method_named();

// Empty when the deep methods' module loads (it is then loaded), else why it does not: the
// library named, one line. A run that does not name a deep method goes on without them.
std::string deep_methods_unavailable();

}  // namespace lstfuse::cli
