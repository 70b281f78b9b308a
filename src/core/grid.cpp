#include "lstfuse/core/grid.hpp"

#include <cmath>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse {

Grid Grid::window(int x0, int y0, int w, int h) const {
  Grid g = *this;
  g.width = w;
  g.height = h;
  g.transform[0] = transform[0] + x0 * transform[1] + y0 * transform[2];
  g.transform[3] = transform[3] + x0 * transform[4] + y0 * transform[5];
  return g;
}

bool Grid::same_geometry(const Grid& o, double tol_pixels) const {
  if (width != o.width || height != o.height || crs != o.crs) return false;
  const double sx = std::abs(transform[1]) > 0 ? std::abs(transform[1]) : 1.0;
  const double sy = std::abs(transform[5]) > 0 ? std::abs(transform[5]) : 1.0;
  const double scale[6] = {sx, sx, sx, sy, sy, sy};
  for (int i = 0; i < 6; ++i) {
    const double tol = (i == 0 || i == 3) ? tol_pixels * scale[i] : tol_pixels * scale[i] / 1000.0;
    if (std::abs(transform[i] - o.transform[i]) > tol) return false;
  }
  return true;
}

std::string Grid::describe() const {
  // Rotation terms only where there are any: two grids that differ only there were described
  // alike and their difference put down to the CRS.
  const std::string rotation = transform[2] != 0.0 || transform[4] != 0.0
                                   ? fmt::format(", rotation {:.6g}, {:.6g}", transform[2], transform[4])
                                   : std::string();
  return fmt::format("{} x {} pixels, pixel {:.6g} x {:.6g}{}, origin ({:.10g}, {:.10g}){}", width,
                     height, res_x(), res_y(), rotation, transform[0], transform[3],
                     has_crs() ? "" : ", no CRS");
}

std::string crs_name(const std::string& wkt) {
  if (wkt.empty()) return "no CRS";
  const auto a = wkt.find('"');
  const auto b = a == std::string::npos ? a : wkt.find('"', a + 1);
  if (b == std::string::npos) return wkt.substr(0, 40);
  return wkt.substr(a + 1, b - a - 1);
}

std::string Grid::describe_vs(const Grid& o) const {
  std::string a = describe(), b = o.describe();
  if (a == b) {
    std::string ca = crs_name(crs), cb = crs_name(o.crs);
    if (ca == cb) {
      ca += " (as written in the file)";
      cb += " (a different definition)";
    }
    a += ", CRS " + ca;
    b += ", CRS " + cb;
  }
  return a + " vs " + b;
}

void check_grid_size(long long width, long long height, const std::string& what) {
  if (width < 1 || height < 1) {
    throw Error(fmt::format("{}: a grid of {} x {} pixels (width and height must be at least 1)", what, width, height));
  }
  if (width > kMaxGridSide || height > kMaxGridSide || width * height > kMaxGridPixels) {
    throw Error(fmt::format("{}: a grid of {} x {} pixels is beyond lstfuse's limit ({} pixels, {} per side); "
                            "check the resolution and extent", what, width, height, kMaxGridPixels, kMaxGridSide));
  }
}

}  // namespace lstfuse
