#include "lstfuse/io/catalog_io.hpp"

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
  r.grid() = catalog.grid();  // identical geometry; keep the catalog's CRS text
  return r;
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
