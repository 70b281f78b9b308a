// The simulated world: landscape, daily truth and the two sensors. See simulate.hpp.
#include "lstfuse/sim/simulate.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <limits>
#include <sstream>

#include <fmt/format.h>

#include "lstfuse/core/error.hpp"
#include "lstfuse/io/crs.hpp"
#include "lstfuse/io/raster_io.hpp"
#include "lstfuse/sim/random.hpp"

namespace lstfuse::sim {
namespace {

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
Variability variability_of(const std::string& v) {
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
float upper_quantile(std::vector<float> values, double share) {
  if (values.empty()) return 0.0f;
  if (share <= 0.0) return std::numeric_limits<float>::infinity();
  if (share >= 1.0) return -std::numeric_limits<float>::infinity();
  const auto n = values.size();
  auto k = static_cast<size_t>(std::llround((1.0 - share) * static_cast<double>(n)));
  if (k >= n) return std::numeric_limits<float>::infinity();
  std::nth_element(values.begin(), values.begin() + static_cast<std::ptrdiff_t>(k), values.end());
  return values[k];
}

// Scene cloud fraction u^k with k = 1/mean - 1 has the requested mean and a long tail towards
// mostly cloudy scenes, as in real Landsat archives.
double draw_cloud_fraction(Rng& rng, double mean) {
  const double u = rng.uniform();
  if (mean <= 0.0) return 0.0;
  if (mean >= 1.0) return 1.0;
  return std::pow(u, 1.0 / mean - 1.0);
}

// Square binary dilation by r pixels (separable max filter).
std::vector<uint8_t> dilate(const std::vector<uint8_t>& in, int w, int h, int r) {
  std::vector<uint8_t> tmp(in.size()), out(in.size());
#pragma omp parallel for schedule(static) if (static_cast<long long>(w) * h > 65536)
  for (int y = 0; y < h; ++y) {
    int last = -1000000;  // last set column seen
    const uint8_t* row = in.data() + static_cast<size_t>(y) * w;
    // Forward and backward passes give the distance to the nearest set pixel along the row.
    std::vector<int> dist(w, 1000000);
    for (int x = 0; x < w; ++x) {
      if (row[x]) last = x;
      dist[x] = x - last;
    }
    last = 2000000;
    for (int x = w - 1; x >= 0; --x) {
      if (row[x]) last = x;
      dist[x] = std::min(dist[x], last - x);
      tmp[static_cast<size_t>(y) * w + x] = dist[x] <= r;
    }
  }
#pragma omp parallel for schedule(static) if (static_cast<long long>(w) * h > 65536)
  for (int x = 0; x < w; ++x) {
    int last = -1000000;
    std::vector<int> dist(h, 1000000);
    for (int y = 0; y < h; ++y) {
      if (tmp[static_cast<size_t>(y) * w + x]) last = y;
      dist[y] = y - last;
    }
    last = 2000000;
    for (int y = h - 1; y >= 0; --y) {
      if (tmp[static_cast<size_t>(y) * w + x]) last = y;
      out[static_cast<size_t>(y) * w + x] = std::min(dist[y], last - y) <= r;
    }
  }
  return out;
}

}  // namespace

const char* landcover_name(int cls) {
  switch (cls) {
    case kWater: return "water";
    case kUrbanCore: return "urban core";
    case kIndustrial: return "industrial";
    case kResidential: return "residential";
    case kRoad: return "road";
    case kForest: return "forest";
    case kBareSoil: return "bare soil";
    case kPasture: return "pasture";
    case kWinterCrop: return "winter crop";
    case kIrrigatedCrop: return "irrigated crop";
    default: return "";
  }
}

void SimOptions::bind(OptionSet& s) {
  s.add("seed", seed, "Random seed; the same seed gives byte-identical outputs");
  s.add("size", size, "Fine grid width and height in pixels");
  s.add("pixel-size", pixel_size, "Fine pixel size in metres");
  s.add("epsg", epsg, "EPSG code of the fine grid's projected CRS");
  s.add("origin-x", origin_x, "Top-left x of the fine grid (CRS units)");
  s.add("origin-y", origin_y, "Top-left y of the fine grid (CRS units)");
  s.add("start", start, "First simulated day (YYYY-MM-DD)");
  s.add("days", days, "Number of simulated days");
  s.add_choice("variability", variability, {"low", "moderate", "strong"},
               "Scale of day-to-day and between-class changes");
  s.add("texture", texture, "Real fine LST image giving the persistent spatial pattern (optional)");
  s.add("landsat-satellites", landsat_satellites, "1: a Landsat date every 16 days, 2: every 8");
  s.add("landsat-first-day", landsat_first_day, "Days from the start to the first Landsat date");
  s.add("cloud-cover", cloud_cover, "Mean Landsat scene cloud fraction (0-1)");
  s.add("landsat-noise", landsat_noise, "Landsat sensor noise, K (1 sigma)");
  s.add("coarse-factor", coarse_factor, "Coarse pixel size in fine pixels (UTM coarse grid)");
  s.add("psf-fwhm", psf_fwhm, "Full width at half maximum of the MODIS Gaussian PSF, metres");
  s.add_choice("modis-grid", modis_grid, {"utm", "sinusoidal"},
               "MODIS grid: aligned UTM coarse grid or the MODIS sinusoidal grid");
  s.add("modis-cloud-cover", modis_cloud_cover, "Mean MODIS cloud fraction (0-1)");
  s.add("modis-noise", modis_noise, "MODIS base noise, K (1 sigma)");
  s.add("modis-bias-mean", modis_bias_mean, "Mean MODIS minus truth bias, K");
  s.add("modis-bias-sd", modis_bias_sd, "Spread of the per-date MODIS bias (AR(1)), K");
  s.add("truth-dates", truth_dates,
        "Dates with a truth image: default (Landsat dates and every 4th day), all, landsat, or a "
        "comma-separated list");
  s.add_choice("encoding", encoding, {"products", "kelvin"},
               "products: Landsat ST_B10/QA_PIXEL and MOD11A1 LST/QC; kelvin: Float32 K images");
  s.limit("size", 16, 20000);
  s.limit("days", 1, 3660);
  s.limit("seed", 0, std::numeric_limits<int>::max());
  s.limit("epsg", 1024, 999999);
  s.limit("pixel-size", 0, 1e5, true);
}

void SimOptions::validate() const {
  auto bad = [](const std::string& name, const std::string& why) {
    return Error(fmt::format("simulate: option --{} {}", name, why));
  };
  if (seed < 0) throw bad("seed", "must be >= 0");
  if (size < 16 || size > 20000) throw bad("size", "must be between 16 and 20000 pixels");
  if (!(pixel_size > 0)) throw bad("pixel-size", "must be positive");
  if (days < 1 || days > 3660) throw bad("days", "must be between 1 and 3660");
  if (landsat_satellites != 1 && landsat_satellites != 2) throw bad("landsat-satellites", "must be 1 or 2");
  if (landsat_first_day < 0) throw bad("landsat-first-day", "must be >= 0");
  if (cloud_cover < 0 || cloud_cover > 1) throw bad("cloud-cover", "must be within 0-1");
  if (modis_cloud_cover < 0 || modis_cloud_cover > 1) throw bad("modis-cloud-cover", "must be within 0-1");
  if (landsat_noise < 0) throw bad("landsat-noise", "must be >= 0");
  if (modis_noise < 0) throw bad("modis-noise", "must be >= 0");
  if (modis_bias_sd < 0) throw bad("modis-bias-sd", "must be >= 0");
  if (coarse_factor < 2 || coarse_factor > size) throw bad("coarse-factor", "must be between 2 and --size");
  if (!(psf_fwhm > 0)) throw bad("psf-fwhm", "must be positive");
  if (variability != "low" && variability != "moderate" && variability != "strong")
    throw bad("variability", "must be low, moderate or strong");
  if (modis_grid != "utm" && modis_grid != "sinusoidal") throw bad("modis-grid", "must be utm or sinusoidal");
  if (encoding != "products" && encoding != "kelvin") throw bad("encoding", "must be products or kelvin");
  if (!Date::try_parse(start)) throw bad("start", "is not a date: '" + start + "'");
  // The grid is laid out in metres (pixel size, PSF width): a geographic CRS would make every
  // pixel pixel_size degrees wide.
  std::string wkt;
  try {
    wkt = io::crs_to_wkt(fmt::format("EPSG:{}", epsg));
  } catch (const Error&) {
    throw bad("epsg", fmt::format("{} is not a known EPSG code", epsg));
  }
  if (!io::crs_is_projected(wkt)) {
    throw bad("epsg", fmt::format("{} is not a projected CRS in metres (the simulated grid is laid out in "
                                  "metres; use e.g. a UTM zone such as 32755)", epsg));
  }
}

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

// ---------------------------------------------------------------------------------------------
// Landscape: fields on a jittered grid, forest and bare patches, a meandering river with riparian
// forest, a town (core, residential streets, industrial blocks with hot roofs), straight roads and
// a lake whose shore moves with the season. The layout is placed in metres from the fine
// scene's top-left corner (town and lake inside the scene) and continues over the whole world.
void Simulation::World::build_landscape() {
  const int W = world.width, H = world.height;
  const double px = opts.pixel_size;
  const double L = std::max(fine.width, fine.height) * px;  // fine scene extent, metres
  const double x_min = -mx * px, x_max = (W - mx) * px;     // world extent, scene metres
  const double y_min = -my * px, y_max = (H - my) * px;
  const auto X_of = [&](int x) { return (x - mx + 0.5) * px; };
  const auto Y_of = [&](int y) { return (y - my + 0.5) * px; };
  // Non-negative remainder: street lines stay on a regular lattice on both sides of the origin.
  const auto pmod = [](double a, double b) { const double r = std::fmod(a, b); return r < 0 ? r + b : r; };
  Rng rng(seed, kStreamLayout);
  const uint64_t s_forest = rng.bits(), s_bare = rng.bits(), s_river = rng.bits(),
                 s_lake = rng.bits(), s_town = rng.bits(), s_riparian = rng.bits();

  // Fields: columns of jittered width, each cut into parcels at jittered heights (brick layout).
  const double pw = 480.0, ph = 400.0;  // typical parcel size, metres
  std::vector<double> col_edges{x_min};
  while (col_edges.back() < x_max) col_edges.push_back(col_edges.back() + pw * rng.uniform(0.6, 1.4));
  std::vector<std::vector<double>> row_edges(col_edges.size() - 1);
  Rng prng(seed, kStreamParcels);
  for (size_t c = 0; c + 1 < col_edges.size(); ++c) {
    auto& re = row_edges[c];
    re.push_back(y_min);
    while (re.back() < y_max) re.push_back(re.back() + ph * prng.uniform(0.5, 1.5));
  }
  std::vector<int> first_parcel(row_edges.size() + 1, 0);
  for (size_t c = 0; c < row_edges.size(); ++c)
    first_parcel[c + 1] = first_parcel[c] + static_cast<int>(row_edges[c].size()) - 1;
  parcels.resize(static_cast<size_t>(first_parcel.back()));
  // Crop types cluster (farms, irrigation districts): the draw mixes a smooth regional field
  // with a per-parcel lottery.
  const uint64_t s_farm = prng.bits();
  for (size_t c = 0; c < row_edges.size(); ++c) {
    for (size_t r = 0; r + 1 < row_edges[c].size(); ++r) {
      Parcel& p = parcels[static_cast<size_t>(first_parcel[c]) + r];
      const double cx = 0.5 * (col_edges[c] + col_edges[c + 1]);
      const double cy = 0.5 * (row_edges[c][r] + row_edges[c][r + 1]);
      const double u = std::clamp(0.5 + 0.7 * fbm(s_farm, cx / 5000.0, cy / 5000.0, 2) +
                                      0.45 * (prng.uniform() - 0.5), 0.0, 0.999);
        p.cls = u < 0.35 ? kWinterCrop : u < 0.6 ? kIrrigatedCrop : u < 0.88 ? kPasture : kBareSoil;
        p.offset = static_cast<float>(prng.normal(0.0, 0.8));
        if (p.cls == kWinterCrop) {
          p.sow_doy = 120 + prng.uniform_int(35);
          p.harvest_doy = 312 + prng.uniform_int(40);
        } else {
          p.sow_doy = 285 + prng.uniform_int(40);
          p.harvest_doy = 80 + prng.uniform_int(45);
        }
        p.irrigation_period = 8 + prng.uniform_int(7);
        p.irrigation_phase = prng.uniform_int(p.irrigation_period);
    }
  }

  // Major roads follow some field edges, straight across the scene.
  std::vector<int> road_cols, road_rows;
  for (size_t c = 1; c + 1 < col_edges.size(); c += 5 + rng.uniform_int(3))
    road_cols.push_back(static_cast<int>(std::floor(col_edges[c] / px)) + mx);
  const double road_y0 = L * rng.uniform(0.15, 0.3);
  for (double y = road_y0; y < y_max; y += L * rng.uniform(0.3, 0.45))
    road_rows.push_back(static_cast<int>(std::floor(y / px)) + my);

  // River: a meander across the scene from west to east.
  const double river_y0 = L * rng.uniform(0.3, 0.42), river_phase = rng.uniform(0, kTwoPi);
  const double river_amp = L * 0.07, river_wave = L * rng.uniform(0.45, 0.7);
  std::vector<double> river_y(W), river_stretch(W), river_half(W);
  for (int x = 0; x < W; ++x) {
    auto yr = [&](double X) {
      return river_y0 + river_amp * std::sin(kTwoPi * X / river_wave + river_phase) +
             0.04 * L * fbm(s_river, X / (0.25 * L), 0.5, 3);
    };
    const double X = X_of(x);
    river_y[x] = yr(X);
    const double slope = (yr(X + px) - yr(X - px)) / (2 * px);
    river_stretch[x] = std::sqrt(1.0 + slope * slope);  // vertical -> perpendicular distance
    river_half[x] = 40.0 + 15.0 * fbm(s_river + 1, X / 800.0, 0.0, 2);
  }

  // Town on one bank, lake away from it.
  const double town_x = L * rng.uniform(0.55, 0.75);
  const double town_y = std::clamp(river_y[std::clamp(static_cast<int>(town_x / px) + mx, 0, W - 1)] +
                                       (rng.uniform() < 0.5 ? -1 : 1) * L * 0.12,
                                   0.22 * L, 0.78 * L);  // keep the town inside the scene
  const double town_r = L * 0.15;
  const double lake_x = L * rng.uniform(0.15, 0.3), lake_y = L * rng.uniform(0.68, 0.8);
  const double lake_r = L * 0.08;
  struct Box { double x0, y0, x1, y1; };
  std::vector<Box> industrial;
  for (int k = 0; k < 3; ++k) {
    const double a = rng.uniform(0, kTwoPi), d = town_r * rng.uniform(0.75, 1.1);
    const double bw = rng.uniform(400, 800), bh = rng.uniform(300, 600);
    const double cx = town_x + d * std::cos(a), cy = town_y + d * std::sin(a);
    industrial.push_back({cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2});
  }
  const double street = 210.0, core_street = 300.0;
  // Roads north of the first one (drawn after the layout so it keeps its draws).
  for (double y = road_y0 - L * rng.uniform(0.3, 0.45); y >= y_min; y -= L * rng.uniform(0.3, 0.45))
    road_rows.push_back(static_cast<int>(std::floor(y / px)) + my);

  const size_t n = static_cast<size_t>(W) * H;
  lc.assign(n, kPasture);
  parcel.assign(n, -1);
  offset.assign(n, 0.0f);
  lake_depth.assign(n, kNoLake);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y) {
    const double Y = Y_of(y);
    size_t ci = 0;
    for (int x = 0; x < W; ++x) {
      const size_t i = static_cast<size_t>(y) * W + x;
      const double X = X_of(x);
      while (ci + 2 < col_edges.size() && X >= col_edges[ci + 1]) ++ci;
      const auto& re = row_edges[ci];
      const auto ri = static_cast<size_t>(std::upper_bound(re.begin(), re.end(), Y) - re.begin()) - 1;
      const int pid = first_parcel[ci] + static_cast<int>(std::min(ri, re.size() - 2));
      uint8_t c = parcels[static_cast<size_t>(pid)].cls;
      int32_t p = pid;

      if (fbm(s_forest, X / 3500.0, Y / 3500.0, 4) > 0.42) { c = kForest; p = -1; }
      else if (fbm(s_bare, X / 2500.0, Y / 2500.0, 4) > 0.5) { c = kBareSoil; p = -1; }

      const double river_dist = std::abs(Y - river_y[x]) / river_stretch[x];
      if (river_dist < river_half[x] + 160.0 * (0.6 + 0.5 * fbm(s_riparian, X / 700.0, Y / 700.0, 3))) {
        c = kForest;
        p = -1;
      }

      const double tdx = X - town_x, tdy = Y - town_y;
      const double tr = std::sqrt(tdx * tdx + tdy * tdy) /
                        (town_r * (1.0 + 0.3 * fbm(s_town, X / 1500.0, Y / 1500.0, 3)));
      if (tr < 1.0) {
        p = -1;
        if (tr < 0.4) {
          c = kUrbanCore;
          if (pmod(X, core_street) < px || pmod(Y, core_street) < px) c = kRoad;
        } else {
          c = kResidential;
          if (pmod(X, street) < px || pmod(Y, street) < px) c = kRoad;
        }
      }
      for (const auto& b : industrial) {
        if (X >= b.x0 && X < b.x1 && Y >= b.y0 && Y < b.y1) { c = kIndustrial; p = -1; }
      }
      if (river_dist < river_half[x]) { c = kWater; p = -1; }
      for (int rc : road_cols)
        if (x == rc || x == rc + 1) { c = kRoad; p = -1; }
      for (int rr : road_rows)
        if (y == rr) { c = kRoad; p = -1; }

      // Lake: depth 1 at the centre, 0 on the mean shore; shore pixels are mud (bare soil).
      const double ldx = X - lake_x, ldy = Y - lake_y;
      const double lr = std::sqrt(ldx * ldx + ldy * ldy) /
                        (lake_r * (1.0 + 0.35 * fbm(s_lake, X / (0.6 * lake_r), Y / (0.6 * lake_r), 4)));
      const double depth = 1.0 - lr;
      if (depth > -0.3) {
        lake_depth[i] = static_cast<float>(depth);
        if (depth > 0.0) c = kWater;
        else if (depth > -0.2) c = kBareSoil;
        p = -1;
      }
      lc[i] = c;
      parcel[i] = p;
      if (p >= 0) offset[i] = parcels[static_cast<size_t>(p)].offset;
      // Roofs and gardens alternate at the pixel scale in town: a fixed, fine-grained mix.
      if (c == kResidential || c == kUrbanCore)
        offset[i] = static_cast<float>(1.2 * normal_from_hash(hash3(seed, kStreamHotSpots, i)));
    }
  }

  // Industrial hot spots: a few small very hot roofs (furnaces, dark metal) per block.
  Rng hrng(seed, kStreamHotSpots);
  for (const auto& b : industrial) {
    const int spots = 3 + hrng.uniform_int(4);
    for (int k = 0; k < spots; ++k) {
      const int x0 = static_cast<int>(std::floor(hrng.uniform(b.x0, b.x1) / px)) + mx;
      const int y0 = static_cast<int>(std::floor(hrng.uniform(b.y0, b.y1) / px)) + my;
      const int sw = 2 + hrng.uniform_int(3), sh = 2 + hrng.uniform_int(3);
      const auto heat = static_cast<float>(hrng.uniform(6.0, 12.0));
      for (int y = std::max(0, y0); y < std::min(H, y0 + sh); ++y)
        for (int x = std::max(0, x0); x < std::min(W, x0 + sw); ++x) {
          const size_t i = static_cast<size_t>(y) * W + x;
          if (lc[i] == kIndustrial) offset[i] = heat;
        }
    }
  }
  lc_fine.resize(static_cast<size_t>(fine.width) * fine.height);
  for (int y = 0; y < fine.height; ++y)
    std::copy_n(lc.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y + my) * W + mx), fine.width,
                lc_fine.begin() + static_cast<std::ptrdiff_t>(static_cast<size_t>(y) * fine.width));
}

void Simulation::World::build_texture() {
  const int W = world.width, H = world.height;
  const size_t n = static_cast<size_t>(W) * H;
  // Synthetic texture everywhere (metres from the fine scene's corner); a real image replaces it
  // inside the fine scene, and the margin keeps the synthetic one.
  tex.assign(n, 0.0f);
  const uint64_t s = hash2(seed, kStreamTexture);
  const double px = opts.pixel_size;
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x)
      tex[static_cast<size_t>(y) * W + x] =
          static_cast<float>(fbm(s, (x - mx) * px / 900.0, (y - my) * px / 900.0, 5));
  // Group 1: pixels standardised together; 2: the real image's pixels (standardised apart, so
  // its units do not matter); 0: no value.
  std::vector<uint8_t> group(n, 1);
  if (!opts.texture.empty()) {
    // A real LST image stretched over the fine grid (bilinear on pixel indices): its spatial
    // pattern becomes the persistent within-class texture.
    io::ReadOptions ro;
    ro.require_crs = false;
    const Raster src = io::read_raster(opts.texture, ro);
    if (src.valid_fraction() < 0.05) throw file_error(opts.texture, "too few valid pixels to use as texture");
    const int FW = fine.width, FH = fine.height;
    const double sx = static_cast<double>(src.width()) / FW, sy = static_cast<double>(src.height()) / FH;
#pragma omp parallel for schedule(static)
    for (int y = 0; y < FH; ++y) {
      for (int x = 0; x < FW; ++x) {
        const double fx = std::clamp((x + 0.5) * sx - 0.5, 0.0, src.width() - 1.0);
        const double fy = std::clamp((y + 0.5) * sy - 0.5, 0.0, src.height() - 1.0);
        const int x0 = static_cast<int>(fx), y0 = static_cast<int>(fy);
        const int x1 = std::min(x0 + 1, src.width() - 1), y1 = std::min(y0 + 1, src.height() - 1);
        const double tx = fx - x0, ty = fy - y0;
        double sum = 0.0, wsum = 0.0;
        const int xs[2] = {x0, x1}, ys[2] = {y0, y1};
        const double wx[2] = {1 - tx, tx}, wy[2] = {1 - ty, ty};
        for (int a = 0; a < 2; ++a)
          for (int b = 0; b < 2; ++b)
            if (src.valid(ys[a], xs[b])) {
              sum += wy[a] * wx[b] * src.at(ys[a], xs[b]);
              wsum += wy[a] * wx[b];
            }
        const size_t i = static_cast<size_t>(y + my) * W + (x + mx);
        if (wsum > 1e-9) { tex[i] = static_cast<float>(sum / wsum); group[i] = 2; }
        else group[i] = 0;
      }
    }
  }
  // Standardise each group (serial sums: the same bytes whatever the thread count).
  for (uint8_t g = 1; g <= 2; ++g) {
    double sum = 0.0, sq = 0.0;
    long long cnt = 0;
    for (size_t i = 0; i < n; ++i)
      if (group[i] == g) { sum += tex[i]; sq += static_cast<double>(tex[i]) * tex[i]; ++cnt; }
    if (!cnt) continue;
    const double mean = sum / cnt;
    const double sd = cnt > 1 ? std::sqrt(std::max(1e-12, sq / cnt - mean * mean)) : 1.0;
    for (size_t i = 0; i < n; ++i)
      if (group[i] == g) tex[i] = static_cast<float>((tex[i] - mean) / sd);
  }
  for (size_t i = 0; i < n; ++i)
    if (!group[i]) tex[i] = 0.0f;
}

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
    const io::CrsTransform to_sinu(fine.crs, sinu_proj, "simulate: cannot transform between the fine CRS and MODIS sinusoidal");
    const io::CrsTransform to_utm(sinu_proj, fine.crs, "simulate: cannot transform between the fine CRS and MODIS sinusoidal");
    const auto sb = to_sinu.outline_bounds(fine, "simulate: cannot transform the fine grid to MODIS sinusoidal");
    const double cell = 926.625433055833, gx0 = -20015109.354, gy0 = 10007554.677;
    const double x0 = gx0 + (std::floor((sb[0] - gx0) / cell) - 1) * cell;
    const double y0 = gy0 - (std::floor((gy0 - sb[3]) / cell) - 1) * cell;
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
    const auto ub = to_utm.outline_bounds(coarse, "simulate: cannot transform the MODIS grid to the fine CRS");
    bx0 = (ub[0] - fine.transform[0]) / px;
    bx1 = (ub[2] - fine.transform[0]) / px;
    by0 = (fine.transform[3] - ub[3]) / px;
    by1 = (fine.transform[3] - ub[1]) / px;
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
  }
  std::sort(truth.begin(), truth.end());
  truth.erase(std::unique(truth.begin(), truth.end()), truth.end());
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

// ---------------------------------------------------------------------------------------------

Simulation::Simulation(const SimOptions& opts) : w_(std::make_unique<World>()) {
  opts.validate();
  io::init_gdal();
  World& w = *w_;
  w.opts = opts;
  w.seed = splitmix64(static_cast<uint64_t>(opts.seed) + 0x51D0ULL);
  w.var = variability_of(opts.variability);
  for (int c = 0; c <= kNumClasses; ++c) {
    ClassParams p = kClassTable[static_cast<size_t>(c)];
    p.mean = kClimateMean + w.var.contrast * (p.mean - kClimateMean);
    p.amp = 10.0 + w.var.contrast * (p.amp - 10.0);
    p.rain *= 1.0;  // rain amounts already carry the events scale
    w.cls[static_cast<size_t>(c)] = p;
  }
  w.start = Date::parse(opts.start);
  w.build_grids();
  w.build_dates();
  w.build_landscape();
  w.build_texture();
  w.build_series();
}

Simulation::~Simulation() = default;
Simulation::Simulation(Simulation&&) noexcept = default;
Simulation& Simulation::operator=(Simulation&&) noexcept = default;

Simulation simulate(const SimOptions& opts) { return Simulation(opts); }

const SimOptions& Simulation::options() const { return w_->opts; }
const Grid& Simulation::fine_grid() const { return w_->fine; }
const Grid& Simulation::coarse_grid() const { return w_->coarse; }
Date Simulation::start() const { return w_->start; }
std::vector<Date> Simulation::days() const {
  std::vector<Date> out;
  for (int i = 0; i < w_->opts.days; ++i) out.push_back(w_->start + i);
  return out;
}
const std::vector<Date>& Simulation::landsat_dates() const { return w_->landsat; }
const std::vector<Date>& Simulation::truth_dates() const { return w_->truth; }
bool Simulation::in_range(const Date& d) const {
  const long i = d - w_->start;
  return i >= 0 && i < w_->opts.days;
}
const Grid& Simulation::world_grid() const { return w_->world; }
const std::vector<uint8_t>& Simulation::landcover() const { return w_->lc_fine; }

Raster Simulation::landcover_raster() const {
  Raster r(w_->fine, 1, 0.0f, true);
  for (size_t i = 0; i < w_->lc_fine.size(); ++i) r.data()[i] = w_->lc_fine[i];
  r.units = "class";
  return r;
}

double Simulation::weather_anomaly(const Date& d) const {
  return w_->anomaly[static_cast<size_t>(w_->day_index(d))];
}
double Simulation::modis_bias(const Date& d) const {
  return w_->bias[static_cast<size_t>(w_->day_index(d))];
}

std::vector<uint8_t> Simulation::water_mask(const Date& d) const {
  const World& w = *w_;
  const int day = w.day_index(d);
  const float level = static_cast<float>(w.lake_level[static_cast<size_t>(day)]);
  const int W = w.fine.width, H = w.fine.height;
  std::vector<uint8_t> m(static_cast<size_t>(W) * H);
#pragma omp parallel for schedule(static)
  for (int y = 0; y < H; ++y)
    for (int x = 0; x < W; ++x) {
      const size_t k = static_cast<size_t>(y + w.my) * w.world.width + (x + w.mx);
      m[static_cast<size_t>(y) * W + x] =
          w.lake_depth[k] != kNoLake ? (w.lake_depth[k] > -level) : (w.lc[k] == kWater);
    }
  return m;
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

Raster Simulation::psf_aggregate(const Raster& field) const {
  const World& w = *w_;
  if (field.width() == w.world.width && field.height() == w.world.height)
    return w.psf(field.band(0), field.mask(0));
  if (field.width() != w.fine.width || field.height() != w.fine.height) {
    throw Error(fmt::format("simulate: psf_aggregate expects a {} fine or {} world raster, got {}",
                            w.fine.describe(), w.world.describe(), field.grid().describe()));
  }
  // A fine-scene field: nothing is known outside the scene.
  const size_t n = static_cast<size_t>(w.world.width) * w.world.height;
  std::vector<float> f(n, 0.0f);
  std::vector<uint8_t> m(n, 0);
  for (int y = 0; y < w.fine.height; ++y) {
    const size_t src = static_cast<size_t>(y) * w.fine.width;
    const size_t dst = static_cast<size_t>(y + w.my) * w.world.width + w.mx;
    std::copy_n(field.band(0) + src, w.fine.width, f.begin() + static_cast<std::ptrdiff_t>(dst));
    std::copy_n(field.mask(0) + src, w.fine.width, m.begin() + static_cast<std::ptrdiff_t>(dst));
  }
  return w.psf(f.data(), m.data());
}

Raster Simulation::World::psf(const float* f, const uint8_t* m) const {
  const World& w = *this;
  const int W = world.width, H = world.height;
  const double s = w.psf_sigma;
  const int r = static_cast<int>(std::ceil(3.0 * s));
  const int K = 2 * r + 2;  // taps per axis around a centre
  Raster out(w.coarse, 1, 0.0f, false);
  // Gaussian taps for a centre at continuous coordinate c: first tap index and K weights, plus
  // the weight the whole (unclipped) kernel would have.
  auto taps = [&](double c, int& first, double* wts) {
    first = static_cast<int>(std::floor(c)) - r;
    double full = 0.0;
    for (int j = 0; j < K; ++j) {
      wts[j] = std::exp(-0.5 * std::pow((first + j + 0.5 - c) / s, 2));
      full += wts[j];
    }
    return full;
  };
  const int CW = w.coarse.width, CH = w.coarse.height;
  if (w.opts.modis_grid == "utm") {
    // Aligned grid: coarse columns share their x centre and rows their y centre, so the kernel
    // separates: one horizontal pass per fine row, then a vertical pass per coarse pixel.
    std::vector<int> fx0(CW), fy0(CH);
    std::vector<double> wx(static_cast<size_t>(CW) * K), wy(static_cast<size_t>(CH) * K);
    std::vector<double> fullx(CW), fully(CH);
    for (int cx = 0; cx < CW; ++cx) fullx[cx] = taps(w.cfx[cx], fx0[cx], &wx[static_cast<size_t>(cx) * K]);
    for (int cy = 0; cy < CH; ++cy)
      fully[cy] = taps(w.cfy[static_cast<size_t>(cy) * CW], fy0[cy], &wy[static_cast<size_t>(cy) * K]);
    std::vector<double> hs(static_cast<size_t>(H) * CW), hw(static_cast<size_t>(H) * CW);
#pragma omp parallel for schedule(static)
    for (int y = 0; y < H; ++y) {
      const float* row = f + static_cast<size_t>(y) * W;
      const uint8_t* mrow = m + static_cast<size_t>(y) * W;
      for (int cx = 0; cx < CW; ++cx) {
        const double* wt = &wx[static_cast<size_t>(cx) * K];
        const int a = std::max(0, fx0[cx]), b = std::min(W, fx0[cx] + K);
        double sum = 0.0, ws = 0.0;
        const double* wo = wt - fx0[cx];
        for (int x = a; x < b; ++x) {
          const double q = wo[x] * mrow[x];  // branch-free: masked pixels weigh 0
          sum += q * row[x];
          ws += q;
        }
        hs[static_cast<size_t>(y) * CW + cx] = sum;
        hw[static_cast<size_t>(y) * CW + cx] = ws;
      }
    }
    for (int cy = 0; cy < CH; ++cy) {
      const double* wt = &wy[static_cast<size_t>(cy) * K];
      const int a = std::max(0, fy0[cy]), b = std::min(H, fy0[cy] + K);
      for (int cx = 0; cx < CW; ++cx) {
        double sum = 0.0, ws = 0.0;
        for (int y = a; y < b; ++y) {
          sum += wt[y - fy0[cy]] * hs[static_cast<size_t>(y) * CW + cx];
          ws += wt[y - fy0[cy]] * hw[static_cast<size_t>(y) * CW + cx];
        }
        const size_t k = static_cast<size_t>(cy) * CW + cx;
        // Mostly masked (outside a fine-scene field): no MODIS value.
        if (ws >= 0.5 * fullx[cx] * fully[cy]) {
          out.data()[k] = static_cast<float>(sum / ws);
          out.mask_data()[k] = 1;
        }
      }
    }
    return out;
  }
  const int n = CW * CH;
#pragma omp parallel for schedule(static)
  for (int k = 0; k < n; ++k) {
    std::vector<double> wx(static_cast<size_t>(K)), wy(static_cast<size_t>(K));
    int xa = 0, ya = 0;
    const double full = taps(w.cfx[static_cast<size_t>(k)], xa, wx.data()) *
                        taps(w.cfy[static_cast<size_t>(k)], ya, wy.data());
    double sum = 0.0, wsum = 0.0;
    for (int j = 0; j < K; ++j) {
      const int y = ya + j;
      if (y < 0 || y >= H) continue;
      double row_sum = 0.0, row_w = 0.0;
      for (int i = std::max(0, -xa); i < std::min(K, W - xa); ++i) {
        const size_t p = static_cast<size_t>(y) * W + (xa + i);
        if (!m[p]) continue;
        row_sum += wx[static_cast<size_t>(i)] * f[p];
        row_w += wx[static_cast<size_t>(i)];
      }
      sum += wy[static_cast<size_t>(j)] * row_sum;
      wsum += wy[static_cast<size_t>(j)] * row_w;
    }
    if (wsum >= 0.5 * full) {
      out.data()[static_cast<size_t>(k)] = static_cast<float>(sum / wsum);
      out.mask_data()[static_cast<size_t>(k)] = 1;
    }
  }
  return out;
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

CoarseObservation Simulation::modis(const Date& d, const Raster* truth_in) const {
  const World& w = *w_;
  const int day = w.day_index(d);
  // MODIS sees the world's truth: the given fine-scene truth inside the scene, the generated
  // truth around it (all of it generated when none is given or a world truth is given).
  Raster psf;
  if (truth_in && truth_in->width() == w.world.width && truth_in->height() == w.world.height) {
    psf = psf_aggregate(*truth_in);
  } else {
    if (truth_in && (truth_in->width() != w.fine.width || truth_in->height() != w.fine.height))
      psf_aggregate(*truth_in);  // throws, naming the expected grids
    std::vector<float> f;
    std::vector<uint8_t> m;
    w.world_truth(d, truth_in, f, m);
    psf = w.psf(f.data(), m.data());
  }
  const int CW = w.coarse.width, CH = w.coarse.height;
  const size_t n = static_cast<size_t>(CW) * CH;
  const double px = w.opts.pixel_size;

  Rng rng(w.seed, hash2(kStreamModis, static_cast<uint64_t>(d.days())));
  const double share = draw_cloud_fraction(rng, w.opts.modis_cloud_cover);
  const uint64_t field_seed = rng.bits();
  const double ox = rng.uniform(0, 1000), oy = rng.uniform(0, 1000);
  const double cloud_scale = rng.uniform(8000.0, 15000.0);  // larger systems than Landsat's view

  std::vector<float> field(n);
  std::vector<float> valid_field;
  for (size_t k = 0; k < n; ++k) {
    field[k] = static_cast<float>(fbm(field_seed, ox + (w.cfx[k] - w.mx) * px / cloud_scale,
                                      oy + (w.cfy[k] - w.my) * px / cloud_scale, 4));
    if (psf.mask_data()[k]) valid_field.push_back(field[k]);
  }
  const float thr = upper_quantile(valid_field, share);
  std::vector<uint8_t> cloud(n);
  for (size_t k = 0; k < n; ++k) cloud[k] = field[k] > thr;
  const auto near_cloud = dilate(cloud, CW, CH, 1);

  CoarseObservation obs;
  obs.date = d;
  obs.bias = w.bias[static_cast<size_t>(day)];
  obs.noise_sd = w.modis_sd[static_cast<size_t>(day)];
  obs.lst = Raster(w.coarse, 1, 0.0f, false);
  obs.qc.assign(n, 0);
  const uint64_t noise_seed = hash3(w.seed, kStreamModisNoise, static_cast<uint64_t>(d.days()));
  long long n_cloud = 0, n_valid = 0;
  for (size_t k = 0; k < n; ++k) {
    if (!psf.mask_data()[k]) {
      obs.qc[k] = 0x03;  // not produced, other reasons (the given field is masked there)
      continue;
    }
    ++n_valid;
    if (cloud[k]) {
      obs.qc[k] = 0x02;  // not produced due to cloud; LST fill
      ++n_cloud;
      continue;
    }
    // Noise grows next to clouds (residual contamination); the QC LST-error bits follow it.
    const double sd = obs.noise_sd * (near_cloud[k] ? 2.5 : 1.0);
    const double value = psf.data()[k] + obs.bias + sd * normal_from_hash(hash2(noise_seed, k));
    obs.lst.data()[k] = static_cast<float>(std::round(value / 0.02) * 0.02);
    obs.lst.mask_data()[k] = 1;
    const double err = 1.5 * sd;
    const int err_bits = err <= 1.0 ? 0 : err <= 2.0 ? 1 : err <= 3.0 ? 2 : 3;
    obs.qc[k] = static_cast<uint8_t>(err_bits == 0 ? 0x00 : (0x01 | (err_bits << 6)));
  }
  obs.cloud_fraction = n_valid ? static_cast<double>(n_cloud) / static_cast<double>(n_valid) : 1.0;
  return obs;
}

}  // namespace lstfuse::sim
