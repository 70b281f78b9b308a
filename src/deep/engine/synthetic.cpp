#include "lstfuse/deep/synthetic.hpp"

#include <algorithm>
#include <cmath>
#include <random>

namespace lstfuse::deep {

SyntheticSeries make_synthetic_series(int width, int height, int dates, int step_days, int factor, unsigned seed) {
  std::mt19937 rng(seed);
  std::uniform_real_distribution<double> u(0.0, 1.0);
  Grid g;
  g.width = width;
  g.height = height;
  g.transform = {500000.0, 30.0, 0.0, 6000000.0, 0.0, -30.0};
  // Smooth random field -> four classes; a second field is fixed fine-scale texture.
  std::vector<double> ph(8), fr(8);
  for (auto& p : ph) p = 2 * M_PI * u(rng);
  for (auto& f : fr) f = 0.02 + 0.08 * u(rng);
  std::vector<int> cls(g.pixels());
  std::vector<double> tex(g.pixels());
  for (int y = 0; y < height; ++y)
    for (int x = 0; x < width; ++x) {
      const double v = std::sin(fr[0] * x + ph[0]) * std::cos(fr[1] * y + ph[1]) +
                       0.7 * std::sin(fr[2] * (x + y) + ph[2]) + 0.5 * std::cos(fr[3] * (x - 0.6 * y) + ph[3]);
      cls[y * width + x] = v < -0.6 ? 0 : v < 0.0 ? 1 : v < 0.6 ? 2 : 3;
      tex[y * width + x] = 1.5 * std::sin(0.9 * x + ph[4]) * std::sin(0.7 * y + ph[5]) + 0.8 * (u(rng) - 0.5);
    }
  // Class: (mean K, seasonal amplitude K, phase rad): water, cropland, bare soil, urban.
  const double base[4] = {290, 296, 303, 306}, amp[4] = {4, 12, 9, 7}, phase[4] = {0.6, -0.3, 0.1, 0.0};
  SyntheticSeries s;
  const Date d0(2020, 1, 10);
  const int cw = (width + factor - 1) / factor, chh = (height + factor - 1) / factor;
  for (int t = 0; t < dates; ++t) {
    ImagePair p;
    p.date = d0 + static_cast<long>(t) * step_days;
    const double doy = 2 * M_PI * (t * step_days) / 365.0;
    p.fine = Raster(g, 1);
    for (size_t i = 0; i < static_cast<size_t>(g.pixels()); ++i) {
      const int c = cls[i];
      p.fine.data()[i] = static_cast<float>(base[c] + amp[c] * std::sin(doy + phase[c]) + tex[i] * (1.0 + 0.2 * c));
    }
    // Coarse: block means, then bilinear back onto the fine grid (cell centres), plus bias.
    std::vector<double> blk(static_cast<size_t>(cw) * chh, 0.0), cnt(blk.size(), 0.0);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        blk[(y / factor) * cw + x / factor] += p.fine.at(y, x);
        cnt[(y / factor) * cw + x / factor] += 1;
      }
    for (size_t i = 0; i < blk.size(); ++i) blk[i] /= cnt[i];
    p.coarse = Raster(g, 1);
    const double bias = 0.8 * std::sin(3.0 * t);
    for (int y = 0; y < height; ++y)
      for (int x = 0; x < width; ++x) {
        const double fy = std::clamp((y + 0.5) / factor - 0.5, 0.0, chh - 1.0);
        const double fx = std::clamp((x + 0.5) / factor - 0.5, 0.0, cw - 1.0);
        const int y0 = static_cast<int>(fy), x0 = static_cast<int>(fx);
        const int y1 = std::min(y0 + 1, chh - 1), x1 = std::min(x0 + 1, cw - 1);
        const double wy = fy - y0, wx = fx - x0;
        const double v = (1 - wy) * ((1 - wx) * blk[y0 * cw + x0] + wx * blk[y0 * cw + x1]) +
                         wy * ((1 - wx) * blk[y1 * cw + x0] + wx * blk[y1 * cw + x1]);
        p.coarse.at(y, x) = static_cast<float>(v + bias);
      }
    s.pairs.push_back(std::move(p));
  }
  return s;
}

}  // namespace lstfuse::deep
