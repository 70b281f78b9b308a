#pragma once
// Synthetic scenes for the method tests.
#include <cmath>
#include <cstdint>
#include <random>

#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::test {

inline Grid utm_grid(int w, int h) {
  Grid g;
  g.width = w;
  g.height = h;
  g.transform = {400000.0, 30.0, 0.0, 6200000.0, 0.0, -30.0};
  g.crs = io::crs_to_wkt("EPSG:32755");
  return g;
}

// Coarse version on the fine grid: means of `block` x `block` blocks, as ingest delivers MODIS.
inline Raster block_mean(const Raster& fine, int block, float offset = 0.0f) {
  Raster out(fine.grid(), fine.bands(), 0.0f, true);
  for (int b = 0; b < fine.bands(); ++b)
    for (int by = 0; by < fine.height(); by += block)
      for (int bx = 0; bx < fine.width(); bx += block) {
        double s = 0;
        int n = 0;
        for (int y = by; y < std::min(by + block, fine.height()); ++y)
          for (int x = bx; x < std::min(bx + block, fine.width()); ++x) {
            s += fine.at(b, y, x);
            ++n;
          }
        for (int y = by; y < std::min(by + block, fine.height()); ++y)
          for (int x = bx; x < std::min(bx + block, fine.width()); ++x)
            out.at(b, y, x) = static_cast<float>(s / n) + offset;
      }
  return out;
}

// Smooth random texture of realistic LST contrast (a few K) around `base`.
inline Raster textured(const Grid& g, int bands, float base, unsigned seed) {
  Raster r(g, bands, base, true);
  std::mt19937 rng(seed);
  std::uniform_real_distribution<float> u(0.0f, 1.0f);
  std::normal_distribution<float> nz(0.0f, 0.4f);
  const float fx = 0.05f + 0.05f * u(rng), fy = 0.04f + 0.05f * u(rng), ph = 6.28f * u(rng);
  for (int b = 0; b < bands; ++b)
    for (int y = 0; y < g.height; ++y)
      for (int x = 0; x < g.width; ++x) {
        const float field = 3.0f * std::sin(fx * x + ph) * std::cos(fy * y) + ((x / 17 + y / 23) % 3) * 2.0f;
        r.at(b, y, x) = base + field + nz(rng) + b * 5.0f;
      }
  return r;
}

}  // namespace lstfuse::test
