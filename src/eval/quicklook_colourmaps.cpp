// Colour tables of the quick-look maps, built by linear interpolation between published
// anchor colours (not copied lookup tables):
// - sequential: the nine viridis anchors (van der Walt & Smith, matplotlib 2015), as listed
//   e.g. by viridisLite::viridis(9); perceptually uniform and readable in grey scale;
// - diverging: ColorBrewer RdBu (11 classes, Brewer 2002), reversed so that negative errors
//   are blue and positive red, with the near-white class at 0.
#include <algorithm>
#include <cmath>

#include "lstfuse/eval/quicklook.hpp"

namespace lstfuse::eval {

namespace {

using Rgb = std::array<uint8_t, 3>;

constexpr Rgb kViridis[] = {
    {0x44, 0x01, 0x54}, {0x47, 0x2d, 0x7b}, {0x3b, 0x52, 0x8b}, {0x2c, 0x72, 0x8e}, {0x21, 0x90, 0x8c},
    {0x27, 0xad, 0x81}, {0x5d, 0xc8, 0x63}, {0xaa, 0xdc, 0x32}, {0xfd, 0xe7, 0x25},
};

constexpr Rgb kBlueWhiteRed[] = {
    {0x05, 0x30, 0x61}, {0x21, 0x66, 0xac}, {0x43, 0x93, 0xc3}, {0x92, 0xc5, 0xde},
    {0xd1, 0xe5, 0xf0}, {0xf7, 0xf7, 0xf7}, {0xfd, 0xdb, 0xc7}, {0xf4, 0xa5, 0x82},
    {0xd6, 0x60, 0x4d}, {0xb2, 0x18, 0x2b}, {0x67, 0x00, 0x1f},
};

template <size_t N>
Rgb interpolate(const Rgb (&anchors)[N], double t) {
  if (!(t > 0.0)) t = 0.0;  // NaN too
  if (t > 1.0) t = 1.0;
  const double pos = t * (N - 1);
  const size_t i = std::min(static_cast<size_t>(pos), N - 2);
  const double f = pos - static_cast<double>(i);
  Rgb out{};
  for (int c = 0; c < 3; ++c) {
    const double v = anchors[i][c] + f * (anchors[i + 1][c] - anchors[i][c]);
    out[c] = static_cast<uint8_t>(std::lround(v));
  }
  return out;
}

}  // namespace

std::array<uint8_t, 3> colour_at(ColourMap map, double t) {
  return map == ColourMap::Diverging ? interpolate(kBlueWhiteRed, t) : interpolate(kViridis, t);
}

}  // namespace lstfuse::eval
