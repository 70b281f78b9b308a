#pragma once
// Internal to the classic window methods: images copied into padded float planes so that every
// moving window is a run of full-length, contiguous row spans. Invalid pixels hold 0 (never NaN
// or a fill value) and a 0 in the validity plane, so branch-free loops can multiply by masks.
// Because every window has the same shape wherever it sits (the padding is invalid), a pixel's
// arithmetic is identical whatever tile it is computed in: tiled results match bit for bit.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <vector>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/core/raster.hpp"
#include "lstfuse/methods/method.hpp"

// The window loops are compiled for AVX-512, AVX2+FMA and baseline x86-64, and the loader picks
// the widest the CPU has (GCC's function multi-versioning): one portable binary, yet the inner
// loops run 8 or 16 floats at a time where the machine can. Other compilers and architectures
// get the plain function.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__) && defined(__linux__)
#define LSTFUSE_WINDOW_KERNEL __attribute__((target_clones("arch=x86-64-v4", "arch=x86-64-v3", "default")))
#else
#define LSTFUSE_WINDOW_KERNEL
#endif

namespace lstfuse::classic_detail {

struct Planes {
  int width = 0, height = 0, pad = 0;  // of the unpadded image; pad on every side
  int stride = 0;                      // width + 2 pad
  Planes() = default;
  Planes(int w, int h, int p) : width(w), height(h), pad(p), stride(w + 2 * p) {}
  // Window rows are processed kVectorRun floats at a time (row_span below), so a row may read
  // up to kVectorRun - 1 floats past its window: the planes carry that many spare floats at
  // the end, and what is read there (or in the next row's padding) is masked out by the caller.
  static constexpr int kVectorRun = 8;
  size_t size() const { return static_cast<size_t>(stride) * (height + 2 * pad) + kVectorRun; }
  // A window row of `span` pixels rounded up to whole vector runs: loops over it have no scalar
  // remainder (a 51-pixel row would otherwise spend as long on its last 3 pixels as on 48).
  static int row_span(int span) { return (span + kVectorRun - 1) / kVectorRun * kVectorRun; }
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

// Window sums run over runs of eight floats (Lanes, a GCC/clang vector type: one AVX register,
// two SSE ones). Each of the eight lanes keeps its own partial sum over the whole window and the
// lanes are added once per centre, in a fixed order in double: reducing every 51-pixel row
// across lanes instead cost as much as the row itself. The order of every sum depends only on
// the window's shape, so a pixel's result is the same bit for bit in any tile and with any
// number of threads (the tile-invariance test checks it).
// The helpers below are inlined into the window kernels; GCC's note that passing a 32-byte
// vector by value differs between SSE and AVX code concerns calls across files, which they never
// are.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wpsabi"
#endif
typedef float Lanes __attribute__((vector_size(32)));
typedef int LaneMask __attribute__((vector_size(32)));
static_assert(sizeof(Lanes) == Planes::kVectorRun * sizeof(float), "a run is one Lanes vector");

inline Lanes load(const float* p) {
  Lanes v;
  std::memcpy(&v, p, sizeof v);  // unaligned load
  return v;
}
inline void store(float* p, Lanes v) { std::memcpy(p, &v, sizeof v); }
inline Lanes splat(float x) { return Lanes{x, x, x, x, x, x, x, x}; }
// a where m is set, else +0 (by bits: no multiplication, so nothing non-finite can leak in).
inline Lanes keep_where(LaneMask m, Lanes a) {
  LaneMask bits;
  std::memcpy(&bits, &a, sizeof bits);
  bits &= m;
  Lanes out;
  std::memcpy(&out, &bits, sizeof out);
  return out;
}
inline LaneMask within(Lanes a, Lanes centre, Lanes threshold) {
  return (a - centre <= threshold) & (centre - a <= threshold);  // |a - centre| <= threshold
}
inline double sum_lanes(Lanes v) {
  double s = 0.0;
  for (int i = 0; i < Planes::kVectorRun; ++i) s += v[i];
  return s;
}

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
