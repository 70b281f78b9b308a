#pragma once
// Alignment: putting every observation on one fine grid. The fine grid comes from a fine image
// or from an explicit CRS + resolution + extent; other rasters are reprojected onto it with
// GDAL's warper, tile by tile, reading only the source window under each tile, so memory stays
// bounded by the tile size and not by the scene or granule.
//
// Masks travel with the values: the warper resamples the values (invalid set to 0) and a 0/1
// validity layer with the same kernel. A target pixel is valid only when every source pixel
// with a non-zero kernel weight is valid (validity == 1), so a masked pixel can never leak into
// a valid one; with "average" (aggregation to a coarser grid) it is valid when at least half of
// its footprint is, and its value is the mean of the valid part.
#include <array>
#include <functional>
#include <optional>
#include <string>

#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::prep {

enum class Resampling { Nearest, Bilinear, Bicubic, Average };
Resampling resampling_from_string(const std::string& name);  // throws Error listing the choices
std::string to_string(Resampling r);

// xmin, ymin, xmax, ymax in a grid's CRS units.
using Bounds = std::array<double, 4>;

// A north-up grid in `crs` (anything crs_to_wkt accepts) with square pixels of `res` covering
// `extent`; the origin is the extent's top-left corner and partial pixels are included.
Grid make_grid(const std::string& crs, double res, const Bounds& extent);
// The bounding box of a grid in another CRS (edges densified, so curved edges are covered).
// Empty when no point of the grid can be transformed.
std::optional<Bounds> bounds_in(const Grid& grid, const std::string& target_crs_wkt);

// A raster the aligner pulls windows from: its grid and a reader of one-band Kelvin windows on
// that grid (pixels outside invalid). `name` (a file) is used in error messages.
struct AlignSource {
  Grid grid;
  std::function<Raster(int x0, int y0, int w, int h)> read;
  std::string name;
};
// Convenience: an in-memory raster as a source.
AlignSource raster_source(const Raster& raster, const std::string& name);

struct AlignOptions {
  Resampling resampling = Resampling::Bilinear;
  int tile = 1024;  // target tile edge in pixels (smaller when the source is much finer)
};

// Whether any target pixel can receive data from the source.
bool overlaps(const Grid& source, const Grid& target);

// Reprojects `src` onto `target` one tile at a time and hands each tile (one band, target
// sub-grid) to `sink` with its top-left pixel. Throws Error naming src.name when the source and
// the target do not overlap.
using TileSink = std::function<void(const Raster& tile, int x0, int y0)>;
void align_tiles(const AlignSource& src, const Grid& target, const AlignOptions& opts,
                 const TileSink& sink);
// The whole target at once (small grids and tests).
Raster align(const AlignSource& src, const Grid& target, const AlignOptions& opts = {});

}  // namespace lstfuse::prep
