#include "lstfuse/io/catalog_io.hpp"

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/products.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::io {
namespace {

void check_grid(const Catalog& catalog, const std::string& path) {
  const Grid g = read_grid(path);
  if (!same_grid(g, catalog.grid())) {
    throw file_error(path, "is not on the catalog grid (" + g.describe_vs(catalog.grid()) +
                               "); re-run 'lstfuse ingest'");
  }
}

}  // namespace

Raster load_observation(const Catalog& catalog, const Observation& obs) {
  const std::string path = catalog.absolute(obs.path).string();
  check_grid(catalog, path);
  Raster r = read_raster(path);
  // Ingest checked the values; a file edited since (converted to Celsius, nodata changed) is not
  // LST in kelvin any more.
  check_plausible_lst(r, path);
  if (r.bands() > 0) check_not_emptied(catalog, obs, static_cast<long long>(r.valid_count(0)));
  r.grid() = catalog.grid();  // identical geometry; keep the catalog's CRS text
  return r;
}

void check_not_emptied(const Catalog& catalog, const Observation& obs, long long valid_pixels) {
  if (obs.valid_fraction > 0 && valid_pixels == 0) {
    throw file_error(catalog.absolute(obs.path).string(),
                     fmt::format("has no valid pixel, but the catalog recorded {:.1f} % valid pixels when it was made: "
                                 "the file was changed since; re-run 'lstfuse ingest'",
                                 100.0 * obs.valid_fraction));
  }
}

Raster load_observation_window(const Catalog& catalog, const Observation& obs, int x0, int y0,
                               int w, int h) {
  const std::string path = catalog.absolute(obs.path).string();
  check_grid(catalog, path);
  Raster r = read_window(path, x0, y0, w, h);
  check_plausible_lst(r, path);
  r.grid() = catalog.grid().window(x0, y0, w, h);
  return r;
}

}  // namespace lstfuse::io
