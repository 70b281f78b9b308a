// The simulated Landsat: overpass dates (one or two satellites) and each observation (clouds and
// their shadows, QA bits, sensor noise).
#include "world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::sim {

void Simulation::World::build_dates() {
  const int step = opts.landsat_satellites == 2 ? 8 : 16;
  for (int i = opts.landsat_first_day, k = 0; i < opts.days; i += step, ++k) {
    landsat.push_back(start + i);
    landsat_sat.push_back(opts.landsat_satellites == 2 && (k % 2) ? 9 : 8);
  }
  const std::string& t = opts.truth_dates;
  if (t == "all") {
    for (int i = 0; i < opts.days; ++i) truth.push_back(start + i);
  } else if (t == "landsat") {
    truth = landsat;
  } else if (t == "default" || t.empty()) {
    truth = landsat;
    for (int i = 0; i < opts.days; i += 4) truth.push_back(start + i);
  } else {
    std::stringstream ss(t);
    std::string item;
    while (std::getline(ss, item, ',')) {
      if (item.empty()) continue;
      const auto d = Date::try_parse(item);
      if (!d) throw Error("simulate: option --truth-dates: '" + item + "' is not a date");
      day_index(*d);  // throws when outside the period
      truth.push_back(*d);
    }
    if (truth.empty()) throw Error("simulate: option --truth-dates: '" + t + "' names no date");
  }
  std::sort(truth.begin(), truth.end());
  truth.erase(std::unique(truth.begin(), truth.end()), truth.end());
}

FineObservation Simulation::landsat(const Date& d, const Raster* truth_in) const {
  const World& w = *w_;
  w.day_index(d);  // throws outside the period
  Raster own;
  if (!truth_in) own = truth(d);
  const Raster& tr = truth_in ? *truth_in : own;
  const int W = w.fine.width, H = w.fine.height;
  if (tr.width() != W || tr.height() != H) {
    throw Error(fmt::format("simulate: landsat expects a {} fine truth, got {}", w.fine.describe(),
                            tr.grid().describe()));
  }
  const size_t n = static_cast<size_t>(W) * H;
  const double px = w.opts.pixel_size;
  const int doy = d.day_of_year();

  Rng rng(w.seed, hash2(kStreamLandsat, static_cast<uint64_t>(d.days())));
  const double share = draw_cloud_fraction(rng, w.opts.cloud_cover);
  const uint64_t field_seed = rng.bits();
  const double ox = rng.uniform(0, 1000), oy = rng.uniform(0, 1000);
  const double cloud_scale = rng.uniform(2500.0, 5000.0);  // metres, size of cloud systems
  // Sun geometry at ~10:00 local: low sun in winter, shadows fall away from the north-east sun.
  const double zenith = (40.0 - 18.0 * std::cos(kTwoPi * (doy - 355) / kYear)) * kTwoPi / 360.0;
  const double azimuth = rng.uniform(40.0, 60.0) * kTwoPi / 360.0;
  const double height = rng.uniform(1000.0, 3000.0);
  const double shadow_len = height * std::tan(zenith) / px;
  const int sdx = static_cast<int>(std::lround(-shadow_len * std::sin(azimuth)));
  const int sdy = static_cast<int>(std::lround(shadow_len * std::cos(azimuth)));
  const double cloud_top = rng.uniform(245.0, 275.0);

  // Clouds are smooth at the pixel scale: evaluate the noise on a 2-pixel lattice and
  // interpolate (4x fewer noise evaluations).
  const int LW = W / 2 + 2, LH = H / 2 + 2;
  std::vector<float> lattice(static_cast<size_t>(LW) * LH);
#pragma omp parallel for schedule(static)
  for (int ly = 0; ly < LH; ++ly)
    for (int lx = 0; lx < LW; ++lx)
      lattice[static_cast<size_t>(ly) * LW + lx] = static_cast<float>(
          fbm(field_seed, ox + 2 * lx * px / cloud_scale, oy + 2 * ly * px / cloud_scale, 5));
  std::vector<float> field(n);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const int ly = y / 2;
    const float ty = 0.5f * static_cast<float>(y % 2);
    for (int x = 0; x < W; ++x) {
      const int lx = x / 2;
      const float tx = 0.5f * static_cast<float>(x % 2);
      const float* a = lattice.data() + static_cast<size_t>(ly) * LW + lx;
      const float top = a[0] + (a[1] - a[0]) * tx, bottom = a[LW] + (a[LW + 1] - a[LW]) * tx;
      field[static_cast<size_t>(y) * W + x] = top + (bottom - top) * ty;
    }
  }
  const float thr = upper_quantile(field, share);
  std::vector<uint8_t> cloud(n);
  for (size_t i = 0; i < n; ++i) cloud[i] = field[i] > thr;
  const auto dilated = dilate(cloud, W, H, 3);
  const auto water = water_mask(d);

  FineObservation obs;
  obs.date = d;
  const auto it = std::find(w.landsat.begin(), w.landsat.end(), d);
  obs.satellite = it == w.landsat.end() ? 8 : w.landsat_sat[static_cast<size_t>(it - w.landsat.begin())];
  obs.lst = Raster(w.fine, 1, 0.0f, true);
  obs.qa.assign(n, kQaClear);
  const float sigma = static_cast<float>(w.opts.landsat_noise);
  const uint64_t noise_seed = hash3(w.seed, kStreamLandsatNoise, static_cast<uint64_t>(d.days()));
  float* v = obs.lst.band(0);
  uint8_t* m = obs.lst.mask(0);
  long long n_cloud = 0, n_clear = 0;
#pragma omp parallel for schedule(static) reduction(+ : n_cloud, n_clear)
  for (int y = 0; y < H; ++y) {
    for (int x = 0; x < W; ++x) {
      const size_t i = static_cast<size_t>(y) * W + x;
      const float e = sigma * approx_normal_from_hash(hash2(noise_seed, i));
      const int ux = x - sdx, uy = y - sdy;  // the pixel whose cloud would shade this one
      const bool shadow = ux >= 0 && ux < W && uy >= 0 && uy < H && cloud[static_cast<size_t>(uy) * W + ux];
      if (cloud[i]) {
        v[i] = static_cast<float>(cloud_top + 4.0 * field[i]) + e;
        obs.qa[i] = kQaCloud;
        m[i] = 0;
        ++n_cloud;
      } else if (dilated[i]) {
        v[i] = tr.band(0)[i] - 6.0f + e;  // cloud edges: partly cloud-contaminated
        obs.qa[i] = kQaDilated;
        m[i] = 0;
      } else if (shadow) {
        v[i] = tr.band(0)[i] - 4.0f + e;  // shaded surfaces are cooler than the clear-sky truth
        obs.qa[i] = kQaShadow;
        m[i] = 0;
      } else {
        v[i] = tr.band(0)[i] + e;
        obs.qa[i] = water[i] ? kQaClearWater : kQaClear;
        m[i] = 1;
        ++n_clear;
      }
    }
  }
  obs.cloud_fraction = static_cast<double>(n_cloud) / static_cast<double>(n);
  obs.clear_fraction = static_cast<double>(n_clear) / static_cast<double>(n);
  return obs;
}

}  // namespace lstfuse::sim
