#pragma once
// Accuracy of a predicted LST raster against a reference, with the definitions of
// docs/metrics.md: every metric only over pixels valid in both images (and in an optional
// mask), in Kelvin, with its conventions (SSIM window, data range, SAM mode, ERGAS ratio)
// reported next to the numbers so that results from different runs stay comparable.
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "lstfuse/core/grid.hpp"
#include "lstfuse/core/raster.hpp"

namespace lstfuse::eval {

// Fixed SSIM constants (Wang et al. 2004).
inline constexpr int kSsimWindow = 11;
inline constexpr double kSsimSigma = 1.5;
inline constexpr double kSsimK1 = 0.01;
inline constexpr double kSsimK2 = 0.03;

struct MetricsOptions {
  // Pixels where this raster is invalid or 0 are left out. One band (applies to all) or as
  // many bands as the prediction. Must be on the same grid. nullptr = no extra mask.
  const Raster* mask = nullptr;
  // SSIM/PSNR data range L in K; default: max - min of the reference over its valid pixels
  // (all bands together).
  std::optional<double> data_range;
  // ERGAS h / l given directly; otherwise fine pixel size (from the prediction grid, metres)
  // divided by coarse_res_m.
  std::optional<double> ergas_ratio;
  double coarse_res_m = 1000.0;  // MODIS 1 km
  // Absolute-error shares "below" these values (strictly less), in K.
  std::vector<double> ae_thresholds{0.5, 1.0, 2.0, 3.0};
  // Absolute-error histogram: bins [k w, (k+1) w) for k < hist_bins, then one overflow count.
  double hist_bin_width = 0.25;
  int hist_bins = 40;
};

struct ErrorDistribution {
  std::vector<double> thresholds;   // K
  std::vector<double> share_below;  // fraction of valid pixels with |y - x| < threshold
  double bin_width = 0.0;           // K
  std::vector<long long> counts;    // histogram of |y - x|
  long long overflow = 0;           // |y - x| >= bins * bin_width
};

// One set of numbers (one band, or all bands pooled). NaN where undefined (e.g. CC of a
// constant image, or no valid pixel); NaN becomes null in JSON.
struct BandMetrics {
  long long valid_pixels = 0;
  double bias = 0, mae = 0, rmse = 0, ubrmse = 0, cc = 0, r2 = 0;
  double ssim = 0, psnr = 0, sam = 0, ergas = 0;
  long long ssim_windows = 0;  // window centres that entered the SSIM mean
  double ref_mean = 0, pred_mean = 0;
  ErrorDistribution errors;
};

// A metric by its lower-case name (bias, mae, rmse, ubrmse, cc, r2, ssim, psnr, sam, ergas);
// NaN for an unknown name.
double metric_value(const BandMetrics& m, const std::string& name);

struct MetricsResult {
  // Overall: bias..r2 and the error distribution pooled over all bands' valid pixels; SSIM the
  // mean of the band SSIMs; PSNR from the pooled RMSE; SAM per sam_mode; ERGAS over bands.
  BandMetrics overall;
  std::vector<BandMetrics> bands;  // per band; band SAM = whole-image angle of that band

  // Conventions used.
  double data_range = 0;          // L for SSIM and PSNR, K
  std::string data_range_source;  // "reference max-min" or "fixed"
  std::string sam_mode;           // "image-vector" (one band) or "per-pixel mean" (bands > 1)
  long long sam_pixels = 0;       // pixels in the per-pixel mean (valid in all bands)
  double ergas_ratio = 0;         // h / l
  std::string ergas_ratio_source; // "given" or "fine X m / coarse Y m"

  // Lower-case keys: bias, mae, rmse, ubrmse, cc, r2, ssim, psnr, sam, ergas,
  // error_distribution, valid_pixels, conventions{...}, bands[...].
  nlohmann::json to_json() const;
};

// The bounds of the options a user sets, the same for the command line and Python: an LST
// range beyond 1000 K or below a millikelvin is no scene's (PSNR and SSIM then mean nothing),
// and an ERGAS ratio (1e-6 .. 1000) or coarse pixel size (1 mm .. 1000 km) outside them gives a
// score of 0 or 1e300. Throws
// Error "WHERE: NAME must be ..., got V", each option named as `names` spells it.
struct MetricsOptionNames {
  std::string data_range, ergas_ratio, coarse_res;
};
void check_metrics_options(const MetricsOptions& opts, const std::string& where, const MetricsOptionNames& names);

// Throws lstfuse::Error when the grids (size, geotransform, CRS) or band counts differ, or
// when no pixel is valid in both images: never resamples.
MetricsResult compute_metrics(const Raster& pred, const Raster& ref,
                              const MetricsOptions& opts = {});

// A readable table of the result, conventions included.
std::string format_metrics_table(const MetricsResult& r);

// Mean SSIM of one band pair (Gaussian 11 x 11, sigma 1.5, K1 0.01, K2 0.03, data range L),
// averaged over window centres whose whole window lies inside the image and is valid
// (`valid`: 1 where the pixel counts, i.e. valid in both images and in the mask). Values
// under invalid pixels are never read. NaN when no window qualifies; `windows` gets the count.
double ssim_band(const float* pred, const float* ref, const uint8_t* valid, int width,
                 int height, double data_range, long long* windows = nullptr);

// Nominal pixel size in metres (geometric mean of x and y size; for geographic CRS at the
// grid's centre latitude on a sphere of the mean Earth radius).
double pixel_size_m(const Grid& grid);
// ERGAS h / l from a fine and a coarse grid.
double ergas_ratio_from_grids(const Grid& fine, const Grid& coarse);

}  // namespace lstfuse::eval
