#pragma once
// Internal to the simulator: the state of the simulated world shared by its parts (landscape.cpp,
// climate.cpp, grids.cpp, landsat.cpp, modis.cpp; simulate.cpp holds the options and the public
// API), and the helpers they share.
#include <algorithm>
#include <array>
#include <cmath>
#include <cstdint>
#include <limits>
#include <string>
#include <vector>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/sim/random.hpp"
#include "lstfuse/sim/simulate.hpp"

namespace lstfuse::sim {

constexpr double kTwoPi = 6.283185307179586;
constexpr double kYear = 365.25;
constexpr float kNoLake = -std::numeric_limits<float>::infinity();

// Stream identifiers: every component draws from its own stream, so adding draws to one
// component never changes another.
enum Stream : uint64_t {
  kStreamLayout = 1, kStreamParcels, kStreamWeather, kStreamTexture, kStreamTruthNoise,
  kStreamLandsat, kStreamLandsatNoise, kStreamModis, kStreamModisNoise, kStreamHotSpots,
};

// Daytime (~10:30) LST climatology per class for the southern hemisphere: mean (K), annual
// amplitude (K), day of year of the maximum, response to the shared weather anomaly, response to
// rain (cooling per unit of the rain state) and the spread of the persistent texture (K).
struct ClassParams {
  double mean, amp, peak_doy, weather, rain, tex_sd;
};
constexpr std::array<ClassParams, kNumClasses + 1> kClassTable{{
    {300.0, 10.0, 20, 1.0, 0.5, 1.0},   // 0 unused
    {291.0, 6.0, 45, 0.35, 0.1, 0.3},   // water: damped and lagging
    {306.0, 13.0, 20, 1.25, 0.05, 1.5}, // urban core (roofs): amplified, rain-proof
    {310.0, 14.0, 20, 1.35, 0.05, 2.0}, // industrial
    {303.0, 12.0, 20, 1.1, 0.35, 1.5},  // residential (roofs and gardens)
    {307.0, 13.0, 20, 1.2, 0.2, 0.8},   // road
    {294.0, 8.0, 25, 0.7, 0.4, 0.7},    // forest
    {309.0, 15.0, 15, 1.4, 1.0, 1.2},   // bare soil
    {301.0, 12.0, 20, 1.0, 0.9, 1.0},   // pasture
    {301.0, 11.0, 20, 0.9, 0.8, 0.8},   // winter crop
    {298.0, 10.0, 20, 0.8, 0.6, 0.8},   // irrigated summer crop
}};
constexpr double kClimateMean = 300.0;

struct Variability {
  double weather_sd;   // K, spread of the shared AR(1) anomaly
  double contrast;     // scales class differences from the climate mean
  double events;       // scales rain, harvest and irrigation effects
  double daily_noise;  // K, per pixel per day
};
inline Variability variability_of(const std::string& v) {
  if (v == "low") return {1.2, 0.6, 0.5, 0.2};
  if (v == "strong") return {4.5, 1.5, 1.7, 0.4};
  return {2.5, 1.0, 1.0, 0.3};
}

struct Parcel {
  uint8_t cls = kPasture;
  float offset = 0.0f;      // K, fixed (soil, management)
  int sow_doy = 0;
  int harvest_doy = 0;
  int irrigation_period = 10;
  int irrigation_phase = 0;
};

inline double annual(double mean, double amp, double peak_doy, int doy) {
  return mean + amp * std::cos(kTwoPi * (doy - peak_doy) / kYear);
}

// Threshold above which `share` of the values lie (the (1 - share) quantile).
float upper_quantile(std::vector<float> values, double share);

// Scene cloud fraction u^k with k = 1/mean - 1 has the requested mean and a long tail towards
// mostly cloudy scenes, as in real Landsat archives.
inline double draw_cloud_fraction(Rng& rng, double mean) {
  const double u = rng.uniform();
  if (mean <= 0.0) return 0.0;
  if (mean >= 1.0) return 1.0;
  return std::pow(u, 1.0 / mean - 1.0);
}

// Square binary dilation by r pixels (separable max filter).
std::vector<uint8_t> dilate(const std::vector<uint8_t>& in, int w, int h, int r);

struct Simulation::World {
  SimOptions opts;
  uint64_t seed = 0;
  Variability var{};
  std::array<ClassParams, kNumClasses + 1> cls{};
  // The requested fine grid, the MODIS grid (the fine scene plus at least one coarse pixel on
  // every side, as real MODIS always extends beyond a Landsat scene) and the world: the fine
  // resolution over the whole coarse grid plus the PSF reach, where the landscape and the truth
  // exist. Fine pixel (x, y) is world pixel (x + mx, y + my).
  Grid fine, coarse, world;
  int mx = 0, my = 0;
  Date start;
  std::vector<Date> landsat, truth;
  std::vector<int> landsat_sat;

  // Per world pixel.
  std::vector<uint8_t> lc;
  std::vector<int32_t> parcel;    // -1 outside fields
  std::vector<float> tex;         // standardised persistent texture
  std::vector<float> offset;      // K, fixed (parcel offsets, hot roofs, roof/garden mix)
  std::vector<float> lake_depth;  // > -level is water; kNoLake away from the lake
  std::vector<Parcel> parcels;
  std::vector<uint8_t> lc_fine;   // land cover cropped to the fine grid

  // Per simulated day.
  std::vector<double> anomaly, rain, bias, modis_sd, lake_level;

  // MODIS PSF: coarse pixel centres in world pixel coordinates (continuous, pixel i spans
  // [i, i+1)), and the Gaussian sigma in fine pixels.
  std::vector<double> cfx, cfy;
  double psf_sigma = 1.0;

  // Everything the truth of one day needs besides the per-pixel layers.
  struct Day {
    std::array<float, kNumClasses + 1> base{}, tex_sd{};
    std::vector<float> pdelta;
    float level = 0.0f, noise_sd = 0.0f;
    uint64_t noise_seed = 0;
  };

  int day_index(const Date& d) const {
    const long i = d - start;
    if (i < 0 || i >= opts.days) {
      throw Error(fmt::format("simulate: {} is outside the simulated period {} .. {}", d.iso(),
                              start.iso(), (start + (opts.days - 1)).iso()));
    }
    return static_cast<int>(i);
  }
  void build_landscape();
  void build_texture();
  void build_series();
  void build_grids();
  void build_dates();
  std::array<double, kNumClasses + 1> class_base(int day) const;
  std::vector<float> parcel_delta(int day) const;
  Day day_truth(const Date& d) const;
  // True LST at world pixel i: a pure function of the pixel, so any crop or order agrees.
  float truth_at(const Day& t, size_t i) const {
    uint8_t c = lc[i];
    if (lake_depth[i] != kNoLake) c = lake_depth[i] > -t.level ? kWater : kBareSoil;
    float v = t.base[c] + t.tex_sd[c] * tex[i] + offset[i];
    if (parcel[i] >= 0 && c != kWater) v += t.pdelta[static_cast<size_t>(parcel[i])];
    return v + t.noise_sd * approx_normal_from_hash(hash2(t.noise_seed, i));
  }
  // The world truth of a day; where `fine_truth` (on the fine grid) is given, its values and
  // mask replace the generated ones inside the fine scene (the same values when it is the
  // day's truth, and only the margin is generated).
  void world_truth(const Date& d, const Raster* fine_truth, std::vector<float>& f,
                   std::vector<uint8_t>& m) const;
  // PSF aggregate of a world field with mask; coarse pixels with less than half the kernel
  // weight on valid pixels are invalid.
  Raster psf(const float* f, const uint8_t* m) const;
};

}  // namespace lstfuse::sim
