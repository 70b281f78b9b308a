// The simulated world: its options and public API. The parts it models are in their own files:
// landscape.cpp, climate.cpp (the daily truth), grids.cpp, landsat.cpp, modis.cpp.
#include "lstfuse/sim/simulate.hpp"

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
#include "lstfuse/sim/random.hpp"

namespace lstfuse::sim {

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
  // Centimetre pixels at the fine end, 100 km at the coarse one: outside that no sensor exists
  // and the grid arithmetic (pixels per coarse pixel, PSF kernels) stops being meaningful.
  s.limit("pixel-size", 0.01, 1e5);
  s.limit("psf-fwhm", 0, 1e6, true);
  // Coordinates of any projected CRS; noise and bias of a few tens of K at most (beyond that the
  // products' encodings saturate: Landsat's ST_B10 holds up to 372 K, MOD11A1's LST 1310 K).
  s.limit("origin-x", -1e8, 1e8);
  s.limit("origin-y", -1e8, 1e8);
  s.limit("landsat-first-day", 0, 3660);
  s.limit("landsat-noise", 0, 20);
  s.limit("modis-noise", 0, 20);
  s.limit("modis-bias-mean", -50, 50);
  s.limit("modis-bias-sd", 0, 20);
}

void SimOptions::validate() const {
  auto bad = [](const std::string& name, const std::string& why) {
    return Error(fmt::format("simulate: option --{} {}", name, why));
  };
  if (seed < 0) throw bad("seed", "must be >= 0");
  if (size < 16 || size > 20000) throw bad("size", "must be between 16 and 20000 pixels");
  if (!(pixel_size >= 0.01 && pixel_size <= 1e5)) throw bad("pixel-size", "must be between 0.01 and 100000 metres");
  if (days < 1 || days > 3660) throw bad("days", "must be between 1 and 3660");
  if (landsat_satellites != 1 && landsat_satellites != 2) throw bad("landsat-satellites", "must be 1 or 2");
  if (landsat_first_day < 0) throw bad("landsat-first-day", "must be >= 0");
  if (!(std::abs(origin_x) <= 1e8)) throw bad("origin-x", "must be within +-1e8");
  if (!(std::abs(origin_y) <= 1e8)) throw bad("origin-y", "must be within +-1e8");
  if (!(landsat_noise <= 20)) throw bad("landsat-noise", "must be at most 20 K");
  if (!(modis_noise <= 20)) throw bad("modis-noise", "must be at most 20 K");
  if (!(modis_bias_sd <= 20)) throw bad("modis-bias-sd", "must be at most 20 K");
  if (!(std::abs(modis_bias_mean) <= 50)) throw bad("modis-bias-mean", "must be within +-50 K");
  if (cloud_cover < 0 || cloud_cover > 1) throw bad("cloud-cover", "must be within 0-1");
  if (modis_cloud_cover < 0 || modis_cloud_cover > 1) throw bad("modis-cloud-cover", "must be within 0-1");
  if (landsat_noise < 0) throw bad("landsat-noise", "must be >= 0");
  if (modis_noise < 0) throw bad("modis-noise", "must be >= 0");
  if (modis_bias_sd < 0) throw bad("modis-bias-sd", "must be >= 0");
  if (coarse_factor < 2 || coarse_factor > size) throw bad("coarse-factor", "must be between 2 and --size");
  if (!(psf_fwhm > 0)) throw bad("psf-fwhm", "must be positive");
  // A PSF wider than a hundred coarse pixels blurs a coarse image into one value, and its
  // kernel would outgrow memory.
  if (psf_fwhm > 100.0 * coarse_factor * pixel_size)
    throw bad("psf-fwhm", fmt::format("must be at most 100 coarse pixels ({:g} m with --coarse-factor {} and "
                                      "--pixel-size {:g})",
                                      100.0 * coarse_factor * pixel_size, coarse_factor, pixel_size));
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

}  // namespace lstfuse::sim
