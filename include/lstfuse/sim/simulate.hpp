#pragma once
// Synthetic land-surface-temperature series with known truth: a fine (Landsat-like) landscape
// whose true LST is known for every day, Landsat observations every 8/16 days with clouds and
// shadows, and daily MODIS observations (Gaussian PSF to ~1 km, per-date bias, noise, clouds,
// QC). Everything is a deterministic function of the seed and the options.
//
// In memory: `Simulation sim(opts)` builds the world; truth(), landsat() and modis() generate any
// date on demand. On disk: write_simulation() writes the folder described by simulation.json
// (Landsat C2 L2 / MOD11A1-like products, or plain Kelvin GeoTIFFs).
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "lstfuse/core/date.hpp"
#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/options.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::sim {

struct SimOptions {
  int seed = 1;
  int size = 400;               // fine pixels per side
  double pixel_size = 30.0;     // metres
  int epsg = 32755;             // UTM 55S (the Riverina, ~35 S)
  double origin_x = 400000.0;   // top-left corner, CRS units
  double origin_y = 6160000.0;
  std::string start = "2024-01-01";
  int days = 365;
  std::string variability = "moderate";  // low | moderate | strong
  std::string texture;          // optional real fine LST image for the persistent pattern
  int landsat_satellites = 1;   // 1: every 16 days; 2: every 8 days
  int landsat_first_day = 6;    // offset of the first Landsat date from start
  double cloud_cover = 0.3;     // mean Landsat scene cloud fraction
  double landsat_noise = 0.7;   // K, sensor noise (1 sigma)
  int coarse_factor = 33;       // coarse pixel = factor x fine pixel (UTM coarse grid)
  double psf_fwhm = 1000.0;     // metres, MODIS Gaussian point-spread function
  std::string modis_grid = "utm";  // utm | sinusoidal
  double modis_cloud_cover = 0.3;
  double modis_noise = 0.3;     // K, base noise (1 sigma), grows with view angle / cloud edges
  double modis_bias_mean = -0.5;  // K, mean MODIS - truth difference
  double modis_bias_sd = 0.8;     // K, day-to-day spread of the bias (AR(1))
  std::string truth_dates = "default";  // default | all | landsat | comma-separated dates
  std::string encoding = "products";    // products (ST_B10/QA_PIXEL, MOD11A1) | kelvin

  // Binds every field (kebab-case names) for flags, JSON and listings.
  void bind(OptionSet& set);
  // Throws Error naming the option when a value is out of range.
  void validate() const;
};

// Land-cover classes of the simulated landscape (values of landcover.tif).
enum LandCover : uint8_t {
  kWater = 1, kUrbanCore = 2, kIndustrial = 3, kResidential = 4, kRoad = 5, kForest = 6,
  kBareSoil = 7, kPasture = 8, kWinterCrop = 9, kIrrigatedCrop = 10,
};
constexpr int kNumClasses = 10;
const char* landcover_name(int cls);  // "water", ... ; "" for unknown

// Landsat Collection 2 QA_PIXEL values written by the simulator (bits: 0 fill, 1 dilated cloud,
// 2 cirrus, 3 cloud, 4 cloud shadow, 5 snow, 6 clear, 7 water; 8-15 confidence pairs, low
// unless stated). As in the real product, shadow pixels keep the clear bit.
constexpr uint16_t kQaClear = 0x5540;       // 21824
constexpr uint16_t kQaClearWater = 0x55C0;  // 21952
constexpr uint16_t kQaDilated = 0x5502;     // 21762
constexpr uint16_t kQaCloud = 0x5708;       // 22280 (cloud, high cloud confidence)
constexpr uint16_t kQaShadow = 0x5D50;      // 23888 (shadow, high shadow confidence, clear)

// Landsat-like observation on the fine grid. lst.mask = clear (not cloud, dilated or shadow);
// values under the mask are what the sensor saw there (cold cloud tops, cool shadows).
struct FineObservation {
  Date date;
  int satellite = 8;            // 8 or 9
  Raster lst;                   // K
  std::vector<uint16_t> qa;     // QA_PIXEL per pixel
  double cloud_fraction = 0.0;  // share of pixels flagged cloud (bit 3)
  double clear_fraction = 0.0;  // share of pixels usable (not cloud, dilated cloud or shadow)
};

// MODIS-like observation on the coarse grid. lst.mask = LST produced (QC bits 0-1 < 2); values
// are quantised to 0.02 K.
struct CoarseObservation {
  Date date;
  Raster lst;                   // K
  std::vector<uint8_t> qc;      // MOD11A1 QC_Day per coarse pixel
  double cloud_fraction = 0.0;  // share of coarse pixels not produced
  double bias = 0.0;            // K, this date's MODIS - PSF(truth) offset
  double noise_sd = 0.0;        // K, this date's base noise sigma (before cloud-edge growth)
};

class Simulation {
 public:
  explicit Simulation(const SimOptions& opts);
  ~Simulation();
  Simulation(Simulation&&) noexcept;
  Simulation& operator=(Simulation&&) noexcept;

  const SimOptions& options() const;
  const Grid& fine_grid() const;
  // The MODIS grid covers the fine scene plus at least one coarse pixel on every side (real
  // MODIS always extends beyond a Landsat scene).
  const Grid& coarse_grid() const;
  // The simulated world: the fine resolution over the whole coarse grid plus the PSF's reach.
  // The landscape and truth exist there; the fine grid is a window of it.
  const Grid& world_grid() const;

  Date start() const;
  std::vector<Date> days() const;                 // every simulated day
  const std::vector<Date>& landsat_dates() const;
  const std::vector<Date>& truth_dates() const;   // from options.truth_dates
  bool in_range(const Date& d) const;

  // Land cover (Byte raster, class codes above) and the per-pixel classes.
  const std::vector<uint8_t>& landcover() const;
  Raster landcover_raster() const;

  // True LST (K) on the fine grid for one simulated day. Throws Error outside the period.
  Raster truth(const Date& d) const;
  // The same on the world grid (the fine truth is its window at the fine scene).
  Raster world_truth(const Date& d) const;
  // Whether each fine pixel is open water on date d (the lake extent follows the season).
  std::vector<uint8_t> water_mask(const Date& d) const;
  // Observations; pass the day's truth when you already have it to skip regenerating it (for
  // MODIS: the fine truth, then only the world around the scene is generated, or the world truth).
  FineObservation landsat(const Date& d, const Raster* truth = nullptr) const;
  CoarseObservation modis(const Date& d, const Raster* truth = nullptr) const;

  // A field on the world grid (or the fine grid: nothing known outside the scene) aggregated to
  // the coarse grid with the Gaussian PSF (no bias, noise or clouds). Coarse pixels with less
  // than half their PSF weight on valid pixels are invalid: none for a world truth, the margin
  // for a fine-grid field.
  Raster psf_aggregate(const Raster& field) const;
  // Shared daily series: weather anomaly (K, before the class response), MODIS bias (K).
  double weather_anomaly(const Date& d) const;
  double modis_bias(const Date& d) const;

 private:
  struct World;
  std::unique_ptr<World> w_;
};

// Builds the world (same as the constructor; reads --texture when given).
Simulation simulate(const SimOptions& opts);

// Writes DIR/simulation.json, landcover.tif, landsat/, modis/ and truth/ (see the format in
// the simulate command's help). Existing files of the same names are replaced.
struct WriteSummary {
  int landsat = 0, modis = 0, truth = 0;
  double seconds = 0.0;
};
// `format`: the rasters' GDAL format, GTiff or COG (simulate --of); `creation_options`: --co.
WriteSummary write_simulation(const Simulation& sim, const std::string& dir, const std::string& format = "GTiff",
                              const std::vector<std::string>& creation_options = {});

}  // namespace lstfuse::sim
