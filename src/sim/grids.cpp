// The simulated grids: the fine scene, the MODIS grid (UTM-aligned or the sinusoidal tile system)
// and the world around both, with the MODIS pixel centres for the PSF.
#include "world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/crs.hpp"
#include "lstfuse/io/raster_io.hpp"

namespace lstfuse::sim {

void Simulation::World::build_grids() {
  const int W = opts.size;
  const double px = opts.pixel_size;
  fine.width = fine.height = W;
  fine.transform = {opts.origin_x, px, 0.0, opts.origin_y, 0.0, -px};
  fine.crs = io::crs_to_wkt(fmt::format("EPSG:{}", opts.epsg));
  psf_sigma = opts.psf_fwhm / 2.354820045 / px;
  // Span of the coarse grid in fine pixel coordinates (from the fine scene's corner).
  double bx0 = 0, by0 = 0, bx1 = 0, by1 = 0;
  if (opts.modis_grid == "utm") {
    // Aligned with the fine scene's corner; every fine pixel inside a complete coarse pixel and
    // one more coarse pixel on every side.
    const int f = opts.coarse_factor;
    coarse.width = coarse.height = (W + f - 1) / f + 2;
    const double cs = f * px;
    coarse.transform = {opts.origin_x - cs, cs, 0.0, opts.origin_y + cs, 0.0, -cs};
    coarse.crs = fine.crs;
    for (int cy = 0; cy < coarse.height; ++cy)
      for (int cx = 0; cx < coarse.width; ++cx) {
        cfx.push_back((cx - 0.5) * f);
        cfy.push_back((cy - 0.5) * f);
      }
    bx0 = by0 = -f;
    bx1 = by1 = static_cast<double>(coarse.width - 1) * f;
  } else {
    // MODIS sinusoidal grid (the tile system's 926.625 m cells): the cells the fine scene touches
    // and one more on every side.
    const std::string sinu_proj = "+proj=sinu +lon_0=0 +x_0=0 +y_0=0 +R=6371007.181 +units=m +no_defs";
    const std::string no_transform = "simulate: cannot transform between the fine CRS and MODIS sinusoidal";
    const io::CrsTransform to_sinu(fine.crs, sinu_proj, no_transform);
    const io::CrsTransform to_utm(sinu_proj, fine.crs, no_transform);
    const auto sb =
        to_sinu.outline_bounds(fine, fmt::format("simulate: --modis-grid sinusoidal: the fine grid (--origin-x {}, "
                                                 "--origin-y {}, --pixel-size {}) has no position on Earth in its "
                                                 "CRS (EPSG:{}); give an origin within its area, or "
                                                 "--modis-grid utm",
                                                 opts.origin_x, opts.origin_y, px, opts.epsg));
    const double cell = 926.625433055833, gx0 = -20015109.354, gy0 = 10007554.677;
    const double x0 = gx0 + (std::floor((sb[0] - gx0) / cell) - 1) * cell;
    const double y0 = gy0 - (std::floor((gy0 - sb[3]) / cell) - 1) * cell;
    // The scene spans about W px / cell cells each way (3 more with the margins), up to about
    // four times that along x where the sinusoidal grid shears it (far from longitude 0, at high
    // latitude). Far outside its UTM zone (a huge origin or pixel size) the projection stretches
    // it over many times more, and the cell loops below would run for hours over gigabytes.
    const double side = static_cast<double>(W) * px / cell + 4.0;
    const double span_x = (sb[2] - x0) / cell, span_y = (y0 - sb[1]) / cell;
    if (!(span_x <= 8.0 * side && span_y <= 8.0 * side)) {
      throw Error(fmt::format("simulate: --modis-grid sinusoidal: the fine grid (--origin-x {}, --origin-y {}, "
                              "--pixel-size {}) maps onto {:.3g} x {:.3g} MODIS cells instead of about {:.0f} x "
                              "{:.0f}: it lies far outside the area of its CRS (EPSG:{}); give an origin and "
                              "size within it, or --modis-grid utm",
                              opts.origin_x, opts.origin_y, px, span_x, span_y, side, side, opts.epsg));
    }
    coarse.width = static_cast<int>(std::ceil((sb[2] - x0) / cell)) + 1;
    coarse.height = static_cast<int>(std::ceil((y0 - sb[1]) / cell)) + 1;
    coarse.transform = {x0, cell, 0.0, y0, 0.0, -cell};
    coarse.crs = io::crs_to_wkt(sinu_proj);
    for (int cy = 0; cy < coarse.height; ++cy)
      for (int cx = 0; cx < coarse.width; ++cx) {
        double x = x0 + (cx + 0.5) * cell, y = y0 - (cy + 0.5) * cell;
        if (!to_utm.apply(x, y)) throw Error("simulate: cannot transform MODIS pixel centres");
        cfx.push_back((x - fine.transform[0]) / fine.transform[1]);
        cfy.push_back((y - fine.transform[3]) / fine.transform[5]);
      }
    const auto ub =
        to_utm.outline_bounds(coarse, "simulate: cannot transform the MODIS grid to the fine CRS");
    bx0 = (ub[0] - fine.transform[0]) / px;
    bx1 = (ub[2] - fine.transform[0]) / px;
    by0 = (fine.transform[3] - ub[3]) / px;
    by1 = (fine.transform[3] - ub[1]) / px;
    // Back in the fine CRS the MODIS cells surround the scene by a few scene widths at most (the
    // shear above); where the projection does not come back to where it started (no UTM
    // position there), the world simulated around the scene would take gigabytes.
    const double reach_px = 8.0 * W + 4.0 * cell / px;
    if (!(bx0 > -reach_px && by0 > -reach_px && bx1 < W + reach_px && by1 < W + reach_px)) {
      throw Error(fmt::format("simulate: --modis-grid sinusoidal: the fine grid (--origin-x {}, --origin-y {}, "
                              "--pixel-size {}, {:.0f} km across) does not map back onto itself through the "
                              "MODIS sinusoidal grid: it lies outside the area of its CRS (EPSG:{}) or spans too "
                              "much of it; give an origin within it and a scene of at most a few hundred km, or "
                              "--modis-grid utm",
                              opts.origin_x, opts.origin_y, px, W * px / 1000.0, opts.epsg));
    }
  }
  // The world: the coarse grid's span plus the PSF's reach (its taps around a centre), so
  // every coarse pixel sees its whole kernel.
  const int reach = static_cast<int>(std::ceil(3.0 * psf_sigma)) + 2;
  mx = static_cast<int>(std::ceil(std::max(0.0, -bx0))) + reach;
  my = static_cast<int>(std::ceil(std::max(0.0, -by0))) + reach;
  world.width = mx + static_cast<int>(std::ceil(std::max<double>(W, bx1))) + reach;
  world.height = my + static_cast<int>(std::ceil(std::max<double>(W, by1))) + reach;
  world.transform = {opts.origin_x - mx * px, px, 0.0, opts.origin_y + my * px, 0.0, -px};
  world.crs = fine.crs;
  for (auto& c : cfx) c += mx;
  for (auto& c : cfy) c += my;
}

}  // namespace lstfuse::sim
