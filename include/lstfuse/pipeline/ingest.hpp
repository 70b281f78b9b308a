#pragma once
// `lstfuse ingest`: from product files, folders or a simulation folder to a catalog: every
// observation decoded (QC/QA masks applied), aligned onto one fine grid and written as a Kelvin
// Float32 GeoTIFF (nodata -9999), plus manifest.json. The catalog is built in a temporary folder
// beside the destination and renamed into place at the end, so a failure leaves nothing behind.
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "lstfuse/core/catalog.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/prep/align.hpp"

namespace lstfuse::pipeline {

struct IngestOptions {
  io::ProductOptions product;
  // Files whose role is forced (generic GeoTIFFs whose names say nothing); they are ingested
  // whether or not they are also listed as inputs.
  std::vector<std::string> fine_files;
  std::vector<std::string> coarse_files;
  std::optional<Date> date;  // overrides the dates in the file names
  // Explicit fine grid: CRS + resolution (+ extent; default: the first fine image's footprint,
  // or the first product's when there is no fine image).
  std::string crs;
  double res = 0.0;
  std::optional<prep::Bounds> extent;
  prep::Resampling resampling = prep::Resampling::Bilinear;
  bool overwrite = false;  // replace an existing, non-empty catalog folder
  // Optional land-cover raster (integer class codes, 0 = none), put on the grid with nearest
  // resampling. A simulation folder brings its own (landcover.tif) unless this is given.
  std::string landcover;
  std::string format = "GTiff";  // the catalog's rasters: GTiff or COG (--of)
  std::vector<std::string> creation_options;  // --co NAME=VALUE
};

// Name of the simulator's manifest inside a simulation folder.
constexpr const char* kSimulationManifest = "simulation.json";

// Reads DIR/simulation.json: the products it names (paths inside DIR only, links included), the
// fine grid and the land cover when its file is there. Throws Error naming the manifest.
void read_simulation(const std::filesystem::path& dir, std::vector<io::ProductFile>& products,
                     std::optional<Grid>& grid, std::optional<LandCoverLayer>& landcover);

// Runs the whole ingest and returns the saved catalog (rooted at out_dir). Throws Error naming
// the offending file (unreadable, no CRS, no overlap, duplicate fine date, unknown product...).
Catalog ingest(const std::vector<std::string>& inputs, const std::string& out_dir,
               const IngestOptions& opts);

}  // namespace lstfuse::pipeline
