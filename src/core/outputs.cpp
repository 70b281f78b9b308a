#include "lstfuse/core/outputs.hpp"

#include <fstream>

#include <nlohmann/json.hpp>

#include "lstfuse/core/error.hpp"

namespace fs = std::filesystem;

namespace lstfuse {
namespace {

// Absolute, with symbolic links resolved for the part that exists.
fs::path resolved(const fs::path& p) {
  std::error_code ec;
  fs::path r = fs::weakly_canonical(fs::absolute(p, ec), ec);
  if (ec) r = fs::absolute(p).lexically_normal();
  return strip_trailing_separators(r);
}

}  // namespace

fs::path strip_trailing_separators(const fs::path& p) {
  std::string s = p.string();
  while (s.size() > 1 && s.back() == '/') s.pop_back();
  return fs::path(s);
}

bool same_path(const fs::path& a, const fs::path& b) {
  std::error_code ec;
  if (fs::exists(a, ec) && fs::exists(b, ec)) {
    const bool eq = fs::equivalent(a, b, ec);
    if (!ec) return eq;
  }
  return resolved(a) == resolved(b);
}

bool path_within(const fs::path& inner, const fs::path& outer) {
  if (same_path(inner, outer)) return true;
  const fs::path i = resolved(inner), o = resolved(outer);
  auto ii = i.begin();
  for (auto oi = o.begin(); oi != o.end(); ++oi, ++ii) {
    if (ii == i.end() || *ii != *oi) return false;
  }
  return true;
}

void check_not_an_input(const std::string& output, const std::string& option,
                        const std::vector<std::string>& inputs) {
  if (output.empty()) return;
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (same_path(output, in)) {
      throw file_error(output, option + " names one of the inputs (" + in +
                                   "); lstfuse never writes over its inputs: choose another output");
    }
  }
}

bool is_folder_of_kind(const fs::path& dir, const OutputFolderKind& kind) {
  std::ifstream in(dir / kind.marker);
  if (!in) return false;
  try {
    const auto j = nlohmann::json::parse(in);
    return j.is_object() && j.value("format", "") == kind.format;
  } catch (const nlohmann::json::exception&) {
    return false;
  }
}

void check_output_folder(const fs::path& dir_in, const std::string& option,
                         const std::vector<std::string>& inputs, const OutputFolderKind& kind,
                         FolderUse use, bool overwrite) {
  const fs::path dir = strip_trailing_separators(dir_in);
  const std::string shown = dir_in.string();
  std::error_code ec;
  if (fs::exists(dir, ec) && !fs::is_directory(dir, ec)) {
    throw file_error(shown, option + " must name a folder; this is a file");
  }
  if (path_within(fs::current_path(), dir)) {
    throw file_error(shown, option + " is the current folder or holds it; choose a new folder");
  }
  for (const auto& in : inputs) {
    if (in.empty()) continue;
    if (path_within(in, dir)) {
      throw file_error(shown, option + " holds the input " + in +
                                  "; lstfuse never writes over its inputs: choose another folder");
    }
  }
  if (!fs::exists(dir, ec) || fs::is_empty(dir, ec)) return;
  const bool ours = is_folder_of_kind(dir, kind);
  if (!ours) {
    throw file_error(shown, "exists and is not a " + kind.what + " (no " + kind.marker +
                                "); lstfuse only replaces or resumes its own outputs: choose a new "
                                "or empty folder");
  }
  if (use == FolderUse::Replace && !overwrite) {
    throw file_error(shown, "already holds a " + kind.what +
                                " (choose another folder, or --overwrite to replace it)");
  }
}

}  // namespace lstfuse
