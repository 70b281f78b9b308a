#pragma once
// Internal to the classic window methods: images copied into padded float planes so that every
// moving window is a run of full-length, contiguous row spans. Invalid pixels hold 0 (never NaN
// or a fill value) and a 0 in the validity plane, so branch-free loops can multiply by masks.
// Because every window has the same shape wherever it sits (the padding is invalid), a pixel's
// arithmetic is identical whatever tile it is computed in: tiled results match bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <vector>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/raster.hpp"
#include "lstfuse/methods/method.hpp"

namespace lstfuse::classic_detail {

struct Planes {
  int width = 0, height = 0, pad = 0;  // of the unpadded image; pad on every side
  int stride = 0;                      // width + 2 pad
  Planes() = default;
  Planes(int w, int h, int p) : width(w), height(h), pad(p), stride(w + 2 * p) {}
  size_t size() const { return static_cast<size_t>(stride) * (height + 2 * pad); }
  // Index of image pixel (x, y) in a padded plane.
  size_t at(int x, int y) const { return static_cast<size_t>(y + pad) * stride + (x + pad); }
  std::vector<float> plane(float fill = 0.0f) const { return std::vector<float>(size(), fill); }
};

// Band b of r into a padded plane; invalid pixels 0.
inline std::vector<float> to_plane(const Planes& g, const Raster& r, int b) {
  std::vector<float> out = g.plane();
  const float* v = r.band(b);
  const uint8_t* m = r.mask(b);
  for (int y = 0; y < g.height; ++y) {
    float* o = out.data() + g.at(0, y);
    const size_t row = static_cast<size_t>(y) * g.width;
    for (int x = 0; x < g.width; ++x) o[x] = m[row + x] ? v[row + x] : 0.0f;
  }
  return out;
}

// AND of the masks of every band of every raster given, as a padded 0/1 plane.
inline std::vector<uint8_t> valid_plane(const Planes& g, const std::vector<const Raster*>& rs) {
  std::vector<uint8_t> out(g.size(), 0);
  for (int y = 0; y < g.height; ++y) {
    uint8_t* o = out.data() + g.at(0, y);
    for (int x = 0; x < g.width; ++x) o[x] = 1;
  }
  for (const Raster* r : rs) {
    for (int b = 0; b < r->bands(); ++b) {
      const uint8_t* m = r->mask(b);
      for (int y = 0; y < g.height; ++y) {
        uint8_t* o = out.data() + g.at(0, y);
        const size_t row = static_cast<size_t>(y) * g.width;
        for (int x = 0; x < g.width; ++x) o[x] = o[x] & (m[row + x] ? 1 : 0);
      }
    }
  }
  return out;
}

// The rows/columns of the input the method must fill (FusionInput::region, clipped).
inline PixelRect target_region(const FusionInput& in) {
  const int w = in.coarse.width(), h = in.coarse.height();
  if (in.region.whole()) return {0, 0, w, h};
  PixelRect r;
  r.x0 = std::max(0, in.region.x0);
  r.y0 = std::max(0, in.region.y0);
  r.width = std::max(0, std::min(w, in.region.x0 + in.region.width) - r.x0);
  r.height = std::max(0, std::min(h, in.region.y0 + in.region.height) - r.y0);
  return r;
}

// Window sums: each window row is reduced with `omp simd` (float, vectorised) and the row sums
// are added in a fixed order in double. The tile-invariance test checks that this stays bit
// exact across tile sizes and thread counts.

// A moving window that reaches past the whole image from every pixel costs (2h+1)^2 per pixel
// for nothing: refused before any work (a 4001-pixel window on a 64 x 64 image ran minutes).
inline void check_window_fits(const char* method, const char* option, int h, int w, int height) {
  if (h >= std::max(w, height)) {
    throw Error(fmt::format("{}: option {} gives a {} x {} pixel window, larger than the whole image "
                            "({} x {}); choose a smaller window", method, option, 2 * h + 1, 2 * h + 1,
                            w, height));
  }
}

}  // namespace lstfuse::classic_detail
