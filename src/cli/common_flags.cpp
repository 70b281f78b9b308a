#include "common_flags.hpp"

#include <algorithm>
#include <cctype>
#include <filesystem>
#include <cmath>
#include <iostream>
#include <mutex>
#include <set>

#include <fmt/format.h>
#include <spdlog/spdlog.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/eval/quicklook.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::cli {

void warn_deprecated(const std::string& old_name, const std::string& new_name) {
  static std::mutex m;
  static std::set<std::string> said;
  std::lock_guard<std::mutex> lock(m);
  if (!said.insert(old_name).second) return;
  std::cerr << "lstfuse: warning: " << old_name << " is deprecated, use " << new_name
            << " (the old spelling goes in the next release)\n";
}

CLI::Option* add_output(CLI::App* cmd, std::string& out, const std::string& help, bool old_out) {
  auto* o = cmd->add_option("-o,--output", out, help);
  if (old_out) add_deprecated(cmd, "--out", out, "-o/--output");
  return o;
}

OutputFileKind raster_file_kind() {
  return {"raster written by lstfuse (no LSTFUSE_* metadata)",
          [](const std::filesystem::path& p) { return io::is_lstfuse_raster(p.string()); }};
}

OutputFileKind png_file_kind() {
  return {"PNG written by lstfuse (no 'Software: lstfuse' text chunk)",
          [](const std::filesystem::path& p) { return eval::is_lstfuse_png(p.string()); }};
}

OutputFileKind model_file_kind() {
  return {"model file written by lstfuse", [](const std::filesystem::path& p) { return is_lstfuse_model_file(p); }};
}

void require_output(const std::string& out) {
  if (out.empty()) throw CLI::RequiredError("--output");
}

void add_raster_output(CLI::App* cmd, RasterOutput& r, const std::vector<std::string>& formats,
                       bool old_format, const std::string& quiet_help) {
  if (!formats.empty()) {
    std::string list;
    for (const auto& f : formats) list += (list.empty() ? "" : ", ") + f;
    cmd->add_option("--of", r.format, "Output raster format: " + list)
        ->check(CLI::IsMember(formats))
        ->capture_default_str();
    if (old_format) add_deprecated(cmd, "--format", r.format, "--of")->check(CLI::IsMember(formats));
  }
  cmd->add_option("--co", r.creation_options,
                  "Creation option NAME=VALUE of the output format's GDAL driver (repeatable; e.g. "
                  "--co COMPRESS=LZW); they replace lstfuse's own choices of the same name")
      ->type_name("NAME=VALUE")
      ->allow_extra_args(false);  // one per --co, as in GDAL: never a positional argument after it
  cmd->add_flag("-q,--quiet", r.quiet, quiet_help + " (warnings and errors still show)");
}

void apply_raster_output(const RasterOutput& r) {
  // netCDF output is a cube beside per-date COGs: the options are the COGs'.
  const std::string format = r.format.empty() ? "GTiff" : r.format == "netCDF" ? "COG" : r.format;
  io::check_creation_options(format, r.creation_options);
  if (r.quiet && spdlog::get_level() < spdlog::level::warn) spdlog::set_level(spdlog::level::warn);
}

Date parse_date_flag(const std::string& text, const std::string& flag) {
  try {
    return Date::parse(text);
  } catch (const Error& e) {
    throw Error(flag + ": " + e.what());
  }
}

std::vector<Date> parse_date_list(const std::string& text, const std::string& flag) {
  std::vector<Date> out;
  size_t start = 0;
  while (start <= text.size()) {
    const size_t comma = text.find(',', start);
    const size_t end = comma == std::string::npos ? text.size() : comma;
    std::string item = text.substr(start, end - start);
    const auto first = item.find_first_not_of(" \t");
    item = first == std::string::npos ? "" : item.substr(first, item.find_last_not_of(" \t") - first + 1);
    if (!item.empty()) {
      Date d;
      try {
        d = Date::parse(item);
      } catch (const Error& e) {
        throw Error(flag + ": " + e.what());
      }
      if (std::find(out.begin(), out.end(), d) != out.end()) throw Error(flag + ": " + d.iso() + " is given twice");
      out.push_back(d);
    }
    if (comma == std::string::npos) break;
    start = comma + 1;
  }
  // "," or " , ": a list was given, but it names nothing (not the same as leaving the flag out).
  if (out.empty() && text.find_first_not_of(" \t") != std::string::npos)
    throw Error(flag + ": '" + text + "' names no date");
  return out;
}

std::string lower_extension(const std::string& path) {
  std::string ext = std::filesystem::path(path).extension().string();
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

namespace {
std::set<std::string>& empty_values() {
  static std::set<std::string> names;
  return names;
}
bool blank(const std::string& s) { return s.find_first_not_of(" \t") == std::string::npos; }
}  // namespace

void note_empty_values(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    const std::string a = argv[i];
    if (a.rfind("--", 0) != 0 || a.size() < 3) continue;
    const size_t eq = a.find('=');
    if (eq != std::string::npos ? blank(a.substr(eq + 1)) : i + 1 < argc && blank(argv[i + 1]))
      empty_values().insert(a.substr(2, eq == std::string::npos ? std::string::npos : eq - 2));
  }
}

bool given_empty(const CLI::Option& flag) {
  for (const auto& name : flag.get_lnames())
    if (empty_values().count(name)) return true;
  return false;
}

CLI::Validator non_empty() {
  return CLI::Validator(
      [](std::string& text) -> std::string {
        return blank(text) ? "is empty: give a value, or leave the option out" : std::string();
      },
      "");
}

CLI::Validator finite_range(double lo, double hi, bool lo_open) {
  return CLI::Validator(
      [lo, hi, lo_open](std::string& text) -> std::string {
        double v = 0;
        size_t used = 0;
        try {
          v = std::stod(text, &used);
        } catch (const std::exception&) {
          used = 0;
        }
        if (used != text.size() || !std::isfinite(v) || v > hi || (lo_open ? v <= lo : v < lo))
          return fmt::format("must be a number {} {:g} and <= {:g}, got {}", lo_open ? ">" : ">=", lo, hi, text);
        return std::string();
      },
      fmt::format("{}{:g}..{:g}", lo_open ? ">" : "", lo, hi));
}

}  // namespace lstfuse::cli
