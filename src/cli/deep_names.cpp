#include "deep_plugin.hpp"

#include <algorithm>

namespace lstfuse::cli {
namespace {

bool& wanted() {
  static bool w = true;  // until a command line says otherwise (no command line: all of them)
  return w;
}

bool& named() {
  static bool n = false;
  return n;
}

}  // namespace

const std::vector<std::string>& deep_method_names() {
  static const std::vector<std::string> names{"sttfn", "stfnet", "edcstfn", "mlffgan", "dlstfm"};
  return names;
}

bool is_deep_method(const std::string& name) {
  const auto& names = deep_method_names();
  return std::find(names.begin(), names.end(), name) != names.end();
}

namespace {

// Whether a value of --method, --methods or --fuse-method names a deep method: "sttfn",
// "additive,sttfn:lr=1e-3", or the keywords all and deep, which include them.
bool names_deep(const std::string& value) {
  size_t start = 0;
  while (start <= value.size()) {
    const size_t comma = std::min(value.find(',', start), value.size());
    const std::string entry = value.substr(start, comma - start);
    const std::string name = entry.substr(0, entry.find(':'));
    if (is_deep_method(name) || name == "all" || name == "deep") return true;
    start = comma + 1;
  }
  return false;
}

}  // namespace

void note_command_line(int argc, char** argv) {
  bool help = false, n = false;
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") {
      help = true;
    } else if (a.rfind("--", 0) == 0) {
      const size_t eq = a.find('=');
      const std::string flag = a.substr(0, eq);
      // "--sttfn.tile 128": an option of a deep method.
      const size_t dot = flag.find('.');
      if (dot != std::string::npos && is_deep_method(flag.substr(2, dot - 2))) n = true;
      if (flag == "--method" || flag == "--methods" || flag == "--fuse-method") {
        if (eq != std::string::npos) n = names_deep(a.substr(eq + 1)) || n;
        else if (i + 1 < argc) n = names_deep(argv[++i]) || n;
      }
    } else if (a == "-m" && i + 1 < argc) {
      n = names_deep(argv[++i]) || n;
    } else if (is_deep_method(a)) {
      n = true;  // `lstfuse methods sttfn`
    }
  }
  // Only values of the method flags count: an output named "sttfn-out" is not a method.
  wanted() = help || n;
  named() = n;
}

bool deep_method_named() { return named(); }

bool deep_methods_wanted() { return wanted(); }

}  // namespace lstfuse::cli
