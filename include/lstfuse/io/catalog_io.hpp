#pragma once
// Reading the rasters a catalog lists. Catalog files are Kelvin float32 GeoTIFFs with nodata on
// the catalog grid, so no decoding options are needed here.
#include "lstfuse/core/catalog.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::io {

// Whole observation; throws Error naming the file when it is missing or not on the catalog grid.
Raster load_observation(const Catalog& catalog, const Observation& obs);
// A window of it (outside pixels invalid), for tiled processing of large scenes.
Raster load_observation_window(const Catalog& catalog, const Observation& obs, int x0, int y0,
                               int w, int h);
// A file replaced since ingest by one without a valid pixel would reach a method as a pair the
// catalog calls clear: throws Error naming it when the catalog recorded valid pixels and
// `valid_pixels` (the whole file's, band 1) is 0.
void check_not_emptied(const Catalog& catalog, const Observation& obs, long long valid_pixels);

}  // namespace lstfuse::io
