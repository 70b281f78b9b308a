#pragma once
// A raster grid: size, affine geotransform (GDAL convention) and CRS (WKT). Pure data, no GDAL.
#include <array>
#include <string>

namespace lstfuse {

struct Grid {
  int width = 0;
  int height = 0;
  // x = t[0] + col * t[1] + row * t[2];  y = t[3] + col * t[4] + row * t[5]
  std::array<double, 6> transform{0.0, 1.0, 0.0, 0.0, 0.0, -1.0};
  std::string crs;  // WKT; empty means "no CRS"

  long long pixels() const { return static_cast<long long>(width) * height; }
  double res_x() const { return transform[1]; }
  double res_y() const { return -transform[5]; }  // positive for north-up grids
  bool has_crs() const { return !crs.empty(); }
  bool north_up() const { return transform[2] == 0.0 && transform[4] == 0.0 && transform[5] < 0; }
  double min_x() const { return transform[0]; }
  double max_y() const { return transform[3]; }
  double max_x() const { return transform[0] + width * transform[1]; }
  double min_y() const { return transform[3] + height * transform[5]; }

  // The sub-grid of a pixel window (x0, y0 may be negative or reach past the edge).
  Grid window(int x0, int y0, int w, int h) const;

  // Same size and geotransform (within tol pixels) and the same CRS text. CRS text is compared
  // as written; io::same_crs compares semantically.
  bool same_geometry(const Grid& other, double tol_pixels = 1e-3) const;

  // Human-readable one-liner: "400 x 400, res 0.001 x 0.001, origin (x, y)".
  std::string describe() const;
  // "A vs B" for two grids that differ; when their geometry reads the same, the CRS names are
  // added, so a CRS-only difference is visible.
  std::string describe_vs(const Grid& other) const;
};

// The largest grid lstfuse builds or accepts: one Float32 band of it is 4 GB. Larger ones come
// from a wrong resolution or extent (a 1 km granule at 20 m), not from real scenes.
constexpr long long kMaxGridPixels = 1000000000LL;
constexpr long long kMaxGridSide = 200000;
// Throws Error "WHAT: ..." when a grid is empty, negative or beyond the limits above.
void check_grid_size(long long width, long long height, const std::string& what);
// The name in a WKT CRS (its first quoted string), or "no CRS".
std::string crs_name(const std::string& wkt);

}  // namespace lstfuse
