#include "lstfuse/core/catalog.hpp"

#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <fstream>
#include <utility>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/json_number.hpp"
#include "lstfuse/core/outputs.hpp"

namespace lstfuse {

std::string to_string(Role r) {
  switch (r) {
    case Role::Fine: return "fine";
    case Role::Coarse: return "coarse";
    case Role::Truth: return "truth";
  }
  return "?";
}

Role role_from_string(const std::string& s) {
  if (s == "fine") return Role::Fine;
  if (s == "coarse") return Role::Coarse;
  if (s == "truth") return Role::Truth;
  throw Error("unknown role '" + s + "' (expected fine, coarse or truth)");
}

void Catalog::add(const Observation& obs) {
  if (find(obs.date, obs.role)) {
    const auto prev = find(obs.date, obs.role);
    throw Error(obs.source + ": two " + to_string(obs.role) + " images on " + obs.date.iso() +
                " (already have " + prev->source + ")");
  }
  observations_.push_back(obs);
  std::sort(observations_.begin(), observations_.end(), [](const auto& a, const auto& b) {
    return a.date != b.date ? a.date < b.date : a.role < b.role;
  });
}

std::optional<Observation> Catalog::find(const Date& d, Role role) const {
  for (const auto& o : observations_)
    if (o.date == d && o.role == role) return o;
  return std::nullopt;
}

std::vector<Date> Catalog::dates(Role role) const {
  std::vector<Date> out;
  for (const auto& o : observations_)
    if (o.role == role) out.push_back(o.date);
  return out;
}

std::vector<Date> Catalog::pair_dates() const {
  std::vector<Date> out;
  for (const auto& d : dates(Role::Fine))
    if (find(d, Role::Coarse)) out.push_back(d);
  return out;
}

std::vector<Date> Catalog::coarse_only_dates() const {
  std::vector<Date> out;
  for (const auto& d : dates(Role::Coarse))
    if (!find(d, Role::Fine)) out.push_back(d);
  return out;
}

nlohmann::json Catalog::to_json() const {
  nlohmann::json j;
  j["format"] = "lstfuse-catalog";
  j["version"] = 1;
  j["grid"] = {{"width", grid_.width},
               {"height", grid_.height},
               {"transform", grid_.transform},
               {"crs", grid_.crs}};
  nlohmann::json obs = nlohmann::json::array();
  for (const auto& o : observations_) {
    obs.push_back({{"date", o.date.iso()},
                   {"role", to_string(o.role)},
                   {"sensor", o.sensor},
                   {"path", o.path},
                   {"quality_path", o.quality_path},
                   {"valid_fraction", o.valid_fraction},
                   {"units", o.units},
                   {"source", o.source}});
  }
  j["observations"] = obs;
  if (landcover_) {
    nlohmann::json classes = nlohmann::json::object();
    for (const auto& [code, name] : landcover_->classes) classes[std::to_string(code)] = name;
    j["landcover"] = {{"path", landcover_->path}, {"classes", classes}};
  }
  return j;
}

Catalog Catalog::from_json(const nlohmann::json& j, const std::filesystem::path& root) {
  Catalog c(root);
  // A catalog names its own files: a path must stay inside the catalog folder (no absolute
  // path, no "..") so that a manifest cannot make lstfuse read, or overwrite, anything else.
  auto check_inside = [](const char* field, const std::string& p) {
    if (!relative_path_inside(p)) {
      throw Error(fmt::format("observation {} '{}' is not a file inside the catalog folder (absolute "
                              "paths and '..' are refused)", field, p));
    }
  };
  // A manifest of another format or a later version is named as such, not by the first field
  // this version misses ("missing field 'width'").
  if (j.is_object() && j.contains("format") && j.at("format") != "lstfuse-catalog")
    throw Error(fmt::format("not a catalog manifest (format {})", j.at("format").dump()));
  if (j.is_object() && j.contains("version")) {
    const auto& v = j.at("version");
    if (v.is_number() && v.get<double>() > 1)
      throw Error(fmt::format("catalog version {} was written by a later lstfuse; this one reads version 1", v.dump()));
    if (!v.is_number_integer() || v.get<long long>() != 1)
      throw Error(fmt::format("catalog version {} is not one lstfuse writes (1)", v.dump()));
  }
  const auto& g = j.at("grid");
  const long long w = json_whole_number(g.at("width"), "grid.width"), h = json_whole_number(g.at("height"), "grid.height");
  check_grid_size(w, h, "the catalog grid");
  c.grid_.width = static_cast<int>(w);
  c.grid_.height = static_cast<int>(h);
  c.grid_.transform = g.at("transform").get<std::array<double, 6>>();
  c.grid_.crs = g.at("crs").get<std::string>();
  for (const auto& o : j.at("observations")) {
    Observation obs;
    obs.date = Date::parse(o.at("date").get<std::string>());
    obs.role = role_from_string(o.at("role").get<std::string>());
    obs.sensor = o.value("sensor", "");
    obs.path = o.at("path").get<std::string>();
    obs.quality_path = o.value("quality_path", "");
    check_inside("path", obs.path);
    if (!obs.quality_path.empty()) check_inside("quality_path", obs.quality_path);
    obs.valid_fraction = o.value("valid_fraction", 0.0);
    // A share: an edited manifest's -5 or 1e308 was shown as "valid -500.0 %" and chose pairs.
    if (!(obs.valid_fraction >= 0.0 && obs.valid_fraction <= 1.0))
      throw Error(fmt::format("the {} image of {} has valid_fraction {}, not a share between 0 and 1",
                              o.at("role").get<std::string>(), obs.date.iso(), obs.valid_fraction));
    obs.units = o.value("units", "K");
    obs.source = o.value("source", "");
    c.add(obs);
  }
  if (j.contains("landcover")) {
    LandCoverLayer lc;
    lc.path = j["landcover"].at("path").get<std::string>();
    if (!relative_path_inside(lc.path)) {
      throw Error(fmt::format("landcover path '{}' is not a file inside the catalog folder (absolute "
                              "paths and '..' are refused)", lc.path));
    }
    const nlohmann::json classes = j["landcover"].value("classes", nlohmann::json::object());
    for (const auto& [code, name] : classes.items())
      try {
        lc.classes[std::stoi(code)] = name.get<std::string>();
      } catch (const std::logic_error&) {
        throw Error("land-cover class '" + code + "' is not a number");
      }
    c.landcover_ = lc;
  }
  return c;
}

Catalog Catalog::load(const std::filesystem::path& dir) {
  const auto path = dir / kManifest;
  std::ifstream in(path);
  if (!in && ::access(path.c_str(), F_OK) == 0 && ::access(path.c_str(), R_OK) != 0 && errno == EACCES)
    throw file_error(path.string(), "permission denied: this user may not read the catalog manifest");
  if (!in) {
    // Another folder of lstfuse's, given where a catalog goes: said what it is and where its
    // catalog lies, rather than only that no manifest opens.
    const std::pair<OutputFolderKind, const char*> others[] = {
        {simulation_kind(), "ingest it first: lstfuse ingest SIMULATION -o CATALOG"},
        {fuse_kind(), "give the catalog it was fused from"},
        {benchmark_kind(), "give the catalog it was benchmarked on"},
        {demo_kind(), "its catalog is its folder 'catalog'"}};
    for (const auto& [kind, way] : others)
      if (is_folder_of_kind(dir, kind))
        throw file_error(dir.string(), fmt::format("is a {}, not a catalog: {}", kind.what, way));
    throw file_error(path.string(), "cannot open the catalog manifest (is this a catalog folder made by 'lstfuse ingest'?)");
  }
  try {
    Catalog c = from_json(nlohmann::json::parse(in), dir);
    // Links are checked now, so that a bad one is named before any work starts (and again
    // whenever a file is opened, through absolute()).
    for (const auto& o : c.observations()) {
      c.absolute(o.path);
      if (!o.quality_path.empty()) c.absolute(o.quality_path);
    }
    if (c.landcover()) c.absolute(c.landcover()->path);
    return c;
  } catch (const nlohmann::json::exception& e) {
    throw file_error(path.string(), "malformed catalog manifest: " + json_problem(e));
  } catch (const Error& e) {
    throw file_error(path.string(), e.what());
  }
}

void Catalog::save() const {
  std::filesystem::create_directories(root_);
  write_text_atomic(root_ / kManifest, to_json().dump(2) + "\n");
}

std::filesystem::path Catalog::absolute(const std::string& relative) const {
  return file_inside_folder(root_, relative, "the catalog folder");
}

std::filesystem::path file_inside_folder(const std::filesystem::path& folder, const std::string& relative,
                                         const std::string& what) {
  const std::filesystem::path p = folder / relative;
  if (!relative_path_inside(relative)) {
    throw file_error(p.string(), "is not a file inside " + what + " (absolute paths and '..' are refused)");
  }
  // path_within resolves every symbolic link of what exists of both paths; a link whose target
  // does not exist stays unresolved and then fails to open like any missing file.
  if (!path_within(p, folder)) {
    std::error_code ec;
    const std::filesystem::path target = std::filesystem::weakly_canonical(p, ec);
    const std::string to = ec ? std::string() : " (to " + target.string() + ")";
    throw file_error(p.string(), "is a symbolic link, or lies below one, leading out of " + what + to +
                                     "; lstfuse does not follow links out of it: copy the file in instead");
  }
  return p;
}

bool relative_path_inside(const std::string& p) {
  if (p.empty()) return false;
  const std::filesystem::path path(p);
  if (path.is_absolute() || path.has_root_name() || path.has_root_directory()) return false;
  for (const auto& part : path)
    if (part == "..") return false;
  return true;
}

}  // namespace lstfuse
