#pragma once
// A series of dated fine and coarse observations on one grid, stored on disk as a folder of
// aligned GeoTIFFs plus manifest.json. This header only knows the manifest; reading the rasters
// is io's business (io/catalog_io.hpp).
#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/grid.hpp"

namespace lstfuse {

// Fine and coarse are observations. Truth is the noise- and cloud-free fine LST a simulation
// knows; it is only ever used to score predictions, never as an input.
enum class Role { Fine, Coarse, Truth };
std::string to_string(Role r);
Role role_from_string(const std::string& s);  // "fine" / "coarse" / "truth"; throws otherwise

struct Observation {
  Date date;
  Role role = Role::Fine;
  std::string sensor;          // e.g. "landsat8", "modis-terra", "simulated-landsat"
  std::string path;            // relative to the catalog folder
  std::string quality_path;    // optional extra layer (MODIS view time, QC), relative
  double valid_fraction = 0.0; // share of valid pixels on the catalog grid
  std::string units = "K";
  std::string source;          // the product file it came from
};

// An optional land-cover layer on the catalog grid: class codes (0 = none), with their names.
// Used to describe errors per class (uncertainty), never as a fusion input.
struct LandCoverLayer {
  std::string path;  // relative to the catalog folder
  std::map<int, std::string> classes;
};

class Catalog {
 public:
  Catalog() = default;
  explicit Catalog(std::filesystem::path root) : root_(std::move(root)) {}

  static constexpr const char* kManifest = "manifest.json";
  // Throws Error naming the manifest when it is missing or malformed.
  static Catalog load(const std::filesystem::path& dir);
  void save() const;  // writes manifest.json atomically

  const std::filesystem::path& root() const { return root_; }
  const Grid& grid() const { return grid_; }
  void set_grid(const Grid& g) { grid_ = g; }
  const std::vector<Observation>& observations() const { return observations_; }

  // Adds an observation; throws Error when the same date already has one of that role
  // ("two fine images on one date").
  void add(const Observation& obs);
  std::optional<Observation> find(const Date& d, Role role) const;
  // The file `relative` names inside the catalog folder. Throws Error when it is not inside:
  // an absolute path, "..", or a symbolic link (the file's or a folder's on the way) that leads
  // out of the folder, which is never followed (see file_inside_folder).
  std::filesystem::path absolute(const std::string& relative) const;

  const std::optional<LandCoverLayer>& landcover() const { return landcover_; }
  void set_landcover(const LandCoverLayer& layer) { landcover_ = layer; }

  std::vector<Date> dates(Role role) const;   // sorted
  std::vector<Date> pair_dates() const;       // dates with both fine and coarse, sorted
  std::vector<Date> coarse_only_dates() const;

  nlohmann::json to_json() const;
  static Catalog from_json(const nlohmann::json& j, const std::filesystem::path& root);

 private:
  std::filesystem::path root_;
  Grid grid_;
  std::vector<Observation> observations_;
  std::optional<LandCoverLayer> landcover_;
};

// A relative path without "..": what a manifest may name inside its own folder.
bool relative_path_inside(const std::string& p);

// `folder / relative`, checked to stay inside `folder` once symbolic links are resolved: a
// manifest (catalog or simulation) may only make lstfuse read files of its own folder, so a link
// inside it that points elsewhere (`x.tif -> /etc/shadow`, `sub -> /`) is refused, not followed.
// Links that stay inside the folder, and hard links, are fine. `what` names the folder in the
// message ("the catalog folder"). Throws Error "PATH: ...".
std::filesystem::path file_inside_folder(const std::filesystem::path& folder, const std::string& relative,
                                         const std::string& what);

}  // namespace lstfuse
