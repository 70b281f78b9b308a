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

void note_command_line(int argc, char** argv) {
  bool w = false, n = false;
  for (int i = 1; i < argc && !n; ++i) {
    const std::string a = argv[i];
    if (a == "-h" || a == "--help") w = true;
    // Tokens of "--method sttfn", "--methods all,sttfn:lr=1e-3", "--sttfn.tile 128".
    std::string token;
    for (size_t k = 0; k <= a.size() && !n; ++k) {
      const char c = k < a.size() ? a[k] : ',';
      if (c == ',' || c == ':' || c == '=' || c == '.' || c == '-') {
        n = is_deep_method(token);
        w = w || n || token == "all" || token == "deep";
        token.clear();
      } else {
        token += c;
      }
    }
  }
  wanted() = w;
  named() = n;
}

bool deep_method_named() { return named(); }

bool deep_methods_wanted() { return wanted(); }

}  // namespace lstfuse::cli
