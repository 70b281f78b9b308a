// The simulated daily truth: weather and rain, seasonal cycles per class, field management, and the
// true LST of a day on the world grid.
#include "world.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"

namespace lstfuse::sim {

void Simulation::World::build_series() {
  const int n = opts.days;
  anomaly.resize(n);
  rain.resize(n);
  bias.resize(n);
  modis_sd.resize(n);
  lake_level.resize(n);
  Rng wr(seed, kStreamWeather);
  const double phi = 0.75;
  double a = wr.normal() * var.weather_sd;  // start in the stationary distribution
  double r = 0.0;
  const double rain_decay = std::exp(-1.0 / 3.0);
  Rng mr(seed, kStreamModis);
  const double bphi = 0.7;
  double b = mr.normal() * opts.modis_bias_sd;
  for (int i = 0; i < n; ++i) {
    const int doy = (start + i).day_of_year();
    if (i > 0) a = phi * a + std::sqrt(1 - phi * phi) * var.weather_sd * wr.normal();
    anomaly[i] = a;
    // Rain: more frequent in winter; each event cools wet surfaces, drying over ~3 days.
    const double p_rain = 0.12 + 0.06 * std::cos(kTwoPi * (doy - 180) / kYear);
    const double u = wr.uniform(), amount = wr.uniform(1.0, 4.0);
    r *= rain_decay;
    if (u < p_rain) r += amount * var.events;
    rain[i] = r;
    if (i > 0) b = bphi * b + std::sqrt(1 - bphi * bphi) * opts.modis_bias_sd * mr.normal();
    bias[i] = opts.modis_bias_mean + b;
    modis_sd[i] = opts.modis_noise * (1.0 + 0.8 * mr.uniform());  // view angle varies daily
    // Lake level (in depth units) highest in late winter.
    lake_level[i] = 0.15 * std::cos(kTwoPi * (doy - 240) / kYear);
  }
}

std::array<double, kNumClasses + 1> Simulation::World::class_base(int day) const {
  std::array<double, kNumClasses + 1> base{};
  const int doy = (start + day).day_of_year();
  for (int c = 1; c <= kNumClasses; ++c) {
    const auto& p = cls[static_cast<size_t>(c)];
    base[static_cast<size_t>(c)] =
        annual(p.mean, p.amp, p.peak_doy, doy) + p.weather * anomaly[static_cast<size_t>(day)] -
        p.rain * rain[static_cast<size_t>(day)];
  }
  return base;
}

// Field management per parcel on one day (K): crop canopies cool, harvest switches a field
// abruptly to warm stubble, irrigation cools for a few days.
std::vector<float> Simulation::World::parcel_delta(int day) const {
  const Date d = start + day;
  const int doy = d.day_of_year();
  const long abs_day = d.days();
  std::vector<float> out(parcels.size(), 0.0f);
  for (size_t k = 0; k < parcels.size(); ++k) {
    const Parcel& p = parcels[k];
    double v = 0.0;
    if (p.cls == kWinterCrop) {
      const bool growing = doy >= p.sow_doy && doy < p.harvest_doy;
      const double green = std::exp(-0.5 * std::pow((doy - 245) / 45.0, 2));
      v = growing ? -6.0 * green : 4.0;
    } else if (p.cls == kIrrigatedCrop) {
      const bool growing = doy >= p.sow_doy || doy < p.harvest_doy;
      if (growing) {
        const int since = (doy - p.sow_doy + 366) % 366;
        v = -5.0 * std::min(1.0, since / 40.0);
        const long k_since = (abs_day + p.irrigation_phase) % p.irrigation_period;
        v -= 4.0 * std::exp(-static_cast<double>(k_since) / 3.0);
      } else {
        v = 4.0;
      }
    } else if (p.cls == kPasture) {
      v = -2.0 * std::exp(-0.5 * std::pow((doy - 230) / 60.0, 2));
    }
    out[k] = static_cast<float>(v * var.events);
  }
  return out;
}

Simulation::World::Day Simulation::World::day_truth(const Date& d) const {
  const int day = day_index(d);
  const auto b = class_base(day);
  Day t;
  for (size_t c = 0; c <= kNumClasses; ++c) {
    t.base[c] = static_cast<float>(b[c]);
    t.tex_sd[c] = static_cast<float>(cls[c].tex_sd);
  }
  t.pdelta = parcel_delta(day);
  t.level = static_cast<float>(lake_level[static_cast<size_t>(day)]);
  t.noise_sd = static_cast<float>(var.daily_noise);
  t.noise_seed = hash3(seed, kStreamTruthNoise, static_cast<uint64_t>(d.days()));
  return t;
}

void Simulation::World::world_truth(const Date& d, const Raster* fine_truth, std::vector<float>& f,
                                    std::vector<uint8_t>& m) const {
  const Day t = day_truth(d);
  const int W = world.width, H = world.height;
  f.resize(static_cast<size_t>(W) * H);
  m.assign(f.size(), 1);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const bool row_in = fine_truth && y >= my && y < my + fine.height;
    for (int x = 0; x < W; ++x) {
      const size_t i = static_cast<size_t>(y) * W + x;
      if (row_in && x >= mx && x < mx + fine.width) {
        const size_t k = static_cast<size_t>(y - my) * fine.width + (x - mx);
        f[i] = fine_truth->data()[k];
        m[i] = fine_truth->mask_data()[k];
      } else {
        f[i] = truth_at(t, i);
      }
    }
  }
}

Raster Simulation::truth(const Date& d) const {
  const World& w = *w_;
  const World::Day t = w.day_truth(d);
  Raster out(w.fine, 1, 0.0f, true);
  float* v = out.band(0);
  const int W = w.fine.width, H = w.fine.height;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const size_t row = static_cast<size_t>(y + w.my) * w.world.width + w.mx;
    for (int x = 0; x < W; ++x) v[static_cast<size_t>(y) * W + x] = w.truth_at(t, row + x);
  }
  return out;
}

Raster Simulation::world_truth(const Date& d) const {
  const World& w = *w_;
  Raster out(w.world, 1, 0.0f, true);
  std::vector<float> f;
  std::vector<uint8_t> m;
  w.world_truth(d, nullptr, f, m);
  std::copy(f.begin(), f.end(), out.band(0));
  return out;
}

}  // namespace lstfuse::sim
