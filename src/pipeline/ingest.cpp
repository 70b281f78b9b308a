#include "lstfuse/pipeline/ingest.hpp"

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <utility>

#include <fmt/format.h>
#include <nlohmann/json.hpp>
#include <spdlog/spdlog.h>

#include "lstfuse/core/json_number.hpp"
#include "lstfuse/core/error.hpp"
#include "lstfuse/core/files.hpp"
#include "lstfuse/core/outputs.hpp"
#include "lstfuse/io/crs.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace fs = std::filesystem;

namespace lstfuse::pipeline {
namespace {

struct Item {
  io::ProductFile product;
  Role role = Role::Fine;
  Date date;
  Grid grid;  // the product's own grid
};

bool raster_extension(const fs::path& p) {
  std::string ext = p.extension().string();
  std::transform(ext.begin(), ext.end(), ext.begin(), [](unsigned char c) { return std::tolower(c); });
  return ext == ".tif" || ext == ".tiff" || ext == ".hdf" || ext == ".h4";
}

}  // namespace

// The simulator's folder: its manifest names every file, its role, product and the fine grid.
void read_simulation(const fs::path& dir, std::vector<io::ProductFile>& products, std::optional<Grid>& grid,
                     std::optional<LandCoverLayer>& landcover) {
  const fs::path manifest = dir / kSimulationManifest;
  std::ifstream in(manifest);
  if (!in) throw file_error(manifest.string(), "cannot open");
  try {
    const auto j = nlohmann::json::parse(in);
    if (j.value("format", "") != "lstfuse-simulation") {
      throw file_error(manifest.string(), "not an lstfuse simulation manifest (format is not lstfuse-simulation)");
    }
    const auto& g = j.at("fine_grid");
    Grid fg;
    const long long w = json_whole_number(g.at("width"), "fine_grid.width");
    const long long h = json_whole_number(g.at("height"), "fine_grid.height");
    check_grid_size(w, h, manifest.string() + ": fine_grid");
    fg.width = static_cast<int>(w);
    fg.height = static_cast<int>(h);
    fg.transform = g.at("transform").get<std::array<double, 6>>();
    fg.crs = io::crs_to_wkt(g.at("crs").get<std::string>(), /*from_a_file=*/true);
    grid = fg;
    // The manifest names files of its own folder only (no absolute path, no "..").
    auto file = [&](const nlohmann::json& o, const char* key) {
      const std::string rel = o.at(key).get<std::string>();
      if (!relative_path_inside(rel)) {
        throw file_error(manifest.string(), fmt::format("{} '{}' is not a file inside the simulation folder "
                                                        "(absolute paths and '..' are refused)", key, rel));
      }
      return file_inside_folder(dir, rel, "the simulation folder").string();  // links too
    };
    if (j.contains("landcover")) {
      LandCoverLayer lc;
      const std::string lc_rel = j["landcover"].at("path").get<std::string>();
      if (!relative_path_inside(lc_rel)) {
        throw file_error(manifest.string(), fmt::format("landcover '{}' is not a file inside the simulation "
                                                        "folder (absolute paths and '..' are refused)", lc_rel));
      }
      lc.path = file_inside_folder(dir, lc_rel, "the simulation folder").string();
      const nlohmann::json classes = j["landcover"].value("classes", nlohmann::json::object());
      for (const auto& [code, name] : classes.items()) {
        try {
          lc.classes[std::stoi(code)] = name.get<std::string>();
        } catch (const std::logic_error&) {  // std::stoi: not a number, or out of range
          throw file_error(manifest.string(), "land-cover class '" + code + "' is not a number");
        }
      }
      // Land cover only describes errors: a manifest naming a file that is not there loses it.
      std::error_code exists_ec;  // a name the file system refuses (too long) is not there either
      if (fs::exists(lc.path, exists_ec)) {
        landcover = lc;
      } else {
        spdlog::warn("{}: its land cover {} is missing; the catalog has none", manifest.string(), lc.path);
      }
    }
    for (const auto& o : j.at("observations")) {
      io::ProductFile p;
      p.path = p.lst = file(o, "path");
      p.date = Date::parse(o.at("date").get<std::string>());
      p.role = role_from_string(o.at("role").get<std::string>());
      const std::string kind = o.value("product", "kelvin");
      if (kind == "landsat-c2-st") {
        p.kind = io::ProductKind::LandsatC2St;
        p.qc = file(o, "qa_path");
        p.sensor = "simulated-landsat";
      } else if (kind == "modis-lst-geotiff") {
        p.kind = io::ProductKind::Modis11A1GeoTiff;
        p.qc = file(o, "qc_path");
        p.sensor = "simulated-modis";
      } else if (kind == "kelvin") {
        p.kind = io::ProductKind::Generic;
        p.sensor = *p.role == Role::Fine ? "simulated-fine" : "simulated-coarse";
        p.kelvin = true;
      } else {
        throw file_error(manifest.string(), "unknown product '" + kind + "' for " + p.path +
                                                " (expected landsat-c2-st, modis-lst-geotiff or kelvin)");
      }
      products.push_back(p);
    }
    for (const auto& t : j.value("truth", nlohmann::json::array())) {
      io::ProductFile p;
      p.path = p.lst = file(t, "path");
      p.date = Date::parse(t.at("date").get<std::string>());
      p.role = Role::Truth;
      p.kind = io::ProductKind::Generic;
      p.sensor = "simulated-truth";
      p.kelvin = true;
      products.push_back(p);
    }
  } catch (const nlohmann::json::exception& e) {
    throw file_error(manifest.string(), "malformed simulation manifest: " + json_problem(e));
  } catch (const fs::filesystem_error& e) {
    // A path the file system refuses to look at (a name too long, a loop of links).
    throw file_error(manifest.string(), "names a file that cannot be looked at (" + e.code().message() + ")");
  } catch (const Error& e) {
    // A bad date, role or CRS: say which file holds it.
    const std::string what = e.what();
    if (what.rfind(manifest.string(), 0) == 0) throw;
    throw file_error(manifest.string(), what);
  }
}

namespace {

std::string file_name(const Item& it, const std::string& suffix = "") {
  return it.date.compact() + "_" + to_string(it.role) + suffix + ".tif";
}

// Decodes one product, aligns it tile by tile and writes it; returns the valid fraction.
double write_aligned(io::ProductReader& reader, bool quality, const Grid& grid, prep::Resampling rs,
                     const std::string& out_path, const IngestOptions& opts) {
  prep::AlignSource src;
  src.grid = reader.grid();
  src.name = reader.product().path;
  if (quality) {
    src.read = [&reader](int x0, int y0, int w, int h) { return reader.read_quality(x0, y0, w, h); };
  } else {
    src.read = [&reader](int x0, int y0, int w, int h) { return reader.read(x0, y0, w, h); };
  }
  io::WriteOptions wo;
  wo.format = opts.format;
  wo.user_options = opts.creation_options;
  wo.nodata = -9999.0;
  wo.metadata = {{"LSTFUSE_SOURCE", reader.product().path},
                 {"LSTFUSE_UNITS", quality ? "hours" : "K"}};
  io::RasterWriter writer(out_path, grid, 1, wo);
  long long valid = 0;
  prep::AlignOptions ao;
  ao.resampling = rs;
  prep::align_tiles(src, grid, ao, [&](const Raster& tile, int x0, int y0) {
    writer.write(tile, x0, y0);
    valid += tile.valid_count(0);
  });
  writer.commit();
  return grid.pixels() > 0 ? static_cast<double>(valid) / static_cast<double>(grid.pixels()) : 0.0;
}

// A GDAL subdataset name of a MOD11A1/MYD11A1 LST layer, as gdalinfo lists them
// (HDF4_EOS:EOS_GRID:"FILE.hdf":MODIS_Grid_Daily_1km_LST:LST_Day_1km): the file and whether the
// night layer is named. nullopt when `in` is not a subdataset name; Error for other layers.
std::optional<std::pair<std::string, bool>> lst_subdataset(const std::string& in) {
  if (in.rfind("HDF4_EOS:", 0) != 0 && in.rfind("HDF4_SDS:", 0) != 0 && in.rfind("HDF4:", 0) != 0)
    return std::nullopt;
  const auto q1 = in.find('"'), q2 = in.find('"', q1 == std::string::npos ? 0 : q1 + 1);
  if (q1 == std::string::npos || q2 == std::string::npos)
    throw file_error(in, "not a subdataset name (expected HDF4_EOS:EOS_GRID:\"FILE\":GRID:LAYER)");
  const std::string file = in.substr(q1 + 1, q2 - q1 - 1);
  const std::string layer = in.substr(in.rfind(':') + 1);
  // HDF4_EOS:EOS_GRID:"FILE":GRID:LAYER: the grid must be the daily 1 km LST grid.
  const std::string rest = in.substr(q2 + 1);  // ":GRID:LAYER"
  const auto colon = rest.find(':', 1);
  const std::string grid_name = rest.size() > 1 && colon != std::string::npos ? rest.substr(1, colon - 1) : "";
  if (in.rfind("HDF4_EOS:", 0) == 0 && grid_name != "MODIS_Grid_Daily_1km_LST") {
    throw file_error(in, fmt::format("unknown HDF grid '{}': MOD11A1/MYD11A1 LST layers are in "
                                     "MODIS_Grid_Daily_1km_LST", grid_name));
  }
  if (layer != "LST_Day_1km" && layer != "LST_Night_1km")
    throw file_error(in, fmt::format("subdataset '{}' is not an LST layer: name LST_Day_1km, LST_Night_1km "
                                     "or the HDF file itself", layer));
  if (!fs::exists(file)) throw file_error(file, "no such file (named in " + in + ")");
  return std::make_pair(file, layer == "LST_Night_1km");
}

std::string degrees(double v, char pos, char neg) {
  const double r = std::round(v * 10.0) / 10.0;  // -1e-13 is "0.0 E", not "0.0 W"
  return fmt::format("{:.1f} {}", std::abs(r), r < 0 ? neg : pos);
}

// --crs must place points on a map, and be meant for where the data are: a UTM zone half the
// globe away gave a catalog at coordinates no map of the area uses, without a word. A zone or
// two off (data across a zone boundary) is common and fine: 20 degrees of longitude beyond the
// CRS's area of use are accepted. Latitude counts only for an area that stays on one side of
// the equator without reaching it (10 degrees beyond it accepted): UTM zones are defined per
// hemisphere, and southern Landsat scenes come in the northern zones (negative northings).
void check_crs_fits(const std::string& user_crs, const std::string& wkt, const io::CrsScope& scope, const Item& ref) {
  if (!scope.horizontal) {
    throw Error(fmt::format("--crs {} ({}) is not a map CRS (it is geocentric, vertical or compound): give a projected "
                            "CRS such as the data's UTM zone", user_crs, io::crs_name(wkt)));
  }
  if (!scope.area) return;
  // The centre pixel, not the middle of the bounds: a scene across the antimeridian has corners
  // at -179 and +179 degrees.
  double lon = ref.grid.transform[0] + 0.5 * ref.grid.width * ref.grid.transform[1] +
               0.5 * ref.grid.height * ref.grid.transform[2];
  double lat = ref.grid.transform[3] + 0.5 * ref.grid.width * ref.grid.transform[4] +
               0.5 * ref.grid.height * ref.grid.transform[5];
  try {
    const io::CrsTransform to_degrees(ref.grid.crs, io::crs_to_wkt("EPSG:4326"), "");
    if (!to_degrees.apply(lon, lat)) return;
  } catch (const Error&) {
    return;  // no way to degrees: nothing to compare (the alignment says what is wrong)
  }
  const auto [w, s, e, n] = *scope.area;
  // Degrees of longitude from the area (which may cross the antimeridian: w > e).
  auto east_of = [](double from, double to) { return std::fmod(std::fmod(to - from, 360.0) + 360.0, 360.0); };
  const double span = e >= w ? e - w : east_of(w, e);
  const double off = east_of(w, lon) <= span ? 0.0 : std::min(east_of(lon, w), east_of(e, lon));
  const bool one_side = s > 0.0 || n < 0.0;
  const double off_lat = !one_side ? 0.0 : lat < s ? s - lat : lat > n ? lat - n : 0.0;
  if (off > 20.0 || off_lat > 10.0) {
    throw file_error(ref.product.path,
                     fmt::format("lies at {}, {}, but --crs {} ({}) is meant for {}..{}, {}..{}: give the CRS of the "
                                 "data's area (e.g. its UTM zone)",
                                 degrees(lon, 'E', 'W'), degrees(lat, 'N', 'S'), user_crs, io::crs_name(wkt),
                                 degrees(w, 'E', 'W'), degrees(e, 'E', 'W'),
                                 degrees(s, 'N', 'S'), degrees(n, 'N', 'S')));
  }
}

OutputFolderKind catalog_folder_kind() {
  return {Catalog::kManifest, "lstfuse-catalog", "catalog made by 'lstfuse ingest'"};
}

}  // namespace

Catalog ingest(const std::vector<std::string>& inputs, const std::string& out_dir, const IngestOptions& opts) {
  io::init_gdal();
  if (inputs.empty() && opts.fine_files.empty() && opts.coarse_files.empty()) {
    throw Error("nothing to ingest: give product files or folders");
  }
  if (out_dir.empty()) throw Error("no catalog folder given (-o)");
  // "yanco/" is the folder yanco: its parent is ".", its name "yanco".
  const fs::path out = strip_trailing_separators(out_dir);
  {
    std::vector<std::string> input_paths;
    for (const auto& in : inputs) {
      const auto q1 = in.find('"'), q2 = q1 == std::string::npos ? q1 : in.find('"', q1 + 1);
      input_paths.push_back(q2 != std::string::npos ? in.substr(q1 + 1, q2 - q1 - 1) : in);
    }
    input_paths.insert(input_paths.end(), opts.fine_files.begin(), opts.fine_files.end());
    input_paths.insert(input_paths.end(), opts.coarse_files.begin(), opts.coarse_files.end());
    input_paths.push_back(opts.landcover);
    // A link would be replaced by the new folder, and its target left behind: refused.
    if (fs::is_symlink(out)) {
      throw file_error(out_dir, "-o is a symbolic link; give the folder it leads to (" +
                                    fs::read_symlink(out).string() + ") or a new folder");
    }
    check_output_folder(out_dir, "-o", input_paths, catalog_folder_kind(), FolderUse::Replace, opts.overwrite);
    // --overwrite replaces the catalog, not what the user put beside its files.
    std::error_code ec;
    if (fs::is_directory(out, ec) && !fs::is_empty(out, ec)) {
      if (const auto f = foreign_entry(out, io::marked_own_files(out, catalog_own_files(out), {Catalog::kManifest}))) {
        throw file_error(out_dir, "holds " + f->string() + ", which the catalog did not make; --overwrite "
                                  "replaces only a catalog's own files: move it out or choose another folder");
      }
    }
  }
  if (opts.res < 0 || !std::isfinite(opts.res)) {
    throw Error(fmt::format("--res must be a positive pixel size in CRS units, got {}", opts.res));
  }

  // 1. What is there: products with their roles and dates.
  std::vector<io::ProductFile> products;
  std::optional<Grid> sim_grid;
  std::optional<LandCoverLayer> landcover;
  auto add_file = [&](const std::string& path) { products.push_back(io::identify_product(path, opts.product)); };
  for (const auto& in : inputs) {
    if (const auto sds = lst_subdataset(in)) {
      // The layer decides day or night for this granule; --night naming the day layer is a
      // contradiction (the day LST was catalogued as night).
      if (opts.product.night && !sds->second)
        throw file_error(in, "is the day LST layer (LST_Day_1km) but --night asks for night LST: name "
                             "LST_Night_1km or drop --night");
      io::ProductOptions po = opts.product;
      po.night = sds->second;
      products.push_back(io::identify_product(sds->first, po));
      continue;
    }
    if (!fs::exists(in)) throw file_error(in, "no such file or folder");
    if (fs::is_directory(in)) {
      if (fs::exists(fs::path(in) / kSimulationManifest)) {
        if (opts.product.night)
          throw file_error(in, "is a simulation, which holds day LST only: drop --night");
        read_simulation(in, products, sim_grid, landcover);
        continue;
      }
      // A catalog's files are already decoded and aligned, and its own names say nothing of the
      // sensor: the folder is named as a catalog instead of by its first file.
      if (is_folder_of_kind(in, catalog_kind()))
        throw file_error(in, "is a catalog made by 'lstfuse ingest': use it with --catalog, or ingest its source "
                             "files (or a simulation folder) to make another");
      std::vector<fs::path> files;
      for (const auto& e : fs::directory_iterator(in))
        if (e.is_regular_file() && raster_extension(e.path()) && !io::is_companion_file(e.path().string()))
          files.push_back(e.path());
      std::sort(files.begin(), files.end());
      if (files.empty()) throw file_error(in, "folder holds no raster product (.tif, .hdf)");
      for (const auto& f : files) add_file(f.string());
    } else {
      add_file(in);
    }
  }
  auto force = [&](const std::vector<std::string>& files, Role role) {
    for (const auto& f : files) {
      if (!fs::exists(f)) throw file_error(f, "no such file");
      auto it = std::find_if(products.begin(), products.end(), [&](const auto& p) {
        return fs::exists(p.path) && fs::equivalent(p.path, f);
      });
      if (it == products.end()) {
        add_file(f);
        it = products.end() - 1;
      }
      it->role = role;
    }
  };
  for (const auto& f : opts.fine_files)
    for (const auto& c : opts.coarse_files) {
      std::error_code ec;
      if (fs::equivalent(f, c, ec)) throw file_error(c, "given as both --fine and --coarse: one file has one role");
    }
  force(opts.fine_files, Role::Fine);
  force(opts.coarse_files, Role::Coarse);
  if (!opts.landcover.empty()) {
    if (!fs::exists(opts.landcover)) throw file_error(opts.landcover, "no such file (--landcover)");
    landcover = LandCoverLayer{opts.landcover, {}};
  }

  if (products.empty()) throw Error("nothing to ingest: the inputs hold no product image");
  std::vector<Item> items;
  Catalog plan;  // catches two images of one role on one date before any pixel is processed
  for (auto& p : products) {
    if (!p.role) {
      throw file_error(p.path, "unknown product: its name says neither fine (Landsat) nor coarse (MODIS); "
                               "give its role with --fine FILE or --coarse FILE");
    }
    Item it;
    it.product = p;
    it.role = *p.role;
    if (opts.date && it.role != Role::Truth) p.date = opts.date;
    if (!p.date) {
      throw file_error(p.path, Date::filename_date_problem(fs::path(p.path).filename().string()) +
                                   "; give it with --date YYYY-MM-DD");
    }
    it.date = *p.date;
    it.product.date = p.date;
    {
      io::ProductReader reader(it.product, opts.product);  // opens every layer: unreadable files fail here
      it.grid = reader.grid();
    }
    Observation obs;
    obs.date = it.date;
    obs.role = it.role;
    obs.source = p.path;
    plan.add(obs);
    items.push_back(std::move(it));
  }

  // The encoding options describe generic GeoTIFFs; products (MOD11A1, Landsat C2, a simulation's
  // kelvin files) carry their own. Given with none of those, they would do nothing: said once.
  {
    const io::ProductOptions& po = opts.product;
    const bool encoding_given = po.units != "K" || po.scale != 1.0 || po.offset != 0.0 || po.nodata.has_value();
    const bool any_generic = std::any_of(products.begin(), products.end(), [](const io::ProductFile& p) {
      return p.kind == io::ProductKind::Generic && !p.kelvin;
    });
    if (encoding_given && !any_generic)
      spdlog::warn("ingest: --units, --scale, --offset and --nodata describe generic GeoTIFFs; the inputs are "
                   "products with their own encoding, so they are not applied");
    const bool any_hdf = std::any_of(products.begin(), products.end(),
                                     [](const io::ProductFile& p) { return p.kind == io::ProductKind::Modis11A1Hdf; });
    if (po.night && !any_hdf)
      spdlog::warn("ingest: --night picks the night layer of MOD11A1/MYD11A1 HDF granules; no input is one, so "
                   "it changes nothing");
  }

  // 2. The fine grid.
  Grid grid;
  const Item* first_fine = nullptr;
  for (const auto& it : items)
    if (it.role == Role::Fine && (!first_fine || it.date < first_fine->date)) first_fine = &it;
  if (!opts.crs.empty() || opts.res > 0 || opts.extent) {
    if (opts.crs.empty() || !(opts.res > 0)) {
      throw Error("an explicit grid needs both --crs and --res");
    }
    const std::string wkt = io::crs_to_wkt(opts.crs);
    const io::CrsScope scope = io::crs_scope(opts.crs);
    check_crs_fits(opts.crs, wkt, scope, first_fine ? *first_fine : items.front());
    prep::Bounds ext;
    if (opts.extent) {
      ext = *opts.extent;
    } else {
      const Item& ref = first_fine ? *first_fine : items.front();
      const auto b = prep::bounds_in(ref.grid, wkt);
      if (!b) throw file_error(ref.product.path, "its footprint cannot be expressed in " + opts.crs);
      // Snap outward to whole pixels so that grids made for the same area line up.
      const double r = opts.res;
      ext = {std::floor((*b)[0] / r) * r, std::floor((*b)[1] / r) * r, std::ceil((*b)[2] / r) * r,
             std::ceil((*b)[3] / r) * r};
    }
    for (const double v : ext)
      if (!(std::abs(v) <= 1e9)) {  // beyond any projected CRS's coordinates (metres or feet)
        throw Error(fmt::format("--extent {} {} {} {}: coordinates must be finite and within +-1e9", ext[0], ext[1],
                                ext[2], ext[3]));
      }
    if (scope.geographic && !(ext[0] >= -360 && ext[2] <= 360 && ext[1] >= -90 && ext[3] <= 90)) {
      throw Error(fmt::format("--extent {} {} {} {}: --crs {} is in degrees; give longitudes within +-360 and latitudes "
                              "within +-90", ext[0], ext[1], ext[2], ext[3], opts.crs));
    }
    if (!(ext[2] > ext[0]) || !(ext[3] > ext[1])) {
      throw Error(fmt::format("--extent {} {} {} {} is empty (needs xmin < xmax and ymin < ymax)", ext[0], ext[1],
                              ext[2], ext[3]));
    }
    // Sides as doubles first: a side of more than 2^63 pixels must not wrap into the message.
    const double sw = std::ceil((ext[2] - ext[0]) / opts.res), sh = std::ceil((ext[3] - ext[1]) / opts.res);
    if (!(sw <= 1e12 && sh <= 1e12)) {
      throw Error(fmt::format("--res {} over the extent: a grid of {:.3g} x {:.3g} pixels is beyond lstfuse's limit",
                              opts.res, sw, sh));
    }
    check_grid_size(static_cast<long long>(sw), static_cast<long long>(sh), fmt::format("--res {} over the extent", opts.res));
    grid = prep::make_grid(opts.crs, opts.res, ext);
  } else if (sim_grid) {
    grid = *sim_grid;
  } else if (first_fine) {
    grid = first_fine->grid;
    // Every other image is warped onto this grid and every output written on it: a mirrored or
    // rotated one would carry over (bounds with xmin > xmax; the coarse images then "do not
    // overlap" it, blamed on them).
    if (!grid.north_up() || !(grid.transform[1] > 0)) {
      throw file_error(first_fine->product.path,
                       fmt::format("its grid is not north-up (pixel {:g} x {:g}, rotation {:g}, {:g}), and the catalog "
                                   "grid is taken from the first fine image: give --crs and --res for a north-up one",
                                   grid.transform[1], grid.transform[5], grid.transform[2], grid.transform[4]));
    }
  } else {
    throw Error("no fine image to take the grid from: add one, or give --crs and --res (and --extent)");
  }
  check_grid_size(grid.width, grid.height, "the catalog grid");
  for (const auto& it : items) {
    if (!prep::overlaps(it.grid, grid)) {
      throw file_error(it.product.path, "does not overlap the catalog grid (" + grid.describe() + ")");
    }
  }

  // 3. Build the catalog in a hidden folder beside the destination (checked at the start: a new
  // or empty folder, or with --overwrite a previous catalog) and swap it in when complete.
  // Images without a valid pixel (a whole-day cloud, or a decoding the user should check): said
  // once, counted, not one line each (a MODIS year has dozens of cloudy days).
  std::vector<std::string> empty_images;
  build_folder_atomically(out, "ingest", "the catalog", [&](const fs::path& tmp) {
    Catalog cat(tmp);
    cat.set_grid(grid);
    for (const auto& it : items) {
      spdlog::debug("ingest: {} ({}, {}, {})", it.product.path, to_string(it.product.kind), to_string(it.role),
                   it.date.iso());
      io::ProductReader reader(it.product, opts.product);
      Observation obs;
      obs.date = it.date;
      obs.role = it.role;
      obs.sensor = it.product.sensor;
      obs.source = it.product.path;
      obs.units = "K";
      obs.path = file_name(it);
      obs.valid_fraction = write_aligned(reader, false, grid, opts.resampling, (tmp / obs.path).string(), opts);
      if (!(obs.valid_fraction > 0)) empty_images.push_back(it.product.path);
      if (!reader.quality_name().empty()) {
        // View times are labels of a swath, not a field: never interpolate them.
        obs.quality_path = file_name(it, "_" + reader.quality_name());
        write_aligned(reader, true, grid, prep::Resampling::Nearest, (tmp / obs.quality_path).string(), opts);
      }
      cat.add(obs);
    }
    if (landcover) {
      // Class codes: nearest neighbour, never interpolated.
      prep::AlignOptions ao;
      ao.resampling = prep::Resampling::Nearest;
      io::ReadOptions codes;
      codes.categorical = true;
      Raster lc = prep::align(prep::raster_source(io::read_raster(landcover->path, codes), landcover->path), grid, ao);
      // Class codes are small integers: an LST or NDVI raster given by mistake would be written
      // as one saturated Byte class.
      for (size_t k = 0; k < lc.band_size(); ++k) {
        const float v = lc.band(0)[k];
        if (lc.mask(0)[k] && !(v >= 0.0f && v <= 255.0f && v == std::floor(v))) {
          throw file_error(landcover->path, fmt::format("--landcover: not a land-cover raster of integer classes "
                                                        "0..255 (it holds {})", v));
        }
      }
      io::WriteOptions wo;
      wo.format = opts.format;
      wo.user_options = opts.creation_options;
      wo.data_type = "Byte";
      wo.nodata = 0;
      wo.metadata = {{"LSTFUSE_SOURCE", landcover->path}};
      lc.units = "class";
      io::write_raster((tmp / "landcover.tif").string(), lc, wo);
      cat.set_landcover({"landcover.tif", landcover->classes});
    }
    // Not one valid pixel anywhere: the grid misses the data (a --res as large as the scene, an
    // --extent elsewhere) or nothing decodes; a catalog of nothing was written with a warning.
    if (!items.empty() && empty_images.size() == items.size()) {
      throw Error(fmt::format("ingest: none of the {} image(s) has a valid pixel on the catalog grid ({}), e.g. {}: check "
                              "--crs, --res and --extent, and the images' nodata, units and scale",
                              items.size(), grid.describe(), empty_images.front()));
    }
    cat.save();
  });
  if (!empty_images.empty()) {
    spdlog::warn("ingest: {} image(s) without a valid pixel on the catalog grid (cloud, nodata, or values outside "
                 "the LST range), e.g. {}; kept in the catalog, no method uses them", empty_images.size(),
                 empty_images.front());
  }
  return Catalog::load(out);
}

}  // namespace lstfuse::pipeline
