#include "lstfuse/core/error.hpp"

#include <filesystem>
#include <new>
#include <regex>

namespace lstfuse {
namespace {

std::string first_line(const std::string& s) {
  const auto nl = s.find('\n');
  std::string out = nl == std::string::npos ? s : s.substr(0, nl);
  while (!out.empty() && (out.back() == '\r' || out.back() == ' ')) out.pop_back();
  return out;
}

// nlohmann's texts start with "[json.exception.KIND.ID] ".
bool is_json_text(const std::string& s) { return s.find("[json.exception.") != std::string::npos; }

}  // namespace

std::string json_problem(const std::exception& e) {
  const std::string what = e.what();
  std::smatch m;
  static const std::regex parse(R"(\[json\.exception\.parse_error\.\d+\] parse error at (?:line \d+, column \d+|byte \d+))");
  static const std::regex pos(R"(at line (\d+), column (\d+))");
  static const std::regex byte(R"(at byte (\d+))");
  static const std::regex key(R"(key '([^']*)' not found)");
  static const std::regex prefix(R"(\[json\.exception\.[a-z_]+\.\d+\] ?)");
  if (what.find("parse_error") != std::string::npos) {
    if (std::regex_search(what, m, pos)) return "not valid JSON (line " + m[1].str() + ", column " + m[2].str() + ")";
    if (std::regex_search(what, m, byte)) return "not valid JSON (byte " + m[1].str() + ")";
    return "not valid JSON";
  }
  if (std::regex_search(what, m, key)) return "missing field '" + m[1].str() + "'";
  if (what.find("type_error") != std::string::npos) {
    return "a field has the wrong type (" + std::regex_replace(first_line(what), prefix, "") + ")";
  }
  return std::regex_replace(first_line(what), prefix, "");
}

std::string user_message(const std::exception& e, std::string* detail) {
  const std::string what = e.what();
  if (detail) *detail = what;
  if (dynamic_cast<const std::bad_alloc*>(&e)) {
    // Every command ends here, and not all of them have --tile or --stream.
    return "out of memory: the rasters are too large for this machine (a coarser grid needs less; so do a "
           "smaller --tile and --stream, where the command has them)";
  }
  if (const auto* fe = dynamic_cast<const std::filesystem::filesystem_error*>(&e)) {
    std::string msg = fe->path1().empty() ? std::string("file system") : fe->path1().string();
    msg += ": " + fe->code().message();
    if (!fe->path2().empty()) msg += " (with " + fe->path2().string() + ")";
    return msg;
  }
  if (is_json_text(what)) {
    // The prefix before the JSON text names the file (e.g. "PATH: malformed manifest: [json...").
    const auto at = what.find("[json.exception.");
    return what.substr(0, at) + json_problem(e);
  }
  if (dynamic_cast<const Error*>(&e)) return first_line(what);
  // Anything else is a library's own text (torch, GDAL, the standard library): its first line.
  std::string line = first_line(what);
  if (line.empty()) line = "unexpected failure";
  return line;
}

}  // namespace lstfuse
